"""The privacy impact assessment (issue 17, acceptance 3).

A workspace with the bundled people data, a protected copy, a DP query, a tiny model and its
membership audit. Then: every number the report shows is re-derived by running the command
the report names (the CLI with --json) and evaluating its JMESPath with the jmespath library;
the HTML loads in headless Chromium with no broken image or console error and a non-blank
screenshot; the PDF has the Art. 35(7) sections; no raw value of the seeded personal data
appears in the HTML or the PDF.
"""

from __future__ import annotations

import io
import json
import math
import re
import shlex
import warnings
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jmespath
import polars as pl
import pypdf
import pytest
from PIL import Image
from selenium import webdriver

from privet import Workspace
from privet.attacks import MembershipAuditRequest, SynthEvaluationRequest
from privet.datasets import raw_people
from privet.deid import ProtectRequest
from privet.dp import QueryRequest, SynthRequest, TrainRequest
from tests.conftest import PEOPLE_CATEGORIES, ingest_people, invoke

SECTIONS = (
    "(a) Systematic description of the processing and its purposes",
    "(b) Necessity and proportionality of the processing",
    "(c) Risks to the rights and freedoms of data subjects",
    "(d) Measures envisaged to address the risks",
)
SYNTH_COLUMNS = ["age", "sex", "race", "education", "income"]
# The seeded personal data no report may show.
IDENTIFYING = (
    "person_id",
    "full_name",
    "email",
    "phone",
    "ssn",
    "street_address",
    "notes",
    "date_of_birth",
)


