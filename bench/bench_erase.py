"""Subject erasure at scale (issue 16): one subject, then a batch of 1,000, from a 1M-row
dataset with 3 versions, 2 derived datasets and a SISA model.

The dataset is ``privet.datasets.raw_people`` repeated to ``--rows`` rows with fresh
``person_id`` values (generated here, never fetched). Version 1 is rows [0, n), version 2
rows [1000, n + 1000), version 3 rows [2000, n + 2000): every erased subject is picked among
rows all three hold. From version 3: a masked copy and a pseudonymized copy (operator-only
plans; both carry the keyed subject link), and a SISA model (logistic regression, S shards ×
R slices, no DP) trained on ``--train-rows`` of its rows; every erased subject is one the
model trained on, so each erasure really retrains shards.

Each erasure is timed in stages from its progress callback (finding the subjects, rewriting
the versions, synthetic data, models, signing the receipt); the shard retraining proper is
the time spent in ``privet.dp._sisa.fit`` (wrapped here to time it). "Excluding retraining"
is the whole erasure minus the models stage (which re-reads the model's version, retrains
the affected shards and stores the model) — the goal's measure.

    .venv/bin/python bench/bench_erase.py            # 1M rows (several minutes)
    .venv/bin/python bench/bench_erase.py --quick    # smoke run (20,000 rows, 100 subjects)

Prints a table and writes bench/out/erase.json (erase-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
SHIFT = 1000  # each version starts this many rows after the one before
FEATURES = ["age", "education_num", "hours_per_week", "sex", "marital_status"]
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
PSEUDONYM_PLAN = """
columns:
  email: pseudonym
  phone: pseudonym
  ssn: drop
  full_name: drop
  street_address: drop
  notes: drop
  person_id: drop
"""
CATEGORIES = {
    "email": "user.contact.email",
    "ssn": "user.government_id.national_identification_number",
    "full_name": "user.name",
    "race": "user.demographic.race_ethnicity",
}


def people(rows: int) -> pl.DataFrame:
    """``rows`` Adult rows with fresh, unique person ids (the bundled table repeated)."""
    from privet.datasets import raw_people

    base = raw_people()
    blocks = -(-rows // base.height)
    frame = pl.concat([base] * blocks).head(rows)
    ids = pl.format("P{}", pl.int_range(0, rows).cast(pl.String).str.zfill(8))
    return frame.with_columns(ids.alias("person_id"))


class Stages:
    """The progress callback: when each stage of an erasure began."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def __call__(self, stage: str) -> None:
        self.marks.append((stage, time.perf_counter()))

    def split(self, started: float, ended: float) -> dict[str, float]:
        """Seconds per stage kind (every "rewriting version i/n" summed as "rewrite")."""
        out: dict[str, float] = {}
        bounds = [*self.marks, ("end", ended)]
        for (stage, at), (_next, until) in zip(bounds, bounds[1:], strict=False):
            kind = {
                "finding the subjects": "locate",
                "synthetic data": "synthetic",
                "models": "models",
                "signing the receipt": "receipt",
            }.get(stage, "rewrite" if stage.startswith("rewriting") else stage)
            out[kind] = out.get(kind, 0.0) + (until - at)
        out["before_first_stage"] = (self.marks[0][1] if self.marks else ended) - started
        return {k: round(v, 3) for k, v in out.items()}


@contextmanager
def timed_fit() -> Iterator[list[float]]:
    """Time every SISA shard fit (the retraining proper) while the block runs."""
    from privet.dp import _sisa

    spent: list[float] = []
    original: Callable[..., Any] = _sisa.fit

    def fit(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - started)

    _sisa.fit = fit  # type: ignore[assignment]
    try:
        yield spent
    finally:
        _sisa.fit = original  # type: ignore[assignment]


def erase(ws: Any, subjects: list[str], *, reason: str) -> dict[str, Any]:
    from privet.forget import EraseRequest

    stages = Stages()
    with timed_fit() as fits:
        started = time.perf_counter()
        result = ws.forget.erase(
            EraseRequest(subjects=subjects, reason=reason), actor="dana", progress=stages
        )
        ended = time.perf_counter()
    split = stages.split(started, ended)
    total = ended - started
    models = split.get("models", 0.0)
    fit = sum(fits)
    stores = result.receipt["stores"]
    return {
        "subjects": len(subjects),
        "total_s": round(total, 3),
        "excluding_models_s": round(total - models, 3),
        "models_stage_s": round(models, 3),
        "shard_fit_s": round(fit, 3),
        "excluding_fit_s": round(total - fit, 3),
        "stages_s": split,
        "versions_rewritten": sum(s["action"] == "rewritten" for s in stores),
        "rows_removed": sum(s.get("rows_removed", 0) for s in stores),
        "models": [
            {"action": m["action"], "shards": m.get("shards")} for m in result.receipt["models"]
        ],
    }


