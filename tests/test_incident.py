"""Incident scoping (issue 17, acceptance 1): a seeded incident, recomputed by the test.

A test actor (``mallory``, an analyst with grants and an API token) reads three datasets
through two views — through the library and through the real HTTP server on loopback —
exports one to a file and trains a model. The test keeps its own record of what it did (the
frames it received, the rows of the files it wrote) and recomputes the datasets, rows and
distinct people from the data files with Polars, never through privet's scoping code.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from privet import Workspace
from privet.deid import ProtectRequest, parse_plan
from privet.dp import TrainRequest
from privet.errors import PolicyDenied
from privet.policy import GrantRequest
from tests.conftest import invoke
from tests.server_support import ServerProcess

POLICY = """
approver_roles: [steward]
rules:
  - roles: [analyst]
    views: [raw, masked, aggregate]
    purposes: [analytics, training]
"""
PEOPLE_CATEGORIES = {
    "email": "user.contact.email",
    "full_name": "user.name",
    "ssn": "user.government_id.national_identification_number",
    "diagnosis": "user.health.medical_diagnosis",
}


def _frames(tmp: Path) -> dict[str, pl.DataFrame]:
    """Three tables: ``patients`` (one row per person, subject id ``pid``), ``visits``
    (several rows per person, a subset of the patients and some others, subject id ``pid``),
    ``survey`` (each row a person, no subject id)."""
    n = 240
    patients = pl.DataFrame(
        {
            "pid": [f"P{i:05d}" for i in range(n)],
            "full_name": [f"Zorblat Quenty{i:04d}" for i in range(n)],
            "email": [f"zq{i:04d}@seeded-mail.example" for i in range(n)],
            "ssn": [f"9{i:02d}-7{i % 10}-{4000 + i}" for i in range(n)],
            "age": [20 + (i * 7) % 60 for i in range(n)],
            "diagnosis": [["flu", "asthma", "diabetes"][i % 3] for i in range(n)],
            "income": [["<=50K", ">50K"][(i * 5) % 7 % 2] for i in range(n)],
        }
    )
    visit_people = [f"P{i:05d}" for i in range(100, 300)]  # 140 shared, 60 only here
    visits = pl.DataFrame(
        {
            "pid": [p for p in visit_people for _ in range(3)],
            "clinic": [f"C{j % 5}" for j in range(len(visit_people) * 3)],
            "cost": [float(10 + j % 90) for j in range(len(visit_people) * 3)],
        }
    )
    survey = pl.DataFrame(
        {
            "age_band": [["18-30", "31-50", "51+"][i % 3] for i in range(75)],
            "score": [i % 10 for i in range(75)],
            "email": [f"sv{i:03d}@seeded-survey.example" for i in range(75)],
        }
    )
    out = {"patients": patients, "visits": visits, "survey": survey}
    for name, frame in out.items():
        frame.write_csv(tmp / f"{name}.csv")
    return out


def _build(project: Path, tmp: Path) -> tuple[Workspace, dict[str, pl.DataFrame], str, str]:
    """alice owns the three datasets; carol approves; mallory, bob and eve are analysts with
    grants on each (masked patients, raw visits and survey, aggregate patients for DP-SGD);
    mallory has an API token."""
    frames = _frames(tmp)
    ws = Workspace.init(project, actor="alice")
    for name, subject, categories in (
        ("patients", "pid", PEOPLE_CATEGORIES),
        ("visits", "pid", {}),
        ("survey", None, {"email": "user.contact.email"}),
    ):
        ws.ingest(
            tmp / f"{name}.csv",
            name=name,
            owner="alice",
            purposes=["analytics", "training"],
            actor="alice",
            subject_id=subject,
            categories=categories,
            scan=False,
        )
    ws.access.set_policy(POLICY, actor="alice")
    ws.access.add_user("alice", roles=["owner"], actor="alice")
    ws.access.add_user("carol", roles=["steward"], actor="alice")
    ws.access.add_user("mallory", roles=["analyst"], actor="alice")
    ws.access.add_user("bob", roles=["analyst"], actor="alice")
    ws.access.add_user("eve", roles=["analyst"], actor="alice")
    carol = ws.access.local_identity("carol")
    for user in ("mallory", "bob", "eve"):
        for dataset, view, purpose in (
            ("patients", "masked", "analytics"),
            ("visits", "raw", "analytics"),
            ("survey", "raw", "analytics"),
            ("patients", "aggregate", "training"),
        ):
            grant = ws.access.request_grant(
                GrantRequest(
                    dataset=dataset,
                    view=view,
                    purpose=purpose,
                    duration_seconds=86_400,
                    reason="seeded incident",
                ),
                identity=ws.access.local_identity(user),
            )
            ws.access.approve_grant(grant.id, identity=carol)
    ws.dp.set_budget("patients", actor="alice", epsilon=10.0, delta=1e-6)
    token = ws.access.issue_token("mallory", expires_in=timedelta(hours=1), actor="alice")
    return ws, frames, token.id, token.secret


def _seeded_values(frames: dict[str, pl.DataFrame]) -> list[str]:
    """Raw personal values of the seed that must never appear in a report."""
    p, s = frames["patients"], frames["survey"]
    return [*p["full_name"].to_list(), *p["email"].to_list(), *p["ssn"].to_list()] + s[
        "email"
    ].to_list()


@dataclass
class Seeded:
    """What the test did, as it recorded it: never what privet's scoping says."""

    project: Path
    root: Path
    frames: dict[str, pl.DataFrame]
    did: dict[str, list[pl.DataFrame]]  # dataset → every frame mallory received
    http: pl.DataFrame  # the rows mallory downloaded over HTTP with her token
    token_id: str
    secret: str
    carol_secret: str
    server: ServerProcess
    start: datetime


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("incident")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        patch.setenv("PRIVET_USER", "carol")
        (root / "project").mkdir()
        start = datetime.now(UTC)
        ws, frames, token_id, secret = _build(root / "project", root)
        carol_secret = ws.access.issue_token(
            "carol", expires_in=timedelta(hours=1), actor="alice"
        ).secret
        did: dict[str, list[pl.DataFrame]] = {}
        # The library: two views of three datasets.
        did["patients"] = [ws.read("patients", purpose="analytics", actor="mallory", view="masked")]
        did["survey"] = [ws.read("survey", purpose="analytics", actor="mallory", view="raw")]
        # An export to a file.
        out = root / "visits-export.csv"
        ws.export("visits", out, purpose="analytics", actor="mallory", view="raw")
        did["visits"] = [pl.read_csv(out)]
        # A model from what was read (DP-SGD: the rows never reach mallory).
        ws.dp.train(
            "patients",
            TrainRequest(
                target="income",
                name="mallory-model",
                purpose="training",
                epsilon=1.0,
                epochs=1,
                features=["age"],
                bounds={"age": (0.0, 100.0)},
                keys={"income": ["<=50K", ">50K"]},
            ),
            actor="mallory",
        )
        # Others' reads are not mallory's; eve reads only the table with no subject id.
        ws.read("visits", purpose="analytics", actor="bob", view="raw")
        ws.read("survey", purpose="analytics", actor="eve", view="raw")
        ws.close()
        with ServerProcess(root / "project") as server:
            # The real server on loopback, with mallory's token: a second channel.
            got = httpx.get(
                f"{server.url}/v1/datasets/visits/rows",
                params={"purpose": "analytics", "view": "raw", "format": "csv"},
                headers={"Authorization": f"Bearer {secret}"},
                timeout=30,
            )
            assert got.status_code == 200, got.text
            http = pl.read_csv(io.BytesIO(got.content))
            did["visits"].append(http)
            yield Seeded(
                root / "project",
                root,
                frames,
                did,
                http,
                token_id,
                secret,
                carol_secret,
                server,
                start,
            )


