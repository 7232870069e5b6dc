"""Publishing signed checkpoints, by hand or on a timer.

A checkpoint protects the entries before it only once a copy lives somewhere the workspace's
operator cannot rewrite (a witness, a write-once bucket, another team's share): whoever holds
the master key could otherwise re-sign a rewritten log. privet writes each checkpoint as a
file in a folder the operator points at such a place; ``privet serve --publish-checkpoints``
does it on a timer, so new entries wait at most one interval to be covered.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from privet.auditlog._log import AuditLog
from privet.errors import NotFound
from privet.tables import atomic_file

log = logging.getLogger("privet.auditlog")


def write_note(path: Path, note: str) -> None:
    """Write a signed note atomically: a reader sees the old file or the whole new one."""
    with atomic_file(path, mode=0o644) as out:  # a published note is for anyone to read
        out.write(note.encode())


def publish(audit_log: AuditLog, folder: Path) -> Path:
    """Sign a checkpoint of the whole log (after verifying it) into ``folder``.

    One file per log size, ``checkpoint-<size>.txt``; an existing one is left as it is.
    """
    if not folder.is_dir():
        raise NotFound(f"the folder {folder} does not exist")
    row = audit_log.checkpoint()
    path = folder / f"checkpoint-{row.size:012d}.txt"
    if not path.exists():
        write_note(path, row.note)
    return path


class CheckpointPublisher:
    """A daemon thread that publishes a checkpoint whenever the log has grown, every
    ``interval`` seconds, and once more when stopped."""

    def __init__(self, audit_log: AuditLog, folder: Path, interval: float) -> None:
        self._log, self._folder, self._interval = audit_log, folder, interval
        self._published = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)

    def start(self) -> CheckpointPublisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.publish_if_grown()

    def publish_if_grown(self) -> Path | None:
        size = self._log.size()
        if size == self._published:
            return None
        try:
            path = publish(self._log, self._folder)
        except Exception as err:  # noqa: BLE001 - a failed round is retried next interval
            # The message names the failure only (an IntegrityError names an index, never
            # an entry's content).
            log.error("checkpoint not published: %s", err)
            return None
        self._published = size
        return path

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.publish_if_grown()
