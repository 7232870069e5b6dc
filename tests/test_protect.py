"""`privet protect`: outputs checked by pycanon, plans checked before work, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import click
import polars as pl
import pycanon.anonymity as pycanon
import pytest

from privet import AlreadyExists, InvalidInput, Workspace
from privet.datasets import adult
from privet.deid import REGISTRY, ProtectRequest, file_risk, parse_plan, protect_file
from tests.conftest import ingest_people, invoke

QIS = ["age", "workclass", "education", "marital_status", "occupation", "race", "sex"]


def pandas(frame: pl.DataFrame):
    """pycanon's view of a table: pandas, with nulls as "?" (its group-by drops null keys)."""
    return frame.with_columns(pl.col(pl.String).fill_null("?")).to_pandas()


@pytest.fixture(scope="module")
def adult_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("adult") / "adult.csv"
    adult().head(4000).write_csv(path)
    return path


# -- acceptance 1: every privacy model, verified by pycanon on the output --------------------

MODELS = [
    # (k, l, t, sensitive, max_suppression)
    (5, None, None, [], 0.05),
    (10, None, None, [], 0.0),
    (4, 2, None, ["income"], 0.05),
    (3, 3, None, ["relationship"], 0.1),
    (3, None, 0.15, ["income"], 0.1),  # categorical: equal-distance EMD
    (3, None, 0.2, ["education_num"], 0.1),  # numeric: ordered EMD
    (5, 2, 0.2, ["income"], 0.05),  # all three at once
]


@pytest.mark.parametrize(("k", "l_value", "t_value", "sensitive", "suppression"), MODELS)
def test_protected_file_meets_its_targets_by_pycanon(
    adult_slice: Path, tmp_path: Path, k, l_value, t_value, sensitive, suppression
):
    out = tmp_path / "protected.parquet"
    request = ProtectRequest(k=k, l=l_value, t=t_value, quasi_identifiers=QIS,
                             sensitive=sensitive, max_suppression=suppression)  # fmt: skip
    report = protect_file(adult_slice, request, out)
    data = pandas(pl.read_parquet(out))
    assert len(data) == report.rows_out >= 4000 * (1 - suppression)
    assert pycanon.k_anonymity(data, QIS) >= k
    if l_value is not None:
        assert pycanon.l_diversity(data, QIS, sensitive) >= l_value
    if t_value is not None:
        assert pycanon.t_closeness(data, QIS, sensitive) <= t_value + 1e-12
    # privet's own after-report agrees with pycanon exactly.
    assert report.risk_after.k == pycanon.k_anonymity(data, QIS)


def test_protected_dataset_is_a_new_catalog_dataset_with_lineage(ws: Workspace, people_csv: Path):
    source = ingest_people(ws, people_csv)
    request = ProtectRequest(k=5, quasi_identifiers=["age", "sex", "race", "marital_status"],
                             max_suppression=0.1)  # fmt: skip
    before = ws.log.size()
    report = ws.deid.protect("people", request, output="people-k5", actor="dpo")
    assert report.output == "people-k5@1"
    frame = ws.read("people-k5", purpose="training", actor="a")  # inherited purposes
    data = pandas(frame)
    assert pycanon.k_anonymity(data, ["age", "sex", "race", "marital_status"]) >= 5
    (edge,) = ws.lineage("people-k5")
    assert edge.source == f"version:{source.id}" and edge.activity == "protected"
    assert edge.facts["k"] == 5 and edge.facts["k_achieved"] >= 5
    assert edge.facts["suppressed"] == report.suppressed == 300 - frame.height
    read, derive = (r.event for r in ws.log.records(before, 2))
    assert (read["event"], read["purpose"]) == ("read", "privet:assessment")
    assert (derive["event"], derive["kind"]) == ("dataset.derive", "protected")
    info = ws.dataset("people-k5")
    assert info.versions[0].kind == "protected" and info.derived_from == ws.dataset("people").id


