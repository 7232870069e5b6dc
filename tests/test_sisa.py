"""Unlearnable (SISA) models, blocked models and retraining (issue 16, acceptance 2 and 3).

Each claim is checked against an independent computation: the unlearned model against a
model trained from scratch, through the public API, on a dataset that never held the
erased people; membership leakage by an AUC computed here (Mann-Whitney) from the model's
own likelihoods, before and after unlearning.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from scipy.stats import mannwhitneyu
from sqlalchemy import select

from privet import InvalidInput, PolicyDenied, Workspace
from privet.catalog import subject_link
from privet.datasets import raw_people
from privet.dp import TrainRequest, unpack_rows
from privet.schema import DpModel
from tests.conftest import invoke

PURPOSE = "training"
FEATURES = ["age", "education", "marital_status", "occupation", "sex", "hours_per_week"]
BOUNDS = {"age": (17.0, 90.0), "hours_per_week": (1.0, 99.0)}
CATEGORIES = [
    "education",
    "marital_status",
    "occupation",
    "sex",
    "workclass",
    "relationship",
    "race",
    "native_country",
]
SLOW = bool(os.environ.get("PRIVET_SLOW"))


@pytest.fixture(autouse=True)
def _quiet() -> None:
    warnings.simplefilter("ignore")  # every model here is no_dp, and says so


def keys_of(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The categories as public keys: both models then see the same encoding."""
    columns = [*CATEGORIES, "income"]
    return {c: sorted(v for v in frame[c].unique().to_list() if v is not None) for c in columns}


def ingest(ws: Workspace, frame: pl.DataFrame, name: str, *, subject: bool = True) -> None:
    path = Path(ws.hazmat.store.root).parent / f"{name}.csv"
    frame.write_csv(path)
    ws.ingest(
        path,
        name=name,
        owner="tester",  # PRIVET_USER in the CLI (conftest)
        purposes=[PURPOSE],
        actor="tester",
        subject_id="person_id" if subject else None,
    )


def sisa_request(name: str, keys: dict[str, list[str]], **options: object) -> TrainRequest:
    base: dict[str, object] = {
        "target": "income",
        "name": name,
        "purpose": PURPOSE,
        "features": FEATURES,
        "bounds": BOUNDS,
        "keys": keys,
        "no_dp": True,
        "unlearnable": True,
        "shards": 3,
        "slices": 4,
        "seed": 11,
        "epochs": 4,
    }
    return TrainRequest.model_validate({**base, **options})


def members(ws: Workspace, name: str) -> list[torch.nn.Module]:
    return list(ws.dp.load_model(name, actor="tester").module.members)


@pytest.fixture
def sws(project: Path) -> Workspace:
    ws = Workspace.init(project, actor="tester")
    yield ws
    ws.close()


