"""The broker: the one read path to stored data.

Every read is checked against the dataset's declared purposes (purpose limitation,
GDPR Art. 5(1)(b)); a refusal and a release are both written to the audit log, and the log
entry of a release commits *before* any data leaves, so no read goes unrecorded. privet's
own processing reads under an internal purpose (``privet:assessment``) that is logged like
any other read but can never be exported to a file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from privet import auditlog, tables
from privet.catalog import INTERNAL_PURPOSES, VersionInfo, check_purpose, resolve, version_info
from privet.errors import IntegrityError, PolicyDenied

if TYPE_CHECKING:
    from privet.workspace import Workspace


@dataclass(frozen=True)
class Release:
    frame: pl.DataFrame
    version: VersionInfo
    log_index: int


def read(ws: Workspace, ref: str, *, purpose: str, actor: str, channel: str = "library") -> Release:
    """Decrypt version ``ref`` for ``purpose``, or raise ``PolicyDenied`` (and log it)."""
    check_purpose(purpose)
    with ws.session() as session:
        dataset, version = resolve(session, ref)
        event = {
            "ts": ws.now().isoformat(),
            "actor": actor,
            "dataset": dataset.id,
            "version": version.id,
            "purpose": purpose,
            "channel": channel,
        }
        declared = [p.purpose for p in dataset.purposes]
        if purpose not in declared and purpose not in INTERNAL_PURPOSES:
            auditlog.append(
                session, [{**event, "event": "read.refused", "reason": "purpose_not_declared"}]
            )
            session.commit()
            raise PolicyDenied(
                f"purpose {purpose!r} is not one dataset {dataset.name!r} was collected for "
                f"(declared: {', '.join(declared)}); the refusal is in the audit log"
            )
        handle = ws.vault.dataset_keyset(session, dataset.id)
        info = version_info(dataset, version)
        with ws.store.open(version.object_key) as source:
            plaintext = ws.vault.decrypt_version(handle, dataset.id, version.id, source)
        if hashlib.sha256(plaintext).hexdigest() != version.content_sha256:
            raise IntegrityError("a stored version does not match its recorded hash")
        (index,) = auditlog.append(
            session,
            [{**event, "event": "read", "rows": version.row_count, "columns": len(info.columns)}],
        )
        session.commit()
    return Release(tables.from_parquet_bytes(plaintext), info, index)


def export(
    ws: Workspace,
    ref: str,
    destination: Path,
    *,
    purpose: str,
    actor: str,
    overwrite: bool = False,
) -> Release:
    """A governed read written to ``destination`` (CSV, Parquet or JSON lines, atomically)."""
    if purpose in INTERNAL_PURPOSES:
        raise PolicyDenied(f"{purpose!r} is for privet's own processing, not for exports")
    tables.check_destination(destination, overwrite=overwrite)
    release = read(ws, ref, purpose=purpose, actor=actor, channel=f"file:{destination.suffix[1:]}")
    tables.write_table(release.frame, destination, overwrite=overwrite)
    return release
