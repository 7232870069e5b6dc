"""Linkage risk at scale: privet's whole `risk A --link B` (two governed reads, shared-column
discovery, exact matches, the Splink model) against Splink alone on the same data, same run.

    PYTHONPATH=src python bench/bench_link.py --rows 1000000

Splink alone gets the same model privet builds (exact levels with term frequencies on the 5
columns, the same blocking rules, u by random sampling, m by EM, predict), on tables already in
memory: the difference is what privet adds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

COLUMNS = ["age", "sex", "zip", "occupation", "education"]


def tables(rows: int, seed: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A (a 90% sample) and B (the population) on 5 quasi-identifiers."""
    rng = np.random.default_rng(seed)
    pop = pl.DataFrame(
        {
            "age": rng.integers(18, 91, rows).astype(str),
            "sex": rng.choice(["F", "M"], rows),
            "zip": rng.integers(10000, 10400, rows).astype(str),
            "occupation": rng.integers(0, 20, rows).astype(str),
            "education": rng.integers(0, 16, rows).astype(str),
        }
    )
    return pop.sample(fraction=0.9, seed=seed, shuffle=True), pop.sample(
        fraction=1.0, seed=2, shuffle=True
    )


def splink_alone(a: pl.DataFrame, b: pl.DataFrame, rules: list[list[str]]) -> int:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    db = DuckDBAPI()
    inputs = [
        db.register(t.with_row_index("unique_id").to_arrow(), table_name=n)
        for t, n in ((a, "a"), (b, "b"))
    ]
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[cl.ExactMatch(c).configure(term_frequency_adjustments=True) for c in COLUMNS],
        blocking_rules_to_generate_predictions=[block_on(*r) for r in rules],
        probability_two_random_records_match=min(a.height, b.height) / (a.height * b.height),
        retain_matching_columns=False,
    )
    linker = Linker(inputs, settings, log_level=None)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=0)
    for rule in rules[1:]:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), fix_probability_two_random_records_match=True
        )
    return linker.inference.predict(warning_mode="never").as_pyarrow_table().num_rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from privet import Workspace

    a, b = tables(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ws").mkdir()
        with Workspace.init(root / "ws", actor="bench") as ws:
            for name, frame in (("a", a), ("b", b)):
                frame.write_parquet(root / f"{name}.parquet")
                ws.ingest(root / f"{name}.parquet", name=name, owner="o", purposes=["research"],
                          actor="bench", roles=dict.fromkeys(COLUMNS, "quasi_identifier"),
                          scan=False)  # fmt: skip
            start = time.perf_counter()
            report = ws.deid.linkage("a", "b", actor="bench")
            privet_s = time.perf_counter() - start
    model = report.probabilistic
    assert model is not None
    start = time.perf_counter()
    pairs = splink_alone(a, b, model.blocking)
    splink_s = time.perf_counter() - start
    assert pairs == model.candidate_pairs, (pairs, model.candidate_pairs)
    print(f"rows A {a.height:,} x B {b.height:,}; columns {[c.name for c in report.columns]}")
    print(f"blocking {model.blocking}; candidate pairs {pairs:,}")
    print(f"exact: unique matches {report.unique_matches:,}, re-identified {report.reidentified:,}")
    for p in model.at_precision:
        print(f"  precision {p.precision}: {p.accepted_pairs:,} pairs, expected correct "
              f"{p.expected_correct:,.1f}")  # fmt: skip
    print(f"privet --link {privet_s:.1f} s; Splink alone {splink_s:.1f} s; "
          f"privet adds {privet_s / splink_s - 1:+.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
