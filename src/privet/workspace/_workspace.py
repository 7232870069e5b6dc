"""``Workspace``: the one entry object. It owns the catalog, vault, object store and log."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, make_url, select
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from privet import auditlog, catalog, dp, lineage, policy, tables
from privet.auditlog import AuditLog, verifier_key
from privet.catalog import DatasetInfo, VersionInfo
from privet.catalog._db import is_current, make_engine, reader, upgrade
from privet.catalog._models import Dataset, DpModel, LogHead, Meta, Version
from privet.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    PrivetError,
    StoreUnavailable,
    describe_failure,
)
from privet.vault import (
    LocalObjectStore,
    Vault,
    create_local_master_key,
    default_key_dir,
    primary_key_id,
)
from privet.vault._kms import check_uri
from privet.workspace._config import (
    CATALOG_DB,
    DIRNAME,
    OBJECTS,
    PENDING,
    WorkspaceConfig,
    locate,
)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Workspace:
    """A privet workspace: ``Workspace.init(path)`` once, then ``Workspace.open()``."""

    def __init__(self, folder: Path, config: WorkspaceConfig, clock: Clock = _utc_now) -> None:
        self.folder = folder
        self.config = config
        self.now = clock
        self.engine: Engine = make_engine(config.database_url or _sqlite_url(folder))
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

    # -- creation and discovery -------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path = ".",
        *,
        kms_uri: str | None = None,
        database_url: str | None = None,
        actor: str = "privet",
        clock: Clock = _utc_now,
    ) -> Workspace:
        """Create a workspace in ``path/.privet``; the master key file goes outside it."""
        root = Path(path).expanduser().resolve()
        folder = root / DIRNAME
        if folder.exists():
            raise AlreadyExists(f"{root} already holds a privet workspace")
        if root.exists() and not root.is_dir():
            raise InvalidInput(f"{root} is a file, not a folder")
        created = not root.exists()
        workspace_id = uuid.uuid4().hex
        if database_url is not None and _has_password(database_url):
            raise InvalidInput(
                "keep the password out of --database-url (it would be saved in the workspace): "
                "set PGPASSWORD or use ~/.pgpass"
            )
        if kms_uri is not None:
            check_uri(kms_uri)
        key_path: Path | None = None
        if kms_uri is None:
            key_path = default_key_dir() / f"{workspace_id}.json"
            if key_path.resolve().is_relative_to(root):
                raise InvalidInput(
                    "the master key would land inside the workspace; set PRIVET_KEY_DIR to a "
                    "folder outside it"
                )
            kms_uri = create_local_master_key(key_path)
        config = WorkspaceConfig(
            id=workspace_id, kms_uri=kms_uri, database_url=database_url, created_at=clock()
        )
        # Built in a temporary folder and renamed into place: a failed init leaves nothing.
        staging = root / f".privet-init-{workspace_id}"
        try:
            root.mkdir(parents=True, exist_ok=True)
            staging.mkdir(mode=0o700)  # the catalog names people's datasets and purposes
            (staging / OBJECTS).mkdir()
            config.save(staging)
            if database_url is None:
                # Made here, owner-only: SQLite gives its WAL files the database's mode.
                os.close(os.open(staging / CATALOG_DB, os.O_CREAT | os.O_EXCL, 0o600))
            engine = make_engine(database_url or _sqlite_url(staging))
            try:
                _create_catalog(engine, config, actor, clock)
            finally:
                engine.dispose()
            staging.rename(folder)
        except BaseException:
            shutil.rmtree(root if created else staging, ignore_errors=True)
            if key_path is not None:
                key_path.unlink(missing_ok=True)
            raise
        return cls(folder, config, clock)

    @classmethod
    def open(cls, path: str | Path | None = None, *, clock: Clock = _utc_now) -> Workspace:
        """Open the workspace at ``path``, ``$PRIVET_WORKSPACE`` or the nearest one upward."""
        folder = locate(path)
        tables.clean_journal(folder / PENDING)
        _owner_only(folder)
        config = WorkspaceConfig.load(folder)
        if config.database_url is None:
            _check_catalog_file(folder / CATALOG_DB)
        try:
            workspace = cls(folder, config, clock)
            if not is_current(workspace.engine):
                upgrade(workspace.engine, then=workspace._baseline)
        except DBAPIError as err:
            raise StoreUnavailable(describe_failure(err)) from None
        return workspace

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- sessions ---------------------------------------------------------------------------

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

    def _baseline(self, conn: Connection, previous: str | None) -> None:
        """After an upgrade from before attestations (0006), attest the governance state
        once, in the migration's transaction: trust on first use of what the rows say."""
        if previous is None or previous >= "0006":
            return
        info = {auditlog.SESSION_INFO: self.attestations}
        with Session(bind=conn, info=info) as session:
            auditlog.baseline(session, ts=self.now().isoformat())
            session.commit()

    @property
    def journal(self) -> Path:
        """Where exports record their temporary files (see :func:`privet.tables.atomic_file`)."""
        return self.folder / PENDING

    @property
    def origin(self) -> str:
        return f"privet.local/{self.config.id}"

    def _meta(self, key: str) -> str:
        with self.reading() as session:
            row = session.get(Meta, key)
            if row is None:
                raise PrivetError(f"the workspace catalog lacks its {key!r} setting")
            return row.value

    def _signing_key(self) -> Any:
        with self.reading() as session:
            return self.vault.signing_key(session)

    # -- the catalog ------------------------------------------------------------------------

    def ingest(self, path: str | Path, **kwargs: Any) -> VersionInfo:
        """See :func:`privet.catalog.ingest`."""
        return catalog.ingest(self, Path(path), **kwargs)

    def datasets(self) -> list[DatasetInfo]:
        with self.reading() as session:
            rows = session.scalars(select(Dataset).order_by(Dataset.name))
            return [catalog.dataset_info(d) for d in rows]

    def dataset(self, name: str) -> DatasetInfo:
        with self.reading() as session:
            return catalog.dataset_info(catalog.find_dataset(session, catalog.check_name(name)))

    def lineage(self, ref: str) -> list[lineage.Edge]:
        with self.reading() as session:
            _, version = catalog.resolve(session, ref)
            return lineage.edges_of(session, lineage.version_ref(version.id))

    # -- differential privacy ---------------------------------------------------------------

    @property
    def dp(self) -> Any:
        """DP statistics, DP-SGD and the budget ledger: a :class:`privet.dp.DifferentialPrivacy`.

        Imported on first use: OpenDP and PyTorch are large, and most commands need neither.
        """
        return dp.DifferentialPrivacy(self)

    # -- governed reads ---------------------------------------------------------------------

    def read(self, ref: str, *, purpose: str, actor: str, view: str = "raw") -> pl.DataFrame:
        """The rows of ``ref`` for ``purpose`` as ``view``, through the broker (policy, grant,
        audit); a refusal raises ``PolicyDenied`` and is logged."""
        return policy.read(self, ref, purpose=purpose, actor=actor, view=view).frame

    def export(
        self,
        ref: str,
        destination: str | Path,
        *,
        purpose: str,
        actor: str,
        overwrite: bool = False,
        view: str = "raw",
    ) -> policy.Release:
        return policy.export(
            self,
            ref,
            Path(destination),
            purpose=purpose,
            actor=actor,
            overwrite=overwrite,
            view=view,
        )

    # -- keys -------------------------------------------------------------------------------

    def rotate_keys(self, *, actor: str, reencrypt: bool = False) -> dict[str, Any]:
        """New primary keys everywhere; with ``reencrypt``, rewrite every stored version."""
        with self.session() as session:
            result = self.vault.rotate(session)
            auditlog.append(
                session,
                [{"event": "keys.rotate", "ts": self.now().isoformat(), "actor": actor, **result}],
            )
            session.commit()
        done = self._reencrypt(actor) if reencrypt else {"versions": 0, "models": 0}
        result["reencrypted_versions"] = done["versions"]
        result["reencrypted_models"] = done["models"]
        return result

    def _reencrypt(self, actor: str) -> dict[str, int]:
        """Rewrite every stored object (versions and models) not under its primary key."""
        with self.reading() as session:
            targets = [
                (Version, v.id, v.dataset_id, v.id, "versions", "parquet.tink")
                for v in session.scalars(select(Version))
            ] + [
                (DpModel, m.id, m.dataset_id, f"model:{m.id}", "models", "pt.tink")
                for m in session.scalars(select(DpModel))
            ]
        done = {"versions": 0, "models": 0}
        for target in targets:
            done[target[4]] += self._reencrypt_object(*target, actor=actor)
        return done

    def _reencrypt_object(
        self,
        table: type[Version] | type[DpModel],
        row_id: str,
        dataset_id: str,
        context: str,
        folder: str,
        suffix: str,
        *,
        actor: str,
    ) -> int:
        # ``context`` is the associated data the object was sealed with (see privet.dp for
        # models); it does not change, only the key does.
        with self.reading() as session:
            handle = self.vault.dataset_keyset(session, dataset_id)
            row = session.get(table, row_id)
            assert row is not None
            if row.key_id == primary_key_id(handle):
                return 0
            old_key = row.object_key
            with self.store.open(old_key) as source:
                plaintext = self.vault.decrypt_version(handle, dataset_id, context, source)
        new_key = f"{folder}/{dataset_id}/{row_id}.{uuid.uuid4().hex[:8]}.{suffix}"
        with self.store.writing():  # until the row points at the new object
            self._replace_object(
                table, row_id, dataset_id, context, handle, plaintext, new_key, actor=actor
            )
        self.store.delete(old_key)
        return 1

    def _replace_object(
        self,
        table: type[Version] | type[DpModel],
        row_id: str,
        dataset_id: str,
        context: str,
        handle: Any,
        plaintext: bytes,
        new_key: str,
        *,
        actor: str,
    ) -> None:
        stored = self.store.put(
            new_key, self.vault.encrypt_version(handle, dataset_id, context, plaintext)
        )
        try:
            with self.session() as session:
                row = session.get(table, row_id)
                assert row is not None
                row.object_key, row.stored_bytes = new_key, stored
                row.key_id = primary_key_id(handle)
                event = {
                    "event": "keys.reencrypt",
                    "ts": self.now().isoformat(),
                    "actor": actor,
                    "dataset": dataset_id,
                    "version" if table is Version else "model": row_id,
                    "key_id": row.key_id,
                }
                auditlog.append(session, [event])
                session.commit()
        except BaseException:
            self.store.delete(new_key)
            raise

    # -- housekeeping -----------------------------------------------------------------------

    def garbage(self) -> list[str]:
        """Objects no version refers to: left behind by an interrupted write."""
        with self.store.collecting():
            return self._garbage()

    def _garbage(self) -> list[str]:
        with self.reading() as session:
            referenced = set(session.scalars(select(Version.object_key))) | set(
                session.scalars(select(DpModel.object_key))
            )
        orphans = [key for key in self.store.object_keys() if key not in referenced]
        return orphans + [f".tmp/{p.name}" for p in self.store.temporary_files()]

    def collect_garbage(self) -> list[str]:
        """Delete what :meth:`garbage` lists. Waits for writes in flight to commit (an object
        whose row is not committed yet would look like garbage)."""
        with self.store.collecting():
            return self._collect()

    def _collect(self) -> list[str]:
        removed = self._garbage()
        for key in removed:
            if key.startswith(".tmp/"):
                (self.store.root / key).unlink(missing_ok=True)
            else:
                self.store.delete(key)
        return removed


