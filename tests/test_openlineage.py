"""`privet lineage export`: OpenLineage RunEvents that validate against the official schema,
reach a real HTTP receiver unchanged, join raw → protected → model → synthetic in one graph,
and carry no raw value of the seeded personal data."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from privet import Workspace
from privet.account import facet_schemas
from privet.datasets import raw_people
from tests.conftest import PEOPLE_CATEGORIES, invoke

SPEC = Path(__file__).parent / "data" / "openlineage"
PRIVET_SCHEMAS = Path(__file__).parents[1] / "src" / "privet" / "account" / "schemas"

PLAN = """
quasi_identifiers: [age, sex, race, zip]
privacy: {k: 3, max_suppression: 0.3}
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
  city: drop
  state: drop
  notes: redact_text
  date_of_birth: {operator: generalize, level: 2}
"""
# What the plan above does to each column: the masking flag its column lineage must carry.
MASKED = {"email", "person_id", "ssn", "phone", "notes", "date_of_birth", "age", "zip"}
DROPPED = {"full_name", "street_address", "city", "state"}


@dataclass(frozen=True)
class Scenario:
    folder: Path
    keys: Path
    raw_csv: Path
    raw: pl.DataFrame
    events_file: Path
    events: list[dict[str, Any]]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """One workspace through the lifecycle by the CLI: ingest, protect, train, synth, audit,
    export; then `privet lineage export -o`."""
    root = tmp_path_factory.mktemp("openlineage")
    keys = root / "keys"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PRIVET_KEY_DIR", str(keys))
        env.setenv("PRIVET_USER", "alice")
        env.delenv("PRIVET_WORKSPACE", raising=False)
        raw = raw_people(400)
        raw_csv = root / "people.csv"
        raw.write_csv(raw_csv)
        (root / "project").mkdir()
        with Workspace.init(root / "project", actor="alice") as ws:
            ws.ingest(raw_csv, name="people", owner="alice", purposes=["training"],
                      actor="alice", subject_id="person_id", categories=PEOPLE_CATEGORIES,
                      legal_basis="contract", retention_days=365)  # fmt: skip
            ws.dp.set_budget("people", actor="alice", epsilon=10, delta=1e-6)
            folder = ws.folder
        plan = root / "plan.yaml"
        plan.write_text(PLAN, encoding="utf-8")
        steps = [
            ("protect", "people", "--plan", plan, "-o", "people-safe"),
            ("train", "people-safe", "--target", "income", "-o", "income-model", "--purpose",
             "training", "--epsilon", "1", "--epochs", "1", "--feature", "sex", "--feature",
             "education_num", "--keys", "income=<=50K,>50K", "--keys", "sex=Female,Male",
             "--bound", "education_num=1:16", "--seed", "1"),
            ("synth", "people-safe", "--epsilon", "1", "--method", "mst", "--columns",
             "sex,income", "-o", "people-synth", "--seed", "1"),
            ("audit", "income-model", "--attack", "loss", "--seed", "1"),
            ("query", "people-safe", 'SELECT COUNT(*) FROM "people-safe"', "--epsilon", "0.1",
             "--purpose", "training"),
            ("export", "people-safe", "-o", root / "shared.csv", "--purpose", "training"),
            ("lineage", "export", "-o", root / "events.ndjson"),
        ]  # fmt: skip
        for step in steps:
            result = invoke(*step, workspace=folder)
            assert result.exit_code == 0, (step[0], result.output)
        events_file = root / "events.ndjson"
        events = [json.loads(line) for line in events_file.read_text("utf-8").splitlines()]
        yield Scenario(folder, keys, raw_csv, raw, events_file, events)


@pytest.fixture
def keys_of(scenario: Scenario, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    """The scenario's workspace, openable in this test (its master key folder)."""
    monkeypatch.setenv("PRIVET_KEY_DIR", str(scenario.keys))
    return scenario


# -- (a) the official schema, and privet's own facet schemas ---------------------------------


