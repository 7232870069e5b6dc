"""Governed reads over Arrow Flight (``privet serve --flight-port``) and ``privet.connect``,
against a real server on loopback: the same refusals as over HTTP (no token, wrong role or
purpose, expired grant), one log entry per read, a grant revoked or expiring mid-stream stops
the stream with a Flight error, and an altered stored object sends no batch. The rows are
checked against the library's own read of the same version."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from pyarrow import flight

import privet
from privet import Workspace
from privet.datasets import raw_people
from privet.policy import GrantRequest
from tests.server_support import Governed, ServerProcess, free_port, governed_workspace

BIG_ROWS = 48_842


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("flight")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        small, big_csv, fragile = root / "people.csv", root / "big.csv", root / "fragile.csv"
        raw_people(300).write_csv(small)
        raw_people(BIG_ROWS).write_csv(big_csv)
        raw_people(200).write_csv(fragile)
        (root / "project").mkdir()
        governed = governed_workspace(root / "project", small)
        with Workspace.open(governed.path) as ws:
            for name, path in (("big", big_csv), ("fragile", fragile)):
                ws.ingest(path, name=name, owner="alice", purposes=["analytics"], actor="alice")
        port = free_port()
        server = ServerProcess(
            root / "project", "--stream-batch-rows", "500", "--flight-port", str(port)
        ).start()
        try:
            yield governed, server, f"grpc://127.0.0.1:{port}"
        finally:
            server.stop()


class _RequestIds(flight.ClientMiddlewareFactory):
    """Keeps the ``x-request-id`` the server sends back on each call."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def start_call(self, info: object) -> flight.ClientMiddleware:
        ids = self.ids

        class _Seen(flight.ClientMiddleware):
            def received_headers(self, headers: dict[str, list[str]]) -> None:
                ids.extend(headers.get("x-request-id", []))

        return _Seen()


def _ticket(dataset: str, purpose: str = "analytics", view: str = "raw") -> flight.Ticket:
    return flight.Ticket(json.dumps({"dataset": dataset, "purpose": purpose, "view": view}))


def _options(token: str | None) -> flight.FlightCallOptions:
    headers = [] if token is None else [(b"authorization", f"Bearer {token}".encode())]
    return flight.FlightCallOptions(headers=headers, timeout=60)


def _reader(path: Path, name: str, dataset: str, seconds: int, view: str = "raw") -> tuple:
    """A new analyst with one approved grant on ``dataset``: (token, grant id)."""
    with Workspace.open(path) as ws:
        ws.access.add_user(name, roles=["analyst"], actor="alice")
        token = ws.access.issue_token(name, expires_in=timedelta(hours=1), actor="alice").secret
        grant = ws.access.request_grant(
            GrantRequest(
                dataset=dataset,
                view=view,
                purpose="analytics",
                duration_seconds=seconds,
                reason="flight test",
            ),
            identity=ws.access.local_identity(name),
        )
        ws.access.approve_grant(grant.id, identity=ws.access.local_identity("carol"))
    return token, grant.id


def _events(governed: Governed, event: str) -> list[dict]:
    with Workspace.open(governed.path) as ws:
        return [r.event for r in ws.log.records(0) if r.event.get("event") == event]


def _library_read(governed: Governed, dataset: str, view: str = "raw") -> pl.DataFrame:
    """The same rows through the library's own read (an independent path: no Arrow)."""
    with Workspace.open(governed.path) as ws:
        return ws.read(dataset, purpose="analytics", actor="alice", view=view)


def test_a_flight_read_is_the_governed_rows_and_is_logged_once(env):
    governed, _, url = env
    seen = _RequestIds()
    client = flight.FlightClient(url, middleware=[seen])
    table = client.do_get(_ticket("people"), _options(governed.tokens["bob"])).read_all()
    assert pl.from_arrow(table).equals(_library_read(governed, "people"))
    (request_id,) = seen.ids
    reads = [e for e in _events(governed, "read") if e.get("channel") == f"flight:{request_id}"]
    assert len(reads) == 1 and reads[0]["actor"] == "bob" and reads[0]["rows"] == 300


@pytest.mark.parametrize(
    "headers",
    [[], [(b"authorization", b"Bearer pvt_0123456789abcdef_" + b"A" * 43)],
     [(b"authorization", b"Basic Ym9iOmJvYg==")]],
    ids=["no-token", "unknown-token", "not-bearer"],
)  # fmt: skip
def test_no_valid_token_is_unauthenticated(env, headers):
    _, _, url = env
    options = flight.FlightCallOptions(headers=headers, timeout=30)
    with pytest.raises(flight.FlightUnauthenticatedError):
        flight.FlightClient(url).do_get(_ticket("people"), options).read_all()