class _Facts(HTMLParser):
    """Every element with a data-command: (command, path, value, text shown)."""

    def __init__(self) -> None:
        super().__init__()
        self.facts: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._cells: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-command" in found:
            self._open = {
                "tag": tag,
                "command": found["data-command"],
                "path": found["data-path"],
                "label": found.get("data-label"),
                "value": json.loads(found["data-value"] or "null"),
                "text": [],
            }
            self.facts.append(self._open)

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and tag == self._open["tag"]:
            self._open = None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("report")
    keys = base / "keys"
    source = base / "people.csv"
    raw_people(300).write_csv(source)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVET_KEY_DIR", str(keys))
        project = base / "project"
        project.mkdir()
        ws = Workspace.init(project, actor="tester")
        with ws:
            ws.ingest(
                source,
                name="people",
                owner="tester",
                purposes=["training", "analytics"],
                actor="tester",
                subject_id="person_id",
                categories=PEOPLE_CATEGORIES,
                retention_days=365,
            )
            protect = ProtectRequest(
                k=5, quasi_identifiers=["age", "sex", "race"], max_suppression=0.3
            )
            ws.deid.protect("people", protect, output="people_k5", actor="tester")
            ws.dp.set_budget("people", actor="tester", epsilon=10.0)
            ws.dp.query(
                "people",
                QueryRequest(
                    sql="SELECT COUNT(*) AS n FROM people", epsilon=0.5, purpose="analytics"
                ),
                actor="tester",
            )
            holdout = base / "holdout.csv"
            raw_people(600).slice(300, 300).write_csv(holdout)
            ws.ingest(
                holdout,
                name="people_holdout",
                owner="tester",
                purposes=["analytics"],
                actor="tester",
                subject_id="person_id",
                categories=PEOPLE_CATEGORIES,
            )
            ws.dp.synthesize(
                "people",
                SynthRequest(
                    name="people_syn",
                    method="independent",
                    purpose="analytics",
                    columns=SYNTH_COLUMNS,
                    seed=1,
                ),  # fmt: skip
                actor="tester",
            )
            # No seed: the workspace draws one and keeps it with the result for the report.
            ws.audit.evaluate_synthetic(
                SynthEvaluationRequest(
                    real="people",
                    synthetic="people_syn",
                    holdout="people_holdout",
                    columns=SYNTH_COLUMNS,
                    n_attacks=50,
                ),  # fmt: skip
                actor="tester",
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ws.dp.train(
                    "people",
                    TrainRequest(
                        name="m1",
                        target="income",
                        purpose="training",
                        epochs=1,
                        seed=1,
                        features=["age", "education_num"],
                        no_dp=True,
                    ),
                    actor="tester",
                )
                ws.audit.run("m1", MembershipAuditRequest(attack="loss", seed=3), actor="tester")
                ws.dp.train(  # a DP model: its ε, δ and noise are on the card
                    "people",
                    TrainRequest(
                        name="mdp",
                        target="income",
                        purpose="training",
                        epochs=1,
                        seed=1,
                        features=["age", "education_num"],
                        epsilon=2.0,
                        keys={"income": ["<=50K", ">50K"]},
                        bounds={"age": (17, 90), "education_num": (1, 16)},
                    ),
                    actor="tester",
                )
    return {"project": project, "keys": keys, "source": source, "base": base}


@pytest.fixture(autouse=True)
def _keys(_isolated_env: None, built: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVET_KEY_DIR", str(built["keys"]))


@pytest.fixture(scope="module")
def reports(built: dict[str, Path]) -> dict[str, Path]:
    """The reports of the dataset and of the model, as the CLI writes them (HTML and PDF)."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PRIVET_KEY_DIR", str(built["keys"]))
        mp.setenv("PRIVET_USER", "tester")
        for name in ("people", "m1"):
            html = built["base"] / f"{name}.html"
            result = invoke("report", name, "-o", html, "--pdf", workspace=built["project"])
            assert result.exit_code == 0, result.output
            out[name] = html
        dp_model = built["base"] / "mdp.html"
        result = invoke("report", "mdp", "-o", dp_model, workspace=built["project"])
        assert result.exit_code == 0, result.output
        out["mdp"] = dp_model
        every = built["base"] / "all.html"
        result = invoke("report", "--all", "-o", every, workspace=built["project"])
        assert result.exit_code == 0, result.output
        out["all"] = every
    return out


def _run_json(command: str, project: Path, seen: dict[str, Any]) -> Any:
    if command not in seen:
        argv = shlex.split(command)
        assert argv[0] == "privet" and "--json" in argv, command
        result = invoke(*argv[1:], workspace=project)
        assert result.exit_code == 0, (command, result.output)
        seen[command] = json.loads(result.stdout)
    return seen[command]


def _same(shown: Any, derived: Any) -> bool:
    if isinstance(shown, float) or isinstance(derived, float):
        if shown is None or derived is None:
            return shown is derived
        return math.isclose(float(shown), float(derived), rel_tol=1e-12, abs_tol=1e-15)
    return shown == derived


def _shown(value: Any) -> str:
    """How the report must print a value, written here from its description."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) if value else "—"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if value == 0 or 1e-3 <= abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


@pytest.mark.parametrize("name", ["people", "m1", "mdp", "all"])
def test_every_number_is_rederived_from_the_command_it_names(
    built: dict[str, Path], reports: dict[str, Path], name: str
) -> None:
    parser = _Facts()
    parser.feed(reports[name].read_text(encoding="utf-8"))
    facts = parser.facts
    numbers = [f for f in facts if isinstance(f["value"], int | float)]
    assert len(numbers) >= {"people": 40, "m1": 12, "mdp": 12, "all": 60}[name]
    seen: dict[str, Any] = {}
    for fact in facts:
        output = _run_json(fact["command"], built["project"], seen)
        derived = jmespath.search(fact["path"], output)
        assert _same(fact["value"], derived), (fact["command"], fact["path"], fact["value"])
        text = "".join(fact["text"]).strip()
        assert text.startswith(_shown(fact["value"])), (fact["path"], text)
    # The headline facts are there, and some are not trivial.
    paths = {f["path"] for f in facts}
    if name == "all":  # every dataset and model, each in the overview with its own facts
        text = reports[name].read_text(encoding="utf-8")
        for subject in ("dataset-people", "dataset-people_k5", "model-m1"):
            assert f'href="#{subject}"' in text and f'id="{subject}"' in text
    elif name == "people":
        for path in (
            "k",
            "prosecutor_risk_max",
            "marketer_risk",
            "epsilon_spent",
            "epsilon_remaining",
            "risk_histogram[7].records",
            "privacy.singling_out.risk",
            "privacy.membership_auc",
        ):
            assert path in paths, path
        synth = [f for f in facts if f["command"].startswith("privet synth evaluate people@1")]
        assert synth and all("--seed" in f["command"] for f in synth)
        by_label = {f["label"]: f["value"] for f in facts}
        # What the fixture made: a protected and a synthetic copy, two models, one DP query.
        assert by_label["Datasets derived from it"] == 2
        assert by_label["Protected (de-identified) datasets made from it"] == 1
        assert by_label["Models trained on it"] == 2
        assert by_label["DP releases"] >= 2  # the query, the DP model (and its preprocessing)
        assert by_label["Retention"] == 365
        spent = next(f["value"] for f in facts if f["path"] == "epsilon_spent")
        assert 2.4 < spent <= 2.5 + 1e-9  # the query's 0.5 and the DP model's 2
        reads = next(f for f in facts if f["path"].startswith("length(entries[?event=='read'"))
        assert reads["value"] >= 3  # protect, query, training, the audit and risk reads
    if name == "mdp":
        epsilon = next(f["value"] for f in facts if f["path"] == "privacy.epsilon")
        noise = next(f["value"] for f in facts if f["path"] == "privacy.noise_multiplier")
        assert 0 < epsilon <= 2.0 and noise > 0
    if name == "m1":
        assert "audits[0].auc" in paths and "privacy.differentially_private" in paths
    # The risk the report states agrees with an independent count on the rows themselves.
    if name == "people":
        frame = pl.read_csv(built["source"], infer_schema_length=0)
        qis = next(f["value"] for f in facts if f["path"] == "quasi_identifiers")
        sizes = frame.group_by(qis).len().get_column("len")
        k = next(f["value"] for f in facts if f["path"] == "k")
        assert k == sizes.min()
        unique = next(f["value"] for f in facts if f["path"] == "sample_uniques")
        assert math.isclose(unique, (sizes == 1).sum() / frame.height)


@pytest.mark.parametrize("name", ["people", "m1", "all"])
def test_the_html_loads_in_chromium_without_a_broken_picture_or_console_error(
    reports: dict[str, Path], browser: webdriver.Chrome, name: str
) -> None:
    browser.get(reports[name].as_uri())
    pictures = browser.execute_script(
        "return [document.images.length, "
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length, "
        "document.querySelectorAll('figure svg').length, document.scripts.length]"
    )
    images, broken, svgs, scripts = pictures
    assert broken == 0 and scripts == 0
    assert images + svgs >= 2  # people: lineage, risk histogram, ledger; m1: lineage and ROC
    if name == "people":
        assert svgs >= 3  # lineage, risk histogram, ledger
    else:
        assert images == 1  # the ROC curve privet audit drew, inlined as a data: URI
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    colours = shot.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 10
    # Nothing is fetched from elsewhere: every resource is inline, and there is no script.
    html = reports[name].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//|file:)""", html, re.I)
    assert not re.search(r"""url\(\s*["']?(?!#)|@import""", html, re.I)  # url(#id) is inline
    assert "<script" not in html.lower()


@pytest.mark.parametrize("name", ["people", "m1"])
def test_the_pdf_has_the_article_35_sections_and_fields_to_fill(
    reports: dict[str, Path], name: str
) -> None:
    text = _pdf_text(reports[name].with_suffix(".pdf"))
    flat = " ".join(text.split())
    for heading in SECTIONS:
        assert heading in flat, heading
    assert "TO FILL BY A PERSON" in flat
    assert f"privet {'risk people@1' if name == 'people' else 'models m1'} --json" in flat


def _pdf_text(path: Path) -> str:
    return "".join(page.extract_text() or "" for page in pypdf.PdfReader(path).pages)


def test_no_seeded_personal_value_appears_in_the_html_or_the_pdf(
    built: dict[str, Path], reports: dict[str, Path]
) -> None:
    frames = [
        pl.read_csv(path, infer_schema_length=0)
        for path in (built["source"], built["base"] / "holdout.csv")
    ]
    values = {
        v
        for frame in frames
        for column in IDENTIFYING
        for v in frame.get_column(column).drop_nulls().to_list()
        if len(v) >= 6
    }
    assert len(values) > 2000
    # Values inside free text (an e-mail in a note) are found on their own.
    texts = []
    for path in reports.values():
        texts.append(path.read_text(encoding="utf-8"))
        if path.with_suffix(".pdf").exists():
            texts.append(_pdf_text(path.with_suffix(".pdf")))
    assert len(texts) == 6  # four pages, two PDFs
    for text in texts:
        leaked = [v for v in values if v in text]
        assert leaked == [], leaked[:3]


def test_a_stored_measurement_is_reused_until_its_inputs_change(
    built: dict[str, Path], reports: dict[str, Path]
) -> None:
    first = invoke("report", "people", "--json", workspace=built["project"])
    assert first.exit_code == 0, first.output
    again = json.loads(first.stdout)["assessments"][0]
    assert again["measured"] == 0 and again["reused"] >= 3  # risk, histogram, ledger figure
    # The read counts now come from the stored count over the log's first entries, extended
    # by the entries after them: still equal to a count over the whole log.
    seen: dict[str, Any] = {}
    access = [f for s in again["sections"] for b in s["blocks"] for f in b["facts"]
              if f["command"].startswith("privet log show")]  # fmt: skip
    assert len(access) >= 4 and any(f["value"] for f in access[1:])
    for fact in access:
        output = _run_json(fact["command"], built["project"], seen)
        assert jmespath.search(fact["path"], output) == fact["value"], fact
    changed = invoke(
        "datasets",
        "annotate",
        "people",
        "fnlwgt",
        "--role",
        "quasi_identifier",
        workspace=built["project"],
    )
    assert changed.exit_code == 0, changed.output
    try:
        after = json.loads(invoke("report", "people", "--json", workspace=built["project"]).stdout)
        assert after["assessments"][0]["measured"] >= 1  # the risk, anew (same histogram: reused)
        facts = [
            f for s in after["assessments"][0]["sections"] for b in s["blocks"] for f in b["facts"]
        ]
        qis = next(f["value"] for f in facts if f["path"] == "quasi_identifiers")
        assert "fnlwgt" in qis
    finally:
        invoke(
            "datasets",
            "annotate",
            "people",
            "fnlwgt",
            "--role",
            "other",
            workspace=built["project"],
        )


def test_bad_requests_are_one_sentence(
    built: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = invoke("report", "nosuch", "-o", tmp_path / "r.html", workspace=built["project"])
    assert missing.exit_code == 1
    assert missing.stderr.strip() == (
        "privet: error: no dataset or model named 'nosuch' in this workspace"
    )
    usage = invoke("report", "people", workspace=built["project"])
    assert usage.exit_code == 2
    monkeypatch.setenv("PATH", str(tmp_path))  # no Chromium to be found
    monkeypatch.delenv("PRIVET_CHROMIUM", raising=False)
    nopdf = invoke("report", "m1", "-o", tmp_path / "m.html", "--pdf", workspace=built["project"])
    assert nopdf.exit_code == 1
    assert "apt-get install chromium" in nopdf.stderr and "Traceback" not in nopdf.stderr
    assert (tmp_path / "m.html").is_file() and not (tmp_path / "m.pdf").exists()


def test_the_risk_histogram_agrees_with_a_count_of_the_rows(built: dict[str, Path]) -> None:
    """`privet risk --json`'s risk_histogram (drawn in the report), checked with
    quasi-identifiers whose classes have very different sizes: each record's prosecutor risk
    is 1 / its class's size, counted here with plain Python on the rows the broker serves."""
    result = invoke("risk", "people", "--qi", "sex,race,relationship", "--json",
                    workspace=built["project"])  # fmt: skip
    assert result.exit_code == 0, result.output
    measured = json.loads(result.stdout)
    with Workspace.open(built["project"]) as ws:
        frame = ws.read("people", purpose="analytics", actor="tester")
    keys = [tuple(row) for row in frame.select(measured["quasi_identifiers"]).iter_rows()]
    sizes = Counter(keys)
    risks = [1 / sizes[key] for key in keys]
    edges = (0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.34, 0.5, 1.0)
    expected = [
        sum(1 for r in risks if low < r <= high) / len(risks)
        for low, high in zip(edges, edges[1:], strict=False)
    ]
    bands = measured["risk_histogram"]
    assert [(b["low"], b["high"]) for b in bands] == list(zip(edges, edges[1:], strict=False))
    assert [b["records"] for b in bands] == pytest.approx(expected, abs=1e-12)
    assert sum(1 for share in expected if share > 0) >= 3  # not a one-bar histogram
    assert min(sizes.values()) == measured["k"]


def test_a_dataset_whose_versions_were_destroyed_is_reported_without_its_rows(
    project: Path, people_csv: Path
) -> None:
    """After retention destroyed its only version, the report says so, counts it, and
    measures nothing (there are no rows left); its facts still re-derive."""
    with Workspace.init(project, actor="tester") as ws:
        ws.ingest(people_csv, name="old", owner="tester", purposes=["analytics"],
                  actor="tester", retention_days=1, scan=False,
                  roles={"age": "quasi_identifier", "sex": "quasi_identifier"})  # fmt: skip
    later = datetime.now(UTC) + timedelta(days=3)
    with Workspace.open(project, clock=lambda: later) as ws:
        assert len(ws.forget.retention(actor="tester").destroyed) == 1
    result = invoke("report", "old", "--json", workspace=project)
    assert result.exit_code == 0, result.output
    (assessment,) = json.loads(result.stdout)["assessments"]
    blocks = [b for s in assessment["sections"] for b in s["blocks"]]
    assert any("every version was destroyed" in m for b in blocks for m in b["missing"])
    assert assessment["measured"] == 1  # the ledger's picture: no risk, no histogram
    facts = [f for b in blocks for f in b["facts"]]
    assert not any(f["command"].startswith("privet risk") for f in facts)
    destroyed = next(f for f in facts if f["label"].startswith("Versions destroyed"))
    assert destroyed["value"] == 1
    seen: dict[str, Any] = {}
    for fact in facts:
        derived = jmespath.search(fact["path"], _run_json(fact["command"], project, seen))
        assert _same(fact["value"], derived), fact


@pytest.mark.postgres
def test_the_report_on_postgresql_stores_and_reuses_its_measurements(
    project: Path, people_csv: Path, database_url: str
) -> None:
    """The report_facts table (migration 0011) on a real PostgreSQL server: a second report
    reuses the stored risk, and every fact still re-derives."""
    with Workspace.init(project, actor="tester", database_url=database_url) as ws:
        ingest_people(ws, people_csv)
    first = invoke("report", "people", "--json", workspace=project)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["assessments"][0]["measured"] >= 2
    again = invoke("report", "people", "--json", workspace=project)
    (assessment,) = json.loads(again.stdout)["assessments"]
    assert assessment["measured"] == 0 and assessment["reused"] >= 3
    seen: dict[str, Any] = {}
    facts = [f for s in assessment["sections"] for b in s["blocks"] for f in b["facts"]]
    assert any(f["path"] == "k" for f in facts)
    for fact in facts:
        derived = jmespath.search(fact["path"], _run_json(fact["command"], project, seen))
        assert _same(fact["value"], derived), fact
