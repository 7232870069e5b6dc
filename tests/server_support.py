"""Helpers for the server tests: a governed workspace, and `privet serve` as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from privet import Workspace
from privet.policy import GrantRequest
from tests.conftest import ingest_people

POLICY = """
version: 1
approver_roles: [approver]
rules:
  - description: analysts read people data for analytics, once a grant is approved
    roles: [analyst]
    views: [raw, masked, aggregate]
    purposes: [analytics]
"""


@dataclass
class Governed:
    """A workspace with people (owner alice), users and one token each."""

    path: Path
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)
    grants: dict[str, str] = field(default_factory=dict)


@contextmanager
def governed_root(
    factory: pytest.TempPathFactory, name: str, people: pl.DataFrame
) -> Iterator[tuple[Path, Governed]]:
    """A fresh folder with its own key folder and a governed workspace in ``root/project``,
    for a module-scoped server fixture (the environment lasts as long as the context)."""
    root = factory.mktemp(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        csv = root / "people.csv"
        people.write_csv(csv)
        (root / "project").mkdir()
        yield root, governed_workspace(root / "project", csv)


def governed_workspace(project: Path, people_csv: Path) -> Governed:
    """alice owns `people`; bob is an analyst with an active raw/analytics grant; carol
    approves; mallory has a role no rule names."""
    result = Governed(project)
    with Workspace.init(project, actor="alice") as ws:
        ingest_people(ws, people_csv)
        for name, roles in {
            "alice": ["steward"],
            "bob": ["analyst"],
            "carol": ["approver"],
            "mallory": ["marketing"],
        }.items():
            ws.access.add_user(name, roles=roles, actor="alice")
            issued = ws.access.issue_token(name, expires_in=timedelta(days=1), actor="alice")
            result.tokens[name], result.token_ids[name] = issued.secret, issued.id
        ws.access.set_policy(POLICY, actor="alice")
        bob, carol = ws.access.local_identity("bob"), ws.access.local_identity("carol")
        grant = ws.access.request_grant(
            GrantRequest(
                dataset="people",
                view="raw",
                purpose="analytics",
                duration_seconds=3600,
                reason="churn model",
            ),
            identity=bob,
        )
        ws.access.approve_grant(grant.id, identity=carol)
        result.grants["bob-raw"] = grant.id
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`python -m privet serve` on a free loopback port; its stderr (the whole server log)
    goes to a file that ``log()`` reads."""

    def __init__(self, workspace: Path, *args: str, scheme: str = "http", port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.log_path = workspace.parent / f"server-{self.port}.log"
        self._args = ["-w", str(workspace), "--port", str(self.port), *args]
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, verify: str | bool = False, timeout: float = 60) -> ServerProcess:
        out = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if k != "PRIVET_DEBUG"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "privet", "serve", *self._args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"privet serve exited early:\n{self.log()}")
                try:
                    httpx.get(f"{self.url}/openapi.json", verify=verify, timeout=2)
                    return self
                except httpx.HTTPError:
                    time.sleep(0.1)
            raise RuntimeError(f"privet serve did not start:\n{self.log()}")
        except BaseException:
            self.stop()  # never leave a server behind when the start fails
            raise

    def stop(self) -> int | None:
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self._proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def add_analysts(path: Path, count: int, prefix: str = "analyst") -> dict[str, str]:
    """``count`` analysts, each with a token and an approved raw/analytics grant on people."""
    tokens = {}
    with Workspace.open(path) as ws:
        carol = ws.access.local_identity("carol")
        for i in range(count):
            name = f"{prefix}{i:02d}"
            ws.access.add_user(name, roles=["analyst"], actor="alice")
            tokens[name] = ws.access.issue_token(
                name, expires_in=timedelta(hours=2), actor="alice"
            ).secret
            grant = ws.access.request_grant(
                GrantRequest(
                    dataset="people",
                    view="raw",
                    purpose="analytics",
                    duration_seconds=2 * 3600,
                    reason="load test",
                ),
                identity=ws.access.local_identity(name),
            )
            ws.access.approve_grant(grant.id, identity=carol)
    return tokens