@pytest.mark.parametrize(
    ("user", "purpose"),
    [("bob", "training"), ("bob", "marketing"), ("mallory", "analytics")],
    ids=["purpose-not-in-rule", "purpose-undeclared", "role-without-rule"],
)
def test_refusals_are_unauthorized_and_logged(env, user: str, purpose: str):
    governed, _, url = env
    before = len(_events(governed, "read.refused"))
    with pytest.raises(flight.FlightUnauthorizedError, match="refusal is in the audit log"):
        flight.FlightClient(url).do_get(
            _ticket("people", purpose=purpose), _options(governed.tokens[user])
        ).read_all()
    assert len(_events(governed, "read.refused")) == before + 1


def test_internal_purposes_and_malformed_tickets_are_invalid(env):
    governed, _, url = env
    client, options = flight.FlightClient(url), _options(governed.tokens["alice"])
    with pytest.raises(pa.ArrowInvalid, match="reserved"):
        client.do_get(_ticket("people", purpose="privet:assessment"), options).read_all()
    for raw in (b"people", b'{"dataset": "../x", "purpose": "analytics"}', b"{" * 5000):
        with pytest.raises(pa.ArrowInvalid, match="ticket"):
            client.do_get(flight.Ticket(raw), options).read_all()


def test_an_expired_grant_is_refused_and_a_live_one_served(env):
    governed, _, url = env
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    with Workspace.open(governed.path, clock=lambda: two_hours_ago) as past:
        past.access.add_user("erin", roles=["analyst"], actor="alice")
        old = past.access.request_grant(
            GrantRequest(
                dataset="people",
                view="masked",
                purpose="analytics",
                duration_seconds=3600,
                reason="last quarter",
            ),
            identity=past.access.local_identity("erin"),
        )
        past.access.approve_grant(old.id, identity=past.access.local_identity("carol"))
    with Workspace.open(governed.path) as ws:
        token = ws.access.issue_token("erin", expires_in=timedelta(hours=1), actor="alice").secret
    ticket = _ticket("people", view="masked")
    with pytest.raises(flight.FlightUnauthorizedError):
        flight.FlightClient(url).do_get(ticket, _options(token)).read_all()
    with Workspace.open(governed.path) as ws:
        fresh = ws.access.request_grant(
            GrantRequest(
                dataset="people",
                view="masked",
                purpose="analytics",
                duration_seconds=3600,
                reason="this quarter",
            ),
            identity=ws.access.local_identity("erin"),
        )
        ws.access.approve_grant(fresh.id, identity=ws.access.local_identity("carol"))
    masked = flight.FlightClient(url).do_get(ticket, _options(token)).read_all()
    assert pl.from_arrow(masked).equals(_library_read(governed, "people", view="masked"))


def _drain(reader: flight.FlightStreamReader) -> int:
    rows = 0
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            return rows
        rows += chunk.data.num_rows


def test_revoking_the_grant_stops_a_running_flight_stream(env):
    governed, _, url = env
    token, grant_id = _reader(governed.path, "flight-reader1", "big", 3600)
    reader = flight.FlightClient(url).do_get(_ticket("big"), _options(token))
    received = reader.read_chunk().data.num_rows
    with Workspace.open(governed.path) as ws:
        ws.access.revoke_grant(grant_id, identity=ws.access.local_identity("carol"))
    with pytest.raises(flight.FlightUnauthorizedError, match="stream stopped"):
        received += _drain(reader)
    assert received < BIG_ROWS * 0.6  # stopped well before the end
    stopped = [e for e in _events(governed, "read.stopped") if e.get("grant") == grant_id]
    assert len(stopped) == 1


def test_a_grant_expiring_mid_flight_stream_stops_it(env):
    governed, _, url = env
    token, grant_id = _reader(governed.path, "flight-reader2", "big", 5)
    deadline = time.monotonic() + 5
    reader = flight.FlightClient(url).do_get(_ticket("big"), _options(token))
    reader.read_chunk()
    time.sleep(max(0.0, deadline - time.monotonic()) + 0.5)
    with pytest.raises(flight.FlightUnauthorizedError):
        _drain(reader)
    stopped = [e for e in _events(governed, "read.stopped") if e.get("grant") == grant_id]
    assert len(stopped) == 1
    with pytest.raises(flight.FlightUnauthorizedError):  # and a new read is refused up front
        flight.FlightClient(url).do_get(_ticket("big"), _options(token)).read_all()