def _people(frames: dict[str, pl.DataFrame], did: dict[str, list[pl.DataFrame]]) -> int:
    """Distinct people reached, from what the test received: the union of the subject ids of
    the two datasets with one (the masked view keeps ``pid``, not a direct identifier here),
    plus one per survey row read (no subject id: each row is a person)."""
    ids = {pid for name in ("patients", "visits") for f in did[name] for pid in f["pid"]}
    return len(ids) + max(f.height for f in did["survey"])


def _forbidden(seeded: Seeded) -> list[str]:
    return _seeded_values(seeded.frames) + seeded.frames["visits"]["pid"].unique().to_list()


def test_scope_equals_what_the_actor_did(seeded: Seeded) -> None:
    with Workspace.open(seeded.project) as ws:
        found = ws.incidents.scope(actor="mallory")
        raised = [a for a in ws.access.list_alerts() if a.user == "mallory"]
    did = seeded.did
    # Her first read of a restricted dataset raised an alert; the scope lists it.
    assert [(a.id, a.kind, a.dataset) for a in found.alerts] == [
        (a.id, a.kind, a.dataset) for a in reversed(raised)
    ]
    assert [a.kind for a in found.alerts] == ["first_restricted"]
    disclosed = {v.dataset: v for v in found.versions if v.disclosed}
    assert sorted(disclosed) == sorted(did) == ["patients", "survey", "visits"]
    assert found.datasets == ["patients", "survey", "visits"]
    assert found.rows == sum(f.height for frames in did.values() for f in frames)
    assert found.subjects.total == _people(seeded.frames, did)
    # Recomputed from the data files: 240 patients ∪ 200 visitors (140 shared) + 75 rows.
    assert found.subjects.total == 300 + 75
    assert (found.subjects.linked, found.subjects.per_row) == (300, 75)
    assert found.subjects.exact is False  # per-row people cannot be matched to the others
    for name, frames in did.items():
        assert disclosed[name].rows == sum(f.height for f in frames), name
    assert disclosed["visits"].subjects == did["visits"][0]["pid"].n_unique() == 200
    assert disclosed["patients"].subjects == seeded.frames["patients"]["pid"].n_unique()
    assert disclosed["survey"].subject_basis == "row"
    assert disclosed["patients"].views == ["masked"] and disclosed["visits"].views == ["raw"]
    assert disclosed["patients"].processed_rows == 240  # the DP-SGD read
    # Columns: every column of the version, the direct identifiers masked in a masked read.
    columns = {c.name: c for c in disclosed["patients"].columns}
    assert set(columns) == set(seeded.frames["patients"].columns)
    assert {n for n, c in columns.items() if c.masked} == {"full_name", "email", "ssn"}
    assert columns["diagnosis"].special
    # Exports: the file, and the HTTP download with the token.
    channels = sorted(e.channel.split(":")[0] for e in found.exports)
    assert channels == ["file", "http"]
    assert {e.rows for e in found.exports} == {600}
    assert {e.token for e in found.exports if e.channel.startswith("http")} == {seeded.token_id}
    assert found.purposes == ["analytics"]
    models = [m for m in found.made if m.kind == "model"]
    assert [(m.name, m.by_actor) for m in models] == [("mallory-model", True)]
    assert any(m.kind == "dp_release" and m.detail == "train" for m in found.made)
    n = found.notification
    assert n.approximate_subjects == 375 and n.approximate_records == found.rows
    assert n.severity == "high" and n.special_categories == ["user.health.medical_diagnosis"]
    assert n.dpo_contact == "TO FILL" and n.measures_taken == "TO FILL"
    text = found.model_dump_json()
    assert not [v for v in _forbidden(seeded) if v in text]
    assert not [v for v in _forbidden(seeded) if v in repr(found) + str(found)]