# -- requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"unlearnable": True}, "unlearnable"),  # with DP: not yet
        ({"no_dp": True, "shards": 3}, "shards"),  # shards without unlearnable
        ({"no_dp": True, "unlearnable": True, "shards": 1}, "shards"),  # one shard is no SISA
        ({"no_dp": True, "unlearnable": True, "slices": 0}, "slices"),
    ],
)
def test_bad_sisa_requests_are_one_sentence(options: dict[str, object], parameter: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        TrainRequest.model_validate(
            {"target": "income", "name": "m", "purpose": PURPOSE, **options}
        )
    assert caught.value.parameter == parameter


def test_unlearnable_needs_a_subject_id(sws: Workspace) -> None:
    frame = raw_people(200)
    ingest(sws, frame, "rows", subject=False)
    with pytest.raises(InvalidInput, match="subject id") as caught:
        sws.dp.train("rows", sisa_request("m", keys_of(frame)), actor="tester")
    assert caught.value.parameter == "unlearnable"


# -- acceptance 2: bit for bit ----------------------------------------------------------------


def _several_rows_each(frame: pl.DataFrame) -> pl.DataFrame:
    """A table where a third of the people have two rows (another week's hours)."""
    extra = frame.head(frame.height // 3).with_columns(pl.col("hours_per_week") + 1)
    return pl.concat([frame, extra])


@pytest.mark.parametrize("shape", ["one row per person", "several rows per person"])
def test_unlearning_equals_training_from_scratch_without_them(sws: Workspace, shape: str) -> None:
    frame = raw_people(1500)
    if shape != "one row per person":
        frame = _several_rows_each(frame)
    keys = keys_of(frame)
    ingest(sws, frame, "people")
    sws.dp.train("people", sisa_request("m", keys), actor="tester")
    card = sws.dp.model("m", actor="tester").card
    trained = unpack_rows(card.split.train, card.split.rows)
    # Two trained people (one with two rows in the second table), found by their ids.
    gone = sorted({frame["person_id"][int(trained[0])], frame["person_id"][int(trained[7])]})
    links = [subject_link(sws.hazmat, pid) for pid in gone]
    before = members(sws, "m")

    result = sws.dp.unlearn("m", links=links, actor="tester")

    # Independently: the same request, from scratch, on a dataset that never held them.
    ingest(sws, frame.filter(~pl.col("person_id").is_in(gone)), "without")
    sws.dp.train("without", sisa_request("fresh", keys), actor="tester")
    after, fresh = members(sws, "m"), members(sws, "fresh")
    for s in range(3):
        for (name, a), (_, b) in zip(
            after[s].state_dict().items(), fresh[s].state_dict().items(), strict=True
        ):
            assert torch.equal(a, b), f"shard {s} {name} differs from training from scratch"
        untouched = s not in result.shards
        assert (result.hashes_before[s] == result.hashes_after[s]) == untouched
        if untouched:  # never retrained: the very same tensors as before
            for a, b in zip(before[s].parameters(), after[s].parameters(), strict=True):
                assert torch.equal(a, b)
    assert 1 <= len(result.shards) <= 2
    assert result.slices_retrained == sum(4 - start for start in result.shards.values())
    assert sws.dp.model("m", actor="tester").card.sisa.shard_hashes == result.hashes_after

    # Idempotent: asking again retrains nothing.
    again = sws.dp.unlearn("m", links=links, actor="tester")
    assert again.shards == {} and again.hashes_after == result.hashes_after
    entries = [r.event for r in sws.log.records() if r.event["event"] == "model.unlearned"]
    assert len(entries) == 2
    logged = str(entries)
    assert not any(secret in logged for secret in [*gone, *links])


def test_public_card_withholds_shard_counts(sws: Workspace) -> None:
    frame = raw_people(400)
    ingest(sws, frame, "people")
    sws.dp.train("people", sisa_request("m", keys_of(frame), shards=2, slices=2), actor="tester")
    public = sws.dp.models()[0].card
    assert public.sisa is not None and public.sisa.shard_rows is None
    assert "sisa.shard_rows" in (public.withheld or [])
    full = sws.dp.model("m", actor="tester").card
    assert full.sisa is not None and sum(full.sisa.shard_rows or []) == full.split.train_count


@pytest.mark.parametrize("rows", [48_842] if SLOW else [8_000])
def test_five_shards_are_about_as_accurate_as_one_model(sws: Workspace, rows: int) -> None:
    frame = raw_people(rows)
    keys = keys_of(frame)
    ingest(sws, frame, "people")
    common = {"epochs": 10, "seed": 3}
    single = sws.dp.train(
        "people",
        TrainRequest(
            target="income",
            name="single",
            purpose=PURPOSE,
            features=FEATURES,
            bounds=BOUNDS,
            keys=keys,
            no_dp=True,
            **common,
        ),
        actor="tester",
    )
    sws.dp.train("people", sisa_request("sisa", keys, shards=5, **common), actor="tester")
    # Scored here, for both, on rows neither trained on (each model draws its own split).
    cards = [sws.dp.model(name, actor="tester").card for name in ("sisa", "single")]
    test = np.intersect1d(*[unpack_rows(c.split.test, c.split.rows) for c in cards])
    held = frame[test]
    truth = held["income"].to_list()

    def accuracy(name: str) -> float:
        predicted = sws.dp.load_model(name, actor="tester").predict(held).to_list()
        return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))

    assert accuracy("sisa") >= accuracy("single") - 0.015
    assert single.card.evaluation.accuracy is not None


# -- acceptance 3: unlearning verified by attack -----------------------------------------------


def _likelihood(ws: Workspace, name: str, frame: pl.DataFrame) -> np.ndarray:
    """The model's probability of each record's true label: the attacker's score."""
    model = ws.dp.load_model(name, actor="tester")
    classes = [str(c) for c in model.card.classes or []]
    with torch.no_grad():
        p = torch.sigmoid(model.module(model.encode(frame)).squeeze(1)).numpy()
    positive = np.array([str(v) == classes[1] for v in frame["income"].to_list()])
    return np.where(positive, p, 1 - p)


