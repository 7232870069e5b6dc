"""Subject erasure (issue 16, acceptance 1 and 6): every version, derived dataset, synthetic
dataset and model; a signed receipt; nothing readable left; other people's rows exact.

The checks are independent of privet's finders: every object in the store is decrypted with
every key the master key still unwraps, and searched for the subject's values.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from privet.datasets import raw_people
from privet.deid import ProtectRequest, parse_plan
from privet.dp import SynthRequest, TrainRequest
from privet.errors import InvalidInput, NotFound, PolicyDenied
from privet.forget import EraseRequest
from privet.schema import DpModel
from tests.conftest import PEOPLE_CATEGORIES, invoke
from tests.forget_support import (
    commitment,
    decryptable_objects,
    files_under,
    holds_any,
    holds_row,
    verify_note,
)

X = "P000007"
QIS = ["age", "sex", "race", "marital_status"]
IDENTIFYING = ["person_id", "full_name", "email", "phone", "ssn", "street_address"]
MASK_PLAN = """
columns:
  email: {operator: mask, keep_last: 4}
  phone: {operator: mask, keep_last: 2}
  ssn: {operator: mask}
  full_name: drop
  street_address: drop
  notes: drop
  person_id: drop
"""


def _ingest(ws: Workspace, frame: pl.DataFrame, path: Path, *, new: bool) -> None:
    frame.write_csv(path)
    ws.ingest(
        path,
        name="people",
        owner="alice",
        purposes=["training", "analytics"],
        actor="alice",
        subject_id="person_id",
        categories=PEOPLE_CATEGORIES,
        new_version=new,
    )


def build(ws: Workspace, tmp_path: Path) -> dict[int, pl.DataFrame]:
    """Subject X in 3 versions, a k-anonymous copy, a masked copy, MST synthetic data,
    a non-DP model, a DP model and an unlearnable (SISA) model."""
    people = raw_people(400)
    versions = {1: people.head(300), 2: people.head(400), 3: people.slice(5, 300)}
    for number, frame in versions.items():
        _ingest(ws, frame, tmp_path / f"v{number}.csv", new=number > 1)
    ws.deid.protect(
        "people",
        ProtectRequest(k=5, quasi_identifiers=QIS, max_suppression=0.2),
        output="people-k5",
        actor="alice",
    )
    ws.deid.protect(
        "people", ProtectRequest(plan=parse_plan(MASK_PLAN)), output="people-masked", actor="alice"
    )
    ws.dp.set_budget("people", actor="alice", epsilon=10.0, delta=1e-6)
    ws.dp.synthesize(
        "people",
        SynthRequest(
            name="people-mst",
            method="mst",
            epsilon=2.0,
            seed=3,
            columns=["age", "sex", "race", "income"],
        ),  # fmt: skip
        actor="alice",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        private = {"epsilon": 1.0, "keys": {"income": ["<=50K", ">50K"]},
                   "bounds": {"age": [17, 90], "education_num": [1, 16]}}  # fmt: skip
        sisa = {"no_dp": True, "unlearnable": True, "shards": 3, "slices": 2}
        for name, extra in (("plain", {"no_dp": True}), ("private", private), ("sisa", sisa)):
            ws.dp.train(
                "people",
                TrainRequest(
                    target="income",
                    name=name,
                    purpose="training",
                    epochs=1,
                    features=["age", "education_num"],
                    seed=1,
                    **extra,
                ),  # fmt: skip
                actor="alice",
            )
    ws.access.set_policy("erasure_roles: [dpo]\n", actor="alice")
    ws.access.add_user("dana", roles=["dpo"], actor="alice")
    ws.access.add_user("eve", roles=["analyst"], actor="alice")
    ws.access.add_user("alice", roles=["owner"], actor="alice")
    return versions


@pytest.fixture
def built(ws: Workspace, tmp_path: Path) -> dict[int, pl.DataFrame]:
    return build(ws, tmp_path)


def test_erasure_reaches_every_store_and_leaves_others_exact(
    ws: Workspace, built: dict[int, pl.DataFrame]
):
    subject_row = raw_people(400).filter(pl.col("person_id") == X)
    with ws.hazmat.reading() as session:  # the keyed link derived copies carry
        prf = ws.hazmat.vault.keyed_prf(session)
    link = prf.compute(b"privet/subject-link/v1\x00" + X.encode(), 16).hex()
    values = [str(subject_row[c][0]) for c in IDENTIFYING] + [link]
    before, _ = decryptable_objects(ws)
    assert sum(holds_any(o.plaintext, values) for o in before) >= 4  # 3 versions, the copies
    assert sum(holds_row(o.plaintext, subject_row) for o in before) == 3
    k5_before = ws.read("people-k5", purpose="training", actor="alice")

    result = ws.forget.erase(EraseRequest(subjects=[X], reason="Art. 17 request"), actor="dana")

    opened, sealed = decryptable_objects(ws)
    assert opened and not [o.path for o in opened if holds_any(o.plaintext, values)]
    assert not [o.path for o in opened if holds_row(o.plaintext, subject_row)]
    assert sealed == []  # old objects are deleted once their keys are gone
    # Nor does the catalog's own file (nor its write-ahead log) hold them in clear.
    for path in files_under(ws.folder):
        if not path.is_relative_to(ws.hazmat.store.root):
            assert not any(v.encode() in path.read_bytes() for v in values), path.name
    # Other people's rows are all still there, exact and in order.
    for number, frame in built.items():
        now = ws.read(f"people@{number}", purpose="training", actor="alice")
        assert now.equals(_as_stored(ws, frame.filter(pl.col("person_id") != X), number))
    # The k-anonymous copy lost X and only the classes that fell below k.
    k5 = ws.read("people-k5", purpose="training", actor="alice")
    assert k5.group_by(QIS).len()["len"].min() >= 5
    text = [pl.col(c).cast(pl.String) for c in k5.columns]
    kept = k5.select(text).join(k5_before.select(text), on=k5.columns, how="semi", nulls_equal=True)
    assert kept.height == k5.height <= k5_before.height
    # Synthetic data made without DP accounting for X is destroyed; the MST output was not
    # kept by the owner either, so it went too.
    assert {s["action"] for s in result.receipt["stores"]} >= {"rewritten", "shredded"}
    with pytest.raises(NotFound):
        ws.read("people-mst", purpose="training", actor="alice")
    # Models: the non-DP one is blocked (the DP one too: no keep decision was recorded);
    # the unlearnable one had the affected shard retrained, and stays usable.
    with ws.hazmat.reading() as session:
        blocked = {m.name: m.blocked for m in session.query(DpModel)}
    erased = "contains-erased-subject"
    assert blocked == {"plain": erased, "private": erased, "sisa": None}
    assert {m["model"]: m["action"] for m in result.receipt["models"]}["sisa"] == "unlearned"
    with pytest.raises(PolicyDenied, match="erased subject"):
        ws.dp.load_model("plain", actor="alice")
    ws.dp.load_model("sisa", actor="alice")
    # The log verifies, names the subject only by a commitment, and never in clear.
    ws.log.verify()
    log_text = json.dumps([r.event for r in ws.log.records()])
    assert not any(v in log_text for v in values)
    assert commitment(result.nonces[X], X) in log_text
    # The receipt verifies with the published verifier key (plain Ed25519 here).
    text = verify_note(result.note, ws.log.verifier_key)
    receipt = json.loads(text.splitlines()[1])
    assert receipt["commitments"] == [commitment(result.nonces[X], X)]
    assert ws.forget.verify_receipt(ws.forget.receipt(result.id)) == receipt
    assert ws.forget.requests()[0].status == "done"


def _as_stored(ws: Workspace, frame: pl.DataFrame, number: int) -> pl.DataFrame:
    """``frame`` as the catalog types it (ingest keeps values exactly; compare like for like)."""
    stored = ws.read(f"people@{number}", purpose="training", actor="alice")
    return frame.select(stored.columns).cast(stored.schema, strict=False)


def test_a_dp_model_the_owner_keeps_names_its_epsilon(ws: Workspace, built: object):
    ws.forget.keep("private", reason="DP-SGD at ε=1 bounds each person's influence", actor="alice")
    result = ws.forget.erase(EraseRequest(subjects=[X], reason="request"), actor="dana")
    actions = {m["model"]: m["action"] for m in result.receipt["models"]}
    assert actions == {"plain": "blocked", "private": "kept", "sisa": "unlearned"}
    card = ws.dp.model("private", actor="alice")
    assert any("bounded by ε" in note for note in card.card.notes)


# -- acceptance 6: bad input, one sentence each, nothing changed ------------------------------


def test_bad_erasures_are_refused_and_change_nothing(ws: Workspace, built: object):
    size = ws.log.size()
    with pytest.raises(NotFound, match="no dataset in scope holds this subject"):
        ws.forget.erase(EraseRequest(subjects=["P999999"], reason="r"), actor="dana")
    with pytest.raises(PolicyDenied, match="may not request erasure"):
        ws.forget.erase(EraseRequest(subjects=[X], reason="r"), actor="eve")
    ws.ingest(
        _csv(ws.folder.parent / "plain.csv"), name="plain-table", owner="alice",
        purposes=["training"], actor="alice",
    )  # fmt: skip
    size = ws.log.size()
    with pytest.raises(InvalidInput, match="has no subject-id column"):
        ws.forget.erase(EraseRequest(subjects=[X], dataset="plain-table", reason="r"), actor="dana")
    assert ws.log.size() == size and ws.forget.requests() == []


def _csv(path: Path) -> Path:
    pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).write_csv(path)
    return path


def test_bad_erasures_through_the_cli_are_one_sentence(ws: Workspace, built: object):
    cases = [
        (["--subject", "P999999", "--reason", "r", "--as", "dana"], "holds this subject"),
        (["--subject", X, "--reason", "r", "--as", "eve"], "may not request erasure"),
        (["--subject", X, "--reason", "", "--as", "dana"], "--reason"),
        (["--subject", X, "--dataset", "nope", "--reason", "r", "--as", "dana"], "nope"),
    ]
    for args, words in cases:
        result = invoke("erase", *args, workspace=ws.folder)
        assert result.exit_code == 1, result.output
        assert words in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    assert ws.forget.requests() == []


def test_a_k_anonymous_copy_keeps_its_k_after_an_erasure(ws: Workspace, tmp_path: Path):
    """X sits in a class of exactly k: removing X leaves k-1 rows there, which are
    suppressed too; every other class is untouched."""
    groups = [(30, "F", 3), (30, "M", 4), (40, "F", 5), (40, "M", 3), (50, "F", 6)]
    rows = [(age, sex) for age, sex, size in groups for _ in range(size)]
    table = pl.DataFrame(
        {
            "person_id": [f"Q{i:03d}" for i in range(len(rows))],
            "age": [a for a, _ in rows],
            "sex": [s for _, s in rows],
            "score": list(range(len(rows))),
        }
    )
    path = tmp_path / "small.csv"
    table.write_csv(path)
    ws.ingest(path, name="small", owner="alice", purposes=["training"], actor="alice",
              subject_id="person_id")  # fmt: skip
    ws.deid.protect(
        "small",
        ProtectRequest(k=3, quasi_identifiers=["age", "sex"], max_suppression=0.0),
        output="small-k3",
        actor="alice",
    )
    before = ws.read("small-k3", purpose="training", actor="alice")
    assert before.height == len(rows)  # already 3-anonymous: nothing generalized
    ws.access.set_policy("erasure_roles: [dpo]\n", actor="alice")
    ws.access.add_user("dana", roles=["dpo"], actor="alice")
    result = ws.forget.erase(EraseRequest(subjects=["Q000"], reason="r"), actor="dana")
    after = ws.read("small-k3", purpose="training", actor="alice")
    expected = before.filter(~((pl.col("age").cast(pl.Int64) == 30) & (pl.col("sex") == "F")))
    assert after.sort("score").equals(expected.sort("score"))
    step = next(s for s in result.receipt["stores"] if s["dataset"] == "small-k3")
    assert (step["rows_removed"], step["suppressed"]) == (1, 2)


def test_an_l_diverse_copy_stays_l_diverse_after_an_erasure(ws: Workspace, tmp_path: Path):
    """X is the only one of their class with their diagnosis: without X the class still has
    k rows but one diagnosis, so it is suppressed to keep ℓ = 2."""
    table = pl.DataFrame(
        {
            "person_id": [f"Q{i:03d}" for i in range(10)],
            "age": [30] * 4 + [40] * 6,
            "diagnosis": ["flu", "cold", "cold", "cold", "flu", "cold", "flu", "cold", "flu", "x"],
        }
    )
    path = tmp_path / "diag.csv"
    table.write_csv(path)
    ws.ingest(path, name="diag", owner="alice", purposes=["training"], actor="alice",
              subject_id="person_id")  # fmt: skip
    request = ProtectRequest(
        k=3, l=2, quasi_identifiers=["age"], sensitive=["diagnosis"], max_suppression=0.0
    )
    ws.deid.protect("diag", request, output="diag-l2", actor="alice")
    before = ws.read("diag-l2", purpose="training", actor="alice")
    assert before.height == 10
    ws.access.set_policy("erasure_roles: [dpo]\n", actor="alice")
    ws.access.add_user("dana", roles=["dpo"], actor="alice")
    ws.forget.erase(EraseRequest(subjects=["Q000"], reason="r"), actor="dana")
    after = ws.read("diag-l2", purpose="training", actor="alice")
    assert after.equals(before.filter(pl.col("age").cast(pl.Int64) != 30))
    assert after.group_by("age").agg(pl.col("diagnosis").n_unique())["diagnosis"].min() >= 2