def test_shortcut_drops_direct_identifiers_by_default(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    result = invoke("protect", "people", "--k", "3", "--qi", "age,sex,race", "--max-suppression",
                    "0.2", "-o", "people-k3", "--json", workspace=ws.folder)  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {"email", "ssn", "full_name"} <= {c for c, op in report["operators"].items()
                                             if op == "drop"}  # fmt: skip
    columns = ws.read("people-k3", purpose="training", actor="a").columns
    assert not {"email", "ssn", "full_name"} & set(columns)


def test_plan_from_yaml_through_the_cli(ws: Workspace, people_csv: Path, tmp_path: Path):
    ingest_people(ws, people_csv)
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        """
quasi_identifiers: [age, sex, race, zip]
sensitive: [income]
privacy: {k: 4, l: 2, max_suppression: 0.1}
hierarchies:
  age: {type: intervals, widths: [10, 20]}
  zip: {type: truncate}
columns:
  email: pseudonym
  person_id: pseudonym
  ssn: {operator: token}
  phone: {operator: mask, keep_last: 2}
  full_name: drop
  street_address: drop
  notes: redact_text
  date_of_birth: {operator: generalize, level: 2}
target: income
""",
        encoding="utf-8",
    )
    result = invoke("protect", "people", "--plan", plan, "-o", "people-safe", workspace=ws.folder)
    assert result.exit_code == 0, result.output
    for text in ("before", "after", "k ", "generalization loss", "ML accuracy (income)"):
        assert text in result.output
    frame = ws.read("people-safe", purpose="training", actor="a")
    assert pycanon.k_anonymity(pandas(frame), ["age", "sex", "race", "zip"]) >= 4
    assert pycanon.l_diversity(pandas(frame), ["age", "sex", "race", "zip"], ["income"]) >= 2
    assert frame["phone"].str.starts_with("*").all()
    assert frame["date_of_birth"].str.len_chars().max() == 4  # year
    roles = {c.name: c.role for c in ws.dataset("people-safe").versions[0].columns}
    assert roles["email"] == roles["ssn"] == "quasi_identifier"  # pseudonymous, not direct


