"""Linkage risk (`privet risk A --link B`): two releases, each k-anonymous on its own
quasi-identifiers, that link together. Every count is recomputed here by a Polars join, and the
Fellegi–Sunter attacker is scored against the generated person ids, which privet never sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from privet import Workspace
from privet.deid import Plan, ProtectRequest, link_tables
from tests.conftest import invoke

SHARED = ["age_band", "sex", "zip", "occupation"]


def population(n: int, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 91, n)
    zips = [f"{z:05d}" for z in rng.choice(np.arange(10000, 99999), 40, replace=False)]
    return pl.DataFrame(
        {
            "person_id": np.arange(n),
            "age_band": [f"{a // 5 * 5}-{a // 5 * 5 + 4}" for a in age],
            "sex": rng.choice(["F", "M"], n),
            "zip": rng.choice(zips, n),
            "occupation": rng.choice([f"occ{i:02d}" for i in range(15)], n),
            "education": rng.choice([f"edu{i:02d}" for i in range(12)], n),
            "marital": rng.choice(["single", "married", "divorced", "widowed", "separated"], n),
        }
    )


def k_anonymous(frame: pl.DataFrame, qis: list[str], k: int = 5) -> pl.DataFrame:
    """The test's own k-anonymity: classes smaller than k are suppressed."""
    return frame.filter(pl.len().over(qis) >= k)


R1_QIS = ["age_band", "sex", "zip"]
R2_QIS = ["occupation", "education", "marital"]


@pytest.fixture(scope="module")
def releases() -> tuple[pl.DataFrame, pl.DataFrame]:
    pop = population(20_000)
    r1 = k_anonymous(pop.select("person_id", *R1_QIS, "occupation"), R1_QIS)
    r2 = k_anonymous(pop.select("person_id", *R2_QIS, "age_band", "sex", "zip"), R2_QIS)
    assert r1.group_by(R1_QIS).len()["len"].min() >= 5
    assert r2.group_by(R2_QIS).len()["len"].min() >= 5
    return r1, r2


def independent_counts(a: pl.DataFrame, b: pl.DataFrame, on: list[str]) -> tuple[int, int]:
    """(A records meeting exactly one B record, people singled out by the pair)."""
    fa = a.group_by(on).agg(pl.len().alias("fa"))
    fb = b.group_by(on).agg(pl.len().alias("fb"))
    j = fa.join(fb, on=on)
    return int(j.filter(pl.col("fb") == 1)["fa"].sum()), j.filter(
        (pl.col("fa") == 1) & (pl.col("fb") == 1)
    ).height


def _workspace(tmp_path: Path, r1: pl.DataFrame, r2: pl.DataFrame) -> Path:
    project = tmp_path / "ws"
    project.mkdir()
    with Workspace.init(project, actor="tester") as ws:
        for name, frame, qis in (("release1", r1, R1_QIS), ("release2", r2, R2_QIS)):
            path = tmp_path / f"{name}.parquet"
            frame.drop("person_id").write_parquet(path)  # privet never sees the person ids
            roles = {c: ("quasi_identifier" if c in qis else "other") for c in frame.columns[1:]}
            ws.ingest(path, name=name, owner="alice", purposes=["research"], actor="alice",
                      roles=roles, scan=False)  # fmt: skip
    return project


def test_two_k_anonymous_releases_that_link_are_caught(tmp_path: Path, releases):
    r1, r2 = releases
    project = _workspace(tmp_path, r1, r2)
    unique, both = independent_counts(r1, r2, SHARED)
    assert both > 1000  # the pair re-identifies people although each release is 5-anonymous
    # Among the people the pair singles out, the test knows (by person id) they are right.
    single = r1.join(r2, on=SHARED).filter(pl.len().over(SHARED) == 1)
    assert (single["person_id"] == single["person_id_right"]).sum() == both

    result = invoke("risk", "release1", "--link", "release2", "--exact-only", "--json",
                    workspace=project)  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [c["name"] for c in report["columns"]] == SHARED  # found by roles and overlap
    assert all("quasi-identifier" in c["reason"] for c in report["columns"])
    assert report["reidentified"] == both
    assert report["unique_matches"] == unique
    assert report["rows_source"] == r1.height and report["probabilistic"] is None
    # Nothing but counts and column names: no value of the data is in the output.
    assert "occ0" not in result.stdout and "edu" not in result.stdout


