"""The workspace folder: ``.privet/`` with its config file, found the way git finds ``.git/``."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from privet.errors import InvalidInput, NotFound

DIRNAME = ".privet"
CONFIG = "workspace.yaml"
CATALOG_DB = "catalog.db"
OBJECTS = "objects"
# Where a write of plaintext outside the workspace (an export) records its temporary file, so
# that the next command removes what a killed process left.
PENDING = "pending"
# Where plaintext too large for memory is put while privet works on it (owner-only files,
# recorded in PENDING first, removed when done or by the next open of the workspace).
SCRATCH = "scratch"


class WorkspaceConfig(BaseModel):
    """``.privet/workspace.yaml``. Holds no secret: the master key lives outside the folder."""

    format: Literal[1] = Field(1, description="version of this file's layout")
    id: str = Field(description="random id of the workspace; names its key and log origin")
    kms_uri: str = Field(description="master key: local-file:///PATH or aws-kms://ARN")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the catalog; None means catalog.db in the folder"
    )
    created_at: datetime

    @classmethod
    def load(cls, folder: Path) -> WorkspaceConfig:
        path = folder / CONFIG
        try:
            data = yaml.safe_load(path.read_text())
            return cls.model_validate(data)
        except FileNotFoundError:
            raise NotFound(f"{folder} is not a privet workspace ({CONFIG} is missing)") from None
        except (yaml.YAMLError, ValidationError):
            raise InvalidInput(f"{path} is damaged and cannot be read") from None

    def save(self, folder: Path) -> None:
        path = folder / CONFIG
        tmp = folder / (CONFIG + ".part")
        tmp.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))
        os.replace(tmp, path)


def locate(explicit: str | Path | None = None, cwd: Path | None = None) -> Path:
    """The ``.privet`` folder to use: ``explicit``, else ``$PRIVET_WORKSPACE``, else the
    nearest one upward from ``cwd``."""
    given = explicit if explicit is not None else os.environ.get("PRIVET_WORKSPACE")
    if given:
        path = Path(given).expanduser().resolve()
        for candidate in (path, path / DIRNAME):
            if candidate.name == DIRNAME and (candidate / CONFIG).is_file():
                return candidate
        raise NotFound(f"no privet workspace at {path}")
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / DIRNAME / CONFIG).is_file():
            return folder / DIRNAME
    raise NotFound("no privet workspace here or in any parent folder")
