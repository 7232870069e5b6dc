"""SISA unlearning against full retraining, and SISA accuracy against one model (issue 16).

On the bundled Adult data (``privet.datasets.raw_people``: Adult with a subject id), for
S = 2, 5, 10 shards (R = 4 slices, an MLP of 64 units, 20 epochs, no DP):

- accuracy of the SISA ensemble and of one model trained by the same request without
  shards, both scored here on the ensemble's held-out rows;
- the time to unlearn one trained subject (``ws.dp.unlearn``, averaged over a few
  subjects, each a real unlearning) against a full retrain of the same SISA model
  (``ws.dp.retrain``), end to end (both re-read and re-encode the version);
- the same two for the training alone (``privet.dp._sisa.fit`` from scratch against
  ``fit(..., previous=...)`` without the subject), which is what the paper's speed-up
  counts (Bourtoule et al. 2021, 4.63× at S = 10 on Purchase; the goal here is ≥ 0.8·S).

    .venv/bin/python bench/bench_sisa.py            # a few minutes
    .venv/bin/python bench/bench_sisa.py --quick    # smoke run (8,000 rows, S = 2, 5)
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
FEATURES = [
    "age",
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
]
BOUNDS = {
    "age": (17.0, 90.0),
    "capital_gain": (0.0, 100_000.0),
    "capital_loss": (0.0, 5_000.0),
    "hours_per_week": (1.0, 99.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--subjects", type=int, default=3, help="subjects unlearned per S")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import os

    from privet import Workspace
    from privet.catalog import subject_link, subject_links
    from privet.datasets import raw_people
    from privet.dp import TrainRequest, _sisa, unpack_rows
    from privet.dp import _model_store as models
    from privet.dp import _sisa_fit as sf

    rows = 8_000 if args.quick else None
    sizes = (2, 5) if args.quick else (2, 5, 10)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sisa-"))
    os.environ.setdefault("PRIVET_KEY_DIR", str(tmp / "keys"))
    frame = raw_people(rows)
    path = tmp / "people.csv"
    frame.write_csv(path)
    ws = Workspace.init(tmp / "ws", actor="owner")
    ws.ingest(
        path,
        name="people",
        owner="owner",
        purposes=["training"],
        actor="owner",
        subject_id="person_id",
    )
    keys = {
        c: sorted(v for v in frame[c].unique().to_list() if v is not None)
        for c in [*(f for f in FEATURES if f not in BOUNDS), "income"]
    }
    common: dict[str, Any] = {
        "target": "income",
        "purpose": "training",
        "features": FEATURES,
        "bounds": BOUNDS,
        "keys": keys,
        "no_dp": True,
        "model": "mlp",
        "epochs": 20,
        "seed": 1,
    }
    started = time.perf_counter()
    ws.dp.train("people", TrainRequest(name="single", **common), actor="owner")
    single_seconds = time.perf_counter() - started
    single = ws.dp.load_model("single", actor="owner")
    links_all = subject_links(ws.hazmat, frame["person_id"])
    results = []
    for shards in sizes:
        name = f"sisa-{shards}"
        request = TrainRequest(name=name, unlearnable=True, shards=shards, slices=4, **common)
        started = time.perf_counter()
        ws.dp.train("people", request, actor="owner")
        train_seconds = time.perf_counter() - started
        card = ws.dp.model(name, actor="owner").card
        # Rows neither model trained on: both held-out sets (each model draws its own).
        single_card = ws.dp.model("single", actor="owner").card
        test = np.intersect1d(
            unpack_rows(card.split.test, card.split.rows),
            unpack_rows(single_card.split.test, single_card.split.rows),
        )
        held = frame[test]
        truth = np.array(held["income"].to_list())
        ensemble = ws.dp.load_model(name, actor="owner")
        acc_sisa = float(np.mean(np.array(ensemble.predict(held).to_list()) == truth))
        acc_single = float(np.mean(np.array(single.predict(held).to_list()) == truth))

        started = time.perf_counter()
        ws.dp.retrain(name, actor="owner")
        retrain_seconds = time.perf_counter() - started
        trained = unpack_rows(card.split.train, card.split.rows)
        picks = np.random.default_rng(shards).choice(trained, args.subjects, replace=False)
        unlearn_seconds, stages, erased = [], [], []
        for i in picks:
            # The version is not rewritten here, so each call names everyone erased so far.
            erased.append(subject_link(ws.hazmat, str(frame["person_id"][int(i)])))
            result = ws.dp.unlearn(name, links=erased, actor="owner")
            unlearn_seconds.append(result.seconds)
            stages.append(result.slices_retrained)

        # The training alone: from scratch against resuming without one subject.
        with_links = frame.with_row_index(sf.ROW).with_columns(links_all.alias(sf.LINK))
        stored = ws.dp.model(name, actor="owner").card
        arranged = sf.arrange(
            with_links,
            features=stored.features,
            target=sf.target_feature(stored),
            task=stored.task,
            shards=shards,
            slices=4,
            test_fraction=0.2,
            keep=1.0,
        )
        recipe = models.recipe_of(stored)
        started = time.perf_counter()
        full, _ = _sisa.fit(recipe, arranged.data)
        full_fit = time.perf_counter() - started
        fit_seconds, fit_stages = [], []
        for i in picks:
            link = links_all[int(i)]
            fewer = sf.arrange(
                with_links,
                features=stored.features,
                target=sf.target_feature(stored),
                task=stored.task,
                shards=shards,
                slices=4,
                test_fraction=0.2,
                keep=1.0,
                drop={link},
            )
            started = time.perf_counter()
            _, redone = _sisa.fit(recipe, fewer.data, previous=full)
            fit_seconds.append(time.perf_counter() - started)
            fit_stages.append(sum(4 - s for s in redone.values()))
        row = {
            "shards": shards,
            "accuracy_sisa": round(acc_sisa, 4),
            "accuracy_single": round(acc_single, 4),
            "train_s": round(train_seconds, 2),
            "retrain_s": round(retrain_seconds, 2),
            "unlearn_s": round(statistics.mean(unlearn_seconds), 2),
            "speedup_end_to_end": round(retrain_seconds / statistics.mean(unlearn_seconds), 2),
            "fit_full_s": round(full_fit, 3),
            "fit_unlearn_s": round(statistics.mean(fit_seconds), 3),
            "speedup_training": round(full_fit / statistics.mean(fit_seconds), 2),
            "stages_retrained": stages,
            "goal_0.8S": 0.8 * shards,
        }
        results.append(row)
        print(json.dumps(row), flush=True)
    OUT.mkdir(exist_ok=True)
    report = {
        "rows": frame.height,
        "single_train_s": round(single_seconds, 2),
        "subjects": args.subjects,
        "results": results,
    }
    (OUT / "sisa.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({"rows": frame.height, "single_train_s": report["single_train_s"]}))
    ws.close()


if __name__ == "__main__":
    _ = pl  # polars is what the frames are
    main()