def test_splink_expected_correct_matches_agree_with_the_truth(releases):
    r1, r2 = releases
    linkage = link_tables(r1.drop("person_id"), r2.drop("person_id"), on=SHARED,
                          precisions=[0.5, 0.9])  # fmt: skip
    model = linkage.report.probabilistic
    assert model is not None and model.candidate_pairs > 0
    ids_a = r1.select(pl.int_range(pl.len()).alias("a").cast(pl.Int64), pa="person_id")
    ids_b = r2.select(pl.int_range(pl.len()).alias("b").cast(pl.Int64), pb="person_id")
    for point in model.at_precision:
        pairs = linkage.accepted[point.precision].join(ids_a, on="a").join(ids_b, on="b")
        assert pairs.height == point.accepted_pairs
        correct = int((pairs["pa"] == pairs["pb"]).sum())
        assert point.expected_correct == pytest.approx(pairs["p"].sum())
        # Within its stated precision: the gap is at most the share it allows to be wrong.
        assert abs(point.expected_correct - correct) <= (1 - point.precision) * pairs.height
        if pairs.height:
            assert point.expected_correct / pairs.height >= point.precision
    assert model.at_precision[0].accepted_pairs > 500


def test_linkage_reads_are_governed_and_logged(tmp_path: Path, releases):
    r1, r2 = releases
    project = _workspace(tmp_path, r1.head(3000), r2.head(3000))
    with Workspace.open(project) as ws:
        before = ws.log.size()
        report = ws.deid.linkage("release1", "release2", actor="dpo", probabilistic=False)
        entries = [r.event for r in ws.log.records(before, ws.log.size() - before)]
    assert len(entries) == 2
    assert all(e.get("purpose") == "privet:assessment" for e in entries), entries
    assert report.reidentified == independent_counts(r1.head(3000), r2.head(3000), SHARED)[1]


def test_an_outside_file_is_linked_and_bad_input_is_one_sentence(tmp_path: Path, releases):
    r1, r2 = releases
    project = _workspace(tmp_path, r1.head(2000), r2.head(2000))
    register = tmp_path / "register.csv"
    r2.head(2000).drop("person_id").write_csv(register)
    ok = invoke("risk", "release1", "--link", register, "--on", "age_band,sex,zip",
                "--exact-only", "--json", workspace=project)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    expected = independent_counts(r1.head(2000), r2.head(2000), ["age_band", "sex", "zip"])
    assert json.loads(ok.stdout)["reidentified"] == expected[1]
    plain = invoke("risk", "release1", "--link", "release2", "--precision", "0.5",
                   workspace=project)  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert "re-identified by the pair" in plain.stdout and "Fellegi–Sunter" in plain.stdout
    assert plain.stderr == ""  # Splink's own log and warnings stay quiet
    bad = invoke("risk", "release1", "--link", "release2", "--on", "agge_band",
                 workspace=project)  # fmt: skip
    assert bad.exit_code == 1
    assert "agge_band" in bad.stderr and "Traceback" not in bad.output
    assert len(bad.stderr.strip().splitlines()) == 1
    other = tmp_path / "other.csv"
    pl.DataFrame({"colour": ["red", "blue"]}).write_csv(other)
    none = invoke("risk", "release1", "--link", other, workspace=project)
    assert none.exit_code == 1 and "share no quasi-identifier" in none.stderr


