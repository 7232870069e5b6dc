"""Load (acceptance 2): 50 concurrent clients doing governed reads; every request is in the
audit log exactly once, `privet log verify` passes, nothing is lost or duplicated.

The default run does 50 clients for a few seconds; PRIVET_SLOW=1 runs the full minute."""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter
from pathlib import Path

import httpx
import polars as pl
import pytest

from privet import Workspace
from tests.conftest import run_privet
from tests.server_support import ServerProcess, add_analysts, bearer, governed_workspace

CLIENTS = 50


async def _client(http: httpx.AsyncClient, token: str, until: float, results: list) -> None:
    async with http:
        while True:  # at least one request each, then until the deadline
            try:
                response = await http.get(
                    "/v1/datasets/people/rows", params={"purpose": "analytics"}
                )
                results.append(
                    (token, response.status_code, response.headers.get("x-request-id"),
                     response.content)
                )  # fmt: skip
            except httpx.HTTPError as err:  # a lost request: counted, and fails the test
                results.append((token, type(err).__name__, None, b""))
            if time.monotonic() >= until:
                return


async def _run(url: str, tokens: list[str], seconds: float) -> list:
    results: list = []
    # Clients are built before the clock starts (each loads TLS settings, slow under load).
    clients = [httpx.AsyncClient(base_url=url, headers=bearer(t), timeout=120) for t in tokens]
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(_client(c, t, until, results) for c, t in zip(clients, tokens, strict=True))
    )
    return results


def _load(project: Path, people_csv: Path, seconds: float) -> None:
    governed_workspace(project, people_csv)
    tokens = list(add_analysts(project, CLIENTS).values())
    with Workspace.open(project) as ws:
        size_before = ws.log.size()
    with ServerProcess(project) as server:
        started = time.monotonic()
        results = asyncio.run(_run(server.url, tokens, seconds))
        elapsed = time.monotonic() - started
    statuses = Counter(status for _, status, _, _ in results)
    assert statuses == {200: len(results)}, statuses  # none lost, refused or rate-limited
    assert len({token for token, *_ in results}) == CLIENTS  # every client was served
    request_ids = [rid for _, _, rid, _ in results]
    assert len(set(request_ids)) == len(request_ids)
    for _, _, _, body in results[:: max(1, len(results) // 20)]:
        assert pl.read_parquet(io.BytesIO(body)).height == 300
    with Workspace.open(project) as ws:
        events = [r.event for r in ws.log.records(size_before)]
    logged = Counter(
        e["channel"].removeprefix("http:")
        for e in events
        if e.get("event") == "read" and e.get("channel", "").startswith("http:")
    )
    # Every request exactly once, and no read in the log that no client asked for.
    assert set(logged) == set(request_ids) and set(logged.values()) == {1}
    verify = run_privet("log", "verify", "--json", "-w", project)
    assert verify.returncode == 0, verify.stderr
    rate = len(results) / elapsed
    print(f"\n{len(results)} governed reads by {CLIENTS} clients in {elapsed:.1f} s ({rate:.0f}/s)")


def test_fifty_clients_every_read_logged_once(project: Path, people_csv: Path):
    _load(project, people_csv, seconds=3)


@pytest.mark.slow
def test_fifty_clients_for_a_minute(project: Path, people_csv: Path):
    _load(project, people_csv, seconds=60)
