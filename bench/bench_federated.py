"""Federated rounds (issue 18): SecAgg+ and DP against plain FedAvg, in the same run.

Ten parties, each a governed workspace holding a tenth of Adult's training file (IID), train
privet's logistic regression and its MLP with Flower's simulation runtime, four ways:
plain FedAvg, SecAgg+ alone, DP-SGD alone (ε = 8 per party), and SecAgg+ with DP. A
round's time is the median of rounds 2..R (round 1 also starts Ray's workers); the
protocol's share of a SecAgg+ round is (SecAgg+ − plain) / SecAgg+. The four ways run in
turn, twice (``--repeats``), and each keeps its fastest median: other load on a shared
machine only ever slows a run down.

    .venv/bin/python bench/bench_federated.py            # about 10 minutes
    .venv/bin/python bench/bench_federated.py --quick    # logreg only, 4 rounds

Goal (issue 18): a round with SecAgg+ and DP at most 2× the plain round, for both recipes.
Flower alone (the issue's measurement, Adult, logistic regression, 10 IID clients): plain
0.32 s, SecAgg+ (7 shares, threshold 4) 0.82 s, 2.6×.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH.parent))  # tests.federated_support builds the parties


def run(
    parties: Any, model: str, rounds: int, secagg: bool, epsilon: float | None, repeat: int
) -> dict:
    from tests.federated_support import BOUNDS, FEATURES, PURPOSE, public_keys

    from privet import Workspace
    from privet.federated import federate_request, secagg_settings

    with tempfile.TemporaryDirectory() as folder:
        coord = Workspace.init(Path(folder) / "coordinator", actor="carol")
        # A new name each run: every party keeps a copy of the model under it.
        name = f"{model}-{'secagg' if secagg else 'plain'}-{epsilon or 'nodp'}-{repeat}"
        request = federate_request(
            name=name,
            target="income",
            purpose=PURPOSE,
            keys=public_keys(),
            bounds=BOUNDS,
            features=FEATURES,
            model=model,
            rounds=rounds,
            epsilon=epsilon,
            secagg=secagg_settings(len(parties), 7, 4) if secagg else None,
        )
        started = time.perf_counter()
        result = coord.federated.train(parties, request, actor="carol")
        total = time.perf_counter() - started
        coord.close()
    later = [r.seconds for r in result.rounds[1:]]
    return {
        "model": model,
        "secagg": secagg,
        "epsilon": epsilon,
        "round_s": statistics.median(later),
        "first_round_s": result.rounds[0].seconds,
        "total_s": total,
        "accuracy": result.accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parties", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from tests.federated_support import federation

    from privet import Workspace
    from privet.datasets import adult
    from privet.dp import BudgetRequest

    rounds = 4 if args.quick else 8
    models = ["logreg"] if args.quick else ["logreg", "mlp"]
    train = adult("train")
    size = train.height // args.parties
    results = []
    with tempfile.TemporaryDirectory() as folder:
        fed = federation(Path(folder), [train.slice(i * size, size) for i in range(args.parties)])
        for party in fed.parties:  # every DP run here spends ε = 8 from each party's ledger
            with Workspace.open(party.workspace) as ws:
                ws.dp.budget("adult", BudgetRequest(epsilon=100.0), actor="alice")
        for model in models:
            for repeat in range(args.repeats):
                for secagg, epsilon in [(False, None), (True, None), (False, 8.0), (True, 8.0)]:
                    row = run(fed.parties, model, rounds, secagg, epsilon, repeat)
                    results.append(row)
                    print(json.dumps(row), flush=True)
    print()
    print("| recipe | plain round | SecAgg+ | DP | SecAgg+ and DP | ratio | protocol share |")
    print("|---|---|---|---|---|---|---|")
    for model in models:
        by: dict[tuple[bool, float | None], float] = {}
        for r in results:
            if r["model"] == model:
                key = (r["secagg"], r["epsilon"])
                by[key] = min(by.get(key, float("inf")), r["round_s"])
        plain, both = by[(False, None)], by[(True, 8.0)]
        share = (by[(True, None)] - plain) / by[(True, None)]
        print(
            f"| {model} | {plain:.2f} s | {by[(True, None)]:.2f} s | {by[(False, 8.0)]:.2f} s "
            f"| {both:.2f} s | {both / plain:.2f}× | {share:.0%} |"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "federated.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