def _auc(members: np.ndarray, others: np.ndarray) -> float:
    return float(mannwhitneyu(members, others).statistic / (len(members) * len(others)))


def test_unlearned_subjects_look_like_strangers(sws: Workspace) -> None:
    erased = 500  # fast enough (about 10 s) in its full form
    # Overfit on purpose: few rows per shard, a wide network, many epochs.
    # Shuffled before the split, so that the erased and the never-seen are drawn alike.
    everyone = raw_people(round(1.6 * erased) + erased).sample(fraction=1.0, shuffle=True, seed=3)
    frame, strangers = everyone.head(round(1.6 * erased)), everyone.tail(erased)
    ingest(sws, frame, "people")
    overfit = sisa_request(
        "m",
        keys_of(everyone),
        # fnlwgt (a census weight) is close to unique per person: easy to memorize.
        features=[*FEATURES, "fnlwgt", "workclass", "relationship", "race", "native_country"],
        bounds={**BOUNDS, "fnlwgt": (0.0, 1_500_000.0)},
        model="mlp",
        hidden_units=256,
        epochs=300,
        batch_size=64,
        shards=2,
        slices=2,
        test_fraction=0.2,
    )
    sws.dp.train("people", overfit, actor="tester")
    card = sws.dp.model("m", actor="tester").card
    trained = unpack_rows(card.split.train, card.split.rows)
    chosen = np.random.default_rng(5).choice(trained, erased, replace=False)
    gone = frame[chosen]
    n = erased
    # The 99% chance interval of the AUC under H0 (sd from Mann-Whitney): the workspace's
    # random key places people in shards and splits, so each run is a new draw, and a 95%
    # interval would fail one run in twenty by chance alone.
    half_width = 2.576 * np.sqrt((n + n + 1) / (12 * n * n))

    before = _auc(_likelihood(sws, "m", gone), _likelihood(sws, "m", strangers))
    links = [subject_link(sws.hazmat, pid) for pid in gone["person_id"].to_list()]
    sws.dp.unlearn("m", links=links, actor="tester")
    after = _auc(_likelihood(sws, "m", gone), _likelihood(sws, "m", strangers))

    assert before > 0.5 + half_width, before
    assert abs(after - 0.5) <= half_width, after


# -- blocked models ----------------------------------------------------------------------------


def test_blocked_model_is_refused_until_retrained(sws: Workspace, project: Path) -> None:
    frame = raw_people(400)
    ingest(sws, frame, "people")
    plain = TrainRequest(
        target="income",
        name="plain",
        purpose=PURPOSE,
        features=FEATURES,
        bounds=BOUNDS,
        no_dp=True,
        epochs=2,
        seed=1,
    )
    sws.dp.train("people", plain, actor="tester")
    with sws.hazmat.session() as session:  # what subject erasure does to such a model
        row = session.scalars(select(DpModel).where(DpModel.name == "plain")).one()
        row.blocked, row.blocked_at = "contains-erased-subject", sws.hazmat.now()
        old_key = row.object_key
        session.commit()
    with pytest.raises(PolicyDenied, match="erased subject"):
        sws.dp.load_model("plain", actor="tester")
    assert sws.dp.models()[0].blocked == "contains-erased-subject"
    workspace = project
    used = invoke("audit", "plain", "--attack", "loss", workspace=workspace)
    assert used.exit_code == 1
    assert "its owner must retrain it before it is used again" in used.output
    assert "Traceback" not in used.output

    done = invoke("retrain", "plain", "--json", workspace=workspace)
    assert done.exit_code == 0, done.output
    assert sws.dp.load_model("plain", actor="tester").predict(frame.head(3)).len() == 3
    info = sws.dp.model("plain", actor="tester")
    assert info.blocked is None
    assert not (Path(sws.hazmat.store.root) / old_key).exists()  # the old weights are gone
    assert [r for r in sws.log.records() if r.event["event"] == "model.retrained"]


def test_only_the_owner_retrains_or_unlearns(sws: Workspace) -> None:
    frame = raw_people(300)
    ingest(sws, frame, "people")
    sws.dp.train("people", sisa_request("m", keys_of(frame), shards=2, slices=2), actor="tester")
    with pytest.raises(PolicyDenied):
        sws.dp.retrain("m", actor="mallory")
    with pytest.raises(PolicyDenied):
        sws.dp.unlearn("m", links=["00"], actor="mallory")
