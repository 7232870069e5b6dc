"""The CLI's client mode (`--server URL --token T`) against a real server, and the rate
limiter's arithmetic with an injected clock."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from privet.server import Client, RateLimit
from privet.server._ratelimit import TokenBuckets
from tests.conftest import invoke
from tests.server_support import ServerProcess, governed_root


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, people: pl.DataFrame):
    with (
        governed_root(tmp_path_factory, "client", people) as (root, governed),
        ServerProcess(root / "project") as server,
    ):
        yield governed, server


def _remote(server: ServerProcess, token: str, *args: str | Path):
    return invoke(*args, "--server", server.url, "--token", token, "--json")


def test_datasets_export_and_grants_through_the_server(served, tmp_path: Path):
    governed, server = served
    bob, carol = governed.tokens["bob"], governed.tokens["carol"]
    listing = _remote(server, bob, "datasets")
    assert listing.exit_code == 0, listing.stderr
    assert [d["name"] for d in json.loads(listing.stdout)] == ["people"]
    shown = json.loads(_remote(server, bob, "datasets", "people").stdout)
    assert shown["classification"] == "restricted" and shown["versions"][0]["rows"] == 300

    out = tmp_path / "people.parquet"
    exported = _remote(server, bob, "export", "people", "-o", out, "--purpose", "analytics")
    assert exported.exit_code == 0, exported.stderr
    assert pl.read_parquet(out).height == 300
    refused = _remote(
        server, bob, "export", "people", "-o", tmp_path / "m.csv", "--purpose", "training"
    )
    assert refused.exit_code == 1 and "privet: error:" in refused.stderr
    assert not (tmp_path / "m.csv").exists()  # nothing half-written

    asked = _remote(
        server, bob, "grant", "request", "people", "--view", "masked",
        "--purpose", "analytics", "--duration", "2h", "--reason", "features",
    )  # fmt: skip
    assert asked.exit_code == 0, asked.stderr
    grant = json.loads(asked.stdout)
    assert grant["status"] == "pending" and grant["duration_seconds"] == 7200
    own = _remote(server, bob, "grant", "approve", grant["id"])
    assert own.exit_code == 1 and "own" in own.stderr
    pending = json.loads(_remote(server, carol, "grant", "list", "--status", "pending").stdout)
    assert [g["id"] for g in pending] == [grant["id"]]
    approved = _remote(server, carol, "grant", "approve", grant["id"])
    assert approved.exit_code == 0 and json.loads(approved.stdout)["status"] == "active"
    with Workspace.open(governed.path) as ws:
        assert ws.access.get_grant(grant["id"]).approved_by == "carol"
    masked = tmp_path / "masked.csv"
    got = _remote(
        server, bob, "export", "people", "-o", masked, "--purpose", "analytics", "--view", "masked"
    )
    assert got.exit_code == 0, got.stderr
    frame = pl.read_csv(masked)
    assert frame.height == 300 and not frame["email"].str.contains("@").any()


def test_dp_query_through_the_server(served):
    governed, server = served
    bob, carol = governed.tokens["bob"], governed.tokens["carol"]
    sql = "SELECT COUNT(*) FROM people"
    no_grant = _remote(
        server, bob, "query", "people", sql, "--epsilon", "0.5", "--purpose", "analytics"
    )
    assert no_grant.exit_code == 1  # raw access does not give aggregates: that view needs a grant
    asked = json.loads(
        _remote(
            server,
            bob,
            "grant",
            "request",
            "people",
            "--view",
            "aggregate",
            "--purpose",
            "analytics",
            "--reason",
            "counts",
        ).stdout  # fmt: skip
    )
    _remote(server, carol, "grant", "approve", asked["id"])
    answer = _remote(
        server, bob, "query", "people", sql, "--epsilon", "0.5", "--purpose", "analytics"
    )
    assert answer.exit_code == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert result["epsilon"] == pytest.approx(0.5, rel=1e-3) and len(result["rows"]) == 1
    on_spark = _remote(server, bob, "query", "people", sql, "--epsilon", "0.5", "--purpose",
                       "analytics", "--engine", "spark")  # fmt: skip
    assert on_spark.exit_code != 0 and "the server decides" in on_spark.stderr
    with Workspace.open(governed.path) as ws:
        assert ws.dp.budget("people").epsilon_spent == pytest.approx(0.5, rel=1e-3)


def test_alerts_through_the_server_are_for_overseers(served):
    governed, server = served
    allowed = _remote(server, governed.tokens["carol"], "alerts")
    assert allowed.exit_code == 0, allowed.stderr
    assert isinstance(json.loads(allowed.stdout), list)
    refused = _remote(server, governed.tokens["mallory"], "alerts")
    assert refused.exit_code == 1 and "approvers" in refused.stderr


def test_client_mode_usage_errors(tmp_path: Path):
    no_token = invoke("datasets", "--server", "http://127.0.0.1:9")
    assert no_token.exit_code == 2 and "token" in no_token.stderr
    both = invoke("datasets", "--server", "http://127.0.0.1:9", "--token", "t", "-w", tmp_path)
    assert both.exit_code == 2
    unreachable = invoke("datasets", "--server", "http://127.0.0.1:9", "--token", "t")
    assert unreachable.exit_code == 1 and "cannot connect" in unreachable.stderr
    with pytest.raises(Exception, match="plain HTTP"):
        Client("http://example.org:8700", "t")  # a token never goes out in clear


def test_token_bucket_arithmetic():
    now = [0.0]
    buckets = TokenBuckets(RateLimit(rate=2.0, burst=3), clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # empty: one token comes back in 1/rate
    assert buckets.take("b") == 0.0  # per key
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    now[0] = 100.0  # refills up to the burst, not beyond
    assert [buckets.take("a") for _ in range(4)][-1] > 0
