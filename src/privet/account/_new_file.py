"""Writing an incident report or a sealed (or opened) subject list to a path that must not
exist yet, whole or not at all (``privet.tables.atomic_file``)."""

from __future__ import annotations

from pathlib import Path

from privet import tables
from privet.errors import InvalidInput


def check_new(path: Path) -> Path:
    """``path`` may be written: it does not exist and its folder does."""
    if path.exists():
        raise InvalidInput(f"{path} exists already; choose another file name")
    if not path.parent.is_dir():
        raise InvalidInput(f"folder {path.parent} does not exist")
    return path


def write_new(path: Path, data: str, *, mode: int = 0o600) -> None:
    """Write ``data`` to a new file ``path`` whole or not at all."""
    check_new(path)
    with tables.atomic_file(path, mode=mode) as out:
        out.write(data.encode())