def test_token_scope_is_only_that_tokens_use(seeded: Seeded) -> None:
    with Workspace.open(seeded.project) as ws:
        found = ws.incidents.scope(token=seeded.token_id)
    assert found.actor == "mallory" and found.token == seeded.token_id
    assert [(v.dataset, v.rows) for v in found.versions] == [("visits", seeded.http.height)]
    assert found.subjects.total == seeded.http["pid"].n_unique() == 200
    assert found.subjects.exact
    assert [e.channel.split(":")[0] for e in found.exports] == ["http"]
    assert not [m for m in found.made if m.by_actor]
    assert found.alerts == []  # her alert came from a library read, not from this token


def test_table_with_a_person_per_row(seeded: Seeded) -> None:
    with Workspace.open(seeded.project) as ws:
        found = ws.incidents.scope(actor="eve")
    assert [(v.dataset, v.subject_basis) for v in found.versions] == [("survey", "row")]
    assert found.subjects.total == found.rows == seeded.frames["survey"].height
    assert found.subjects.exact and found.subjects.linked == 0


def test_window_bounds_the_scope(seeded: Seeded) -> None:
    with Workspace.open(seeded.project) as ws:
        before = ws.incidents.scope(actor="mallory", until=seeded.start)
        later = ws.incidents.scope(actor="mallory", since=datetime.now(UTC))
    assert before.reads == later.reads == 0 and before.subjects.total == 0
    assert before.notification.severity == "low"


