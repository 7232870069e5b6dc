"""The minimization advisor on Adult with three planted identifying columns (issue 21).

``python bench/bench_minimize.py [--repeats 3]`` times ``privet minimize`` on a workspace
dataset (the governed read included) against scikit-learn's ``SequentialFeatureSelector``
(backward, the same gradient boosting, 2-fold CV) asked for as many columns as privet keeps:
the library one would reach for to pick a smaller feature set, which weighs utility only.
Both chosen sets are then scored the same way (3-fold accuracy of a fresh model). Prints
the timing, the accuracy/risk table per set and per column, and writes
bench/out/minimize.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import polars as pl

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"


def _matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    out = []
    for c in columns:
        s = frame.get_column(c)
        if s.dtype == pl.String:
            s = s.rank("dense")
        out.append(s.to_physical().cast(pl.Float64).to_numpy())
    return np.column_stack(out)


def _accuracy(frame: pl.DataFrame, columns: list[str], y: np.ndarray) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    model = HistGradientBoostingClassifier(random_state=5)
    return float(cross_val_score(model, _matrix(frame, columns), y, cv=3).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from privet import Workspace
    from privet.datasets import PLANTED, adult_with_identifiers
    from privet.deid import MinimizeRequest

    work = OUT / "minimize-work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "ws").mkdir(parents=True)
    os.environ["PRIVET_KEY_DIR"] = str(work / "keys")
    frame = adult_with_identifiers()
    source = work / "adult.parquet"
    frame.write_parquet(source)
    with Workspace.init(work / "ws", actor="alice") as ws:
        ws.ingest(source, name="adult", owner="alice", purposes=["research"], actor="alice",
                  roles=dict.fromkeys(PLANTED, "quasi_identifier"))  # fmt: skip
    times, report = [], None
    for _ in range(args.repeats):
        with Workspace.open(work / "ws") as ws:
            started = time.perf_counter()
            report = ws.deid.minimize("adult", MinimizeRequest(target="income"), actor="alice")
            times.append(time.perf_counter() - started)
    assert report is not None

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_selection import SequentialFeatureSelector

    candidates = report.full.columns
    y = (frame.get_column("income") == ">50K").cast(pl.Int64).to_numpy()
    started = time.perf_counter()
    selector = SequentialFeatureSelector(
        HistGradientBoostingClassifier(random_state=0),
        n_features_to_select=len(report.recommended.columns),
        direction="backward",
        cv=2,
    ).fit(_matrix(frame, candidates), y)
    peer_seconds = time.perf_counter() - started
    peer_columns = [c for c, kept in zip(candidates, selector.get_support(), strict=True) if kept]

    result = {
        "privet_seconds": times,
        "privet_median": statistics.median(times),
        "peer": "sklearn SequentialFeatureSelector(backward, cv=2)",
        "peer_seconds": peer_seconds,
        "ratio_peer_over_privet": peer_seconds / statistics.median(times),
        "accuracy_3fold": {
            "all": _accuracy(frame, candidates, y),
            "privet": _accuracy(frame, report.recommended.columns, y),
            "peer": _accuracy(frame, peer_columns, y),
        },
        "peer_columns": peer_columns,
        "peer_keeps_planted": [c for c in PLANTED if c in peer_columns],
        "report": report.model_dump(mode="json"),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "minimize.json").write_text(json.dumps(result, indent=2))
    print(f"privet minimize: median {result['privet_median']:.1f} s of {times}")
    print(f"peer ({result['peer']}): {peer_seconds:.1f} s, "
          f"{result['ratio_peer_over_privet']:.1f}x privet")  # fmt: skip
    print("3-fold accuracy:", {k: round(v, 4) for k, v in result["accuracy_3fold"].items()})
    print("privet keeps:", report.recommended.columns)
    print("peer keeps:  ", peer_columns, "planted kept:", result["peer_keeps_planted"])
    print("| set | columns | accuracy (held out) | sample uniques | membership AUC | inference |")
    for label, figures in (("all", report.full), ("recommended", report.recommended)):
        inference = "; ".join(
            f"{f.sensitive} {f.accuracy:.3f} (base {f.base_rate:.3f})" for f in figures.inference
        )
        print(f"| {label} | {len(figures.columns)} | {figures.utility:.4f} | "
              f"{figures.sample_uniques:.4f} | {figures.membership_auc:.4f} | "
              f"{inference or '-'} |")  # fmt: skip
    print("| column | accuracy added | unique alone | uniqueness added | best inference lift | "
          "membership AUC added | kept |")  # fmt: skip
    for c in sorted(report.columns, key=lambda c: -c.utility_added):
        lift = max(c.inference.values(), default=0.0)
        print(f"| {c.column} | {c.utility_added:+.4f} | {c.unique_alone:.3f} | "
              f"{c.uniqueness_added:.3f} | {lift:+.3f} | {c.membership_added:+.4f} | "
              f"{'yes' if c.kept else ''} |")  # fmt: skip


if __name__ == "__main__":
    main()