def registry() -> Registry:
    resources = []
    for path in [*SPEC.glob("*.json"), *SPEC.glob("facets/*.json"), *PRIVET_SCHEMAS.glob("*.json")]:
        schema = json.loads(path.read_text("utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def validator(ref: str, reg: Registry) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=reg, format_checker=FormatChecker())


def facets_of(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every facet of an event, with its key."""
    groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for key in ("facets", "inputFacets", "outputFacets"):
            groups.append(dataset.get(key, {}))
    for group in groups:
        yield from group.items()


def test_every_event_and_facet_validates_against_the_spec(scenario: Scenario) -> None:
    reg = registry()
    event_schema = validator("https://openlineage.io/spec/2-0-2/OpenLineage.json", reg)
    seen_custom = set()
    for event in scenario.events:
        event_schema.validate(event)
        assert event["schemaURL"].endswith("OpenLineage.json#/$defs/RunEvent")
        for key, facet in facets_of(event):
            # Each facet against the schema its _schemaURL names, resolved from local files only.
            validator(facet["_schemaURL"], reg).validate(facet)
            if key.startswith("privet_"):
                assert facet["_schemaURL"].startswith("https://privet.invalid/spec/openlineage/")
                seen_custom.add(key)
            else:
                assert facet["_schemaURL"].startswith("https://openlineage.io/spec/")
    assert seen_custom == {"privet_governance", "privet_protection", "privet_run"}
    # The schemas the package ships (package data) are the ones validated against here.
    shipped = {s["$id"] for s in facet_schemas().values()}
    assert shipped == {
        json.loads(p.read_text("utf-8"))["$id"] for p in PRIVET_SCHEMAS.glob("*.json")
    }
    assert len(shipped) == 3


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("eventType",), "DONE"),  # not a run state
        (("run", "runId"), "run-1"),  # not a UUID
        (("run", "facets", "privet_run", "logIndex"), -1),  # privet's schema: an index
        (("run", "facets", "privet_run", "leakedValue"), "x"),  # privet's schema: no extras
    ],
)
def test_a_broken_event_fails_validation(scenario: Scenario, path: tuple[str, ...], value: Any):
    reg = registry()
    event = json.loads(json.dumps(scenario.events[1]))
    node = event
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValidationError):
        validator("https://openlineage.io/spec/2-0-2/OpenLineage.json", reg).validate(event)
        for _, facet in facets_of(event):
            validator(facet["_schemaURL"], reg).validate(facet)


def test_every_run_is_a_start_then_a_complete_with_a_stable_id(keys_of: Scenario) -> None:
    events = keys_of.events
    assert len(events) % 2 == 0
    for start, complete in zip(events[::2], events[1::2], strict=True):
        assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
        assert start["run"]["runId"] == complete["run"]["runId"]
        assert start["eventTime"] == complete["eventTime"]
    assert len({e["run"]["runId"] for e in events}) == len(events) // 2
    jobs = [e["job"]["name"] for e in events[1::2]]
    assert jobs == ["ingest/people", "protect/people-safe", "train/income-model",
                    "synth/people-synth", "audit/income-model", "query/people-safe",
                    "export/people-safe"]  # fmt: skip
    # A second export of the same log gives the same bytes (run ids come from log indexes).
    again = keys_of.events_file.with_name("again.ndjson")
    assert invoke("lineage", "export", "-o", again, workspace=keys_of.folder).exit_code == 0
    assert again.read_bytes() == keys_of.events_file.read_bytes()
    # Each export is in the audit log with the hash of what it wrote.
    with Workspace.open(keys_of.folder) as ws:
        logged = [r.event for r in ws.log.records() if r.event["event"] == "lineage.export"]
    assert logged[-1]["sha256"] == hashlib.sha256(again.read_bytes()).hexdigest()
    assert logged[-1]["events"] == len(events) and logged[-1]["destination"] == "file:again.ndjson"


# -- (b) a real receiver on loopback ---------------------------------------------------------


class Receiver:
    """An OpenLineage HTTP receiver (as Marquez: POST /api/v1/lineage, 201) in a thread."""

    def __init__(self, status: int = 201) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.types: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers["Content-Length"])
                outer.bodies.append(self.rfile.read(length))
                outer.paths.append(self.path)
                outer.types.append(self.headers["Content-Type"])
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_receiver_gets_exactly_what_the_file_holds(keys_of: Scenario) -> None:
    with Receiver() as receiver:
        result = invoke("lineage", "export", "--url", receiver.url, "--json",
                        workspace=keys_of.folder)  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    lines = keys_of.events_file.read_bytes().splitlines()
    # Marquez accepts these namespace names only (its NamespaceName pattern).
    for event in keys_of.events:
        names = [event["job"], *event["inputs"], *event.get("outputs", [])]
        assert all(re.fullmatch(r"[a-zA-Z:;=/0-9_\-.]{1,1024}", n["namespace"]) for n in names)
    assert receiver.bodies == lines
    assert set(receiver.paths) == {"/api/v1/lineage"}
    assert set(receiver.types) == {"application/json"}
    assert summary["events"] == len(lines) and summary["runs"] == len(lines) // 2
    assert summary["sha256"] == hashlib.sha256(keys_of.events_file.read_bytes()).hexdigest()


def test_a_url_with_a_path_is_the_endpoint(keys_of: Scenario) -> None:
    with Receiver(status=200) as receiver:
        result = invoke("lineage", "export", "--url", f"{receiver.url}/hooks/ol?team=dpo",
                        workspace=keys_of.folder)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert set(receiver.paths) == {"/hooks/ol?team=dpo"}
    assert len(receiver.bodies) == len(keys_of.events)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/x", "is not an OpenLineage receiver URL"),
        ("http://[::1", "is not an OpenLineage receiver URL"),
        ("http://127.0.0.1:99999", "is not an OpenLineage receiver URL"),
        ("not a url", "is not an OpenLineage receiver URL"),
    ],
)
def test_a_bad_url_is_one_sentence(keys_of: Scenario, url: str, message: str) -> None:
    result = invoke("lineage", "export", "--url", url, workspace=keys_of.folder)
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_an_unreachable_or_refusing_receiver_is_one_sentence(keys_of: Scenario) -> None:
    with Receiver() as gone:
        url = gone.url  # the port is closed once the receiver stops
    result = invoke("lineage", "export", "--url", url, "--timeout", "2", workspace=keys_of.folder)
    assert result.exit_code == 1
    assert "could not be reached" in result.stderr and result.stderr.count("\n") == 1
    with Receiver(status=400) as refusing:
        result = invoke("lineage", "export", "--url", refusing.url, workspace=keys_of.folder)
    assert result.exit_code == 1
    assert "answered HTTP 400" in result.stderr and result.stderr.count("\n") == 1
    assert len(refusing.bodies) == 1  # stopped at the first refusal


def test_usage_and_destination_errors(keys_of: Scenario) -> None:
    folder = keys_of.folder
    assert invoke("lineage", "export", workspace=folder).exit_code == 2
    assert invoke("lineage", "export", "-o", "-", "--json", workspace=folder).exit_code == 2
    exists = invoke("lineage", "export", "-o", keys_of.events_file, workspace=folder)
    assert exists.exit_code == 1 and "--force" in exists.stderr
    to_stdout = invoke("lineage", "export", "-o", "-", workspace=folder)
    assert to_stdout.exit_code == 0
    assert to_stdout.stdout.encode() == keys_of.events_file.read_bytes()


# -- (c) one connected graph -----------------------------------------------------------------


def test_raw_protected_model_and_synthetic_are_one_graph(scenario: Scenario) -> None:
    completes = [e for e in scenario.events if e["eventType"] == "COMPLETE"]
    namespaces = {d["namespace"] for e in completes for d in [*e["inputs"], *e["outputs"]]}
    assert len(namespaces) == 1
    # Directed edges input → output, and the undirected components, built here from the events.
    edges = {(i["name"], o["name"]) for e in completes for i in e["inputs"] for o in e["outputs"]}
    nodes = {n for edge in edges for n in edge} | {
        i["name"] for e in completes for i in e["inputs"]
    }
    neighbours: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        neighbours[a].add(b)
        neighbours[b].add(a)
    for event in completes:  # an audit has no output: its input is still part of the graph
        assert all(i["name"] in nodes for i in event["inputs"])
    raw_file = f"file:sha256:{hashlib.sha256(scenario.raw_csv.read_bytes()).hexdigest()}"
    reached, frontier = {raw_file}, [raw_file]
    while frontier:
        for n in neighbours[frontier.pop()] - reached:
            reached.add(n)
            frontier.append(n)
    assert {
        raw_file,
        "people@1",
        "people-safe@1",
        "model:income-model",
        "people-synth@1",
    } <= reached
    assert reached == nodes  # one component
    path = [raw_file, "people@1", "people-safe@1", "model:income-model"]
    assert set(zip(path, path[1:], strict=False)) <= edges
    assert ("people-safe@1", "people-synth@1") in edges
    query = next(e for e in completes if e["job"]["name"] == "query/people-safe")
    (release,) = query["outputs"]
    assert release["name"].startswith("release:") and release["name"] in reached
    assert query["run"]["facets"]["privet_run"]["epsilon"] <= 0.1
    audit = next(e for e in completes if e["job"]["name"] == "audit/income-model")
    assert [i["name"] for i in audit["inputs"]] == ["model:income-model"]
    assert audit["run"]["facets"]["privet_run"]["measures"]["auc"] >= 0


def test_column_lineage_says_what_was_masked_and_generalized(scenario: Scenario) -> None:
    protect = next(e for e in scenario.events if e["job"]["name"] == "protect/people-safe"
                   and e["eventType"] == "COMPLETE")  # fmt: skip
    (output,) = protect["outputs"]
    fields = output["facets"]["columnLineage"]["fields"]
    schema = [f["name"] for f in output["facets"]["schema"]["fields"]]
    assert DROPPED.isdisjoint(schema) and DROPPED.isdisjoint(fields)
    for column in set(scenario.raw.columns) - DROPPED:
        (source,) = fields[column]["inputFields"]
        (how,) = source["transformations"]
        assert (source["name"], source["field"]) == ("people@1", column)
        assert how["masking"] is (column in MASKED), column
        assert how["subtype"] == ("TRANSFORMATION" if column in MASKED else "IDENTITY"), column
    assert "pseudonym" in fields["email"]["inputFields"][0]["transformations"][0]["description"]
    assert "tokenized" in fields["ssn"]["inputFields"][0]["transformations"][0]["description"]
    age = fields["age"]["inputFields"][0]["transformations"][0]["description"]
    assert age.startswith("generalized to level")
    protection = output["facets"]["privet_protection"]
    assert protection["k"] == 3 and protection["kAchieved"] >= 3
    # Suppressed rows: the count recomputed from the row counts of the two versions.
    ingest = next(e for e in scenario.events if e["job"]["name"] == "ingest/people"
                  and e["eventType"] == "COMPLETE")  # fmt: skip
    rows_in = ingest["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"]
    rows_out = output["outputFacets"]["outputStatistics"]["rowCount"]
    assert rows_in == scenario.raw.height
    assert protection.get("suppressedRows", 0) == rows_in - rows_out
    synth = next(e for e in scenario.events if e["job"]["name"] == "synth/people-synth"
                 and e["eventType"] == "COMPLETE")  # fmt: skip
    synth_fields = synth["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert set(synth_fields) == {"sex", "income"}
    for entry in synth_fields.values():
        assert entry["inputFields"][0]["transformations"][0]["masking"] is True
    assert synth["outputs"][0]["facets"]["privet_protection"]["epsilon"] <= 1


def test_governance_facets_carry_purpose_basis_retention_and_categories(scenario: Scenario):
    ingest = next(e for e in scenario.events if e["job"]["name"] == "ingest/people"
                  and e["eventType"] == "COMPLETE")  # fmt: skip
    governance = ingest["outputs"][0]["facets"]["privet_governance"]
    assert governance["purposes"] == ["training"]
    assert governance["legalBasis"] == "contract" and governance["retentionDays"] == 365
    assert governance["subjectIdColumn"] == "person_id" and governance["owner"] == "alice"
    for column, category in PEOPLE_CATEGORIES.items():
        assert governance["columns"][column]["category"] == category
        assert category in governance["dataCategories"]
    train = next(e for e in scenario.events if e["job"]["name"] == "train/income-model"
                 and e["eventType"] == "COMPLETE")  # fmt: skip
    model = train["outputs"][0]["facets"]
    assert model["privet_governance"]["purposes"] == ["training"]
    assert set(model["privet_governance"]["columns"]) == {"sex", "education_num", "income"}
    assert model["privet_protection"]["differentiallyPrivate"] is True
    assert model["privet_protection"]["epsilon"] <= 1
    used = {f["field"] for f in model["columnLineage"]["dataset"]}
    assert used == {"sex", "education_num", "income"}
    export = next(e for e in scenario.events if e["job"]["name"] == "export/people-safe"
                  and e["eventType"] == "COMPLETE")  # fmt: skip
    run = export["run"]["facets"]["privet_run"]
    assert (run["purpose"], run["channel"], run["actor"]) == ("training", "file:csv", "alice")
    shared = pl.read_csv(scenario.events_file.with_name("shared.csv"))
    assert export["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == shared.height


# -- (d) no raw value ------------------------------------------------------------------------


def test_no_raw_value_of_the_seeded_personal_data_is_in_the_events(scenario: Scenario) -> None:
    text = scenario.events_file.read_text("utf-8")
    raw = scenario.raw
    values: set[str] = set()
    for column, dtype in raw.schema.items():
        if dtype == pl.String or dtype == pl.Date:
            values |= {str(v) for v in raw[column].drop_nulls().unique().to_list()}
    # Short category codes ("Male", "<=50K") would match JSON keys by chance; every identifier,
    # name, address, note and longer category value is searched for, as a whole token (a zip
    # code may occur inside a float's digits, "Private" inside "differentiallyPrivate").
    searched = {v for v in values if len(v) >= 5}
    assert len(searched) > 1000
    leaked = sorted(
        v
        for v in searched
        if v in text and re.search(rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])", text)
    )
    assert leaked == []
    # The synthetic version's category domains (values, in its lineage facts) stay out too.
    assert "Female" not in text and ">50K" not in text


# -- forgetting and refusals -----------------------------------------------------------------


def test_retention_erasure_and_refusals_are_runs_too(project: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from privet import PolicyDenied
    from privet.forget import EraseRequest
    from tests.forget_checks import Clock, build_expiring

    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    clock = Clock(start)
    with Workspace.init(project, actor="alice", clock=clock) as ws:
        frames = build_expiring(ws, clock, tmp_path, later=(10,))
        clock.now = start + timedelta(days=30.5)  # people@1 expired, people@2 lives
        destroyed = ws.forget.retention(actor="alice").destroyed
        ws.access.set_policy("erasure_roles: [dpo]\n", actor="alice")
        ws.access.add_user("dana", roles=["dpo"], actor="alice")
        ws.access.add_user("alice", roles=["owner"], actor="alice")
        subject = str(frames[2]["person_id"][0])
        erased = ws.forget.erase(EraseRequest(subjects=[subject], reason="Art. 17"), actor="dana")
        with pytest.raises(PolicyDenied):
            ws.export("people", tmp_path / "x.csv", purpose="marketing", actor="alice")
        out = tmp_path / "events.ndjson"
        ws.openlineage.export(actor="alice", path=out)
    text = out.read_text("utf-8")
    events = [json.loads(line) for line in text.splitlines()]
    reg = registry()
    for event in events:
        validator("https://openlineage.io/spec/2-0-2/OpenLineage.json", reg).validate(event)
        for _, facet in facets_of(event):
            validator(facet["_schemaURL"], reg).validate(facet)
    finals = [e for e in events if e["eventType"] != "START"]

    def changes(activity: str) -> dict[str, str]:
        return {
            o["name"]: o["facets"]["lifecycleStateChange"]["lifecycleStateChange"]
            for e in finals
            if e["job"]["name"].startswith(f"{activity}/")
            for o in e["outputs"]
        }

    # What retention reported destroying, each a DROP of that dataset (a model: model:NAME).
    expected = {(f"model:{d.name}" if d.kind == "model" else d.name) for d in destroyed}
    assert changes("retention") == dict.fromkeys(expected, "DROP")
    assert {"people@1", "model:m1"} <= expected
    # The erasure rewrote what still held the subject: an OVERWRITE of each rewritten version.
    rewritten = {f"{s['dataset']}@{s['version']}" for s in erased.receipt["stores"]
                 if s["action"] == "rewritten"}  # fmt: skip
    assert rewritten and set(changes("erase")) == rewritten
    assert set(changes("erase").values()) == {"OVERWRITE"}
    erase_runs = [e for e in finals if e["job"]["name"].startswith("erase/")]
    assert all(e["run"]["facets"]["privet_run"]["rowsRemoved"] >= 1 for e in erase_runs)
    assert all(e["run"]["facets"]["privet_run"]["request"] == erased.id for e in erase_runs)
    # The refused export FAILed, with its reason and no output.
    (failed,) = [e for e in finals if e["eventType"] == "FAIL"]
    assert failed["job"]["name"] == "export/people" and failed["outputs"] == []
    assert failed["run"]["facets"]["privet_run"]["purpose"] == "marketing"
    assert failed["run"]["facets"]["privet_run"]["reason"]
    # The erased person is named nowhere (only a commitment to them is in the log).
    assert not re.search(rf"(?<![A-Za-z0-9]){re.escape(subject)}(?![A-Za-z0-9])", text)
