"""Forgetting on a schedule while the service runs: retention, then pending erasures.

Storage limitation (GDPR Art. 5(1)(e)) must not wait for an operator to type ``privet
retention run``: ``privet serve`` runs it at start and every ``interval`` seconds, and finishes
erasure requests a crash left pending. Each round is a facade call; a failed round is logged
(the error's one sentence, never a value) and retried at the next one.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from privet.errors import PrivetError

if TYPE_CHECKING:
    from privet.workspace import Workspace

log = logging.getLogger("privet.server")
ACTOR = "privet"  # who the log names for scheduled destructions


class ForgetSchedule:
    """A daemon thread that enforces retention and finishes pending erasures, at start and
    then every ``interval`` seconds, until stopped."""

    def __init__(self, workspace: Workspace, interval: float) -> None:
        self._ws, self._interval = workspace, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> ForgetSchedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the round in progress, if any (each destruction commits on its own)."""
        self._stop.set()
        self._thread.join()

    def run_once(self) -> None:
        try:
            report = self._ws.forget.retention(actor=ACTOR)
            finished = self._ws.forget.run_pending(actor=ACTOR)
        except PrivetError as err:
            log.error("retention round failed: %s", err)
            return
        except Exception as err:  # noqa: BLE001 - the next round retries; the thread lives on
            log.error("retention round failed: %s", type(err).__name__)
            return
        if report.destroyed or finished:
            log.info(
                "retention destroyed %d object(s); %d pending erasure(s) finished",
                len(report.destroyed),
                len(finished),
            )

    def _run(self) -> None:
        self.run_once()
        while not self._stop.wait(self._interval):
            self.run_once()