def _check_catalog_file(path: Path) -> None:
    """Refuse a missing, empty or foreign catalog file before SQLite touches it: SQLite
    would create an empty one, and a migration would then build a blank catalog on it."""
    try:
        with open(path, "rb") as file:
            header = file.read(16)
    except FileNotFoundError:
        raise NotFound(
            f"the workspace catalog ({DIRNAME}/{CATALOG_DB}) is missing; restore it from a "
            "backup (the audit log and the wrapped keys live in it)"
        ) from None
    except OSError as err:
        raise StoreUnavailable(f"the workspace catalog cannot be read ({err.strerror})") from None
    if not header:
        raise StoreUnavailable(
            f"the workspace catalog ({DIRNAME}/{CATALOG_DB}) is empty; restore it from a backup"
        )
    if header != b"SQLite format 3\x00":
        raise StoreUnavailable(
            f"the workspace catalog ({DIRNAME}/{CATALOG_DB}) is damaged (not a SQLite "
            "database); restore it from a backup"
        )


def _owner_only(folder: Path) -> None:
    """Workspaces made before catalogs were created 0600 get the same protection."""
    for name in (CATALOG_DB, f"{CATALOG_DB}-wal", f"{CATALOG_DB}-shm"):
        path = folder / name
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except (FileNotFoundError, PermissionError):
            continue


