"""The parties of a federation: a YAML file naming each party's workspace, dataset and reader.

```yaml
parties:
  - name: hospital-a          # shown in progress, on the card and in the coordinator's log
    workspace: ./ws-a         # relative to this file's folder
    dataset: adult            # the party's dataset (name or name@version)
    actor: alice              # the party's local user who reads it
    purpose: federated-research
```

A party reads its own dataset through its own broker: policy, grant (where governance is on)
and a log entry in its own workspace. Nothing here is sent to the coordinator but the name.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from privet.errors import InvalidInput

MAX_PARTIES = 1000


class Party(BaseModel):
    """One party: its workspace folder and what it reads there, as whom, for what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    workspace: Path
    dataset: str = Field(min_length=1, max_length=200)
    actor: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=200)


class Parties(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    parties: list[Party] = Field(min_length=2, max_length=MAX_PARTIES)

    @field_validator("parties")
    @classmethod
    def _distinct(cls, parties: list[Party]) -> list[Party]:
        names = [p.name for p in parties]
        if len(set(names)) != len(names):
            raise ValueError("party names must be distinct")
        return parties


def load_parties(path: str | Path) -> list[Party]:
    """The parties of the YAML file at ``path`` (workspaces resolved against its folder)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"no parties file at {str(path)[:200]!r}", parameter="parties") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"cannot read the parties file {path.name!r}: {type(exc).__name__}",
            parameter="parties",
        ) from None
    return parse_parties(document, base=path.parent)


def parse_parties(document: object, *, base: Path) -> list[Party]:
    """Validate a parties document (the YAML's content); relative workspaces join ``base``."""
    try:
        parsed = Parties.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(
            f"invalid parties file at {where or 'top level'}: {first['msg']}", parameter="parties"
        ) from None
    return [
        p.model_copy(update={"workspace": (base / p.workspace).resolve()}) for p in parsed.parties
    ]
