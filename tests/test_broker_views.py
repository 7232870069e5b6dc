"""The broker applies the view a grant allows: masks, keyed pseudonyms, row filters, the
protected derived dataset, DP-only aggregates; streams stop when the grant ends; every read is
in the log exactly once, even under concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from privet import NotFound, PolicyDenied, Workspace
from privet import policy as gov
from privet.deid import ProtectRequest
from privet.dp import QueryRequest, SynthRequest
from privet.policy import GrantRequest, Identity
from tests.conftest import ingest_people

POLICY = """
rules:
  - roles: [analyst]
    views: [masked, pseudonymized, protected, aggregate, raw]
    purposes: [analytics, training]
    row_filter: "hours_per_week >= 40"
    mask: [zip]
"""
DIRECT = ("person_id", "full_name", "email", "phone", "ssn")


@pytest.fixture
def gws(ws: Workspace, people_csv: Path) -> Workspace:
    ingest_people(ws, people_csv)
    ws.access.set_policy(POLICY, actor="tester")
    ws.access.add_user("bob", roles=["analyst"], actor="tester")
    return ws


def granted(ws: Workspace, view: str, purpose: str = "analytics", user: str = "bob") -> str:
    me = ws.access.local_identity(user)
    grant = ws.access.request_grant(
        GrantRequest(
            dataset="people",
            view=view,
            purpose=purpose,
            duration_seconds=3600,
            reason="test",
        ),
        identity=me,
    )
    ws.access.approve_grant(grant.id, identity=ws.access.local_identity("alice"))
    return grant.id


def bob_reads(ws: Workspace, view: str, purpose: str = "analytics") -> pl.DataFrame:
    return gov.read(
        ws.hazmat, "people", identity=ws.access.local_identity("bob"), view=view, purpose=purpose
    ).frame


def test_masked_view_masks_direct_identifiers_and_filters_rows(
    gws: Workspace, people: pl.DataFrame
) -> None:
    granted(gws, "masked")
    frame = bob_reads(gws, "masked")
    expected = people.filter(pl.col("hours_per_week") >= 40)
    assert frame.height == expected.height > 0
    for column in (*[c for c in DIRECT if c in frame.columns], "zip"):
        values = frame.get_column(column).cast(pl.String)
        assert values.str.replace_all(r"\*", "").eq("").all(), column
        # One width for every value: the mask does not give away how long a value was.
        assert values.drop_nulls().str.len_chars().unique().to_list() == [8], column
    # Everything else is as stored.
    assert frame.get_column("age").to_list() == expected.get_column("age").to_list()
    assert frame.get_column("sex").to_list() == expected.get_column("sex").to_list()


def test_pseudonymized_view_uses_the_workspace_keyed_prf(
    gws: Workspace, people: pl.DataFrame
) -> None:
    granted(gws, "pseudonymized")
    frame = bob_reads(gws, "pseudonymized")
    emails = frame.get_column("email")
    source = people.filter(pl.col("hours_per_week") >= 40).get_column("email")
    # Keyed: equal inputs give equal pseudonyms, no input survives, and the value is the
    # HMAC the workspace's PRF computes (checked here with the PRF itself).
    assert emails.n_unique() == source.n_unique()
    assert not set(emails.to_list()) & set(source.to_list())
    from privet.operators._pseudonym import pseudonymize

    with gws.hazmat.session() as session:
        prf = gws.hazmat.vault.keyed_prf(session)
    assert emails[0] == pseudonymize(prf, source[0])
    # Stable: a second read (the key now exists) gives the same pseudonyms.
    assert bob_reads(gws, "pseudonymized").get_column("email").equals(emails)


def test_protected_view_serves_the_newest_protected_derived_dataset(gws: Workspace) -> None:
    granted(gws, "protected")
    with pytest.raises(NotFound, match="no protected derived dataset"):
        bob_reads(gws, "protected")
    request = ProtectRequest(k=5, quasi_identifiers=["age", "sex", "race"], max_suppression=0.2)
    gws.deid.protect("people", request, output="people-k5", actor="alice")
    release = gov.read(
        gws.hazmat, "people", identity=gws.access.local_identity("bob"), view="protected",
        purpose="analytics",
    )  # fmt: skip
    assert release.version.dataset == "people-k5"
    read = gws.log.records(release.log_index, 1)[0].event
    assert read["view"] == "protected" and read["served"] != read["dataset"]


def test_aggregate_view_is_for_dp_queries_only(gws: Workspace) -> None:
    granted(gws, "aggregate", purpose="training")
    with pytest.raises(PolicyDenied, match="differentially private queries only"):
        bob_reads(gws, "aggregate", purpose="training")
    gws.dp.set_budget("people", actor="alice", epsilon=5, delta=1e-6)
    result = gws.dp.query(
        "people",
        QueryRequest(sql="SELECT COUNT(*) AS n FROM people", epsilon=1.0, purpose="training"),
        actor="bob",
    )
    assert result.rows
    # The same through an authenticated identity (what the HTTP service passes).
    token = gws.access.issue_token("bob", expires_in=timedelta(hours=1), actor="t")
    remote = gws.access.authenticate(token.secret)
    sql = "SELECT COUNT(*) AS n FROM people"
    assert gws.dp.query(
        "people",
        QueryRequest(sql=sql, epsilon=1.0, purpose="training"),
        actor="bob",
        identity=remote,
    )
    last_read = [r.event for r in gws.log.records() if r.event["event"] == "read"][-1]
    assert (last_read["token"], last_read["view"]) == (token.id, "aggregate")
    # Without an aggregate grant for that purpose, no DP query either.
    with pytest.raises(PolicyDenied):
        gws.dp.query(
            "people",
            QueryRequest(sql="SELECT COUNT(*) AS n FROM people", epsilon=1.0, purpose="analytics"),
            actor="bob",
        )


def test_a_stream_stops_when_its_grant_is_revoked(gws: Workspace) -> None:
    grant_id = granted(gws, "masked")
    bob = gws.access.local_identity("bob")
    chunks = gws.access.stream(
        "people", identity=bob, view="masked", purpose="analytics", fmt="csv", batch_rows=10
    )
    first = next(chunks)
    assert first.startswith(b"person_id,")
    next(chunks)
    gws.access.revoke_grant(grant_id, identity=gws.access.local_identity("alice"))
    with pytest.raises(PolicyDenied, match="stream stopped"):
        next(chunks)
    events = [r.event for r in gws.log.records()]
    assert sum(e["event"] == "read" for e in events) == 1
    assert events[-1]["event"] == "read.stopped" and events[-1]["grant"] == grant_id


def test_a_full_parquet_stream_equals_the_governed_read(gws: Workspace) -> None:
    granted(gws, "masked")
    bob = gws.access.local_identity("bob")
    data = b"".join(
        gws.access.stream("people", identity=bob, view="masked", purpose="analytics", batch_rows=7)
    )
    import io

    assert pl.read_parquet(io.BytesIO(data)).equals(bob_reads(gws, "masked"))


def test_a_refused_stream_raises_before_any_byte(gws: Workspace) -> None:
    bob = gws.access.local_identity("bob")
    with pytest.raises(PolicyDenied):
        gws.access.stream("people", identity=bob, view="masked", purpose="analytics")
    assert gws.log.records(gws.log.size() - 1, 1)[0].event["event"] == "read.refused"


def test_concurrent_reads_are_each_logged_exactly_once(gws: Workspace) -> None:
    granted(gws, "masked")
    start = gws.log.size()
    tokens = [gws.access.issue_token("bob", expires_in=timedelta(hours=1), actor="t")]
    start = gws.log.size()
    bob = gws.access.authenticate(tokens[0].secret)
    indexes: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(4):
                release = gov.read(
                    gws.hazmat, "people", identity=bob, view="masked", purpose="analytics"
                )
                with lock:
                    indexes.append(release.log_index)
        except BaseException as err:  # noqa: BLE001 - collected and re-raised below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    reads = [r for r in gws.log.records(start) if r.event["event"] == "read"]
    assert sorted(r.index for r in reads) == sorted(indexes)
    assert len(set(indexes)) == 32
    assert gws.log.verify().size == gws.log.size()


def test_no_token_secret_or_cell_value_reaches_the_log(
    gws: Workspace, people: pl.DataFrame
) -> None:
    granted(gws, "masked")
    token = gws.access.issue_token("bob", expires_in=timedelta(hours=1), actor="t")
    bob = gws.access.authenticate(token.secret)
    gov.read(gws.hazmat, "people", identity=bob, view="masked", purpose="analytics")
    with pytest.raises(PolicyDenied):
        gov.read(gws.hazmat, "people", identity=bob, view="raw", purpose="analytics")
    text = "\n".join(r.event.__repr__() for r in gws.log.records())
    secret_part = token.secret[len("pvt_") + 17 :]
    assert secret_part not in text and token.id in text
    for value in (
        people.get_column("email").head(20).to_list() + people.get_column("ssn").head(20).to_list()
    ):
        assert value not in text


def test_a_remote_identity_cannot_read_as_privet_itself(gws: Workspace) -> None:
    remote = Identity("bob", frozenset({"analyst"}), token_id="abc", via="token")
    with pytest.raises(PolicyDenied, match="internal"):
        gov.read(gws.hazmat, "people", identity=remote, purpose="privet:assessment")


def test_a_row_filter_that_cannot_run_releases_nothing_and_is_logged(gws: Workspace) -> None:
    granted(gws, "masked")
    gws.access.set_policy(POLICY.replace("hours_per_week >= 40", "salary > 0"), actor="tester")
    with pytest.raises(PolicyDenied, match="row filter"):
        bob_reads(gws, "masked")
    event = gws.log.records(gws.log.size() - 1, 1)[0].event
    assert (event["event"], event["reason"]) == ("read.refused", "row_filter_failed")


def test_a_grant_revoked_while_rows_are_decrypted_releases_nothing(
    gws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant_id = granted(gws, "masked")
    real_open = gws.hazmat.store.open

    def open_then_revoke(key: str):  # the owner revokes while the broker is decrypting
        gws.access.revoke_grant(grant_id, identity=gws.access.local_identity("alice"))
        return real_open(key)

    monkeypatch.setattr(gws.hazmat.store, "open", open_then_revoke)
    with pytest.raises(PolicyDenied, match="no active grant"):
        bob_reads(gws, "masked")
    events = [r.event["event"] for r in gws.log.records()]
    assert events[-2:] == ["grant.revoke", "read.refused"] and "read" not in events


def test_an_unchanged_parquet_stream_is_the_verified_stored_file_and_still_rechecked(
    gws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from privet.policy import _broker

    monkeypatch.setattr(_broker, "_CHUNK", 4096)  # several chunks from a small table
    grant_id = granted(gws, "raw")
    bob = gws.access.local_identity("bob")
    gws.access.set_policy(POLICY.replace('    row_filter: "hours_per_week >= 40"\n', ""), actor="t")
    chunks = gws.access.stream("people", identity=bob, view="raw", purpose="analytics")
    first = next(chunks)
    read = [r.event for r in gws.log.records() if r.event["event"] == "read"][-1]
    assert (read["rows"], read["columns"]) == (300, 26)
    rest = b"".join(chunks)
    full = gov.read(gws.hazmat, "people", identity=bob, view="raw", purpose="analytics").frame
    assert pl.read_parquet(io.BytesIO(first + rest)).equals(full)
    from privet.schema import Version

    with gws.hazmat.reading() as session:  # byte for byte the stored plaintext (hash-checked)
        stored = session.get(Version, read["version"])
        assert len(first + rest) == stored.plaintext_bytes
    import hashlib

    assert hashlib.sha256(first + rest).hexdigest() == stored.content_sha256
    # The same path stops when the grant ends.
    chunks = gws.access.stream("people", identity=bob, view="raw", purpose="analytics")
    next(chunks)
    gws.access.revoke_grant(grant_id, identity=gws.access.local_identity("alice"))
    with pytest.raises(PolicyDenied, match="stream stopped"):
        next(chunks)


def test_an_altered_stored_object_never_completes_a_raw_stream(gws: Workspace) -> None:
    # The raw Parquet stream is decrypted while it is sent: a flipped byte must cut it.
    from privet import IntegrityError
    from privet.schema import Version

    granted(gws, "raw")
    gws.access.set_policy(POLICY.replace('    row_filter: "hours_per_week >= 40"\n', ""), actor="t")
    with gws.hazmat.reading() as session:
        key = session.query(Version.object_key).one()[0]
    path = gws.hazmat.store.root / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    bob = gws.access.local_identity("bob")
    chunks = gws.access.stream("people", identity=bob, view="raw", purpose="analytics")
    with pytest.raises(IntegrityError):
        b"".join(chunks)


@pytest.mark.parametrize("view", ["raw", "masked"])
def test_arrow_batches_are_the_view_logged_once_and_stop_when_the_grant_ends(
    gws: Workspace, view: str
) -> None:
    """The Arrow form of a read (stored Parquet for raw, the shaped frame for masked with the
    rule's row filter): the same rows as the library read, one log entry, small batches, and
    the grant re-checked between them."""
    import pyarrow as pa

    if view == "raw":
        gws.access.set_policy(
            POLICY.replace('    row_filter: "hours_per_week >= 40"\n', ""), actor="t"
        )
    grant_id = granted(gws, view)
    bob = gws.access.local_identity("bob")
    expected = gov.read(gws.hazmat, "people", identity=bob, view=view, purpose="analytics").frame
    size = gws.log.size()
    body = b"".join(
        gws.access.stream(
            "people", identity=bob, view=view, purpose="analytics", fmt="arrow", batch_rows=64
        )
    )
    batches = list(pa.ipc.open_stream(body))
    assert max(b.num_rows for b in batches) <= 64 and len(batches) >= expected.height // 64
    assert pl.from_arrow(pa.Table.from_batches(batches)).equals(expected)
    reads = [r.event for r in gws.log.records(size) if r.event["event"] == "read"]
    assert len(reads) == 1 and reads[0]["rows"] == expected.height
    stream = gws.access.batches(
        "people", identity=bob, view=view, purpose="analytics", batch_rows=64
    )
    next(stream)
    gws.access.revoke_grant(grant_id, identity=gws.access.local_identity("alice"))
    with pytest.raises(PolicyDenied, match="stream stopped"):
        next(stream)


def test_an_arrow_stream_dropped_unread_stops_its_decoder(gws: Workspace) -> None:
    """A client gone before reading (no close()) must not leave a decoder holding rows."""
    import gc
    import threading
    import time

    granted(gws, "masked")
    bob = gws.access.local_identity("bob")

    def decoders() -> int:
        return sum(t.name == "privet-arrow-decode" for t in threading.enumerate())

    before = decoders()
    stream = gws.access.batches(
        "people", identity=bob, view="masked", purpose="analytics", batch_rows=1
    )
    assert decoders() == before + 1  # blocked: the queue is full, nobody reads
    del stream
    gc.collect()
    deadline = time.monotonic() + 5
    while decoders() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert decoders() == before


def test_an_altered_stored_object_sends_no_arrow_batch(gws: Workspace) -> None:
    from privet import IntegrityError
    from privet.schema import Version

    granted(gws, "raw")
    gws.access.set_policy(POLICY.replace('    row_filter: "hours_per_week >= 40"\n', ""), actor="t")
    with gws.hazmat.reading() as session:
        key = session.query(Version.object_key).one()[0]
    path = gws.hazmat.store.root / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    bob = gws.access.local_identity("bob")
    with pytest.raises(IntegrityError):  # before any batch: the call itself raises
        gws.access.stream("people", identity=bob, view="raw", purpose="analytics", fmt="arrow")


def test_synthetic_view_serves_only_a_dp_release_never_the_baseline(gws: Workspace) -> None:
    """The independent baseline copies real rare values with no ε charged: a grantee of the
    synthetic view must never receive it, even when it is the newest derived dataset."""
    from privet.catalog import derive

    policy = POLICY.replace("views: [", "views: [synthetic, ").replace(
        '    row_filter: "hours_per_week >= 40"\n', ""
    )
    gws.access.set_policy(policy, actor="tester")
    granted(gws, "synthetic")
    columns = ["sex", "race", "income"]
    gws.dp.synthesize(
        "people",
        SynthRequest(name="people-ind", method="independent", columns=columns),
        actor="alice",
    )
    with pytest.raises(NotFound, match="no differentially private synthetic"):
        bob_reads(gws, "synthetic")

    gws.dp.set_budget("people", actor="alice", epsilon=5, delta=1e-6)
    keys = {
        c: sorted(gws.read("people", purpose="training", actor="alice")[c].unique())
        for c in columns
    }
    dp_release = gws.dp.synthesize(
        "people",
        SynthRequest(
            name="people-mst", method="mst", epsilon=2.0, columns=columns, keys=keys, seed=1
        ),
        actor="alice",
    )
    # Newer than the DP release: a second baseline version, and a table merely labelled
    # synthetic (no release in the ledger).
    gws.dp.synthesize(
        "people",
        SynthRequest(name="people-ind", method="independent", columns=columns),
        actor="alice",
    )
    frame = gws.read("people", purpose="training", actor="alice").select(columns)
    derive(gws.hazmat, "people", frame, name="people-fake", kind="synthetic", actor="alice",
           facts={"synthetic": True, "differentially_private": True})  # fmt: skip
    kinds = {
        v.dataset: v.kind for d in ("people-ind", "people-fake") for v in gws.dataset(d).versions
    }
    assert kinds == {"people-ind": "baseline", "people-fake": "synthetic"}

    release = gov.read(
        gws.hazmat, "people", identity=gws.access.local_identity("bob"), view="synthetic",
        purpose="analytics",
    )  # fmt: skip
    assert release.version.ref == dp_release.output == "people-mst@1"
    # Asked by name as the synthetic view, the baseline or the mislabelled table is not
    # served either (here by their owner): the newest DP release is.
    for name in ("people-ind", "people-fake"):
        again = gov.read(gws.hazmat, name, actor="alice", view="synthetic", purpose="analytics")
        assert again.version.ref == "people-mst@1"
    ledger = gws.dp.budget("people")
    assert [r.kind for r in ledger.releases] == ["synth"]
    served = gws.log.records(release.log_index, 1)[0].event
    assert served["view"] == "synthetic" and served["served"] == gws.dataset("people-mst").id
