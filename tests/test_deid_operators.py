"""De-identification operators: known answers, keyed pseudonyms and tokens, and no leaks."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from privet import AlreadyExists, IntegrityError, InvalidInput, PolicyDenied, PrivetError, Workspace
from privet.deid import REGISTRY, Context, Operator, make_operator, register_operator
from privet.operators._text import FALLBACK
from tests.conftest import ingest_people, invoke

SECRET = "Zyxwvut-4111111111111111"  # a value that must never show up in a message
TOKEN_PLAN = (
    "columns: {ssn: token, email: drop, full_name: drop, person_id: drop, phone: drop,"
    " street_address: drop, notes: drop}"
)


def keyed(ws: Workspace) -> Context:
    with ws.hazmat.session() as session:
        prf = ws.hazmat.vault.keyed_prf(session)
        daead = ws.hazmat.vault.token_aead(session)
        session.commit()
    return Context(prf=prf, daead=daead, subject="person")


def run(op: str, frame: pl.DataFrame, column: str = "v", context: Context | None = None, **params):
    return make_operator(op, params).apply(frame, column, context or Context())


# -- registry ---------------------------------------------------------------------------


def test_every_operator_of_the_issue_is_registered():
    assert {
        "mask",
        "redact",
        "pseudonym",
        "token",
        "generalize",
        "date_shift",
        "top_bottom_code",
        "suppress",
        "suppress_records",
        "microaggregate",
        "redact_text",
    } <= set(REGISTRY)


def test_registering_a_taken_name_is_an_error_unless_forced():
    class Again(Operator):
        name = "mask"
        summary = "a second mask"

        def apply(self, frame, column, context):
            return frame

    original = REGISTRY["mask"]
    with pytest.raises(AlreadyExists, match="already registered"):
        register_operator(Again)
    try:
        register_operator(Again, force=True)
        assert REGISTRY["mask"] is Again
    finally:
        REGISTRY["mask"] = original


def test_unknown_operators_and_parameters_are_refused_with_a_fix():
    with pytest.raises(InvalidInput, match="did you mean 'pseudonym'"):
        make_operator("pseudonyn")
    with pytest.raises(InvalidInput, match="keep_lats: Extra inputs are not permitted"):
        make_operator("mask", {"keep_lats": 2})
    with pytest.raises(InvalidInput, match="operator 'microaggregate': k:"):
        make_operator("microaggregate", {"k": 1})


def test_an_operator_refuses_a_column_of_the_wrong_type():
    with pytest.raises(InvalidInput, match="'microaggregate' cannot be applied to column 'v'"):
        make_operator("microaggregate").check("v", pl.String)


# -- known answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "params", "expected"),
    [
        ("4111111111111111", {}, "************1111"),  # default: last four shown
        ("alice@example.org", {"keep_first": 1, "keep_last": 0}, "a****************"),
        ("123", {}, "***"),  # shorter than what would be shown: all hidden
        ("", {}, ""),
        (None, {}, None),  # nulls stay null
        ("alice@example.org", {"keep_last": 0, "width": 6}, "******"),  # the length is hidden
        ("bo", {"keep_last": 0, "width": 6}, "******"),
        ("4111111111111111", {"width": 4}, "****1111"),
        ("123", {"width": 4}, "****"),
    ],
)
def test_mask(value, params, expected):
    out = run("mask", pl.DataFrame({"v": [value]}, schema={"v": pl.String}), **params)
    assert out.get_column("v").to_list() == [expected]


def test_redact_replaces_values_and_keeps_nulls():
    out = run("redact", pl.DataFrame({"v": ["a", None, "b"]}))
    assert out.get_column("v").to_list() == ["[REDACTED]", None, "[REDACTED]"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"top": 50}, [1, 10, 50, 50]),
        ({"bottom": 5, "top": 60.5}, [5, 10, 60, 60]),  # integer column: cap rounded inwards
        ({"top_quantile": 0.75}, [1, 10, 60, 60]),  # nearest rank: position .75·3 → 2 → 60
    ],
)
def test_top_and_bottom_coding(params, expected):
    frame = pl.DataFrame({"v": [1, 10, 60, 1000]})
    out = run("top_bottom_code", frame, **params)
    assert out.get_column("v").to_list() == expected
    assert out.schema["v"] == pl.Int64


def test_cell_suppression_of_rare_values():
    frame = pl.DataFrame({"v": ["a", "a", "b", "c", "c", None]})
    assert run("suppress", frame, min_count=2).get_column("v").to_list() == [
        "a", "a", None, "c", "c", None,
    ]  # fmt: skip
    assert run("suppress", frame).get_column("v").null_count() == 6


def test_record_suppression_of_rare_values():
    frame = pl.DataFrame({"v": ["a", "a", "b", "c", "c"], "w": [1, 2, 3, 4, 5]})
    assert run("suppress_records", frame, min_count=2).get_column("w").to_list() == [1, 2, 4, 5]


def test_microaggregation_groups_of_at_least_k():
    frame = pl.DataFrame({"v": [7, 1, 3, 2, 6, 5, 4, None]})
    out = run("microaggregate", frame, k=3).get_column("v").to_list()
    # Sorted 1..7 in groups [1 2 3] and [4 5 6 7] (the remainder joins the last group).
    assert out == [5.5, 2.0, 2.0, 2.0, 5.5, 5.5, 5.5, None]
    counts = pl.Series(out).drop_nulls().value_counts()
    assert counts.get_column("count").min() >= 3


def test_generalize_at_a_fixed_level():
    from privet.deid import IntervalsSpec, build

    frame = pl.DataFrame({"v": [17, 23, 38, None]})
    hierarchy = build("v", IntervalsSpec(type="intervals", widths=[5, 10]), frame.get_column("v"))
    out = run("generalize", frame, context=Context(hierarchies={"v": hierarchy}), level=2)
    assert out.get_column("v").to_list() == ["10-19", "20-29", "30-39", None]


def test_redact_text_with_the_fallback_patterns(monkeypatch: pytest.MonkeyPatch):
    text = "Call +1 415 555 0199 or mail ann.lee@example.org; SSN 123-45-6789."
    out = run("redact_text", pl.DataFrame({"v": [text, None]}), context=Context(scan_text=None))
    assert out.get_column("v").to_list() == [
        "Call <PHONE_NUMBER> or mail <EMAIL_ADDRESS>; SSN <US_SSN>.",
        None,
    ]
    assert {e for e, _ in FALLBACK} >= {"EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN"}


def test_redact_text_uses_the_discovery_scanner_when_given():
    class Found:
        def __init__(self, start, end, kind):
            self.start, self.end, self.type = start, end, kind

    def scan(text: str):
        at = text.index("Ann Lee")
        return [Found(at, at + 7, "PERSON")]

    out = run("redact_text", pl.DataFrame({"v": ["Seen: Ann Lee, fine."]}),
              context=Context(scan_text=scan))  # fmt: skip
    assert out.get_column("v").to_list() == ["Seen: <PERSON>, fine."]


# -- keyed operators -----------------------------------------------------------------------


def test_pseudonyms_are_keyed_hmac_sha256_and_stable(ws: Workspace):
    context = keyed(ws)
    frame = pl.DataFrame({"v": ["alice@example.org", "bob@example.org", "alice@example.org"]})
    out = run("pseudonym", frame, context=context).get_column("v").to_list()
    assert out[0] == out[2] != out[1]
    assert len(out[0]) == 32  # 16 bytes, hex
    # Not an unkeyed hash an attacker could recompute from a guess.
    unkeyed = hashlib.sha256(b"alice@example.org").hexdigest()
    assert out[0] not in unkeyed
    # Namespaces separate pseudonym spaces.
    other = run("pseudonym", frame, context=context, namespace="crm").get_column("v")[0]
    assert other != out[0]
    assert not hmac.compare_digest(other, out[0])


def test_pseudonyms_match_across_datasets_of_a_workspace_but_not_across_workspaces(
    tmp_path: Path, people_csv: Path
):
    from privet.deid import ProtectRequest, parse_plan

    plan = parse_plan(
        "columns: {email: pseudonym, ssn: drop, full_name: drop, person_id: drop, phone: drop,"
        " street_address: drop, notes: drop}"
    )
    emails = {}
    for label, folder, dataset in [("a1", "one", "people"), ("a2", "one", "again"),
                                   ("b", "two", "people")]:  # fmt: skip
        path = tmp_path / folder
        path.mkdir(exist_ok=True)
        ws = Workspace.open(path) if (path / ".privet").exists() else Workspace.init(path)
        with ws:
            ingest_people(ws, people_csv, name=dataset)
            ws.deid.protect(dataset, ProtectRequest(plan=plan), output=f"{dataset}-p", actor="dpo")
            emails[label] = ws.read(f"{dataset}-p", purpose="training", actor="a")["email"]
    assert emails["a1"].to_list() == emails["a2"].to_list()
    assert not set(emails["a1"].to_list()) & set(emails["b"].to_list())


def test_tokens_round_trip_only_through_the_logged_detokenize(ws: Workspace, people_csv: Path):
    from privet.deid import ProtectRequest, parse_plan

    ingest_people(ws, people_csv)
    original = ws.read("people", purpose="training", actor="a")
    plan = parse_plan(TOKEN_PLAN)
    ws.deid.protect("people", ProtectRequest(plan=plan), output="people-tok", actor="dpo")
    stored = ws.read("people-tok", purpose="training", actor="a")
    assert stored["ssn"].str.starts_with("tok_").all()
    assert not set(stored["ssn"].to_list()) & set(original["ssn"].to_list())

    before = ws.log.size()
    restored = ws.deid.detokenize("people-tok", "ssn", purpose="training", actor="alice")
    assert restored.frame["ssn"].to_list() == original["ssn"].to_list()
    assert restored.log_index == before + 1 and restored.version == "people-tok@1"
    read, event = (r.event for r in ws.log.records(before, 2))
    assert (read["event"], read["channel"]) == ("read", "detokenize")
    assert (event["event"], event["column"], event["purpose"], event["actor"]) == (
        "deid.detokenize", "ssn", "training", "alice",
    )  # fmt: skip
    assert event["read_entry"] == before

    # Refused for a purpose the data was not collected for (and the refusal is logged) ...
    with pytest.raises(PolicyDenied):
        ws.deid.detokenize("people-tok", "ssn", purpose="marketing", actor="mallory")
    assert ws.log.records(ws.log.size() - 1, 1)[0].event["event"] == "read.refused"
    # ... and for privet's own internal purpose.
    with pytest.raises(PolicyDenied, match="not for detokenizing"):
        ws.deid.detokenize("people-tok", "ssn", purpose="privet:assessment", actor="mallory")
    # A column of plain values is not tokens: a terse refusal, no value quoted.
    with pytest.raises(IntegrityError, match="^a value is not a token of this workspace$"):
        ws.deid.detokenize("people-tok", "race", purpose="training", actor="alice")


def test_tokens_of_another_workspace_do_not_open(tmp_path: Path):
    from privet.operators._token import make_token, open_token

    one, two = (Workspace.init(tmp_path / name) for name in ("one", "two"))
    with one, two:
        token = make_token(keyed(one).daead, SECRET)
        assert open_token(keyed(one).daead, token) == SECRET
        with pytest.raises(IntegrityError) as refused:
            open_token(keyed(two).daead, token)
        assert SECRET not in str(refused.value)


def test_detokenize_cli_writes_the_values_and_logs(ws: Workspace, people_csv: Path, tmp_path):
    from privet.deid import ProtectRequest, parse_plan

    ingest_people(ws, people_csv)
    request = ProtectRequest(plan=parse_plan(TOKEN_PLAN))
    ws.deid.protect("people", request, output="people-tok", actor="dpo")
    out = tmp_path / "ssn.csv"
    result = invoke("detokenize", "people-tok", "ssn", "-o", out, "--purpose", "analytics",
                    workspace=ws.folder)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert ws.log.records(ws.log.size() - 1, 1)[0].event["event"] == "deid.detokenize"
    original = ws.read("people", purpose="training", actor="a")
    assert pl.read_csv(out)["ssn"].to_list() == original["ssn"].to_list()


def test_date_shift_keeps_each_persons_intervals(ws: Workspace):
    context = keyed(ws)
    frame = pl.DataFrame(
        {
            "person": ["p1", "p1", "p2", "p3"],
            "v": [date(2020, 1, 1), date(2020, 1, 11), date(2020, 1, 1), date(2020, 1, 1)],
        }
    )
    out = run("date_shift", frame, context=context, max_days=30).get_column("v").to_list()
    assert (out[1] - out[0]).days == 10  # the interval survives
    assert all(abs((o - d).days) <= 30 for o, d in zip(out, frame["v"], strict=True))
    again = run("date_shift", frame, context=context, max_days=30).get_column("v").to_list()
    assert again == out  # the same shift for the same person every time
    with pytest.raises(InvalidInput, match="needs the column that identifies each person"):
        run("date_shift", frame, context=Context(prf=context.prf))


# -- nothing leaks ---------------------------------------------------------------------------


LEAK_CASES = [
    ("mask", {}),
    ("redact", {}),
    ("pseudonym", {}),
    ("token", {}),
    ("generalize", {"level": 1}),
    ("date_shift", {}),
    ("top_bottom_code", {"top": 1}),
    ("suppress", {"min_count": 2}),
    ("suppress_records", {"min_count": 2}),
    ("microaggregate", {}),
    ("redact_text", {}),
    ("drop", {}),
    ("keep", {}),
]


@pytest.mark.parametrize(("name", "params"), LEAK_CASES)
def test_no_operator_puts_a_value_into_logs_or_errors(
    name, params, caplog: pytest.LogCaptureFixture
):
    """Each operator meets the secret in a column it cannot handle and in one it can."""
    caplog.set_level(logging.DEBUG)
    frames = [
        pl.DataFrame({"v": [SECRET, SECRET]}),  # text
        pl.DataFrame({"v": [SECRET]}).with_columns(pl.col("v").str.len_chars()),  # number
    ]
    messages = []
    for frame in frames:
        op = make_operator(name, params)
        for context in (Context(), Context(subject="v")):
            try:
                op.check("v", frame.schema["v"])
                op.apply(frame, "v", context)
            except PrivetError as err:  # refusals must say what to fix, not what was there
                messages.append(str(err))
            except Exception as err:  # noqa: BLE001 - any other failure must not leak either
                messages.append(repr(err))
    text = " ".join(messages) + caplog.text
    assert SECRET not in text and "4111111111111111" not in text


def test_protect_leaves_no_value_in_the_audit_log_or_lineage(ws: Workspace, people_csv, tmp_path):
    from privet.deid import ProtectRequest, parse_plan

    people = pl.read_csv(people_csv)
    people = people.with_columns(pl.lit(SECRET).alias("ssn"))
    path = tmp_path / "secret.csv"
    people.write_csv(path)
    ingest_people(ws, path)
    plan = parse_plan(
        "columns: {ssn: token, email: pseudonym, full_name: mask, notes: redact_text,\n"
        "          person_id: pseudonym, phone: mask, street_address: drop}\n"
        "quasi_identifiers: [age, sex, race]\nprivacy: {k: 3, max_suppression: 0.1}"
    )
    ws.deid.protect("people", ProtectRequest(plan=plan), output="people-safe", actor="dpo")
    entries = " ".join(str(r.event) for r in ws.log.records(0))
    edges = " ".join(str(e.facts) for e in ws.lineage("people-safe"))
    assert SECRET not in entries and SECRET not in edges
