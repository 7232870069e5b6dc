"""Discovery through the workspace and the command line: ``privet scan``, ingest's scan,
``privet datasets annotate``, bad input, and no raw value ever printed."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select

from privet import Workspace
from privet.errors import InvalidInput, NotFound
from privet.schema import LogEntry
from tests.conftest import PEOPLE_CATEGORIES, ingest_people, invoke, run_privet

DIRECT = ("full_name", "email", "phone", "ssn", "street_address")


def _raw_values(frame: pl.DataFrame) -> set[str]:
    return {str(v) for c in DIRECT for v in frame[c].to_list()}


def _log(ws: Workspace) -> list[dict]:
    with ws.hazmat.reading() as session:
        return [
            json.loads(e.data) for e in session.scalars(select(LogEntry).order_by(LogEntry.idx))
        ]


# -- privet scan ------------------------------------------------------------------------------


def test_scan_file_json_is_the_report(people_csv: Path, people: pl.DataFrame):
    result = invoke("scan", people_csv, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"rows", "columns", "quasi_identifier_sets"}
    assert data["rows"] == people.height
    roles = {c["name"]: c["role"] for c in data["columns"]}
    assert all(roles[c] == "direct_identifier" for c in DIRECT)
    assert roles["race"] == roles["sex"] == roles["age"] == "quasi_identifier"
    assert not _raw_values(people) & set(result.stdout.replace('"', " ").split())
    assert all(value not in result.stdout for value in _raw_values(people))


def test_scan_never_prints_a_raw_value_and_masks_examples(people_csv: Path, people):
    plain = invoke("scan", people_csv)
    shown = invoke("scan", people_csv, "--show-examples", "--json")
    assert plain.exit_code == 0 and shown.exit_code == 0
    raw = _raw_values(people)
    for output in (plain.stdout + plain.stderr, shown.stdout + shown.stderr):
        assert not any(value in output for value in raw)
    columns = {c["name"]: c for c in json.loads(shown.stdout)["columns"]}
    examples = columns["email"]["examples"]
    assert len(examples) == 3 and all("*" in e and "@" in e for e in examples)
    assert not set(examples) & raw


def test_scan_sample_limits_rows(people_csv: Path):
    data = json.loads(invoke("scan", people_csv, "--sample", "50", "--json").stdout)
    assert data["rows"] == 50


def test_scan_text_file_lists_entities_with_spans(tmp_path: Path):
    text = "Call Maria Rossi at +44 20 7946 0958.\nHer card 4111 1111 1111 1111 expired.\n"
    path = tmp_path / "notes.txt"
    path.write_text(text)
    result = invoke("scan", path, "--text", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    spans = {(e["type"], text[e["start"] : e["end"]], e["line"]) for e in data["entities"]}
    assert ("PERSON", "Maria Rossi", 1) in spans
    assert ("PHONE_NUMBER", "+44 20 7946 0958", 1) in spans
    assert ("CREDIT_CARD", "4111 1111 1111 1111", 2) in spans
    assert "4111" not in result.stdout and "Rossi" not in result.stdout
    human = invoke("scan", path, "--text", "--show-examples")
    assert "Rossi" not in human.stdout
    assert "M**** ****i" in human.stdout


def test_scan_dataset_reads_through_the_broker_and_is_logged(
    ws: Workspace, project: Path, people_csv: Path
):
    ingest_people(ws, people_csv)
    result = invoke("scan", "people", "--json", workspace=project)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 300
    reads = [e for e in _log(ws) if e.get("event") == "read"]
    assert reads[-1]["purpose"] == "privet:assessment" and reads[-1]["actor"] == "tester"


def test_scan_with_user_recognizers(tmp_path: Path):
    yaml_file = tmp_path / "mine.yaml"
    yaml_file.write_text(
        "recognizers:\n  - {name: badge, entity: BADGE, category: user.unique_id,"
        " pattern: 'EMP-[0-9]{6}'}\n"
    )
    data_file = tmp_path / "staff.csv"
    data_file.write_text("b\n" + "".join(f"EMP-{i:06d}\n" for i in range(50)))
    result = invoke("scan", data_file, "--recognizers", yaml_file, "--json")
    (column,) = json.loads(result.stdout)["columns"]
    assert column["role"] == "direct_identifier" and column["entities"][0]["type"] == "BADGE"


def test_text_scan_locates_entities_by_line_and_column(ws: Workspace):
    text = "Hello.\nCall Maria Rossi at +44 20 7946 0958.\n"
    document = ws.scan.text(text)
    assert (document.characters, document.lines) == (len(text), 3)
    person = next(e for e in document.entities if e.type == "PERSON")
    assert (person.line, person.column) == (2, 6) and text[
        person.start : person.end
    ] == "Maria Rossi"
    assert document.counts == {"PERSON": 1, "PHONE_NUMBER": 1}
    # The JSON is what ``privet scan --text --json`` prints: no example unless asked, masked.
    assert set(document.model_dump()["entities"][0]) == {
        "type", "start", "end", "line", "column", "score", "category"
    }  # fmt: skip
    shown = ws.scan.text(text, examples=True)
    assert [e.example for e in shown.entities if e.type == "PERSON"] == ["M**** ****i"]


def test_file_scan_needs_no_workspace_and_dataset_scan_is_a_governed_read(
    ws: Workspace, people_csv: Path
):
    from privet.discover import scan_file

    report = scan_file(people_csv, sample=50, examples=True)
    assert (report.source, report.rows) == (people_csv.name, 50)
    assert all(c.examples is not None for c in report.columns)
    assert "examples" not in scan_file(people_csv).model_dump()["columns"][0]
    ingest_people(ws, people_csv)
    report = ws.scan.dataset("people", actor="tester")
    assert (report.source, report.rows) == ("people@1", 300)
    reads = [e for e in _log(ws) if e.get("event") == "read"]
    assert reads[-1]["purpose"] == "privet:assessment" and reads[-1]["actor"] == "tester"


# -- acceptance 4: bad input ------------------------------------------------------------------

BAD_SCANS = [
    # (case, file name, bytes, extra args, exit code, words in stderr)
    ("empty file", "empty.csv", b"", [], 1, "is empty"),
    ("non-UTF-8", "latin.csv", "name\nJos\u00e9\n".encode("latin-1"), [], 1, "UTF-8"),
    ("non-UTF-8 text", "latin.txt", "Jos\u00e9 Garc\u00eda".encode("latin-1"), ["--text"], 1,
     "UTF-8"),
    ("missing file", "nope.csv", None, [], 1, "does not exist"),
    ("unknown dataset", "people", None, [], 1, ""),
    ("zero sample", "ok.csv", b"a\n1\n", ["--sample", "0"], 2, ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "name", "content", "extra", "code", "words"), BAD_SCANS, ids=[c[0] for c in BAD_SCANS]
)
def test_bad_scan_input_is_refused_cleanly(tmp_path: Path, case, name, content, extra, code, words):  # noqa: ANN001
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = run_privet("scan", path if content is not None or "." in name else name, *extra,
                        cwd=tmp_path)  # fmt: skip
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if code == 1:
        assert result.stderr.startswith("privet: error: ") and words in result.stderr


def test_odd_files_are_scanned(tmp_path: Path):
    one = tmp_path / "one.csv"
    one.write_text("email\nann@example.org\nbob@example.org\n")
    data = json.loads(invoke("scan", one, "--json").stdout)
    assert data["columns"][0]["category"] == "user.contact.email"
    nulls = tmp_path / "nulls.csv"
    nulls.write_text("id,empty\n1,\n2,\n")
    data = json.loads(invoke("scan", nulls, "--json").stdout)
    assert data["columns"][1]["evidence"]["values_scanned"] == 0
    big = tmp_path / "big.csv"
    big.write_text('note\n"' + "word " * 2_000_000 + 'call 415-555-0132"\nshort\n')
    result = invoke("scan", big, "--json")
    assert result.exit_code == 0 and "415-555" not in result.stdout


def test_wide_file_is_scanned(tmp_path: Path):
    # the small form of the 100,000-column test below (make test-slow)
    width = 5_000
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(width)) + "\n" + ",".join("1" * width) + "\n")
    data = json.loads(invoke("scan", wide, "--json").stdout)
    assert len(data["columns"]) == width


@pytest.mark.slow
def test_one_hundred_thousand_column_file(tmp_path: Path):
    width = 100_000
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(width)) + "\n" + ",".join("7" * width) + "\n")
    result = run_privet("scan", wide, "--json", timeout=600)
    assert result.returncode == 0 and len(json.loads(result.stdout)["columns"]) == width


# -- ingest runs the scan ---------------------------------------------------------------------


def test_ingest_stores_discovered_classification(ws: Workspace, people_csv: Path):
    ws.ingest(people_csv, name="p", owner="o", purposes=["x"], actor="a",
              categories={"email": "user.contact.email"})  # fmt: skip
    columns = {c.name: c for c in ws.dataset("p").versions[-1].columns}
    assert (columns["email"].source, columns["email"].category) == (
        "declared",
        "user.contact.email",
    )
    ssn = columns["ssn"]
    assert ssn.source == "discovered" and ssn.role == "direct_identifier"
    assert ssn.category == "user.government_id.national_identification_number"
    assert 0 < ssn.confidence <= 1
    assert columns["race"].category == "user.demographic.race_ethnicity"
    assert columns["fnlwgt"].role == "other"
    assert ws.dataset("p").classification == "restricted"


def test_declared_roles_win_and_no_scan_skips(ws: Workspace, people_csv: Path):
    ws.ingest(people_csv, name="p", owner="o", purposes=["x"], actor="a", roles={"ssn": "other"})
    columns = {c.name: c for c in ws.dataset("p").versions[-1].columns}
    assert (columns["ssn"].role, columns["ssn"].source) == ("other", "declared")
    ws.ingest(people_csv, name="q", owner="o", purposes=["x"], actor="a", scan=False)
    assert {c.category for c in ws.dataset("q").versions[-1].columns} == {None}


def test_ingest_no_scan_flag(project: Path, people_csv: Path, ws: Workspace):
    result = invoke("ingest", people_csv, "--name", "n", "--owner", "o", "--purpose", "p",
                    "--no-scan", "--json", workspace=project)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert {c["category"] for c in json.loads(result.stdout)["columns"]} == {None}


# -- annotate -----------------------------------------------------------------------------------


def test_annotate_corrects_logs_and_wins_over_later_scans(ws: Workspace, people_csv: Path):
    ws.ingest(people_csv, name="p", owner="o", purposes=["x"], actor="a")
    before = len(_log(ws))
    result = ws.scan.annotate(
        "p", "fnlwgt", category="user.financial", role="sensitive", actor="dpo"
    )
    assert (result.old_category, result.old_role) == (None, "other")
    column = next(c for c in ws.dataset("p").versions[-1].columns if c.name == "fnlwgt")
    assert (column.category, column.role, column.source) == ("user.financial", "sensitive",
                                                            "corrected")  # fmt: skip
    entries = _log(ws)
    assert len(entries) == before + 1
    entry = entries[-1]
    assert entry["event"] == "column.annotate" and entry["column"] == "fnlwgt"
    assert (entry["old_role"], entry["role"], entry["actor"]) == ("other", "sensitive", "dpo")
    assert ws.log.verify().size == len(entries)
    # A new version is scanned again, but the correction stays.
    ws.ingest(people_csv, name="p", owner="o", purposes=["x"], actor="a", new_version=True)
    latest = {c.name: c for c in ws.dataset("p").versions[-1].columns}
    assert (latest["fnlwgt"].category, latest["fnlwgt"].source) == ("user.financial", "corrected")


def test_annotate_lowers_the_level_only_when_nothing_else_requires_it(
    ws: Workspace, tmp_path: Path
):
    path = tmp_path / "t.csv"
    pl.DataFrame({"ethnicity": ["White", "Black", "Asian"] * 20, "n": list(range(60))}).write_csv(
        path
    )
    ws.ingest(path, name="t", owner="o", purposes=["x"], actor="a")
    assert ws.dataset("t").classification == "restricted"  # race: GDPR Art. 9
    result = ws.scan.annotate("t", "ethnicity", category=None, role="other", actor="dpo")
    assert (result.previous_classification, result.classification) == ("restricted",
                                                                       "confidential")  # fmt: skip
    ws.ingest(path, name="u", owner="o", purposes=["x"], actor="a",
              categories={"n": "user.health"})  # fmt: skip
    result = ws.scan.annotate("u", "ethnicity", category=None, role="other", actor="dpo")
    assert result.classification == "restricted"  # user.health still requires it
    ws.ingest(path, name="v", owner="o", purposes=["x"], actor="a", classification="restricted",
              scan=False)  # fmt: skip
    result = ws.scan.annotate("v", "n", category="user.contact.address.city", actor="dpo")
    assert result.classification == "restricted"  # raised by hand: stays


def test_annotate_refuses_bad_input(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    with pytest.raises(NotFound):
        ws.scan.annotate("people", "nope", category="user.name", actor="a")
    with pytest.raises(InvalidInput, match="did you mean"):
        ws.scan.annotate("people", "email", category="user.contact.emial", actor="a")
    with pytest.raises(InvalidInput, match="unknown role"):
        ws.scan.annotate("people", "email", category="user.contact.email", role="boss", actor="a")
    with pytest.raises(NotFound):
        ws.scan.annotate("ghost", "email", category="user.name", actor="a")


def test_datasets_group_keeps_list_and_show_and_adds_annotate(
    ws: Workspace, project: Path, people_csv: Path
):
    ingest_people(ws, people_csv)
    listing = invoke("datasets", "--json", workspace=project)
    assert [d["name"] for d in json.loads(listing.stdout)] == ["people"]
    shown = invoke("datasets", "people", "--json", workspace=project)
    assert json.loads(shown.stdout)["name"] == "people"
    assert invoke("datasets", "-w", project, "people").exit_code == 0
    result = invoke("datasets", "annotate", "people", "fnlwgt", "--category", "user.financial",
                    "--json", workspace=project)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["role"] == "sensitive"
    missing = invoke("datasets", "annotate", "people", "nope", "--role", "other",
                     workspace=project)  # fmt: skip
    assert missing.exit_code == 1 and "no column" in missing.stderr
    assert PEOPLE_CATEGORIES["email"] == "user.contact.email"