def test_protect_json_report_has_risk_and_utility(adult_slice: Path, tmp_path: Path):
    out = tmp_path / "out.csv"
    result = invoke("protect", adult_slice, "--k", "5", "--qi", ",".join(QIS), "--sensitive",
                    "income", "--l", "2", "-o", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["risk_before"]["k"] == 1 and report["risk_after"]["k"] >= 5
    utility = report["utility"]
    assert 0 < utility["generalization_loss"] < 1
    assert 0 < utility["non_uniform_entropy"] < 1
    ml = utility["ml"]
    assert ml["target"] == "income" and 0.5 < ml["ratio"] <= 1.1
    assert ml["accuracy_original"] > ml["majority_baseline"] - 0.05
    assert report["search"]["evaluated"] <= report["search"]["lattice_size"]
    assert out.exists()


def test_search_loss_equals_the_utility_modules_recomputation(adult_slice: Path, tmp_path):
    request = ProtectRequest(k=5, quasi_identifiers=QIS, max_suppression=0.05)
    report = protect_file(adult_slice, request, tmp_path / "o.parquet")
    assert report.search.loss == pytest.approx(report.utility.generalization_loss, abs=1e-12)


def test_discernibility_equals_pycanon(adult_slice: Path, tmp_path: Path):
    import pycanon.metrics as metrics

    out = tmp_path / "o.parquet"
    report = protect_file(adult_slice, ProtectRequest(k=5, quasi_identifiers=QIS), out)
    raw, anon = pandas(pl.read_csv(adult_slice)), pandas(pl.read_parquet(out))
    assert report.utility.discernibility == metrics.discernability_metric(raw, anon, QIS)


# -- acceptance 5: bad plans are refused before any work -------------------------------------


def _refused_before_work(ws: Workspace, plan_text: str, message: str, *, reads: int = 0):
    """Refused with ``message``; at most ``reads`` logged reads; nothing stored."""
    before = ws.log.size()
    with pytest.raises(InvalidInput) as refused:
        request = ProtectRequest(plan=parse_plan(plan_text))
        ws.deid.protect("people", request, output="out", actor="dpo")
    assert message in str(refused.value)
    events = [r.event["event"] for r in ws.log.records(before)]
    assert events == ["read"] * reads  # a value check may need the governed read, no more
    assert "out" not in {d.name for d in ws.datasets()}
    return str(refused.value)


# The direct identifiers of the people table (declared or found by discovery at ingest).
DIRECT = ["person_id", "full_name", "email", "phone", "ssn", "street_address", "notes"]
BASE = "columns: {" + ", ".join(f"{c}: drop" for c in DIRECT) + "}\n"


def test_an_unknown_column_is_refused_before_reading(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    text = _refused_before_work(
        ws, BASE + "quasi_identifiers: [agee, sex]\nprivacy: {k: 2}", "did you mean 'age'?"
    )
    assert (
        text == "quasi_identifiers names column 'agee', which the table lacks (did you mean 'age'?)"
    )


def test_k_larger_than_the_rows_is_refused_before_reading(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    _refused_before_work(
        ws,
        BASE + "quasi_identifiers: [age]\nprivacy: {k: 301}",
        "k = 301 is larger than the table's 300 rows; lower k",
    )


def test_a_hierarchy_missing_a_value_is_refused_before_any_transformation(
    ws: Workspace, people_csv: Path
):
    ingest_people(ws, people_csv)
    plan = (
        BASE
        + """quasi_identifiers: [sex, marital_status]
privacy: {k: 2}
hierarchies:
  marital_status:
    type: groups
    levels: [{married: [Married-civ-spouse], single: [Never-married]}]
"""
    )
    text = _refused_before_work(ws, plan, "misses", reads=1)
    assert "add each to a group of level 1" in text
    assert "Divorced" not in text  # counts, never values


def test_an_impossible_l_is_refused_with_the_largest_possible(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    _refused_before_work(
        ws,
        BASE + "quasi_identifiers: [age]\nsensitive: [income]\nprivacy: {k: 2, l: 3}",
        "ℓ = 3 is impossible: sensitive column 'income' has only 2 distinct values; "
        "lower ℓ to at most 2",
        reads=1,
    )


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("quasi_identifiers: [age]\nprivacy: {k: 2}", "'person_id' is a direct identifier"),
        (BASE + "quasi_identifiers: [age]\nsensitive: []\nprivacy: {k: 2, l: 2}",
         "ℓ-diversity needs a sensitive"),
        (BASE + "privacy: {k: 0}", "privacy.k: Input should be greater than or equal to 1"),
        ("columns: {email: hash}", "unknown operator 'hash'"),
        ("columns: {email: microaggregate}", "cannot be applied to column 'email'"),
        (BASE + "quasi_identifiers: [age]\nprivacy: {k: 2}\nhierarchies: {zip: {type: truncate}}",
         "neither a quasi-identifier nor generalized"),
        (BASE + "quasi_identifiers: [age]\nsensitive: [age]\nprivacy: {k: 2}", "both"),
        (BASE + "quasi_identifiers: [age]\nprivacy: {k: 2}\ncolumns: {age: drop}",
         "is a quasi-identifier"),
        ("privacy: [k, 2]", "privacy: Input should be a valid dictionary"),
        ("{}", "the plan does nothing"),
        (BASE + "quasi_identifiers: [age]\nprivacy: {k: 2, t: 1.5}", "privacy.t"),
        (BASE + "hierarchies: {age: {type: intervals, widths: [5, 7]}}", "multiple"),
    ],
)  # fmt: skip
def test_other_bad_plans_are_refused_before_reading(ws: Workspace, people_csv, plan, message):
    ingest_people(ws, people_csv)
    _refused_before_work(ws, plan, message)


def test_bad_yaml_is_refused_with_the_line():
    with pytest.raises(InvalidInput, match="not valid YAML at line 3"):
        parse_plan("privacy:\n  k: [\n")


def test_a_bad_plan_exits_1_with_one_sentence(ws: Workspace, people_csv: Path, tmp_path: Path):
    ingest_people(ws, people_csv)
    plan = tmp_path / "plan.yaml"
    plan.write_text(BASE + "quasi_identifiers: [age]\nprivacy: {k: 1000}\n", encoding="utf-8")
    result = invoke("protect", "people", "--plan", plan, "-o", "x", workspace=ws.folder)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "k = 1000" in result.output


def test_output_name_and_file_are_checked_first(ws: Workspace, people_csv: Path, tmp_path):
    ingest_people(ws, people_csv)
    request = ProtectRequest(k=2, quasi_identifiers=["age"])
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        ws.deid.protect("people", request, output="../x", actor="dpo")
    existing = tmp_path / "exists.csv"
    existing.write_text("x\n1\n")
    with pytest.raises(AlreadyExists):
        protect_file(ws.folder / "missing.csv", request, existing)


@pytest.fixture
def emails_csv(tmp_path: Path) -> Path:
    path = tmp_path / "emails.csv"
    pl.DataFrame({"email": ["ann@example.org", "bo@example.org"] * 5, "age": range(10)}).write_csv(
        path
    )
    return path


PSEUDONYMS = ProtectRequest(plan=parse_plan("columns: {email: pseudonym}"))


def test_keyed_operators_on_a_file_need_a_workspace(tmp_path: Path, emails_csv: Path):
    with pytest.raises(InvalidInput, match="workspace's keys"):
        protect_file(emails_csv, PSEUDONYMS, tmp_path / "o.csv")


def test_file_protection_with_a_workspace_logs_the_use_of_its_keys(ws: Workspace, emails_csv):
    out = emails_csv.parent / "out.jsonl"
    ws.deid.protect(str(emails_csv), PSEUDONYMS, output=out, actor="dpo")
    event = ws.log.records(ws.log.size() - 1, 1)[0].event
    assert event["event"] == "deid.protect_file" and event["source"].startswith("file:sha256:")
    assert pl.read_ndjson(out)["email"].str.len_chars().min() == 32


# -- the command line --------------------------------------------------------------------------


def test_protect_a_file_prints_before_and_after(adult_slice: Path, tmp_path: Path):
    out = tmp_path / "out.parquet"
    result = invoke("protect", adult_slice, "--k", "5", "--qi", ",".join(QIS), "-o", out)
    assert result.exit_code == 0, result.output
    assert "Protected" in result.output and "before" in result.output
    assert "records at risk" in result.output and "generalization loss" in result.output
    again = invoke("protect", adult_slice, "--k", "5", "--qi", ",".join(QIS), "-o", out)
    assert again.exit_code == 1 and "--force" in again.output


def test_plan_and_shortcut_options_do_not_mix(tmp_path: Path, adult_slice: Path):
    plan = tmp_path / "p.yaml"
    plan.write_text("privacy: {k: 2}\n")
    result = invoke("protect", adult_slice, "--plan", plan, "--k", "3", "-o", tmp_path / "o.csv")
    assert result.exit_code == 2


def test_every_operator_is_named_in_the_help_and_every_option_has_help():
    from privet.cli import cli
    from privet.cli._protect import OPERATORS

    assert set(OPERATORS.replace(" ", "").split(",")) == set(REGISTRY)
    for name in ("protect", "risk", "detokenize"):
        command = cli.commands[name]
        assert command.help
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.name} lacks help"
    result = invoke("protect", "--help")
    assert "redact_text" in result.output


def test_a_file_uses_discoverys_roles_when_it_offers_them(
    tmp_path: Path, emails_csv: Path, monkeypatch: pytest.MonkeyPatch
):
    import privet.discover

    class Finding:
        def __init__(self, name: str, role: str):
            self.name, self.role, self.category = name, role, None

    class Report:
        columns = [Finding("email", "direct_identifier"), Finding("age", "quasi_identifier")]

    monkeypatch.setattr(privet.discover, "scan_frame", lambda frame: Report(), raising=False)
    out = tmp_path / "o.csv"
    report = protect_file(emails_csv, ProtectRequest(k=2, max_suppression=0.0), out)
    assert report.quasi_identifiers == ["age"] and report.operators == {"email": "drop"}
    assert pl.read_csv(out).columns == ["age"]
    assert file_risk(emails_csv).quasi_identifiers == ["age"]


def _readme_section() -> str:
    """The README's de-identification section."""
    text = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    return text[text.index("## De-identify") :]


def test_the_readme_commands_and_plan_run(
    ws: Workspace, people_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    ingest_people(ws, people_csv)
    section = _readme_section()
    commands = section[
        section.index("```bash") + 7 : section.index("```", section.index("```bash") + 7)
    ]
    plan_text = section[
        section.index("```yaml") + 7 : section.index("```", section.index("```yaml") + 7)
    ]
    (tmp_path / "plan.yaml").write_text(plan_text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for line in commands.strip().splitlines():
        argv = line.split()[1:]
        result = invoke(*argv, workspace=ws.folder)
        assert result.exit_code == 0, f"{line}: {result.output}"
    safe = ws.read("people-safe", purpose="training", actor="a")
    qis = ["age", "sex", "race", "zip"]
    assert pycanon.k_anonymity(pandas(safe), qis) >= 5
    assert pycanon.l_diversity(pandas(safe), qis, ["income"]) >= 2
    assert not {"full_name", "street_address"} & set(safe.columns)
    assert safe["ssn"].str.starts_with("tok_").all()


# -- the request and the command line's words ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "parameter", "message"),
    [
        ({"k": 0}, "k", "k must be at least 1"),
        ({"k": 2, "max_suppression": 1.0}, "max_suppression", "less than 1"),
        ({"k": 2, "metric": "speed"}, "metric", "'loss', 'entropy' or 'discernibility'"),
        ({}, None, "give a privacy model (k, l or t) or a plan"),  # nothing to do
        ({"plan": parse_plan("privacy: {k: 2}"), "k": 3}, None, "not both"),
    ],
)
def test_a_bad_request_is_one_sentence_naming_its_field(fields, parameter, message):
    with pytest.raises(InvalidInput) as refused:
        ProtectRequest(**fields)
    assert refused.value.parameter == parameter and message in str(refused.value)


def test_library_errors_name_parameters_and_the_cli_writes_them_as_flags(
    emails_csv: Path, tmp_path: Path
):
    from privet.deid import GroupsSpec, Lattice, Target, build

    # A hierarchy built by hand, without its top level: k = 7 is out of the search's reach.
    edu = pl.Series("edu", ["a", "b", "c", "d"] * 3)
    groups = GroupsSpec(type="groups", levels=[{"x": ["a", "b"], "y": ["c", "d"]}])
    with pytest.raises(InvalidInput, match="raise max_suppression") as refused:
        Lattice(edu.to_frame(), [build("edu", groups, edu)], [], Target(k=20)).search()
    assert refused.value.parameter == "max_suppression"
    # The command line writes a named parameter as its flag.
    result = invoke("risk", emails_csv, "--qi", "age", "--population-size", "5")
    assert result.exit_code == 1 and "--population-size: the population size" in result.output
    # A file in which nobody, not even discovery, finds a quasi-identifier: the fix is --qi.
    plain = tmp_path / "plain.csv"
    pl.DataFrame({"reading": [0.5, 1.5, 2.5]}).write_csv(plain)
    result = invoke("risk", plain)
    assert result.exit_code == 1 and "give --qi" in result.output


def test_a_name_that_is_no_file_needs_a_workspace(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PRIVET_WORKSPACE", raising=False)
    for args in (["protect", "people", "--k", "2", "-o", "out"], ["risk", "people"]):
        result = invoke(*args)
        assert result.exit_code == 1 and "no workspace to find a dataset in" in result.output


def test_detokenize_reports_the_audit_entry_it_wrote(ws: Workspace, people_csv: Path, tmp_path):
    ingest_people(ws, people_csv)
    request = ProtectRequest(plan=parse_plan("columns: {ssn: token}\ndirect_identifiers: drop"))
    ws.deid.protect("people", request, output="people-tok", actor="dpo")
    out = tmp_path / "ssn.parquet"
    result = invoke("detokenize", "people-tok", "ssn", "-o", out, "--purpose", "analytics",
                    "--json", workspace=ws.folder)  # fmt: skip
    assert result.exit_code == 0, result.output
    index = json.loads(result.output)["log_index"]
    assert ws.log.records(index, 1)[0].event["event"] == "deid.detokenize"
    assert index == ws.log.size() - 1
