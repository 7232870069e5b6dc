"""One drill run's setting: the server, the alert thresholds in force, and the disposable
users, tokens and datasets it creates (no real person in them) and disables afterwards."""

from __future__ import annotations

import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from privet import catalog, policy
from privet.account._drill_client import SUBJECT, Client
from privet.errors import PrivetError

if TYPE_CHECKING:
    from privet.core import Core


class Drill:
    """What one run's scenarios share; every user it adds is disabled by :meth:`clean_up`."""

    def __init__(
        self,
        core: Core,
        server: str,
        *,
        actor: str,
        run: str,
        timeout: float,
        verify: bool | str,
    ) -> None:
        self.core = core
        self.actor = actor
        self.run = run
        self.timeout = timeout
        self.client = Client(server, verify=verify)
        self.thresholds = policy.current_alerts(core)
        self.users: list[str] = []
        self.folder = tempfile.TemporaryDirectory(prefix="privet-drill-")

    def close(self) -> None:
        self.client.close()
        self.folder.cleanup()

    def user(self, scenario: str) -> str:
        name = f"drill-{self.run}-{scenario.replace('_', '-')}"
        policy.add_user(self.core, name, roles=["drill"], actor=self.actor)
        self.users.append(name)
        return name

    def token(self, user: str) -> policy.IssuedToken:
        return policy.issue_token(self.core, user, expires_in=timedelta(hours=1), actor=self.actor)

    def dataset(self, user: str, scenario: str, rows: int, purposes: list[str]) -> str:
        """Generated rows, one disposable subject each, owned by ``user``."""
        name = f"drill-{self.run}-{scenario.replace('_', '-')}"
        rng = secrets.SystemRandom()
        frame = pl.DataFrame(
            {
                SUBJECT: [f"DRILL-{self.run}-{i:06d}" for i in range(rows)],
                "region": [rng.choice(["north", "south", "east", "west"]) for _ in range(rows)],
                "score": [rng.randrange(1000) for _ in range(rows)],
            }
        )
        path = Path(self.folder.name) / f"{name}.parquet"
        frame.write_parquet(path)
        catalog.ingest(
            self.core,
            path,
            name=name,
            owner=user,
            purposes=purposes,
            actor=self.actor,
            subject_id=SUBJECT,
            categories={SUBJECT: "user.unique_id"},
            scan=False,
        )
        return name

    def clean_up(self) -> list[str]:
        """Disable every drill user (their tokens stop working); the log keeps everything."""
        done = []
        for user in self.users:
            try:
                policy.set_disabled(self.core, user, disabled=True, actor=self.actor)
                done.append(user)
            except PrivetError:
                continue
        return done
