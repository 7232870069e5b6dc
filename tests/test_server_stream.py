"""Streamed governed reads over HTTP: a grant revoked or expiring mid-stream stops the stream
at once, and the client sees a broken transfer (never a short file that looks complete). Each
test runs on the CSV stream and on the Arrow IPC stream (``format=arrow``)."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from privet import Workspace
from privet.datasets import raw_people
from privet.policy import GrantRequest
from tests.server_support import ServerProcess, bearer, governed_workspace

BIG_ROWS = 48_842  # ~12 MB of CSV: far more than the socket buffers between client and server


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("stream")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        small, big_csv = root / "people.csv", root / "big.csv"
        raw_people(300).write_csv(small)
        raw_people(BIG_ROWS).write_csv(big_csv)
        (root / "project").mkdir()
        governed = governed_workspace(root / "project", small)
        with Workspace.open(governed.path) as ws:
            ws.ingest(big_csv, name="big", owner="alice", purposes=["analytics"], actor="alice")
        server = ServerProcess(root / "project", "--stream-batch-rows", "500").start()
        try:
            yield governed, server
        finally:
            server.stop()


def _reader(path: Path, name: str, seconds: int) -> tuple[str, str]:
    """A new analyst with one grant on `big` for ``seconds``: (token, grant id)."""
    with Workspace.open(path) as ws:
        ws.access.add_user(name, roles=["analyst"], actor="alice")
        token = ws.access.issue_token(name, expires_in=timedelta(hours=1), actor="alice").secret
        grant = ws.access.request_grant(
            GrantRequest(
                dataset="big",
                view="raw",
                purpose="analytics",
                duration_seconds=seconds,
                reason="stream test",
            ),
            identity=ws.access.local_identity(name),
        )
        ws.access.approve_grant(grant.id, identity=ws.access.local_identity("carol"))
    return token, grant.id


def _client(url: str) -> httpx.Client:
    # A small receive window: the server can run ahead of the reader by a few hundred KB only.
    transport = httpx.HTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)])
    return httpx.Client(base_url=url, transport=transport, timeout=60)


FORMATS = ["csv", "arrow"]


def _stream(client: httpx.Client, token: str, fmt: str):
    return client.stream(
        "GET",
        "/v1/datasets/big/rows",
        params={"purpose": "analytics", "format": fmt},
        headers=bearer(token),
    )


def _rows(body: bytes, fmt: str) -> int:
    """Rows in a whole body, counted by an independent reader of the format."""
    if fmt == "csv":
        return body.count(b"\n") - 1
    reader = pa.ipc.open_stream(body)
    assert body.endswith(b"\xff\xff\xff\xff\x00\x00\x00\x00")  # the end-of-stream marker
    return sum(batch.num_rows for batch in reader)


_whole_size: dict[str, int] = {}


def _full_size(server: ServerProcess, token: str, fmt: str) -> int:
    if fmt not in _whole_size:
        with _client(server.url) as client, _stream(client, token, fmt) as response:
            _whole_size[fmt] = len(b"".join(response.iter_bytes()))
    return _whole_size[fmt]


def _stopped_events(path: Path, grant_id: str) -> list[dict]:
    with Workspace.open(path) as ws:
        return [
            r.event
            for r in ws.log.records(0)
            if r.event.get("event") == "read.stopped" and r.event.get("grant") == grant_id
        ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_whole_stream_with_a_live_grant(big, fmt: str):
    governed, server = big
    token, _ = _reader(governed.path, f"reader1-{fmt}", 3600)
    with _client(server.url) as client, _stream(client, token, fmt) as response:
        assert response.status_code == 200
        body = b"".join(response.iter_bytes())
    assert _rows(body, fmt) == BIG_ROWS


def test_arrow_is_negotiated_from_the_accept_header(big):
    governed, server = big
    token, _ = _reader(governed.path, "reader-accept", 3600)
    headers = {**bearer(token), "Accept": "application/vnd.apache.arrow.stream"}
    with _client(server.url) as client:
        response = client.get(
            "/v1/datasets/big/rows", params={"purpose": "analytics"}, headers=headers
        )
    assert response.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert _rows(response.content, "arrow") == BIG_ROWS


@pytest.mark.parametrize("fmt", FORMATS)
def test_revoking_the_grant_stops_a_running_stream(big, fmt: str):
    governed, server = big
    token, grant_id = _reader(governed.path, f"reader2-{fmt}", 3600)
    whole = _full_size(server, token, fmt)
    received = 0
    with _client(server.url) as client, _stream(client, token, fmt) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()
        while received < 64 * 1024:
            received += len(next(chunks))
        with Workspace.open(governed.path) as ws:
            ws.access.revoke_grant(grant_id, identity=ws.access.local_identity("carol"))
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in chunks:
                received += len(chunk)
    assert received < whole * 0.6  # stopped well before the end
    assert len(_stopped_events(governed.path, grant_id)) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_grant_expiring_mid_stream_stops_it(big, fmt: str):
    governed, server = big
    token, grant_id = _reader(governed.path, f"reader3-{fmt}", 5)
    deadline = time.monotonic() + 5
    with _client(server.url) as client, _stream(client, token, fmt) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()
        next(chunks)
        time.sleep(max(0.0, deadline - time.monotonic()) + 0.5)
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in chunks:
                pass
    assert len(_stopped_events(governed.path, grant_id)) == 1
    # And a new read under the expired grant is refused before any byte.
    with _client(server.url) as client:
        again = client.get(
            "/v1/datasets/big/rows",
            params={"purpose": "analytics", "format": fmt},
            headers=bearer(token),
        )
    assert again.status_code == 403
