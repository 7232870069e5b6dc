"""What protect and risk know about a table's columns before reading any data: the catalog's
roles for a stored version, discovery's for a file."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from privet import catalog, tables
from privet.catalog import INTERNAL_PURPOSES
from privet.deid._plan import Column
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core

# The purpose of privet's own reads for protecting and measuring (logged like any read).
ASSESSMENT = INTERNAL_PURPOSES[0]


@dataclass(frozen=True)
class Stored:
    """A stored version as the plan checker sees it."""

    columns: list[Column]
    rows: int
    subject: str | None  # the dataset's subject id column
    ref: str  # the exact NAME@VERSION


def stored_columns(core: Core, ref: str) -> Stored:
    with core.reading() as session:
        dataset, version = catalog.resolve(session, ref)
        info = catalog.version_info(dataset, version)
        subject = dataset.subject_id_column
    columns = [Column(c.name, c.dtype, c.role, c.category, c.meaning) for c in info.columns]
    return Stored(columns, info.rows, subject, info.ref)


def dataset_columns(core: Core, ref: str) -> list[Column]:
    """The columns of a stored version with their catalog roles (no data is read)."""
    return stored_columns(core, ref).columns


def file_columns(frame: pl.DataFrame) -> list[Column]:
    """Columns of a file, with the roles discovery finds in it."""
    from privet.discover import scan_frame  # lazily: only files are scanned

    roles = {found.name: (found.role, found.category) for found in scan_frame(frame).columns}
    meanings = tables.text_meanings(frame)
    return [
        Column(name, str(dtype), *roles.get(name, ("other", None)), meanings.get(name))
        for name, dtype in frame.schema.items()
    ]


def require_columns(names: Collection[str], where: str, **listed: Sequence[str]) -> None:
    """One sentence for the first listed column that ``names`` lacks; the keyword it was
    listed under is the parameter to blame."""
    for parameter, columns in listed.items():
        for column in columns:
            if column not in names:
                raise InvalidInput(f"{where} has no column {column[:80]!r}", parameter=parameter)