@pytest.mark.parametrize("transport", ["http", "flight"])
def test_connect_reads_polars_or_arrow_the_library_rows(env, transport: str):
    governed, server, url = env
    where = server.url if transport == "http" else url
    expected = _library_read(governed, "big")
    with privet.connect(where, token=governed.tokens["alice"]) as remote:
        frame = remote.read("big", purpose="analytics")
        table = remote.read("big", purpose="analytics", to="arrow")
        assert isinstance(frame, pl.DataFrame) and isinstance(table, pa.Table)
        assert frame.equals(expected) and pl.from_arrow(table).equals(expected)
        # The stored Parquet instead of the Arrow stream (HTTP only; Flight sends Arrow).
        assert remote.read("big", purpose="analytics", wire="parquet").equals(expected)
        with pytest.raises(privet.PolicyDenied):
            remote.read("big", purpose="marketing")
        with pytest.raises(privet.NotFound):
            remote.read("nosuch", purpose="analytics")
    with pytest.raises(privet.Unauthenticated):
        privet.connect(where, token="not-a-token").read("big", purpose="analytics")


@pytest.mark.parametrize("transport", ["http", "flight"])
def test_connect_is_refused_under_a_revoked_grant(env, transport: str):
    governed, server, url = env
    token, grant_id = _reader(governed.path, f"connect-{transport}", "big", 3600)
    where = server.url if transport == "http" else url
    with Workspace.open(governed.path) as ws:
        ws.access.revoke_grant(grant_id, identity=ws.access.local_identity("carol"))
    with pytest.raises(privet.PolicyDenied):
        privet.connect(where, token=token).read("big", purpose="analytics")


def test_connect_refuses_plain_transport_off_loopback():
    for url in ("http://example.org:8700", "grpc://example.org:8815"):
        with pytest.raises(privet.InvalidInput, match="unencrypted"):
            privet.connect(url, token="t")
    with pytest.raises(privet.InvalidInput, match="URL"):
        privet.connect("ftp://127.0.0.1", token="t")


def test_an_altered_stored_object_sends_no_batch(env):
    """Decrypted and hash-checked whole before the first batch: a flipped byte is an error
    before any data, over Flight and over the HTTP Arrow stream alike."""
    governed, server, url = env
    from privet.schema import Dataset, Version

    token, _ = _reader(governed.path, "fragile-reader", "fragile", 3600)
    with Workspace.open(governed.path) as ws, ws.hazmat.reading() as session:
        key = (
            session.query(Version.object_key)
            .join(Dataset, Dataset.id == Version.dataset_id)
            .filter(Dataset.name == "fragile")
            .one()[0]
        )
        path = ws.hazmat.store.root / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(flight.FlightServerError, match="integrity"):
        flight.FlightClient(url).do_get(_ticket("fragile"), _options(token)).read_all()
    import httpx

    response = httpx.get(
        f"{server.url}/v1/datasets/fragile/rows",
        params={"purpose": "analytics", "format": "arrow"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 500 and response.json()["error"] == "integrity"
    with pytest.raises(privet.PrivetError):
        privet.connect(url, token=token).read("fragile", purpose="analytics")


def test_the_readme_arrow_examples_run(env, capsys: pytest.CaptureFixture[str]):
    """The README's Arrow section, run as written against this server, over both transports
    (its DuckDB example only where DuckDB is installed: privet does not depend on it)."""
    import re

    governed, server, url = env
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Arrow streams and Arrow Flight", 1)[1].split("**Dashboard.**")[0]
    blocks = re.findall(r"^```py\n(.*?)^```", section, re.S | re.M)
    assert len(blocks) == 4
    try:
        import duckdb  # noqa: F401
    except ImportError:
        blocks = [b for b in blocks if "import duckdb" not in b]
    for where in (server.url, url):
        namespace = {"URL": where, "FLIGHT": url, "TOKEN": governed.tokens["alice"]}
        for block in blocks:
            exec(compile(block, "README.md (arrow)", "exec"), namespace)  # noqa: S102
    assert capsys.readouterr().out.count("300 300") == 2


def test_a_flight_port_that_cannot_be_served_is_one_clear_sentence(env):
    import socket

    from privet.errors import InvalidInput
    from privet.server import ServeOptions, build_server

    governed, _, _ = env
    port = free_port()
    with pytest.raises(InvalidInput, match="must differ"):
        build_server(governed.path, ServeOptions(port=port, flight_port=port))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(InvalidInput, match=f"cannot serve Arrow Flight on port {busy}"):
            build_server(governed.path, ServeOptions(port=free_port(), flight_port=busy))