def test_scoping_is_logged_with_counts_only(seeded: Seeded) -> None:
    with Workspace.open(seeded.project) as ws:
        found = ws.incidents.scope(actor="mallory")
        records = ws.log.records(start=found.log_index - 10)
    entry = next(r.event for r in records if r.index == found.log_index)
    assert entry["event"] == "incident.scope" and entry["subjects"] == 375
    internal = [
        r.event for r in records if r.event.get("channel") == "incident:scope"
    ]  # the re-reads that counted people: logged, internal purpose
    assert internal and all(e["purpose"] == "privet:assessment" for e in internal)
    dumped = json.dumps([r.event for r in records])
    assert not [v for v in _forbidden(seeded) if v in dumped]


def test_html_report_is_self_contained_and_holds_no_seeded_value(seeded: Seeded) -> None:
    out = seeded.root / "report.html"
    result = invoke("incident", "--actor", "mallory", "-o", out, workspace=seeded.project)
    assert result.exit_code == 0, result.stderr
    html = out.read_text()
    assert "Art. 33(3)" in html and "mallory-model" in html and "TO FILL" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html
    assert not [v for v in _forbidden(seeded) if v in html]
    assert not [v for v in _forbidden(seeded) if v in result.stdout]


def test_cli_json_is_one_document(seeded: Seeded) -> None:
    result = invoke("incident", "--actor", "mallory", "--json", workspace=seeded.project)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["subjects"]["total"] == 375 and data["actor"] == "mallory"


