"""The store of measurements (``report_facts``): a risk or a drawing is reused while its
inputs and the code behind it are unchanged, else measured anew and kept for the next report."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError as DbIntegrityError

from privet.schema import ReportFact

if TYPE_CHECKING:
    from privet.core import Core

# Bumped when a stored measurement's meaning changes, so older rows stop being current.
FACTS_FORMAT = 1


@functools.cache
def code_revision() -> str:
    """A hash of the code behind stored measurements (the risk measure and the drawings):
    a changed privet computes them anew instead of reusing what older code stored."""
    digest = hashlib.sha256(str(FACTS_FORMAT).encode())
    for package, files in (
        ("privet.deid", ("_assess.py", "_measure.py", "_risk.py", "_columns.py")),
        ("privet.account", ("_figures.py",)),
    ):
        spec = importlib.util.find_spec(package)
        folder = Path(spec.origin).parent if spec is not None and spec.origin else None
        for name in files:
            source = folder / name if folder is not None else None
            digest.update(source.read_bytes() if source is not None and source.is_file() else b"?")
    return digest.hexdigest()[:16]


@dataclass
class Measurements:
    """Stored measurements of one workspace, counting how many were reused and measured."""

    core: Core
    reused: int = 0
    measured: int = 0

    def cached(
        self, kind: str, subject: str, parts: dict[str, Any], compute: Callable[[], Any]
    ) -> Any:
        """The stored result for these exact inputs, else ``compute()`` stored under them."""
        key_text = json.dumps(
            {"kind": kind, "subject": subject, "revision": code_revision(), **parts},
            sort_keys=True,
            default=str,
        )
        key = hashlib.sha256(key_text.encode()).hexdigest()
        with self.core.reading() as session:
            row = session.get(ReportFact, key)
            if row is not None:
                self.reused += 1
                return row.value["value"]
        value = compute()
        self.measured += 1
        self.store(kind, subject, {"value": value}, key)
        return value

    def store(self, kind: str, subject: str, value: dict[str, Any], key: str = "") -> None:
        key = key or hashlib.sha256(f"{kind}\n{subject}".encode()).hexdigest()
        try:
            with self.core.session() as session:
                row = ReportFact(
                    key=key, kind=kind, subject=subject, value=value, created_at=self.core.now()
                )
                session.add(row)
                session.commit()
        except DbIntegrityError:  # another report stored the same measurement meanwhile
            pass