def test_auto_releases_links_a_release_with_its_siblings(tmp_path: Path):
    pop = population(3000, seed=3)
    path = tmp_path / "people.parquet"
    pop.write_parquet(path)
    project = tmp_path / "ws"
    project.mkdir()
    roles = {c: "quasi_identifier" for c in ["age_band", "sex", "zip", *R2_QIS, "occupation"]}
    with Workspace.init(project, actor="tester") as ws:
        ws.ingest(path, name="people", owner="alice", purposes=["research"], actor="alice",
                  subject_id="person_id", roles={**roles, "person_id": "direct_identifier"},
                  scan=False)  # fmt: skip
        for name, qis, dropped in (("rel1", R1_QIS, R2_QIS[1:]), ("rel2", R2_QIS, ["zip"])):
            plan = Plan.model_validate(
                {
                    "quasi_identifiers": qis,
                    "privacy": {"k": 5, "max_suppression": 0.5},
                    "columns": {c: "drop" for c in ["person_id", *dropped]},
                }  # fmt: skip
            )
            ws.deid.protect("people", ProtectRequest(plan=plan), output=name, actor="dpo")
        rel1 = ws.read("rel1", purpose="research", actor="alice")
        rel2 = ws.read("rel2", purpose="research", actor="alice")
        report = ws.deid.release_linkage("rel1", actor="dpo", probabilistic=False)
    cli = invoke("risk", "rel1", "--link", "auto-releases", "--exact-only", "--json",
                 workspace=project)  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.stdout)["reidentified_max"] == report.reidentified_max
    targets = {p.target.split("@")[0]: p for p in report.pairs}
    assert set(targets) | {s.split("@")[0] for s in report.skipped} == {"people", "rel2"}
    pair = targets["rel2"]
    on = [c.name for c in pair.columns]
    assert pair.reidentified == independent_counts(rel1, rel2, on)[1]
    assert report.reidentified_max >= pair.reidentified


def test_the_cli_does_not_import_splink():
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import privet.cli"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert "splink" not in out.stderr and "duckdb" not in out.stderr


def test_splink_leaves_nothing_in_scratch_and_a_missing_extra_is_one_sentence(tmp_path, releases):
    r1, r2 = releases
    project = _workspace(tmp_path, r1.head(3000), r2.head(3000))
    with Workspace.open(project) as ws:
        report = ws.deid.linkage("release1", "release2", actor="dpo", precisions=[0.5])
    assert report.probabilistic is not None
    left = [p for p in (project / ".privet").rglob("*") if "link" in p.name]
    assert left == []
    code = (
        "import sys; sys.modules['splink'] = None\n"  # as if the extra were not installed
        "import polars as pl\n"
        "from privet.deid import link_tables\n"
        "from privet.errors import InvalidInput\n"
        "t = pl.DataFrame({'a': ['1', '2']})\n"
        "try:\n"
        "    link_tables(t, t, on=['a'])\n"
        "except InvalidInput as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "the probabilistic attacker needs Splink: pip install 'privet[link]'"
    )


def test_splink_against_a_register_is_right_within_its_precision():
    """A 90% sample linked back to its population register: here the model is confident
    enough to accept pairs at 0.9, and the test counts the correct ones by person id."""
    rng = np.random.default_rng(11)
    n = 20_000
    register = pl.DataFrame(
        {
            "person_id": np.arange(n),
            "age": rng.integers(18, 91, n).astype(str),
            "sex": rng.choice(["F", "M"], n),
            "zip": rng.integers(10000, 10400, n).astype(str),
            "occupation": rng.integers(0, 20, n).astype(str),
        }
    )
    sample = register.sample(fraction=0.9, seed=4, shuffle=True)
    on = ["age", "sex", "zip", "occupation"]
    linkage = link_tables(sample.drop("person_id"), register.drop("person_id"), on=on,
                          precisions=[0.5, 0.9])  # fmt: skip
    model = linkage.report.probabilistic
    assert model is not None
    ids_a = sample.select(pl.int_range(pl.len()).alias("a").cast(pl.Int64), pa="person_id")
    ids_b = register.select(pl.int_range(pl.len()).alias("b").cast(pl.Int64), pb="person_id")
    for point in model.at_precision:
        pairs = linkage.accepted[point.precision].join(ids_a, on="a").join(ids_b, on="b")
        correct = int((pairs["pa"] == pairs["pb"]).sum())
        assert pairs.height == point.accepted_pairs > 1000
        assert abs(point.expected_correct - correct) <= (1 - point.precision) * pairs.height
    assert linkage.report.reidentified == independent_counts(sample, register, on)[1]
