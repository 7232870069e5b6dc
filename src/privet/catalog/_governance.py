"""The governance state of datasets and versions, attested in the audit log.

A dataset's state is what decides who may read it and how: its name, owner, purposes, legal
basis, retention, subject-id column, classification, the dataset it derives from and its
versions. A version's state is its number, kind, rows, content hash, creation time (the
newest protected or synthetic version is the one served) and its columns' categories and
roles (roles decide masks). The broker checks these on every read, so they are read with
the DBAPI cursor (see ``privet.auditlog.kinds.Reader``).
"""

from __future__ import annotations

from typing import Any

from privet.auditlog.kinds import Kind, Reader, register_kind, stored_time

_DATASET = (
    "SELECT name, owner, legal_basis, retention_days, subject_id_column, classification, "
    "derived_from FROM datasets WHERE id = :id"
)
_LISTS = (
    "SELECT 'p', purpose, 0 FROM dataset_purposes WHERE dataset_id = :id "
    "UNION ALL SELECT 'v', id, number FROM versions WHERE dataset_id = :id"
)
_VERSION = (
    "SELECT v.dataset_id, v.number, v.kind, v.row_count, v.content_sha256, v.created_at, "
    "c.name, c.dtype, c.category, c.role FROM versions v "
    "LEFT JOIN version_columns c ON c.version_id = v.id WHERE v.id = :id ORDER BY c.position"
)
_NAME = "SELECT name FROM datasets WHERE id = :id"


def dataset_state(rows: Reader, dataset_id: str) -> dict[str, Any] | None:
    found = rows(_DATASET, id=dataset_id)
    if not found:
        return None
    name, owner, legal_basis, retention, subject, classification, derived = found[0]
    lists = rows(_LISTS, id=dataset_id)
    return {
        "name": name,
        "owner": owner,
        "purposes": sorted(value for tag, value, _ in lists if tag == "p"),
        "legal_basis": legal_basis,
        "retention_days": retention,
        "subject_id": subject,
        "classification": classification,
        "derived_from": derived,
        "versions": [v for _, v in sorted((n, v) for tag, v, n in lists if tag == "v")],
    }


def version_state(rows: Reader, version_id: str) -> dict[str, Any] | None:
    found = rows(_VERSION, id=version_id)
    if not found:
        return None
    dataset, number, kind, rows, sha256, created = found[0][:6]
    return {
        "dataset": dataset,
        "number": number,
        "kind": kind,
        "rows": rows,
        "content_sha256": sha256,
        "created_at": stored_time(created),
        "columns": {
            name: {"dtype": dtype, "category": category, "role": role}
            for *_, name, dtype, category, role in found
            if name is not None
        },
    }


def _name(rows: Reader, dataset_id: str) -> str | None:
    found = rows(_NAME, id=dataset_id)
    return found[0][0] if found else None


def _dataset_label(rows: Reader, dataset_id: str, state: dict[str, Any] | None) -> str:
    name = state["name"] if state else _name(rows, dataset_id)
    return f"dataset {name!r}" if name else f"dataset {dataset_id}"


def _version_label(rows: Reader, version_id: str, state: dict[str, Any] | None) -> str:
    state = state or version_state(rows, version_id)
    if state is None:
        return f"version {version_id}"
    return f"version {_name(rows, state['dataset']) or state['dataset']}@{state['number']}"


def _ids(table: str) -> Any:
    return lambda rows: [row[0] for row in rows(f"SELECT id FROM {table}")]


register_kind(Kind("dataset", dataset_state, _ids("datasets"), _dataset_label))
register_kind(Kind("version", version_state, _ids("versions"), _version_label))
