"""Detokenizing: the reversible tokens of a column turned back into values, as a governed,
purpose-bound read with its own audit entry."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from privet import auditlog, policy, tables
from privet.catalog import INTERNAL_PURPOSES
from privet.errors import InvalidInput, PolicyDenied
from privet.operators import open_token, unique_map

if TYPE_CHECKING:
    from privet.core import Core


@dataclass(frozen=True)
class Detokenized:
    """What a detokenizing returned, and where it is on the record."""

    frame: pl.DataFrame  # the rows with the column's values restored
    version: str  # the exact NAME@VERSION read
    column: str
    purpose: str
    log_index: int  # the audit entry of this detokenizing (the read has its own before it)
    output: Path | None  # the file written, if one was asked for

    @property
    def rows(self) -> int:
        return self.frame.height


def detokenize(
    core: Core,
    ref: str,
    column: str,
    *,
    purpose: str,
    actor: str,
    namespace: str = "",
    output: str | Path | None = None,
    overwrite: bool = False,
) -> Detokenized:
    """The rows of ``ref`` with the tokens of ``column`` turned back into values.

    A governed read for a declared purpose (refused and logged otherwise); the detokenizing
    itself is a second audit entry, committed before the values are returned or written to
    ``output`` (CSV, Parquet or JSON lines; an existing file only with ``overwrite``).
    """
    if purpose in INTERNAL_PURPOSES:
        raise PolicyDenied(f"{purpose!r} is for privet's own processing, not for detokenizing")
    destination = Path(output) if output is not None else None
    if destination is not None:  # before the read: a refused write must not cost a logged read
        tables.check_destination(destination, overwrite=overwrite)
    release = policy.read(core, ref, purpose=purpose, actor=actor, channel="detokenize")
    frame = release.frame
    if column not in frame.columns:
        raise InvalidInput(f"dataset {release.version.ref!r} has no column {column!r}")
    started = time.perf_counter()
    with core.session() as session:
        daead = core.vault.token_aead(session)
        restored = unique_map(
            frame.get_column(column), lambda token: open_token(daead, token, namespace)
        )
        [index] = auditlog.append(
            session,
            [
                auditlog.events.deid_detokenize(
                    ts=core.now(),
                    actor=actor,
                    dataset=release.version.dataset,
                    version=release.version.id,
                    column=column,
                    rows=frame.height,
                    distinct_tokens=int(frame.get_column(column).drop_nulls().n_unique()),
                    purpose=purpose,
                    read_entry=release.log_index,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
            ],
        )
        session.commit()
    frame = frame.with_columns(restored)
    if destination is not None:
        tables.write_table(frame, destination, overwrite=overwrite, journal=core.journal)
    return Detokenized(frame, release.version.ref, column, purpose, index, destination)
