"""Consent: a withdrawal for a purpose leaves the subject's rows out of every read for it.

Acceptance (issue 16, point 5): a read for the withdrawn purpose excludes X; a read for
another purpose does not; both are logged with the count left out. X is found in what was
released by values the test planted (their id, or a marker value only their rows hold),
never by asking privet which rows are theirs; the counts come from the source table.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from privet import InvalidInput, PolicyDenied, Workspace, policy
from privet.catalog import LINK_DOMAIN
from privet.datasets import raw_people
from privet.deid import ProtectRequest
from privet.dp import QueryRequest, TrainRequest
from privet.errors import GovernanceMismatch
from privet.schema import ConsentRecord
from tests.conftest import invoke

WITHDRAWN, OTHER = "analytics", "training"
MARKER = 123  # hours_per_week of X's rows only (the generated values stop at 99)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Declared, not scanned (faster): de-identification drops these, the subject id among them.
IDENTIFIERS = dict.fromkeys(
    ["person_id", "full_name", "email", "phone", "ssn"], "direct_identifier"
)


def table(people: int, x_rows: int) -> pl.DataFrame:
    """``people`` people with one row each; the first (X) gets ``x_rows`` rows marked."""
    base = raw_people(people)
    x = base.head(1).with_columns(pl.lit(MARKER, dtype=pl.Int64).alias("hours_per_week"))
    return pl.concat([x] * x_rows + [base.slice(1)])


def ingest(ws: Workspace, frame: pl.DataFrame, tmp: Path, *, name: str = "people",
           basis: str = "consent", subject: str | None = "person_id") -> str:  # fmt: skip
    path = tmp / f"{name}.csv"
    frame.write_csv(path)
    ws.ingest(path, name=name, owner="alice", purposes=[WITHDRAWN, OTHER], actor="alice",
              legal_basis=basis, subject_id=subject, roles=IDENTIFIERS, scan=False)  # fmt: skip
    return str(frame["person_id"][0])


def reads(ws: Workspace) -> list[dict]:
    return [r.event for r in ws.log.records() if r.event["event"] == "read"]


def x_rows(frame: pl.DataFrame) -> int:
    return frame.filter(pl.col("hours_per_week") == MARKER).height


# -- acceptance 5 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x_count",
    [
        1,  # each row is a person
        7,  # a subject-id column with several rows for X
    ],
)
def test_a_read_for_the_withdrawn_purpose_leaves_x_out_and_another_does_not(
    ws: Workspace, tmp_path: Path, x_count: int
) -> None:
    source = table(120, x_count)
    x = ingest(ws, source, tmp_path)
    change = ws.consent.withdraw(x, WITHDRAWN, actor="alice")
    assert change.status == "withdrawn" and change.changed

    withdrawn = ws.read("people", purpose=WITHDRAWN, actor="alice")
    other = ws.read("people", purpose=OTHER, actor="alice")
    # Independent: X's rows are found by their id and by the marker, counted from the source.
    assert withdrawn.filter(pl.col("person_id") == x).height == 0 and x_rows(withdrawn) == 0
    assert withdrawn.height == source.height - x_count
    assert other.filter(pl.col("person_id") == x).height == x_count == x_rows(other)
    assert other.height == source.height

    first, second = reads(ws)[-2:]
    assert (first["purpose"], first["consent_excluded"], first["rows"]) == (
        WITHDRAWN, x_count, source.height - x_count,
    )  # fmt: skip
    assert (second["purpose"], second["consent_excluded"], second["rows"]) == (
        OTHER, 0, source.height,
    )  # fmt: skip
    # Neither the id nor its link is anywhere in the log.
    with ws.hazmat.reading() as session:  # the key exists: the withdrawal made it
        link = ws.hazmat.vault.keyed_prf(session).compute(LINK_DOMAIN + x.encode(), 16)
    dumped = json.dumps([r.event for r in ws.log.records()])
    assert x not in dumped and link.hex() not in dumped

    # Re-granting makes X's rows come back.
    ws.consent.grant(x, WITHDRAWN, actor="alice")
    assert x_rows(ws.read("people", purpose=WITHDRAWN, actor="alice")) == x_count


def test_every_view_stream_and_export_leaves_x_out(ws: Workspace, tmp_path: Path) -> None:
    source = table(80, 3)
    x = ingest(ws, source, tmp_path)
    ws.consent.withdraw(x, WITHDRAWN, actor="alice")
    alice = ws.access.local_identity("alice")
    served = {
        view: ws.read("people", purpose=WITHDRAWN, actor="alice", view=view)
        for view in ("raw", "masked", "pseudonymized")
    }
    for fmt in ("parquet", "csv"):  # parquet: the stored-bytes fast path when nothing is left out
        data = b"".join(ws.access.stream("people", identity=alice, purpose=WITHDRAWN, fmt=fmt))
        served[f"stream:{fmt}"] = (pl.read_parquet if fmt == "parquet" else pl.read_csv)(
            io.BytesIO(data)
        )
    ws.export("people", tmp_path / "out.csv", purpose=WITHDRAWN, actor="alice")
    served["export"] = pl.read_csv(tmp_path / "out.csv")
    for door, frame in served.items():
        assert frame.height == source.height - 3 and x_rows(frame) == 0, door
    assert [r["consent_excluded"] for r in reads(ws)] == [3] * len(served)
    # The fast path still serves every row for the other purpose.
    data = b"".join(ws.access.stream("people", identity=alice, purpose=OTHER))
    assert x_rows(pl.read_parquet(io.BytesIO(data))) == 3


def test_a_protected_copy_leaves_x_out_by_its_subject_link(ws: Workspace, tmp_path: Path) -> None:
    source = table(200, 30)  # X's 30 identical rows pass k = 5 on their own
    x = ingest(ws, source, tmp_path)
    request = ProtectRequest(k=5, quasi_identifiers=["age", "sex", "race"], max_suppression=0.3)
    ws.deid.protect("people", request, output="people_k5", actor="alice")
    kept = ws.read("people_k5", purpose=OTHER, actor="alice")
    assert "person_id" not in kept.columns and x_rows(kept) == 30  # the premise

    ws.consent.withdraw(x, WITHDRAWN, actor="alice")
    copy = ws.read("people_k5", purpose=WITHDRAWN, actor="alice")
    view = ws.read("people", purpose=WITHDRAWN, actor="alice", view="protected")
    for frame in (copy, view):
        assert x_rows(frame) == 0 and frame.height == kept.height - 30
    assert x_rows(ws.read("people_k5", purpose=OTHER, actor="alice")) == 30
    assert [r["consent_excluded"] for r in reads(ws)[-3:]] == [30, 30, 0]


def test_dp_queries_and_training_read_without_x(ws: Workspace, tmp_path: Path) -> None:
    source = table(150, 1)
    x = ingest(ws, source, tmp_path)
    ws.dp.set_budget("people", actor="alice", epsilon=100, delta=1e-6)
    ws.dp.declare("people", actor="alice", bounds={"age": (17, 90), "hours_per_week": (1, 130)},
                  keys={"income": ["<=50K", ">50K"]})  # fmt: skip
    ws.consent.withdraw(x, WITHDRAWN, actor="alice")
    count = f"SELECT COUNT(*) AS n FROM people WHERE hours_per_week = {MARKER}"

    def dp_count(purpose: str) -> float:
        # ε = 40 on a count: the discrete noise is nonzero with probability ~e^-40.
        result = ws.dp.query("people", QueryRequest(sql=count, epsilon=40, purpose=purpose),
                             actor="alice")  # fmt: skip
        return result.rows[0]["n"]

    assert dp_count(WITHDRAWN) == 0  # X's row did not reach the release
    assert dp_count(OTHER) == 1
    query_reads = [r for r in reads(ws) if r["channel"] == "dp:query"]
    assert [(r["consent_excluded"], r["rows"]) for r in query_reads] == [
        (1, source.height - 1), (0, source.height),
    ]  # fmt: skip

    ws.dp.train(
        "people",
        TrainRequest(
            target="income",
            name="m",
            purpose=WITHDRAWN,
            epsilon=1.0,
            epochs=1,
            features=["age", "hours_per_week"],
        ),  # fmt: skip
        actor="alice",
    )
    (trained,) = [r for r in reads(ws) if r["channel"] == "dp:train"]
    assert (trained["consent_excluded"], trained["rows"]) == (1, source.height - 1)


# -- where consent does not apply, or cannot be honoured ------------------------------------------


def test_a_dataset_not_resting_on_consent_is_read_whole_and_logs_no_count(
    ws: Workspace, tmp_path: Path
) -> None:
    source = table(50, 2)
    x = ingest(ws, source, tmp_path, basis="legitimate_interests")
    ws.consent.withdraw(x, WITHDRAWN, actor="alice")
    assert x_rows(ws.read("people", purpose=WITHDRAWN, actor="alice")) == 2
    assert "consent_excluded" not in reads(ws)[-1]


def test_without_a_subject_id_column_a_withdrawal_refuses_the_read(
    ws: Workspace, tmp_path: Path
) -> None:
    source = table(50, 1)
    ingest(ws, source, tmp_path, subject=None)
    assert ws.read("people", purpose=WITHDRAWN, actor="alice").height == source.height
    ws.consent.withdraw("someone", WITHDRAWN, actor="alice")
    with pytest.raises(PolicyDenied, match="rests on consent but has no subject-id column"):
        ws.read("people", purpose=WITHDRAWN, actor="alice")
    refused = [r.event for r in ws.log.records() if r.event["event"] == "read.refused"]
    assert refused[-1]["reason"] == "consent_unenforceable"
    assert ws.read("people", purpose=OTHER, actor="alice").height == source.height


def test_a_withdrawal_deleted_behind_privets_back_refuses_the_read(
    ws: Workspace, tmp_path: Path
) -> None:
    x = ingest(ws, table(40, 1), tmp_path)
    ws.consent.withdraw(x, WITHDRAWN, actor="alice")
    with ws.hazmat.session() as session:
        session.execute(text("DELETE FROM consent_records"))
        session.commit()
    with pytest.raises(GovernanceMismatch, match="consent withdrawals for purpose 'analytics'"):
        ws.read("people", purpose=WITHDRAWN, actor="alice")


def test_only_an_approver_or_a_consent_dataset_owner_records_consent(
    ws: Workspace, tmp_path: Path
) -> None:
    x = ingest(ws, table(20, 1), tmp_path)
    ws.access.add_user("bob", roles=["analyst"], actor="alice")  # the workspace is governed now
    size = ws.log.size()
    with pytest.raises(PolicyDenied, match="only an approver or the owner"):
        ws.consent.withdraw(x, WITHDRAWN, actor="bob")
    assert ws.log.records(size)[0].event["event"] == "consent.refused"
    assert ws.consent.summary() == []
    ws.consent.withdraw(x, WITHDRAWN, actor="alice")  # the owner
    ws.access.set_policy("approver_roles: [steward]\n", actor="alice")
    ws.access.set_roles("bob", add=["steward"], actor="alice")
    assert ws.consent.grant(x, WITHDRAWN, actor="bob").status == "granted"


# -- the importer ---------------------------------------------------------------------------------


def consent_csv(rows: list[tuple[str, ...]], header: tuple[str, ...] = ("subject_id", "purpose",
                "status")) -> str:  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out)  # "\r\n": so a lone "\r" in a value is quoted too
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


# Any text a CSV file can hold: no NUL, no lone surrogate (UTF-8 cannot encode one).
subject_ids = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=30
)


_rows = st.tuples(
    subject_ids, st.sampled_from(["a", "b.c", "x:y-z"]), st.sampled_from(["granted", "withdrawn"])
)


@given(st.lists(_rows, min_size=1, max_size=20))
def test_any_subject_id_round_trips_through_the_file(rows: list[tuple[str, str, str]]) -> None:
    parsed = policy.parse_consent_csv(consent_csv(rows), now=NOW)
    assert [(p.subject_id, p.purpose, p.status) for p in parsed] == rows


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ids=st.lists(subject_ids, min_size=1, max_size=8, unique=True))
def test_an_imported_id_is_stored_as_its_link(
    ws: Workspace, tmp_path: Path, ids: list[str]
) -> None:
    with ws.hazmat.session() as session:
        session.execute(text("DELETE FROM consent_records"))  # hypothesis reuses the workspace
        prf = ws.hazmat.vault.keyed_prf(session)
        session.commit()  # the key is made on first use
    # The link by its definition: HMAC(workspace key, domain ‖ id as UTF-8), 16 bytes, hex.
    expected = {prf.compute(LINK_DOMAIN + i.encode(), 16).hex() for i in ids}
    path = tmp_path / "consent.csv"
    path.write_text(consent_csv([(i, WITHDRAWN, "withdrawn") for i in ids]), encoding="utf-8")
    report = ws.consent.import_file(path, actor="alice")
    assert report.written == {WITHDRAWN: {"granted": 0, "withdrawn": len(ids)}}
    with ws.hazmat.session() as session:
        stored = set(session.scalars(select(ConsentRecord.subject_link)))
    assert stored == expected
    # The same id withdrawn one at a time lands on the same record.
    ws.consent.withdraw(ids[0], WITHDRAWN, actor="alice")
    assert ws.consent.summary()[0].withdrawn == len(ids)


# A valid line, and ways to spoil one field of it: (column, bad value, sentence).
_SPOILED = [
    ("subject_id", "", "column subject_id: empty"),
    ("purpose", "has space", "column purpose"),
    ("purpose", "privet:assessment", "column purpose"),
    ("status", "Withdrawn", "column status"),
    ("status", "revoked-secretly", "column status"),
    ("recorded_at", "yesterday-ish", "column recorded_at: not an ISO 8601 time"),
    ("recorded_at", "2099-01-01T00:00:00+00:00", "column recorded_at: in the future"),
]


@settings(max_examples=25, deadline=None)
@given(good=st.integers(1, 6), spoiled=st.sampled_from(_SPOILED), where=st.integers(0, 6))
def test_one_bad_line_names_its_line_and_column_and_nothing_is_parsed(
    good: int, spoiled: tuple[str, str, str], where: int
) -> None:
    header = ("subject_id", "purpose", "status", "recorded_at")
    rows = [(f"S{i}", "a", "granted", "2026-01-01T00:00:00") for i in range(good)]
    column, value, sentence = spoiled
    bad = list(rows[0]) if rows else ["S", "a", "granted", ""]
    bad[header.index(column)] = value
    at = min(where, len(rows))
    rows.insert(at, tuple(bad))
    with pytest.raises(InvalidInput) as caught:
        policy.parse_consent_csv(consent_csv(rows, header), now=NOW)
    message = str(caught.value)
    assert f"line {at + 2}, {sentence}" in message  # the header is line 1
    assert not value or value not in message


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        ("subject_id,purpose\nS1,a\n", "the header has no column status"),
        ("subject_id,purpose,status,email\nS1,a,granted,x\n", "unknown column 'email'"),
        ("subject_id,purpose,status\nS1,a,granted,extra\n", "line 2: expected 3 fields, found 4"),
        ('subject_id,purpose,status\n"S1,a,granted\n', "not well-formed CSV"),
        ("subject_id,purpose,status\n", "holds no consent records"),
        ("", "is empty"),
    ],
)
def test_a_malformed_file_is_one_sentence(content: str, sentence: str) -> None:
    with pytest.raises(InvalidInput, match=sentence):
        policy.parse_consent_csv(content, now=NOW)


def test_the_latest_decision_wins_in_the_file_and_against_the_catalog(
    ws: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    header = ("subject_id", "purpose", "status", "recorded_at")
    path.write_text(consent_csv([
        ("S1", WITHDRAWN, "withdrawn", "2026-01-02T00:00:00Z"),
        ("S1", WITHDRAWN, "granted", "2026-01-01T00:00:00Z"),  # older: superseded
        ("S2", WITHDRAWN, "granted", ""),                        # now
    ], header), encoding="utf-8")  # fmt: skip
    report = ws.consent.import_file(path, actor="alice")
    assert (report.lines, report.superseded) == (3, 1)
    assert report.written == {WITHDRAWN: {"granted": 1, "withdrawn": 1}}
    # An older file changes nothing already decided later.
    path.write_text(consent_csv([("S1", WITHDRAWN, "granted", "2025-12-31T00:00:00Z")], header))
    again = ws.consent.import_file(path, actor="alice")
    assert (again.superseded, again.written) == (1, {})
    summary = ws.consent.summary()
    assert [(s.purpose, s.granted, s.withdrawn) for s in summary] == [(WITHDRAWN, 1, 1)]
    entry = ws.log.records(report.log_index)[0].event
    # The signed attestation is base64 and may hold "S1" by chance: the fields are checked.
    fields = {k: v for k, v in entry.items() if k != "governance"}
    assert entry["event"] == "consent.import" and "S1" not in json.dumps(fields)


# -- the command line -----------------------------------------------------------------------------


def test_the_commands_record_and_show_consent(ws: Workspace, tmp_path: Path) -> None:
    x = ingest(ws, table(30, 1), tmp_path)
    path = tmp_path / "c.csv"
    path.write_text(consent_csv([(x, OTHER, "granted"), ("S9", OTHER, "withdrawn")]))
    imported = invoke("consent", "import", path, "--json", "--as", "alice", workspace=ws.folder)
    assert imported.exit_code == 0, imported.stderr
    assert json.loads(imported.stdout)["written"] == {OTHER: {"granted": 1, "withdrawn": 1}}
    withdrawn = invoke("consent", "withdraw", "--subject", x, "--purpose", WITHDRAWN,
                       "--as", "alice", workspace=ws.folder)  # fmt: skip
    assert withdrawn.exit_code == 0 and x not in withdrawn.stdout
    shown = invoke("consent", "show", "--json", workspace=ws.folder)
    assert json.loads(shown.stdout) == [
        {"purpose": WITHDRAWN, "granted": 0, "withdrawn": 1},
        {"purpose": OTHER, "granted": 1, "withdrawn": 1},
    ]
    assert x_rows(ws.read("people", purpose=WITHDRAWN, actor="alice")) == 0


@pytest.mark.parametrize(
    ("args", "file", "sentence"),
    [
        (["import", "{file}"], "subject_id,purpose,status\nS1,a,maybe\n",
         "line 2, column status: must be granted or withdrawn"),
        (["import", "{file}"], "subject_id,purpose,status\nS1,a,granted\nS2,a\n",
         "line 3: expected 3 fields, found 2"),
        (["import", "{file}"], b"\xff\xfe\x00", "is a binary file"),
        (["import", "{missing}"], None, "does not exist"),
        (["withdraw", "--subject", "", "--purpose", "a"], None, "give the subject's id"),
        (["withdraw", "--subject", "S1", "--purpose", "privet:assessment"], None, "reserved"),
        (["grant", "--subject", "S1", "--purpose", "no spaces"], None, "invalid purpose"),
    ],
)  # fmt: skip
def test_bad_input_is_one_sentence_and_changes_nothing(
    ws: Workspace, tmp_path: Path, args: list[str], file: str | bytes | None, sentence: str
) -> None:
    path = tmp_path / "c.csv"
    if isinstance(file, bytes):
        path.write_bytes(file)
    elif file is not None:
        path.write_text(file, encoding="utf-8")
    argv = [a.format(file=path, missing=tmp_path / "missing.csv") for a in args]
    size = ws.log.size()
    result = invoke("consent", *argv, workspace=ws.folder)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("privet: error: ") and sentence in lines[0]
    assert "Traceback" not in result.output and "S1" not in result.stderr
    assert ws.log.size() == size and ws.consent.summary() == []


def test_recorded_at_in_the_future_is_judged_by_the_workspace_clock(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "p", actor="t", clock=lambda: NOW)
    try:
        path = tmp_path / "c.csv"
        later = (NOW + timedelta(hours=1)).isoformat()
        header = ("subject_id", "purpose", "status", "recorded_at")
        path.write_text(consent_csv([("S1", "a", "granted", later)], header))
        with pytest.raises(InvalidInput, match="line 2, column recorded_at: in the future"):
            ws.consent.import_file(path, actor="t")
    finally:
        ws.close()
