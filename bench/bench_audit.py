"""Membership-inference audit: privet's RMIA and LiRA against ML Privacy Meter's RMIA.

Same target setup for both: Adult, an MLP with one hidden layer of 256 units, Adam, 200
epochs, 5,000 training rows; audited on 5,000 members and 5,000 non-members. privet trains
its target with ``train(no_dp=True, train_rows=5000)`` and audits it with 1, 2, 4 and 8
reference models trained on population rows (``--reference-data population``) and on its
training rows minus half the audited records (``training``); Privacy Meter (its own
``run_mia.py``, in bench/.venv-mlpm, driven by mlpm_driver.py) trains its target and 2·(N+1)
models on 10,000 Adult rows encoded the same way, with a disjoint 10,000-row population.
Both tools' scores are turned into AUC and TPR at low FPR by the same function here. Privacy
Meter has no LiRA: its RMIA is the reference for both of privet's attacks. privet's time
includes training its target.

    .venv/bin/python bench/bench_audit.py               # full (Privacy Meter: ~10-30 min)
    .venv/bin/python bench/bench_audit.py --repeats 3   # 3 independent targets per tool, means
    .venv/bin/python bench/bench_audit.py --quick       # smoke run
    .venv/bin/python bench/bench_audit.py --no-peer     # privet only

Set up the peer once: ``--setup-peer`` makes the venv bench/.venv-mlpm (torch==2.13.0, the
CPU build, and what Privacy Meter imports); its source (github privacytrustlab/ml_privacy_meter)
goes in bench/out/audit/mlpm-src (or --mlpm-source DIR).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out" / "audit"
sys.path.insert(0, str(BENCH.parent / "src"))

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from privet import Workspace  # noqa: E402
from privet.attacks import MembershipAuditRequest  # noqa: E402
from privet.datasets import adult  # noqa: E402
from privet.dp import TrainRequest  # noqa: E402

OWNER = "alice"


def metrics(scores: np.ndarray, members: np.ndarray) -> dict[str, float]:
    """AUC (rank formula) and TPR at FPR ≤ 1%, 0.1%: one function for both tools."""
    scores, members = np.asarray(scores, dtype=np.float64), np.asarray(members, dtype=bool)
    ranks = pl.Series(scores).rank("average").to_numpy()
    pos, neg = members.sum(), (~members).sum()
    auc = (ranks[members].sum() - pos * (pos + 1) / 2) / (pos * neg)
    out = {"auc": float(auc)}
    negatives = np.sort(scores[~members])[::-1]
    for fpr in (0.01, 0.001):
        allowed = int(np.floor(fpr * neg))  # false positives allowed
        # A threshold strictly above the (allowed+1)-th highest non-member score.
        cut = negatives[allowed] if allowed < neg else -np.inf
        out[f"tpr@{fpr}"] = float((scores[members] > cut).mean())
    return out


def privet_run(ws: Workspace, args: argparse.Namespace, repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = ws.dp.train(
            "adult",
            TrainRequest(
                target="income",
                name="target",
                purpose="benchmark",
                no_dp=True,
                model="mlp",
                hidden_units=256,
                epochs=args.epochs,
                batch_size=args.batch_size,
                learning_rate=args.lr,
                train_rows=args.train_rows,
                seed=1 + repeat,
            ),
            actor=OWNER,
        )
    train_seconds = time.perf_counter() - started
    model = ws.dp.load_model("target", actor=OWNER)
    runs = []
    for attack, data, n in itertools.product(args.attacks, args.reference_data, args.refs):
        t0 = time.perf_counter()
        request = MembershipAuditRequest(
            attack=attack,
            reference_models=n,
            reference_data=data,
            # train_rows keeps each row by its own coin: about, not exactly, that many.
            audit_size=min(args.audit_size, info.card["split"]["train_count"]),
            plot=OUT / f"privet-{attack}-{data}-{n}.png",
            seed=100 * repeat + n,
        )
        result = ws.audit.membership("target", request, actor=OWNER)
        audit_seconds = time.perf_counter() - t0
        runs.append(
            {
                "repeat": repeat,
                "attack": attack,
                "reference_data": data,
                "reference_models": n,
                "auc": result.auc,
                "tpr@0.01": result.tpr_at_fpr["0.01"],
                "tpr@0.001": result.tpr_at_fpr["0.001"],
                "members": result.members,
                "audit_seconds": audit_seconds,
                "seconds": audit_seconds + train_seconds,
                "parameters": result.parameters,
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    return {
        "train_seconds": train_seconds,
        "held_out_accuracy": info.card["evaluation"]["accuracy"],
        "model": model,
        "runs": runs,
    }


def encode_for_peer(model: Any, frame: pl.DataFrame, args: argparse.Namespace, repeat: int) -> dict:
    """10,000 audit rows and a disjoint population, encoded exactly as privet's model sees them."""
    rng = np.random.default_rng(7 + repeat)
    order = rng.permutation(frame.height)
    size = 2 * args.audit_size
    picked, population = order[:size], order[size : size + args.population]
    classes = [str(c) for c in model.card["classes"]]
    y = np.array([classes.index(v) for v in frame["income"].to_list()])
    x = model.encode(frame).numpy()
    return {"x": x[picked], "y": y[picked], "pop_x": x[population], "pop_y": y[population]}


