"""Time per federated round in real processes over loopback TLS: plain FedAvg against SecAgg+.

Issue 18's benchmark, the real-process side: ``privet federate --mode processes`` starts a
SuperLink and one SuperNode per party (TLS with certificates privet makes); each stage of a
round starts one ``flwr-clientapp`` process per party (Flower's process isolation), which
opens the party's workspace and, at the fit stage, reads through its broker. A SecAgg+ round
has four stages (setup, key shares, masked updates, unmasking), a plain round one.

Adult split IID over the parties (each a governed workspace with an approved grant),
logistic regression, the same request with and without SecAgg+ (7 shares, threshold 4 at
10 parties). Per round: the ServerApp's own timing (configure_fit to aggregate_fit); also
the start-up (processes up and joined) and the whole run.

    .venv/bin/python bench/bench_federated_processes.py            # 10 parties, 2 rounds
    .venv/bin/python bench/bench_federated_processes.py --quick    # 3 parties, 1 round

``measure(parties, rounds, secagg)`` is the callable form (bench/bench_federated.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
POLICY = """
approver_roles: [steward]
rules:
  - description: analysts train federated models, once a grant is approved
    roles: [analyst]
    views: [raw, aggregate]
    purposes: [research]
"""
KEYS = {
    "income": ["<=50K", ">50K"],
    "sex": ["Female", "Male"],
    "race": ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"],
    "relationship": [
        "Husband", "Wife", "Own-child", "Not-in-family", "Other-relative", "Unmarried",
    ],
}  # fmt: skip
BOUNDS = {"age": (17.0, 90.0), "hours_per_week": (1.0, 99.0), "education_num": (1.0, 16.0)}


def parties(root: Path, n: int, rows: int) -> list[Any]:
    """``n`` governed workspaces with ``rows`` rows of Adult each (IID) and bob's grant."""
    from privet import Workspace
    from privet.datasets import adult
    from privet.federated import Party
    from privet.policy import GrantRequest

    frame = adult().sample(fraction=1.0, shuffle=True, seed=18).head(rows * n)
    root.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(n):
        path, csv = root / f"party-{i}", root / f"adult-{i}.csv"
        frame.slice(rows * i, rows).write_csv(csv)
        with Workspace.init(path, actor="alice") as ws:
            ws.ingest(
                csv, name="adult", owner="alice", purposes=["research"], actor="alice", scan=False
            )
            ws.access.set_policy(POLICY, actor="alice")
            ws.access.add_user("alice", roles=["owner"], actor="alice")
            ws.access.add_user("bob", roles=["analyst"], actor="alice")
            asked = GrantRequest(
                dataset="adult", view="raw", purpose="research", duration_seconds=86_400,
                reason="federated training benchmark",
            )  # fmt: skip
            grant = ws.access.request_grant(asked, actor="bob").id
            ws.access.approve_grant(grant, actor="alice")
        csv.unlink()
        made.append(
            Party(name=f"p{i}", workspace=path, dataset="adult", actor="bob", purpose="research")
        )
    return made


def measure(
    n: int, rounds: int, secagg: bool, *, rows: int = 2000, root: Path | None = None
) -> dict[str, Any]:
    """One ``privet federate --mode processes`` run; its per-round and start-up seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-fed-") as tmp:
        base = root or Path(tmp)
        # The workspaces' master keys, beside them (the ClientApp processes inherit this).
        before = os.environ.get("PRIVET_KEY_DIR")
        os.environ["PRIVET_KEY_DIR"] = str(base / "keys")
        try:
            model, marks, total = _train(base, n, rounds, secagg, rows)
        finally:
            if before is None:
                os.environ.pop("PRIVET_KEY_DIR", None)
            else:
                os.environ["PRIVET_KEY_DIR"] = before
    per_round = [r.seconds for r in model.rounds]
    return {
        "parties": n,
        "rounds": rounds,
        "secagg": secagg,
        "rows_per_party": rows,
        "round_seconds": per_round,
        "mean_round_seconds": statistics.fmean(per_round),
        "updates": [r.updates for r in model.rounds],
        "failures": [r.failures for r in model.rounds],
        "startup_seconds": marks.get("joined"),
        "total_seconds": total,
        "accuracy": model.accuracy,
    }


def _train(
    base: Path, n: int, rounds: int, secagg: bool, rows: int
) -> tuple[Any, dict[str, float], float]:
    """Train across ``n`` fresh parties in processes; the model, progress marks, seconds."""
    from privet import Workspace
    from privet.federated._requests import FederateRequest, SecAgg

    listed = parties(base / ("secagg" if secagg else "plain"), n, rows)
    request = FederateRequest(
        name="bench-" + ("secagg" if secagg else "plain"),
        target="income",
        purpose="research",
        keys=KEYS,
        bounds=BOUNDS,
        rounds=rounds,
        mode="processes",
        secagg=SecAgg(num_shares=min(7, n), threshold=min(4, n - 1)) if secagg else None,
    )
    marks: dict[str, float] = {}
    begin = time.perf_counter()

    def progress(line: str) -> None:
        if "joined" in line:
            marks["joined"] = time.perf_counter() - begin

    with Workspace.init(base / f"coordinator-{secagg}", actor="carol") as ws:
        model = ws.federated.train(listed, request, actor="carol", progress=progress)
    total = time.perf_counter() - begin
    return model, marks, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 parties, 1 round")
    parser.add_argument("--parties", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=2000, help="rows of Adult per party")
    args = parser.parse_args()
    n, rounds = (3, 1) if args.quick else (args.parties, args.rounds)
    results = [measure(n, rounds, secagg, rows=args.rows) for secagg in (False, True)]
    plain, secure = results
    ratio = secure["mean_round_seconds"] / plain["mean_round_seconds"]
    print(f"real processes over loopback TLS, {n} parties, {rounds} round(s), logreg")
    for r in results:
        print(
            f"  {'SecAgg+' if r['secagg'] else 'plain  '}: "
            f"round {r['mean_round_seconds']:6.1f} s  (rounds {r['round_seconds']}), "
            f"start-up {r['startup_seconds']:.1f} s, run {r['total_seconds']:.1f} s, "
            f"updates {r['updates']}, failures {r['failures']}, accuracy {r['accuracy']}"
        )
    print(f"  SecAgg+ / plain per round: {ratio:.2f}x")
    OUT.mkdir(exist_ok=True)
    out = OUT / "federated_processes.json"
    out.write_text(json.dumps({"results": results, "secagg_over_plain": ratio}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
