"""Whom the actor's reads touched: each version read is read again to count its people, and
the seal resolves their subject ids.

Rows that reached the actor ("disclosed": every channel but DP releases, de-identification
into the catalog and privet's internal purpose) are counted by person: each version read is
read again here through the broker, under privet's internal purpose on the channel
``incident:scope`` (so the scoping's own reads are in the log, with counts only), and its
people are taken by keyed subject link — the link column of a derived copy, else the link of
the dataset's subject-id column. Links are one per person across the workspace, so the union
over datasets counts each person once. A dataset without a subject id has one person per row:
it adds the most rows read of it (per root dataset; such rows cannot be matched across
datasets, so the total is then an upper bound). A read that returned fewer rows than its
version (a row filter, consent) makes the count an upper bound too. A DP synthetic view holds
no one's rows.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import polars as pl

from privet import policy
from privet.account._incident_entries import Work
from privet.account._incident_models import Basis, IncidentScope, SubjectCount, VersionRead
from privet.catalog import INTERNAL_PURPOSES, SUBJECT_LINK, subject_links
from privet.errors import PrivetError
from privet.schema import Dataset

if TYPE_CHECKING:
    from privet.core import Core

# privet's own processing: who re-reads the versions, and who computes a scope when the
# library is not told.
SYSTEM_ACTOR = "privet"
_ASSESSMENT = INTERNAL_PURPOSES[0]


class _People:
    def __init__(self) -> None:
        # version id → (distinct people, basis, exact)
        self.per_version: dict[str, tuple[int, Basis, bool]] = {}
        self.people: dict[str, set[str]] = defaultdict(set)  # dataset name → subject ids
        self.ids: set[str] = set()  # every subject id (text) seen
        self.link_only: dict[str, set[str]] = defaultdict(set)  # root id → links of copies
        self.ids_by_link: dict[str, str] = {}
        self.unresolved: dict[str, set[str]] = {}  # root dataset id → links with no id seen
        self.per_row: dict[str, int] = {}  # root dataset id → most rows read
        self.removed = 0  # rows read that were removed from their version since
        self.linked = 0
        self.exact = True


def count_people(core: Core, work: Work) -> _People:
    """Read each disclosed version again (internal purpose, logged) and count its people.

    A link is the keyed PRF of the subject id's text, so two ids are the same person exactly
    when their links are: ids are unioned as text, and links are computed (one PRF call per
    distinct id) only when a derived copy read carries links alone and must be matched.
    """
    out = _People()
    for version_id, group in work.by_version.items():
        if not group.disclosed:
            continue
        dataset, version = work.datasets.get(group.served), work.versions.get(version_id)
        if dataset is None or version is None:
            out.per_version[version_id] = (group.disclosed_max, "unknown", False)
            out.exact = False
            continue
        whole = group.disclosed_max >= version.row_count
        if group.disclosed_views <= {"synthetic"}:
            out.per_version[version_id] = (0, "none", True)
            continue
        names = {c.name for c in version.columns}
        subject = dataset.subject_id_column
        linked = SUBJECT_LINK in names or (subject is not None and subject in names)
        root = dataset.derived_from or dataset.id
        if not linked:
            rows = min(group.disclosed_max, version.row_count)
            out.per_version[version_id] = (rows, "row", whole)
            out.per_row[root] = max(out.per_row.get(root, 0), rows)
            continue
        try:
            frame = policy.read(
                core,
                f"{dataset.name}@{version.number}",
                purpose=_ASSESSMENT,
                actor=SYSTEM_ACTOR,
                channel=policy.INCIDENT_CHANNEL,
            ).frame
        except PrivetError:
            # Destroyed (retention, erasure) or unreadable: bound by the rows read.
            out.per_version[version_id] = (group.disclosed_max, "unknown", False)
            out.exact = False
            continue
        basis: Basis
        if SUBJECT_LINK in frame.columns:
            found = set(frame.get_column(SUBJECT_LINK).drop_nulls().unique().to_list())
            out.link_only[root] |= found
            basis = "subject_link"
        else:
            assert subject is not None
            values = frame.get_column(subject).cast(pl.String).drop_nulls().unique()
            found = set(values.to_list())
            out.people[dataset.name] |= found
            out.ids |= found
            basis = "subject_id"
        # A version rewritten since the read (an erasure) holds fewer rows than were read:
        # those people were disclosed too; their ids are gone, so they count one per row.
        removed = max(0, group.disclosed_max - frame.height) if whole else 0
        out.removed += removed
        out.per_version[version_id] = (len(found) + removed, basis, whole)
        if not whole or removed:
            out.exact = False
    if out.link_only:
        ids = sorted(out.ids)
        links = subject_links(core, pl.Series(ids, dtype=pl.String)).to_list() if ids else []
        out.ids_by_link = dict(zip(links, ids, strict=True))
        for root, found in out.link_only.items():
            if rest := found - out.ids_by_link.keys():
                out.unresolved[root] = rest
    unmatched = set().union(*out.unresolved.values()) if out.unresolved else set()
    out.linked = len(out.ids) + len(unmatched)
    return out


def subject_total(versions: list[VersionRead], counted: _People) -> SubjectCount:
    linked = counted.linked
    per_row = sum(counted.per_row.values())
    removed = counted.removed
    exact = counted.exact and (per_row == 0 or (linked == 0 and len(counted.per_row) == 1))
    parts = []
    if linked:
        parts.append(
            f"{linked} distinct people by keyed subject link across "
            f"{len({v.dataset for v in versions if v.subject_basis.startswith('subject')})} "
            "dataset(s)"
        )
    if per_row:
        parts.append(
            f"{per_row} rows of dataset(s) with no subject id, one person per row "
            "(cannot be matched across datasets: may overlap the others)"
        )
    if removed:
        parts.append(
            f"{removed} rows read were removed by an erasure since, one person per row "
            "(their ids are gone)"
        )
    if not counted.exact:
        parts.append("upper bound: some reads returned part of a version or a version is gone")
    return SubjectCount(
        total=linked + per_row + removed,
        linked=linked,
        per_row=per_row,
        removed=removed,
        exact=exact,
        method="; ".join(parts) or "no rows of people were disclosed",
    )


def subject_ids(core: Core, incident: IncidentScope) -> dict[str, list[str]]:
    """Subject ids by dataset; links of derived copies whose people were not in a dataset
    read with its ids are mapped through their root dataset's newest readable version (read
    under the internal purpose, logged); a link still unmatched is written as ``link:HEX``."""
    people = {name: set(ids) for name, ids in incident._people.items()}
    for root, links in incident._unresolved.items():
        mapping = _root_ids(core, root)
        with core.reading() as session:
            row = session.get(Dataset, root)
            name = row.name if row is not None else root
        people.setdefault(name, set()).update(mapping.get(link) or f"link:{link}" for link in links)
    return {name: sorted(ids) for name, ids in sorted(people.items())}


def _root_ids(core: Core, root: str) -> dict[str, str]:
    with core.reading() as session:
        dataset = session.get(Dataset, root)
        if dataset is None or dataset.subject_id_column is None:
            return {}
        versions = [v for v in dataset.versions if v.shredded_at is None]
        if not versions:
            return {}
        ref = f"{dataset.name}@{versions[-1].number}"
        column = dataset.subject_id_column
    try:
        frame = policy.read(
            core, ref, purpose=_ASSESSMENT, actor=SYSTEM_ACTOR, channel=policy.INCIDENT_CHANNEL
        ).frame
    except PrivetError:
        return {}
    values = frame.get_column(column).cast(pl.String).drop_nulls().unique()
    return dict(zip(subject_links(core, values).to_list(), values.to_list(), strict=True))
