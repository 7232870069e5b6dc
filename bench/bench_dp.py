"""Differential privacy benchmarks, each against its peer in the same run.

1. DP-SGD time per epoch (privet: Opacus per-sample gradients, Poisson sampling by index
   gaps, one fused clip/noise step) against plain PyTorch training of the same model where
   the loop slices tensors directly (the efficient floor), plus two references: plain
   training through a DataLoader, and Opacus as usually set up (PrivacyEngine.make_private
   with its Poisson DataLoader). Logistic regression and a 64-unit MLP on Adult, batch 256,
   the same ε for both DP runs.
2. DP query latency: privet's DP layer (SQL → calibrated OpenDP measurement → release with
   noise scales and 95% intervals) against calling OpenDP directly on the same Polars frame,
   both the idiomatic way (``dp.Context``) and the fastest way (``make_private_lazyframe``
   with a scale known in advance). The end-to-end ``ws.dp.query`` (decrypt, audit, ledger)
   is reported beside them.

Figures are medians of repeated runs; privet and its peer alternate so drift hits both.

    .venv/bin/python bench/bench_dp.py            # full (a few minutes)
    .venv/bin/python bench/bench_dp.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH.parent / "src"))

import polars as pl  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from privet.datasets import adult, raw_people  # noqa: E402
from privet.dp import QueryRequest, _opendp  # noqa: E402
from privet.dp import _accounting as acc  # noqa: E402
from privet.dp import sgd as _sgd  # noqa: E402
from privet.dp._features import Feature  # noqa: E402
from privet.dp._features import encode as _encode  # noqa: E402
from privet.dp._query import compile_query  # noqa: E402
from privet.dp._sql import parse  # noqa: E402
from privet.dp.randomness import SecureRandom  # noqa: E402

EPSILON, DELTA, BATCH = 8.0, 1e-5, 256
NUMERIC = {
    "age": (17, 90),
    "education_num": (1, 16),
    "capital_gain": (0, 100_000),
    "capital_loss": (0, 5_000),
    "hours_per_week": (1, 99),
}
CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]


# -- 1. DP-SGD ------------------------------------------------------------------------------


def adult_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    frame = adult()
    features = [
        Feature(name=c, kind="numeric", lower=lo, upper=hi, source="declared")
        for c, (lo, hi) in NUMERIC.items()
    ]
    features += [
        Feature(
            name=c,
            kind="categorical",
            source="declared",
            levels=sorted(v for v in frame[c].unique().to_list() if v is not None),
        )
        for c in CATEGORICAL
    ]
    x = _encode(frame, features)
    y = torch.tensor((frame["income"] == ">50K").to_list(), dtype=torch.float32)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    train = order[: int(0.8 * len(x))]
    return x[train].contiguous(), y[train].contiguous()


def model_for(kind: str, inputs: int) -> nn.Module:
    torch.manual_seed(0)
    return _sgd.build_model(kind, inputs, 1)


def epoch_plain_slicing(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The efficient floor: shuffle once per epoch, then slice contiguous batches."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    order = torch.randperm(len(x))
    xs, ys = x[order], y[order]
    for i in range(0, len(x), BATCH):
        optimizer.zero_grad()
        loss(model(xs[i : i + BATCH]).squeeze(1), ys[i : i + BATCH]).backward()
        optimizer.step()
    return time.perf_counter() - start


def epoch_plain_dataloader(model: nn.Module, loader: Any) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loss = nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss(model(xb).squeeze(1), yb).backward()
        optimizer.step()
    return time.perf_counter() - start


def epoch_privet(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigma: float) -> float:
    rate = BATCH / len(x)
    steps = max(1, round(len(x) / BATCH))
    start = time.perf_counter()
    _sgd.train_dp(
        model,
        x,
        y,
        task="classification",
        outputs=1,
        schedule=_sgd.Schedule(epochs=1, batch_size=BATCH, learning_rate=0.01),
        sample_rate=rate,
        steps=steps,
        noise_multiplier=sigma,
        clip=1.0,
        random=SecureRandom(),
    )
    return time.perf_counter() - start


def opacus_usual(
    kind: str, x: torch.Tensor, y: torch.Tensor, sigma: float, epochs: int
) -> list[float]:
    """Opacus as its tutorials set it up: PrivacyEngine.make_private over a DataLoader."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    model = model_for(kind, x.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    engine = PrivacyEngine(accountant="prv")
    model, optimizer, loader = engine.make_private(
        module=model,
        optimizer=optimizer,
        data_loader=loader,
        noise_multiplier=sigma,
        max_grad_norm=1.0,
        poisson_sampling=True,
    )
    loss = nn.BCEWithLogitsLoss()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb in loader:
            optimizer.zero_grad()
            if len(xb):
                loss(model(xb).squeeze(1), yb).backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def bench_sgd(epochs: int) -> list[dict[str, Any]]:
    from torch.utils.data import DataLoader, TensorDataset

    x, y = adult_tensors()
    rate, steps = BATCH / len(x), max(1, round(len(x) / BATCH))
    sigma = acc.calibrate(lambda s: [acc.Charge(acc.dp_sgd(s, rate, steps * 10))], EPSILON, DELTA)
    rows = []
    for kind in ("logreg", "mlp"):
        plain, loader_times, private = [], [], []
        loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
        m_plain, m_loader, m_dp = (model_for(kind, x.shape[1]) for _ in range(3))
        for _ in range(epochs + 1):  # the first epoch of each warms up and is dropped
            plain.append(epoch_plain_slicing(m_plain, x, y))
            private.append(epoch_privet(m_dp, x, y, sigma))
            loader_times.append(epoch_plain_dataloader(m_loader, loader))
        usual = opacus_usual(kind, x, y, sigma, max(2, epochs // 2) + 1)[1:]
        ms = {
            k: 1000 * statistics.median(v[1:])
            for k, v in (("plain", plain), ("dataloader", loader_times), ("privet", private))
        }
        ms["opacus_usual"] = 1000 * statistics.median(usual)
        rows.append(
            {
                "model": kind,
                "rows": len(x),
                "batch": BATCH,
                "noise_multiplier": sigma,
                "epsilon_10_epochs": EPSILON,
                "delta": DELTA,
                **{f"{k}_ms": v for k, v in ms.items()},
                "privet_over_plain": ms["privet"] / ms["plain"],
                "opacus_usual_over_plain": ms["opacus_usual"] / ms["plain"],
            }
        )
    return rows


# -- 2. DP queries ----------------------------------------------------------------------------

QUERIES = {
    "count by sex (declared keys)": (
        "SELECT sex, COUNT(*) AS n FROM people GROUP BY sex",
        {},
        {"sex": ["Female", "Male"]},
        0.0,
    ),
    "mean age": ("SELECT AVG(age) AS a FROM people", {"age": (17, 90)}, {}, 0.0),
    "count by occupation (discovered keys)": (
        "SELECT occupation, COUNT(*) AS n FROM people GROUP BY occupation",
        {},
        {},
        1e-7,
    ),
}


def opendp_context(frame: pl.DataFrame, name: str) -> None:
    """The same statistic with OpenDP's own Context API, written as its docs show."""
    dp = _opendp.dp
    loss = dp.loss_of(epsilon=1.0, delta=1e-7) if "discovered" in name else dp.loss_of(epsilon=1.0)
    context = dp.Context.compositor(
        data=frame.lazy(),
        privacy_unit=dp.unit_of(contributions=1, identifier=pl.col("person_id")),
        privacy_loss=loss,
        split_evenly_over=1,
        margins=[dp.polars.Margin(by=[], max_length=2 * frame.height + 1000)],
    )
    query = context.query().truncate_per_group(1)
    if name.startswith("count by sex"):
        keys = pl.DataFrame({"sex": ["Female", "Male"]})
        query = query.group_by("sex").agg(dp.len(signed=True)).with_keys(keys)
    elif name == "mean age":
        query = query.select(
            pl.col("age").fill_null(0).dp.sum((17, 90)).alias("s"),
            pl.col("age").dp.count(signed=True),
        )
    else:
        query = query.group_by("occupation").agg(dp.len(signed=True))
    query.release().collect()


def privet_layer(frame: pl.DataFrame, name: str) -> None:
    """privet's DP layer on the frame: parse, calibrate, release, intervals (no I/O)."""
    from privet.dp._query import _results, _summaries

    sql, bounds, keys, delta = QUERIES[name]
    schema = {c: str(t) for c, t in frame.schema.items()}
    parsed = parse(sql, table="people", schema=schema)
    prepared = compile_query(
        frame,
        parsed,
        bounds=bounds,
        keys=keys,
        discover=delta > 0,
        subject="person_id",
        max_rows_per_subject=1,
        epsilon=1.0,
        delta=delta,
        public_rows=frame.height,
    )
    summaries = _summaries(prepared, 0.05, halves=name == "mean age")
    _results(parsed, _opendp.release(prepared, frame), summaries, bounds, 0.05)


def bench_queries(repeats: int) -> list[dict[str, Any]]:
    frame = raw_people().select("person_id", "age", "sex", "occupation")
    rows = []
    for name in QUERIES:
        context_t, privet_t, floor_t = [], [], []
        for _ in range(repeats):  # interleaved, so drift in machine load hits all three
            start = time.perf_counter()
            opendp_context(frame, name)
            context_t.append(time.perf_counter() - start)
            floor_t.append(_floor(frame, name))
            start = time.perf_counter()
            privet_layer(frame, name)
            privet_t.append(time.perf_counter() - start)
        rows.append(
            {
                "query": name,
                "rows": frame.height,
                "opendp_context_ms": 1000 * statistics.median(context_t),
                "opendp_floor_ms": 1000 * statistics.median(floor_t),
                "privet_ms": 1000 * statistics.median(privet_t),
            }
        )
        r = rows[-1]
        r["privet_over_context"] = r["privet_ms"] / r["opendp_context_ms"] - 1
        r["privet_over_floor"] = r["privet_ms"] / r["opendp_floor_ms"] - 1
    rows.append(_end_to_end(frame.height))
    return rows


def _floor(frame: pl.DataFrame, name: str) -> float:
    """OpenDP with everything precomputed except building and running the measurement."""
    from privet.dp._query import _key_frame, _plan

    sql, bounds, keys, delta = QUERIES[name]
    schema = {c: str(t) for c, t in frame.schema.items()}
    parsed = parse(sql, table="people", schema=schema)
    dp = _opendp.dp
    domain = dp.with_margin(
        dp.domain_of(frame.lazy(), infer=True),
        dp.polars.Margin(by=[], max_length=2 * frame.height + 1000),
    )
    key_frame = _key_frame(keys, frame.schema) if keys else None
    plan = _plan(_opendp.source(frame, "person_id", 1), parsed, bounds, key_frame, frame.schema)
    measure = dp.approximate(dp.max_divergence()) if delta else dp.max_divergence()
    prepared = compile_query(
        frame,
        parsed,
        bounds=bounds,
        keys=keys,
        discover=delta > 0,
        subject="person_id",
        max_rows_per_subject=1,
        epsilon=1.0,
        delta=delta,
        public_rows=frame.height,
    )
    probe = dp.m.make_private_lazyframe(
        domain,
        dp.symmetric_id_distance(pl.col("person_id")),
        measure,
        plan,
        global_scale=1.0,
        threshold=prepared.threshold,
    )
    cost = probe.map(1)
    scale = (cost[0] if delta else cost) / prepared.epsilon
    start = time.perf_counter()
    m = dp.m.make_private_lazyframe(
        domain,
        dp.symmetric_id_distance(pl.col("person_id")),
        measure,
        plan,
        global_scale=scale,
        threshold=prepared.threshold,
    )
    m(frame.lazy()).collect()
    return time.perf_counter() - start


def _end_to_end(rows: int) -> dict[str, Any]:
    """ws.dp.query: broker read (decrypt, hash check), audit entries, ledger transaction."""
    from privet import Workspace
    from privet.vault import create_local_master_key

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        kms = create_local_master_key(base / "keys" / "k.json")
        (base / "p").mkdir()
        raw_people().write_csv(base / "people.csv")
        ws = Workspace.init(base / "p", kms_uri=kms, actor="o")
        ws.ingest(
            base / "people.csv",
            name="people",
            owner="o",
            purposes=["stats"],
            actor="o",
            subject_id="person_id",
        )
        ws.dp.set_budget("people", actor="o", epsilon=100)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            ws.dp.query(
                "people",
                QueryRequest(
                    sql="SELECT sex, COUNT(*) AS n FROM people GROUP BY sex",
                    epsilon=1.0,
                    purpose="stats",
                    keys={"sex": ["Female", "Male"]},
                ),
                actor="a",
            )
            times.append(time.perf_counter() - start)
        ws.close()
    return {
        "query": "end to end: ws.dp.query, count by sex",
        "rows": rows,
        "privet_ms": 1000 * statistics.median(times),
    }


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions.")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    started = time.time()
    load = os.getloadavg()[0]
    sgd = bench_sgd(epochs=3 if args.quick else 8)
    queries = bench_queries(repeats=3 if args.quick else 15)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": args.threads,
            "load_before": load,
            "load_after": os.getloadavg()[0],
        },
        "dp_sgd": sgd,
        "queries": queries,
        "seconds": round(time.time() - started, 1),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "results-dp.json").write_text(json.dumps(result, indent=2))
    print(
        "| model | plain slicing ms/epoch | DataLoader | Opacus as usual | privet DP-SGD | "
        "privet / plain | Opacus usual / plain |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in sgd:
        print(
            f"| {r['model']} | {r['plain_ms']:.0f} | {r['dataloader_ms']:.0f} | "
            f"{r['opacus_usual_ms']:.0f} | {r['privet_ms']:.0f} | "
            f"{r['privet_over_plain']:.2f}× | {r['opacus_usual_over_plain']:.2f}× |"
        )
    print()
    print(
        "| query | OpenDP Context ms | OpenDP floor ms | privet DP layer ms | vs Context | "
        "vs floor |"
    )
    print("|---|---|---|---|---|---|")
    for r in queries:
        if "opendp_context_ms" not in r:
            print(f"| {r['query']} | | | {r['privet_ms']:.1f} | | |")
            continue
        print(
            f"| {r['query']} | {r['opendp_context_ms']:.1f} | {r['opendp_floor_ms']:.1f} | "
            f"{r['privet_ms']:.1f} | {100 * r['privet_over_context']:+.0f}% | "
            f"{100 * r['privet_over_floor']:+.0f}% |"
        )
    print(
        f"\nload average before/after: {load:.2f} / {os.getloadavg()[0]:.2f}; {result['seconds']} s"
    )


if __name__ == "__main__":
    main()
