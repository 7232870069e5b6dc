"""The object store: encrypted blobs in a local folder, written atomically."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from privet.errors import IntegrityError

_KEY = re.compile(r"^[a-z0-9][a-z0-9/_.-]{0,200}$")
_TMP = ".tmp"
# Writers hold it shared from the first byte of an object until the catalog row naming the
# object commits; garbage collection holds it exclusively, so it never sees an object (or a
# temporary file) whose row is still on its way as garbage.
_LOCK = ".lock"


class LocalObjectStore:
    """Objects are files under ``root``; a write lands under its key only once complete.

    A write goes to ``root/.tmp/`` first, is fsynced, then renamed into place, so a crash
    leaves at worst an orphan temporary file and never a half-written object.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._held = threading.local()

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold around writing objects *and* committing the rows that refer to them (or
        deleting the objects on failure): garbage collection waits until it is released."""
        with self._locked(fcntl.LOCK_SH):
            self._held.depth = getattr(self._held, "depth", 0) + 1
            try:
                yield
            finally:
                self._held.depth -= 1

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Exclusive: no object is being written while this is held."""
        with self._locked(fcntl.LOCK_EX):
            yield

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError("invalid object key")
        return self.root / key

    def put(self, key: str, write: Callable[[BinaryIO], None]) -> int:
        """Create object ``key`` by calling ``write(file)``; returns its size in bytes.

        Only inside :meth:`writing`, which must stay held until the row naming ``key``
        commits: an object nothing refers to yet is garbage to a concurrent collection.
        """
        if not getattr(self._held, "depth", 0):
            raise RuntimeError("objects are written inside LocalObjectStore.writing()")
        final = self._path(key)
        tmp_dir = self.root / _TMP
        tmp_dir.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            with open(tmp, "xb") as out:
                write(out)  # may close ``out`` itself (Tink's streams do)
            _fsync_path(tmp)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_path(final.parent)
        return final.stat().st_size

    def open(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError:
            raise IntegrityError("a stored object is missing from the object store") from None

    def path(self, key: str) -> Path:
        """Where object ``key`` lies, for a reader that opens it elsewhere (a Spark executor
        on this machine, or on a shared mount of the store)."""
        path = self._path(key)
        if not path.is_file():
            raise IntegrityError("a stored object is missing from the object store")
        return path

    def sha256(self, key: str) -> str | None:
        """The SHA-256 of a stored object's bytes (its ciphertext), None if it is missing."""
        try:
            with open(self._path(key), "rb") as source:
                return hashlib.file_digest(source, "sha256").hexdigest()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def object_keys(self) -> Iterator[str]:
        if not self.root.exists():
            return
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and not rel.startswith((_TMP + "/", ".")):
                yield rel

    def temporary_files(self) -> list[Path]:
        tmp_dir = self.root / _TMP
        return sorted(tmp_dir.glob("*.part")) if tmp_dir.exists() else []


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