def _has_password(url: str) -> bool:
    try:
        return make_url(url).password is not None
    except ArgumentError:
        raise InvalidInput(
            "the database URL is not understood (use postgresql+psycopg://USER@HOST/DB)"
        ) from None


def _sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / CATALOG_DB}"


def _create_catalog(engine: Engine, config: WorkspaceConfig, actor: str, clock: Clock) -> None:
    upgrade(engine)
    vault = Vault(config.kms_uri, config.id, clock)
    origin = f"privet.local/{config.id}"
    with Session(engine) as session:
        if session.scalars(select(Meta)).first() is not None:
            raise AlreadyExists("that database already holds a privet catalog")
        signing = vault.create(session)
        vkey = verifier_key(origin, signing.public_key())
        session.add_all(
            [
                Meta(key="workspace_id", value=config.id),
                Meta(key="log_verifier_key", value=vkey),
                LogHead(id=1, size=0),
            ]
        )
        session.flush()
        now = clock().isoformat()
        auditlog.append(
            session,
            [
                {"event": "workspace.init", "ts": now, "actor": actor, "workspace": config.id},
                {
                    "event": "keys.create",
                    "ts": now,
                    "actor": actor,
                    "kms": config.kms_uri.split("://")[0],
                    "keys": ["workspace", "log-signing"],
                },
            ],
        )
        session.commit()
