"""Creating and opening a workspace folder: its catalog, keys and first log entries."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import Engine, make_url, select
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

from privet import auditlog, tables
from privet.auditlog import verifier_key
from privet.core._config import CATALOG_DB, DIRNAME, OBJECTS, PENDING, WorkspaceConfig, locate
from privet.core._core import Clock, Core, sqlite_url, utc_now
from privet.errors import (
    AlreadyExists,
    InvalidInput,
    NotFound,
    StoreUnavailable,
    describe_failure,
)
from privet.schema import LogHead, Meta, is_current, make_engine, upgrade
from privet.vault import Vault, check_uri, create_local_master_key, default_key_dir


def create(
    path: str | Path = ".",
    *,
    kms_uri: str | None = None,
    database_url: str | None = None,
    actor: str = "privet",
    clock: Clock = utc_now,
) -> Core:
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
            "keep the password out of database_url (it would be saved in the workspace): "
            "set PGPASSWORD or use ~/.pgpass",
            parameter="database_url",
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
        engine = make_engine(database_url or sqlite_url(staging))
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
    return Core(folder, config, clock)


def open_folder(
    path: str | Path | None = None,
    *,
    clock: Clock = utc_now,
) -> Core:
    """Open the workspace at ``path``, ``$PRIVET_WORKSPACE`` or the nearest one upward."""
    folder = locate(path)
    tables.clean_journal(folder / PENDING)
    _owner_only(folder)
    config = WorkspaceConfig.load(folder)
    if config.database_url is None:
        _check_catalog_file(folder / CATALOG_DB)
    try:
        core = Core(folder, config, clock)
        if not is_current(core.engine):
            upgrade(core.engine, then=core.baseline)
    except DBAPIError as err:
        raise StoreUnavailable(describe_failure(err)) from None
    return core


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
        now = clock()
        auditlog.append(
            session,
            [
                auditlog.events.workspace_init(ts=now, actor=actor, workspace=config.id),
                auditlog.events.keys_create(
                    ts=now,
                    actor=actor,
                    kms=config.kms_uri.split("://")[0],
                    keys=["workspace", "log-signing"],
                ),
            ],
        )
        session.commit()
