"""``Core``: the services under every capability — catalog sessions, key vault, object store,
audit log, clock. Internal: privet's packages take a ``Core``; users take a ``Workspace``.

Like pyca/cryptography's ``hazmat``, this layer can do what the workspace's door never lets a
caller do directly (decrypt an object without the broker, write a row without its log entry).
Nothing outside privet should hold one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from privet import auditlog, tables
from privet.auditlog import AuditLog
from privet.core._config import CATALOG_DB, OBJECTS, PENDING, SCRATCH, WorkspaceConfig
from privet.errors import PrivetError
from privet.schema import Meta, make_engine, reader
from privet.vault import LocalObjectStore, Vault

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / CATALOG_DB}"


class Core:
    """The services of one workspace folder (see the module docstring)."""

    def __init__(self, folder: Path, config: WorkspaceConfig, clock: Clock = utc_now) -> None:
        self.folder = folder
        self.config = config
        self.now = clock
        self.engine: Engine = make_engine(config.database_url or sqlite_url(folder))
        self._reader = reader(self.engine)
        self.store = LocalObjectStore(folder / OBJECTS)
        self.vault = Vault(config.kms_uri, config.id, clock)
        # Every session carries it (see session()): governance rows are attested when changed
        # and checked against the log before a read, an authentication or a DP release.
        self.attestations = auditlog.Attestations(self._signing_key)
        self.log = AuditLog(
            self.engine,
            origin=self.origin,
            verifier_key=self._meta("log_verifier_key"),
            signing_key=self._signing_key,
            clock=clock,
        )

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A write session; commit explicitly, anything uncommitted is rolled back.

        Its ``info`` holds the workspace's governance attestations, so that code holding only
        a session can attest a change (``auditlog.attest``) or check a row (``auditlog.check``).
        """
        info = {auditlog.SESSION_INFO: self.attestations}
        with Session(self.engine, expire_on_commit=False, info=info) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self._reader, info={auditlog.SESSION_INFO: self.attestations}) as session:
            yield session

    def baseline(self, conn: Connection, previous: str | None) -> None:
        """After an upgrade from before attestations (0006), attest the governance state
        once, in the migration's transaction: trust on first use of what the rows say."""
        if previous is None or previous >= "0006":
            return
        info = {auditlog.SESSION_INFO: self.attestations}
        with Session(bind=conn, info=info) as session:
            auditlog.baseline(session, ts=self.now())
            session.commit()

    @property
    def journal(self) -> Path:
        """Where exports record their temporary files (see :func:`privet.tables.atomic_file`)."""
        return self.folder / PENDING

    def private_file(self, name: str) -> tables.PrivateFile:
        """An owner-only file for plaintext too large for memory, in the workspace's private
        scratch folder; close it when done (a crash leaves it to the next open, which
        deletes it: see :func:`privet.tables.clean_journal`)."""
        return tables.PrivateFile(self.folder / SCRATCH, self.journal, name)

    @property
    def origin(self) -> str:
        return f"privet.local/{self.config.id}"

    def _meta(self, key: str) -> str:
        with self.reading() as session:
            row = session.get(Meta, key)
            if row is None:
                raise PrivetError(f"the workspace catalog lacks its {key!r} setting")
            return row.value

    def _signing_key(self) -> Ed25519PrivateKey:
        with self.reading() as session:
            return self.vault.signing_key(session)
