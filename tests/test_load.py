"""Load (acceptance 2): 50 concurrent clients doing governed reads; every request is in the
audit log exactly once, `privet log verify` passes, nothing is lost or duplicated. The same
holds for the Parquet stream, the Arrow IPC stream and Arrow Flight (issue 20).

The default run does 50 clients for a few seconds; PRIVET_SLOW=1 runs the full minute."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import polars as pl
import pyarrow as pa
import pytest
from pyarrow import flight

from privet import Workspace
from tests.conftest import run_privet
from tests.server_support import (
    ServerProcess,
    add_analysts,
    bearer,
    free_port,
    governed_workspace,
)

CLIENTS = 50
TRANSPORTS = ["parquet", "arrow", "flight"]


def _height(body: bytes, transport: str) -> int:
    if transport == "parquet":
        return pl.read_parquet(io.BytesIO(body)).height
    return pa.ipc.open_stream(body).read_all().num_rows


async def _client(
    http: httpx.AsyncClient, token: str, until: float, results: list, fmt: str
) -> None:
    async with http:
        while True:  # at least one request each, then until the deadline
            try:
                response = await http.get(
                    "/v1/datasets/people/rows", params={"purpose": "analytics", "format": fmt}
                )
                results.append(
                    (token, response.status_code, response.headers.get("x-request-id"),
                     response.content)
                )  # fmt: skip
            except httpx.HTTPError as err:  # a lost request: counted, and fails the test
                results.append((token, type(err).__name__, None, b""))
            if time.monotonic() >= until:
                return


async def _run(url: str, tokens: list[str], seconds: float, fmt: str) -> list:
    results: list = []
    # Clients are built before the clock starts (each loads TLS settings, slow under load).
    clients = [httpx.AsyncClient(base_url=url, headers=bearer(t), timeout=120) for t in tokens]
    until = time.monotonic() + seconds
    await asyncio.gather(
        *(_client(c, t, until, results, fmt) for c, t in zip(clients, tokens, strict=True))
    )
    return results


class _RequestId(flight.ClientMiddlewareFactory):
    """The ``x-request-id`` the Flight server sends back, per call."""

    def __init__(self) -> None:
        self.last: str | None = None

    def start_call(self, info: object) -> flight.ClientMiddleware:
        factory = self
        factory.last = None

        class _Seen(flight.ClientMiddleware):
            def received_headers(self, headers: dict[str, list[str]]) -> None:
                # Called for the headers and again for the trailers (which have no id).
                for value in headers.get("x-request-id", []):
                    factory.last = value

        return _Seen()


def _flight_client(url: str, token: str, until: float) -> list:
    """One Flight client (its own connection, in its own thread) reading until ``until``."""
    seen = _RequestId()
    client = flight.FlightClient(url, middleware=[seen])
    options = flight.FlightCallOptions(
        headers=[(b"authorization", f"Bearer {token}".encode())], timeout=120
    )
    ticket = flight.Ticket(json.dumps({"dataset": "people", "purpose": "analytics"}))
    results = []
    with client:
        while True:
            try:
                sink = pa.BufferOutputStream()
                table = client.do_get(ticket, options).read_all()
                with pa.ipc.new_stream(sink, table.schema) as writer:
                    writer.write_table(table)
                results.append((token, 200, seen.last, sink.getvalue().to_pybytes()))
            except (flight.FlightError, pa.ArrowException) as err:
                results.append((token, type(err).__name__, None, b""))
            if time.monotonic() >= until:
                return results


def _run_flight(url: str, tokens: list[str], seconds: float) -> list:
    until = time.monotonic() + seconds
    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        done = pool.map(lambda token: _flight_client(url, token, until), tokens)
        return [result for results in done for result in results]


def _load(project: Path, people_csv: Path, seconds: float, transport: str) -> None:
    governed_workspace(project, people_csv)
    tokens = list(add_analysts(project, CLIENTS).values())
    with Workspace.open(project) as ws:
        size_before = ws.log.size()
    flight_port = free_port()
    with ServerProcess(project, "--flight-port", str(flight_port)) as server:
        started = time.monotonic()
        if transport == "flight":
            results = _run_flight(f"grpc://127.0.0.1:{flight_port}", tokens, seconds)
        else:
            results = asyncio.run(_run(server.url, tokens, seconds, transport))
        elapsed = time.monotonic() - started
    statuses = Counter(status for _, status, _, _ in results)
    assert statuses == {200: len(results)}, statuses  # none lost, refused or rate-limited
    assert len({token for token, *_ in results}) == CLIENTS  # every client was served
    request_ids = [rid for _, _, rid, _ in results]
    assert len(set(request_ids)) == len(request_ids)
    for _, _, _, body in results[:: max(1, len(results) // 20)]:
        assert _height(body, transport) == 300
    with Workspace.open(project) as ws:
        events = [r.event for r in ws.log.records(size_before)]
    door = "flight:" if transport == "flight" else "http:"
    logged = Counter(
        e["channel"].removeprefix(door)
        for e in events
        if e.get("event") == "read" and e.get("channel", "").startswith(door)
    )
    # Every request exactly once, and no read in the log that no client asked for.
    assert set(logged) == set(request_ids) and set(logged.values()) == {1}
    verify = run_privet("log", "verify", "--json", "-w", project)
    assert verify.returncode == 0, verify.stderr
    rate = len(results) / elapsed
    print(
        f"\n{len(results)} governed reads ({transport}) by {CLIENTS} clients in {elapsed:.1f} s "
        f"({rate:.0f}/s)"
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fifty_clients_every_read_logged_once(project: Path, people_csv: Path, transport: str):
    _load(project, people_csv, seconds=3, transport=transport)


@pytest.mark.slow
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fifty_clients_for_a_minute(project: Path, people_csv: Path, transport: str):
    _load(project, people_csv, seconds=60, transport=transport)