def test_sealed_subjects_round_trip_for_the_dpo(seeded: Seeded) -> None:
    keys = seeded.root / "dpo"
    made = invoke("incident", "dpo-key", "-o", keys, "--json")
    assert made.exit_code == 0, made.stderr
    assert oct((keys / "dpo-private.json").stat().st_mode & 0o777) == "0o600"
    sealed = seeded.root / "subjects.sealed"
    result = invoke(
        "incident", "--actor", "mallory", "--seal-to", keys / "dpo-public.json",
        "--sealed-out", sealed, "--json", workspace=seeded.project,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = sealed.read_text()
    # The ciphertext is random base64, which may spell anything ("P00" about once in 260,000
    # positions); every other field is checked as written.
    visible = json.dumps({k: v for k, v in json.loads(body).items() if k != "ciphertext"})
    assert not [v for v in _forbidden(seeded) + ["P00"] if v in visible]
    assert not [v for v in _forbidden(seeded) if len(v) > 5 and v in body]
    assert not [v for v in _forbidden(seeded) if v in result.stdout]
    opened = invoke("incident", "unseal", sealed, "--private-keyset", keys / "dpo-private.json",
                    "--json")  # fmt: skip
    assert opened.exit_code == 0, opened.stderr
    people = json.loads(opened.stdout)["subjects"]
    assert set(people["patients"]) == set(seeded.frames["patients"]["pid"])
    assert set(people["visits"]) == set(seeded.did["visits"][0]["pid"])
    # Another key does not open it; an altered file does not either.
    other = seeded.root / "other"
    invoke("incident", "dpo-key", "-o", other)
    wrong = invoke("incident", "unseal", sealed, "--private-keyset", other / "dpo-private.json")
    assert wrong.exit_code == 1 and "does not open" in wrong.stderr
    document = json.loads(body)
    document["scope_log_index"] += 1
    altered = seeded.root / "altered.sealed"
    altered.write_text(json.dumps(document))
    bad = invoke("incident", "unseal", altered, "--private-keyset", keys / "dpo-private.json")
    assert bad.exit_code == 1 and "does not open" in bad.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--actor", "nobody"], "no user or logged actor named 'nobody'"),
        (["--token", "feedface"], "no API token 'feedface'"),
        (["--actor", "mallory", "--token", "x"], "exactly one of --actor or --token"),
        ([], "exactly one of --actor or --token"),
        (["--actor", "mallory", "--since", "yesterday"], "--since is not an ISO 8601 time"),
        (["--actor", "mallory", "--since", "2030-01-02", "--until", "2030-01-01"], "before"),
        (["--actor", "mallory", "--seal-to", "k.json"], "go together"),
    ],
    ids=[
        "unknown-actor",
        "unknown-token",
        "both",
        "neither",
        "bad-time",
        "empty-window",
        "seal-half",
    ],  # fmt: skip
)
def test_cli_bad_input_is_one_sentence(seeded: Seeded, args: list[str], words: str) -> None:
    result = invoke("incident", *args, workspace=seeded.project)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_http_scope_for_overseers_only(seeded: Seeded) -> None:
    url = f"{seeded.server.url}/v1/incidents"
    ok = httpx.get(
        url,
        params={"actor": "mallory"},
        headers={"Authorization": f"Bearer {seeded.carol_secret}"},
        timeout=60,
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["subjects"]["total"] == 375 and ok.json()["computed_by"] == "carol"
    assert not [v for v in _forbidden(seeded) if v in ok.text]
    denied = httpx.get(
        url, params={"actor": "bob"}, headers={"Authorization": f"Bearer {seeded.secret}"}
    )
    assert denied.status_code == 403
    both = httpx.get(
        url,
        params={"actor": "mallory", "token": seeded.token_id},
        headers={"Authorization": f"Bearer {seeded.carol_secret}"},
    )
    assert both.status_code in (400, 422)


# -- a derived copy read: people matched by the keyed subject link -----------------------------

COPY_PLAN = """
columns:
  pid: drop
  full_name: drop
  email: {operator: mask}
  ssn: drop
"""


def _copy_workspace(ws: Workspace, tmp: Path) -> dict[str, pl.DataFrame]:
    frames = _frames(tmp)
    for name in ("patients", "visits"):
        ws.ingest(tmp / f"{name}.csv", name=name, owner="tester", purposes=["analytics"],
                  actor="tester", subject_id="pid", scan=False)  # fmt: skip
    ws.deid.protect(
        "patients", ProtectRequest(plan=parse_plan(COPY_PLAN)), output="copy", actor="tester"
    )
    return frames


def test_a_derived_copy_counts_people_by_link_and_seals_their_ids(
    ws: Workspace, tmp_path: Path
) -> None:
    frames = _copy_workspace(ws, tmp_path)
    copy = ws.read("copy", purpose="analytics", actor="dana")  # ungoverned: anyone reads
    visits = ws.read("visits", purpose="analytics", actor="dana")
    assert "pid" not in copy.columns  # the copy has no subject id column, only its link
    found = ws.incidents.scope(actor="dana")
    # The copy holds every patient; visits holds pids 100-299: 300 distinct people.
    expected = set(frames["patients"]["pid"]) | set(visits["pid"])
    assert copy.height == frames["patients"].height
    assert found.subjects.total == found.subjects.linked == len(expected) == 300
    basis = {v.dataset: v.subject_basis for v in found.versions}
    assert basis == {"copy": "subject_link", "visits": "subject_id"}
    keys = tmp_path / "dpo"
    ws.incidents.dpo_key(keys)
    sealed = ws.incidents.seal(found, keys / "dpo-public.json", tmp_path / "s.sealed", by="dpo")
    opened = ws.incidents.unseal(tmp_path / "s.sealed", keys / "dpo-private.json")
    # The copy's people not in visits are resolved to their ids through the source dataset.
    every = {i for ids in opened["subjects"].values() for i in ids}
    assert every == expected and sealed.subjects == 300
    assert not [v for v in expected if v in (tmp_path / "s.sealed").read_text()]


def test_people_erased_after_the_read_still_count(ws: Workspace, tmp_path: Path) -> None:
    """A read's people stay in its scope after an erasure rewrote the version: the erased
    subject's rows were disclosed, so they count (one per row), though their id is gone."""
    from privet.forget import EraseRequest

    frames = _frames(tmp_path)
    ws.ingest(tmp_path / "visits.csv", name="visits", owner="tester", purposes=["analytics"],
              actor="tester", subject_id="pid", scan=False)  # fmt: skip
    read = ws.read("visits", purpose="analytics", actor="dana")
    erased = str(read["pid"][0])
    erased_rows = int((read["pid"].cast(pl.String) == erased).sum())
    ws.access.set_policy("erasure_roles: [dpo]\n", actor="tester")
    ws.access.add_user("dpo", roles=["dpo"], actor="tester")
    ws.forget.erase(EraseRequest(subjects=[erased], reason="art 17"), actor="dpo")
    found = ws.incidents.scope(actor="dana")
    expected = read["pid"].n_unique() - 1 + erased_rows  # the erased person's rows: one each
    assert (
        found.subjects.removed
        == erased_rows
        == frames["visits"].height - ws.read("visits", purpose="analytics", actor="tester").height
    )
    assert found.subjects.total == expected and not found.subjects.exact


# -- PostgreSQL --------------------------------------------------------------------------------


@pytest.mark.postgres
def test_scope_on_postgresql(tmp_path: Path, database_url: str) -> None:
    with Workspace.init(tmp_path / "pg", database_url=database_url, actor="tester") as ws:
        frames = _copy_workspace(ws, tmp_path)
        ws.read("visits", purpose="analytics", actor="dana")
        ws.read("copy", purpose="analytics", actor="dana")
        found = ws.incidents.scope(actor="dana", since=datetime.now(UTC) - timedelta(hours=1))
        assert found.subjects.total == 300 and found.reads == 2
        assert found.rows == frames["visits"].height + frames["patients"].height


def test_the_migration_backfills_the_access_index_exactly(ws: Workspace, tmp_path: Path) -> None:
    """0009 on a log written before it: the backfilled index equals what appends wrote."""
    from alembic import command
    from sqlalchemy import text

    from privet.schema import migrating

    _copy_workspace(ws, tmp_path)
    ws.read("visits", purpose="analytics", actor="dana")
    ws.read("copy", purpose="analytics", actor="dana")
    before = ws.incidents.scope(actor="dana")
    query = text("SELECT actor, ts, log_index, token, event FROM access_events ORDER BY log_index")
    with ws.hazmat.engine.connect() as conn:
        written = conn.execute(query).all()
    project = ws.folder.parent
    ws.close()
    with Workspace.open(project) as again, migrating(again.hazmat.engine) as cfg:
        command.downgrade(cfg, "0008")
    with Workspace.open(project) as upgraded:  # opening upgrades (and backfills)
        with upgraded.hazmat.engine.connect() as conn:
            backfilled = conn.execute(query).all()
        after = upgraded.incidents.scope(actor="dana")
    assert written and backfilled[: len(written)] == written
    assert (
        (after.reads, after.rows, after.subjects.total)
        == (
            before.reads,
            before.rows,
            before.subjects.total,
        )
        == (2, 840, 300)
    )


def test_html_report_renders_in_chromium_with_no_error(
    seeded: Seeded, tmp_path: Path, browser
) -> None:
    """The report opens in headless Chromium from a file: nothing fetched, nothing logged as
    an error (a request for any outside resource would fail here and be logged), not blank."""
    from PIL import Image
    from selenium.webdriver.common.by import By

    out = tmp_path / "chromium-report.html"
    with Workspace.open(seeded.project) as ws:
        ws.incidents.html(ws.incidents.scope(actor="mallory"), out)
    browser.get(out.as_uri())
    assert "Art. 33(3)" in browser.find_element(By.TAG_NAME, "h2").text + browser.page_source
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("L")
    low, high = shot.getextrema()
    assert high - low > 100  # text on a background, not a blank page


def test_contain_stops_the_actors_next_request(seeded: Seeded) -> None:
    """Last in this file: it revokes mallory's token and grants."""
    headers = {"Authorization": f"Bearer {seeded.secret}"}
    rows = f"{seeded.server.url}/v1/datasets/visits/rows"
    params = {"purpose": "analytics", "view": "raw", "format": "csv"}
    assert httpx.get(rows, params=params, headers=headers, timeout=30).status_code == 200
    result = invoke("incident", "--actor", "mallory", "--contain", "--json",
                    workspace=seeded.project)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["containment"]["tokens_revoked"] == [seeded.token_id]
    assert len(data["containment"]["grants_revoked"]) == 4
    assert "revoked" in data["notification"]["measures_taken"]
    after = httpx.get(rows, params=params, headers=headers, timeout=30)
    assert after.status_code in (401, 403)
    with Workspace.open(seeded.project) as ws, pytest.raises(PolicyDenied):
        ws.read("visits", purpose="analytics", actor="mallory", view="raw")