def peer_run(arrays: dict, args: argparse.Namespace, repeat: int) -> dict[str, Any]:
    python = BENCH / ".venv-mlpm" / "bin" / "python"
    source = Path(args.mlpm_source)
    if not python.exists() or not (source / "run_mia.py").exists():
        return {"error": f"peer not set up ({python} or {source}/run_mia.py missing)"}
    work = OUT / "mlpm-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    np.savez(work / "data.npz", **arrays)
    config = {
        "run": {
            "random_seed": 12345 + repeat,
            "log_dir": "log",
            "time_log": True,
            "num_experiments": 1,
        },
        "audit": {
            "privacy_game": "privacy_loss_model",
            "algorithm": "RMIA",
            "num_ref_models": args.peer_refs,
            "device": "cpu",
            "report_log": "report_rmia",
            "batch_size": 5000,
            "data_size": 2 * args.audit_size,
            "population_size": args.population,
        },
        "train": {
            "model_name": "mlp",
            "device": "cpu",
            "batch_size": args.batch_size,
            "optimizer": "Adam",
            "learning_rate": args.peer_lr,
            "weight_decay": 0,
            "epochs": args.epochs,
        },
        "data": {"dataset": "adult", "data_dir": "data"},
    }
    (work / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    # One BLAS thread, as privet uses for models this small: on a shared 2-core machine more
    # threads only spin against each other (its DataLoader workers are left as it sets them).
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    t0 = time.perf_counter()
    with open(OUT / f"mlpm-{repeat}.log", "w") as log:
        done = subprocess.run(
            [str(python), str(BENCH / "mlpm_driver.py"), str(source), str(work), "config.yaml"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        return {"error": f"Privacy Meter exited with {done.returncode}; see {log.name}"}
    found = np.load(work / "log" / "report" / "exp" / "attack_result_0.npz")
    models = json.loads((work / "log" / "models" / "models_metadata.json").read_text())
    meta = models["0"]
    return {
        "repeat": repeat,
        "reference_models": args.peer_refs,
        "models_trained": len(models),
        "seconds": seconds,
        "own_auc": float(found["auc"]),
        "train_accuracy": meta["train_acc"],
        "test_accuracy": meta["test_acc"],
        **metrics(found["scores"], found["memberships"]),
    }


PEER_PACKAGES = [
    "torch==2.13.0",  # the CPU build available locally; unpinned, pip pulls a GPU build
    "transformers",
    "peft",
    "datasets",
    "accelerate",
    "opacus",
    "scikit-learn",
    "pandas",
    "matplotlib",
    "pyyaml",
    "tqdm",
    "numpy",
]


def setup_peer() -> None:
    venv = BENCH / ".venv-mlpm"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PEER_PACKAGES], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--mlpm-source", default=str(OUT / "mlpm-src"))
    parser.add_argument("--peer-refs", type=int, default=4)
    parser.add_argument("--refs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--attacks", nargs="+", default=["rmia", "lira"])
    parser.add_argument("--reference-data", nargs="+", default=["population", "training"])
    parser.add_argument("--repeats", type=int, default=1, help="independent targets per tool")
    parser.add_argument("--setup-peer", action="store_true", help="make bench/.venv-mlpm")
    args = parser.parse_args()
    if args.setup_peer:
        setup_peer()
        return
    args.epochs, args.train_rows, args.audit_size, args.population = 200, 5000, 5000, 10000
    args.batch_size, args.lr, args.peer_lr = 128, 1e-3, 1e-2  # peer's schedule scales lr by 0.1
    if args.quick:
        args.epochs, args.train_rows, args.audit_size, args.population = 10, 1000, 500, 2000
        args.refs, args.peer_refs = [1, 2], 1
    OUT.mkdir(parents=True, exist_ok=True)
    frame = adult()
    runs, peers, targets = [], [], []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            os.environ["PRIVET_KEY_DIR"] = str(base / "keys")
            ws = Workspace.init(base / "ws", actor=OWNER)
            frame.write_parquet(base / "adult.parquet")
            ws.ingest(
                base / "adult.parquet",
                name="adult",
                owner=OWNER,
                purposes=["benchmark"],
                actor=OWNER,
            )
            print(f"repeat {repeat}: privet target + audits", flush=True)
            mine = privet_run(ws, args, repeat)
            model = mine.pop("model")
            mine["train_accuracy"] = accuracy(model, frame)
            arrays = encode_for_peer(model, frame, args, repeat)
            ws.close()
        runs += mine.pop("runs")
        targets.append(mine)
        if not args.no_peer:
            peers.append(peer_run(arrays, args, repeat))
            print(json.dumps({"peer": peers[-1]}), flush=True)
    summary = summarize(runs, [p for p in peers if "seconds" in p])
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_end": os.getloadavg(),
        "setup": dict(vars(args)),
        "privet_targets": targets,
        "privet_runs": runs,
        "peer_runs": peers,
        "summary": summary,
    }
    (OUT / "results.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"means over {args.repeats} repeat(s); ratio = Privacy Meter's time / privet's")
    print(
        f"{'tool, attack, reference data':<34}{'refs':>5}{'AUC':>7}{'TPR@1%':>8}{'TPR@.1%':>8}"
        f"{'s':>7}{'ratio':>7}  goal"
    )
    for row in summary:
        print(
            f"{row['label']:<34}{row['reference_models']:>5}{row['auc']:>7.3f}"
            f"{row['tpr@0.01']:>8.4f}{row['tpr@0.001']:>8.4f}{row['seconds']:>7.0f}"
            f"{row.get('ratio', float('nan')):>7.1f}  {row.get('meets_goal', '')}"
        )
    print(f"written {OUT / 'results.json'}")


def summarize(runs: list[dict], peers: list[dict]) -> list[dict[str, Any]]:
    """Means per (attack, reference data, reference models) and for the peer; the goal check."""
    keys = ("auc", "tpr@0.01", "tpr@0.001", "seconds")
    rows = []
    if peers:
        peer = {k: float(np.mean([p[k] for p in peers])) for k in keys}
        rows.append(
            {
                "label": "Privacy Meter rmia",
                "reference_models": peers[0]["reference_models"],
                **peer,
            }
        )
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault(
            (run["attack"], run["reference_data"], run["reference_models"]), []
        ).append(run)
    for (attack, data, n), group in groups.items():
        row = {"label": f"privet {attack}, {data}", "reference_models": n}
        row.update({k: float(np.mean([r[k] for r in group])) for k in keys})
        if peers:
            row["ratio"] = peer["seconds"] / row["seconds"]
            row["meets_goal"] = (
                row["tpr@0.01"] >= peer["tpr@0.01"]
                and row["tpr@0.001"] >= peer["tpr@0.001"]
                and row["seconds"] * 5 <= peer["seconds"]
            )
        rows.append(row)
    return rows


def accuracy(model: Any, frame: pl.DataFrame) -> float:
    """The target's accuracy on its own training rows (how far it overfits)."""
    from privet.dp import unpack_rows

    split = model.card["split"]
    rows = unpack_rows(split["train"], split["rows"])
    sub = frame[rows]
    return float((model.predict(sub) == sub["income"]).mean())


if __name__ == "__main__":
    main()
