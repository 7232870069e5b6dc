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


def _rules(a: pl.DataFrame, b: pl.DataFrame) -> list[list[str]]:
    """The blocking rules privet chooses for these tables (all columns, then each "all but
    one" set within its pair budget), so both runs score the same pairs."""
    budget = 10 * max(a.height, b.height)
    rules = [COLUMNS]
    for dropped in COLUMNS:
        rest = [c for c in COLUMNS if c != dropped]
        fa, fb = a.group_by(rest).len("fa"), b.group_by(rest).len("fb")
        pairs = fa.join(fb, on=rest).select((pl.col("fa").cast(pl.Int64) * pl.col("fb")).sum())
        if pairs.item() <= budget:
            rules.append(rest)
    return rules


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
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import splink  # noqa: F401 - imported once, before either is timed

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
            # Alternating, Splink alone first: each round times both on the same machine state.
            # Splink alone is handed the blocking rules (worked out here, untimed).
            rules = _rules(a, b)
            splink_times, privet_times, exact_times = [], [], []
            for _ in range(args.rounds):
                start = time.perf_counter()
                pairs = splink_alone(a, b, rules)
                splink_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                report = ws.deid.linkage("a", "b", actor="bench")
                privet_times.append(time.perf_counter() - start)
                # What privet does besides the model: reads, column discovery, exact matches.
                start = time.perf_counter()
                ws.deid.linkage("a", "b", actor="bench", probabilistic=False)
                exact_times.append(time.perf_counter() - start)
    model = report.probabilistic
    assert model is not None
    assert pairs == model.candidate_pairs, (pairs, model.candidate_pairs)
    privet_s, splink_s = min(privet_times), min(splink_times)
    print(f"rows A {a.height:,} x B {b.height:,}; columns {[c.name for c in report.columns]}")
    print(f"blocking {model.blocking}; candidate pairs {pairs:,}")
    print(f"exact: unique matches {report.unique_matches:,}, re-identified {report.reidentified:,}")
    for p in model.at_precision:
        print(f"  precision {p.precision}: {p.accepted_pairs:,} pairs, expected correct "
              f"{p.expected_correct:,.1f}")  # fmt: skip
    print(f"rounds: privet {[round(t, 1) for t in privet_times]} s, "
          f"Splink alone {[round(t, 1) for t in splink_times]} s, "
          f"privet without the model {[round(t, 1) for t in exact_times]} s")  # fmt: skip
    print(f"best: privet --link {privet_s:.1f} s; Splink alone {splink_s:.1f} s; "
          f"privet adds {privet_s / splink_s - 1:+.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