def build(ws: Any, frame: pl.DataFrame, rows: int, tmp: Path, args: Any) -> dict[str, float]:
    from privet.deid import ProtectRequest, parse_plan
    from privet.dp import TrainRequest

    times: dict[str, float] = {}
    started = time.perf_counter()
    for number in range(3):
        path = tmp / f"v{number + 1}.csv"
        frame.slice(number * SHIFT, rows).write_csv(path)
        ws.ingest(
            path,
            name="people",
            owner="owner",
            purposes=["training"],
            actor="owner",
            subject_id="person_id",
            categories=CATEGORIES,
            new_version=number > 0,
        )
        path.unlink()
    times["ingest_3_versions_s"] = time.perf_counter() - started
    for output, plan in (("people-masked", MASK_PLAN), ("people-pseudo", PSEUDONYM_PLAN)):
        started = time.perf_counter()
        request = ProtectRequest(plan=parse_plan(plan))
        ws.deid.protect("people", request, output=output, actor="owner")
        times[f"protect_{output}_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ws.dp.train(
            "people",
            TrainRequest(
                target="income",
                name="sisa",
                purpose="training",
                features=FEATURES,
                no_dp=True,
                unlearnable=True,
                shards=args.shards,
                slices=args.slices,
                epochs=args.epochs,
                train_rows=args.train_rows if args.train_rows < rows else None,
                seed=1,
            ),
            actor="owner",
        )
    times["train_sisa_s"] = time.perf_counter() - started
    ws.access.set_policy("erasure_roles: [dpo]\n", actor="owner")
    ws.access.add_user("dana", roles=["dpo"], actor="owner")
    return {k: round(v, 2) for k, v in times.items()}


def trained_subjects(ws: Any, frame: pl.DataFrame, rows: int, count: int) -> list[str]:
    """``count`` subjects the SISA model trained on that every version holds."""
    from privet.dp import unpack_rows

    card = ws.dp.model("sisa", actor="owner").card
    trained = unpack_rows(card.split.train, card.split.rows)
    # Row i of version 3 is row i + 2·SHIFT of the frame; version 1 ends at row ``rows``.
    everywhere = trained[trained + 2 * SHIFT < rows]
    picks = np.random.default_rng(16).choice(everywhere, count, replace=False)
    ids = frame["person_id"]
    return [str(ids[int(i) + 2 * SHIFT]) for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 100 subjects")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=5)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.batch = 20_000, 100
    warnings.simplefilter("ignore")
    from privet import Workspace

    load_before = os.getloadavg()[0]  # other work on the machine inflates wall times
    tmp = Path(tempfile.mkdtemp(prefix="bench-erase-"))
    os.environ.setdefault("PRIVET_KEY_DIR", str(tmp / "keys"))
    frame = people(args.rows + 2 * SHIFT)
    ws = Workspace.init(tmp / "ws", actor="owner")
    setup = build(ws, frame, args.rows, tmp, args)
    print(json.dumps({"setup": setup}), flush=True)
    subjects = trained_subjects(ws, frame, args.rows, args.batch + 1)
    one = erase(ws, subjects[:1], reason="bench: one subject")
    print(json.dumps({"one": one}), flush=True)
    batch = erase(ws, subjects[1:], reason="bench: a batch")
    batch["per_subject_ms"] = round(batch["total_s"] / args.batch * 1000, 2)
    batch["per_subject_excluding_models_ms"] = round(
        batch["excluding_models_s"] / args.batch * 1000, 2
    )
    print(json.dumps({"batch": batch}), flush=True)
    ws.close()
    shutil.rmtree(tmp)  # three 1M-row versions and their derived copies: ~170 MB

    report = {
        "rows": args.rows,
        "versions": 3,
        "derived": ["people-masked", "people-pseudo"],
        "sisa": {
            "shards": args.shards,
            "slices": args.slices,
            "epochs": args.epochs,
            "train_rows": min(args.train_rows, args.rows),
            "model": "logreg",
        },  # fmt: skip
        "nproc": len(os.sched_getaffinity(0)),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "setup_s": setup,
        "one": one,
        "batch": batch,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / ("erase-quick.json" if args.quick else "erase.json")).write_text(
        json.dumps(report, indent=2)
    )
    rows = [
        ("one subject: total", f"{one['total_s']:.2f} s", ""),
        ("one subject: excluding the models stage", f"{one['excluding_models_s']:.2f} s", "< 10 s"),
        ("one subject: models stage (SISA unlearning)", f"{one['models_stage_s']:.2f} s", ""),
        ("one subject: shard retraining (fit only)", f"{one['shard_fit_s']:.2f} s", ""),
        ("one subject: excluding the fit only", f"{one['excluding_fit_s']:.2f} s", ""),
        (f"batch of {args.batch}: total", f"{batch['total_s']:.2f} s", ""),
        ("batch: per subject", f"{batch['per_subject_ms']:.1f} ms", "< 50 ms"),
        (
            "batch: per subject excluding the models stage",
            f"{batch['per_subject_excluding_models_ms']:.1f} ms",
            "",
        ),  # fmt: skip
    ]
    print(f"\n{args.rows:,} rows, 3 versions, 2 derived, SISA S={args.shards} R={args.slices}")
    for label, value, goal in rows:
        print(f"{label:<48} {value:>12}  {goal}")


if __name__ == "__main__":
    main()
