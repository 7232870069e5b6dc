"""Where a subject's rows are, and a version's content without them.

A source dataset finds its subject by the subject-id column (values compared as the text they
are stored as); a derived dataset by the keyed subject link it carries (``SUBJECT_LINK``), or
by the subject-id column if it kept one. Removing a subject from a k-anonymous version can
leave an equivalence class below k: those classes' rows are suppressed too, so the version
keeps the k it was made with.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import tables
from privet.catalog import SUBJECT_LINK
from privet.lineage import derived_versions, version_ref
from privet.schema import Dataset, LineageEdge, Version


@dataclass(frozen=True)
class Match:
    """How to find the subjects in one dataset's versions."""

    column: str
    values: tuple[str, ...]  # the subject ids, or their links


def match_for(
    dataset: Dataset, subjects: Sequence[str], links: Sequence[str] | None
) -> Match | None:
    column = dataset.subject_id_column
    if column is None or (column == SUBJECT_LINK and links is None):
        return None
    return Match(column, tuple(links if column == SUBJECT_LINK and links else subjects))


def found_in(plaintext: bytes, match: Match) -> pl.Series:
    """The subjects' values (ids or links) present in a version's Parquet, as text.

    Only the match column is parsed: finding people must not cost a full decode of every
    version (the rewrite decodes the few that hold them).
    """
    if match.column not in pl.read_parquet_schema(io.BytesIO(plaintext)):
        return pl.Series([], dtype=pl.String)
    column = pl.read_parquet(io.BytesIO(plaintext), columns=[match.column])
    values = column.get_column(match.column).cast(pl.String)
    return values.filter(values.is_in(match.values)).unique()


def holds(frame: pl.DataFrame, match: Match) -> pl.Series:
    """A mask of the subjects' rows (all false when the column is missing)."""
    if match.column not in frame.columns:
        return pl.Series([False] * frame.height, dtype=pl.Boolean)
    values = frame.get_column(match.column).cast(pl.String)
    return values.is_in(match.values).fill_null(False)


@dataclass(frozen=True)
class Rewritten:
    plaintext: bytes
    content_sha256: str
    rows: int
    removed: int
    suppressed: int


def without_subject(
    session: Session, version: Version, frame: pl.DataFrame, match: Match
) -> Rewritten | None:
    """The version's content without the subject (None if it does not hold them)."""
    mask = holds(frame, match)
    removed = int(mask.sum())
    if removed == 0:
        return None
    kept = frame.filter(~mask)
    kept, suppressed = _keep_k(session, version, kept)
    plaintext = tables.to_parquet_bytes(kept)
    return Rewritten(
        plaintext, hashlib.sha256(plaintext).hexdigest(), kept.height, removed, suppressed
    )


def _keep_k(session: Session, version: Version, frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Suppress the rows of equivalence classes that fell below the k (or the distinct ℓ) the
    version was made with; its lineage facts say k, ℓ, the quasi-identifiers it was
    generalized over and the sensitive columns. t-closeness is not re-checked: its bound
    depends on the whole table's distribution, which one person's rows barely move."""
    facts = _protection(session, version)
    quasi = [c for c in facts.get("levels", {}) if c in frame.columns]
    k, l_value = facts.get("k"), facts.get("l")
    if not isinstance(k, int) or not quasi or frame.height == 0:
        return frame, 0
    keep = pl.len().over(quasi) >= k
    sensitive = [c for c in facts.get("sensitive", []) if c in frame.columns]
    if isinstance(l_value, int) and l_value > 1:
        for column in sensitive:
            keep = keep & (pl.col(column).n_unique().over(quasi) >= l_value)
    kept = frame.filter(keep)
    return kept, frame.height - kept.height


def _protection(session: Session, version: Version) -> dict[str, Any]:
    """The lineage facts of the protection that made ``version`` (empty if none did)."""
    for facts in session.scalars(
        select(LineageEdge.facts).where(LineageEdge.target == version_ref(version.id))
    ):
        if isinstance(facts, dict) and isinstance(facts.get("k"), int):
            return facts
    return {}


def made_from(session: Session, version_ids: set[str]) -> list[Version]:
    """Live versions whose lineage source is one of ``version_ids``, transitively."""

    def live(version_id: str) -> bool:
        version = session.get(Version, version_id)
        return version is not None and version.shredded_at is None

    return [
        version
        for _, version_id in derived_versions(session, version_ids, include=live)
        if (version := session.get(Version, version_id)) is not None
    ]


def scope(session: Session, dataset: Dataset | None) -> list[Dataset]:
    """The datasets an erasure looks in: the named one and what was derived from it, or
    every dataset (each is then checked for the subject)."""
    if dataset is None:
        return list(session.scalars(select(Dataset).order_by(Dataset.name)))
    if dataset.derived_from is not None:
        return [dataset]
    derived = session.scalars(
        select(Dataset).where(Dataset.derived_from == dataset.id).order_by(Dataset.name)
    )
    return [dataset, *derived]
