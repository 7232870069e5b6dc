"""Benchmarks of privet.deid against its peers, in one run.

1. Risk and k / ℓ / t on Adult (48,842 rows, 8 quasi-identifiers) and on a 1,000,000-row
   table, against pycanon: time and equality of the values. pycanon's ℓ and t loop over
   classes in Python; each pycanon measure runs in a child process with a time limit, and
   when it runs out the values are compared on a 100,000-row prefix instead (said so).
2. Optimal k = 5 anonymization of Adult, 8 quasi-identifiers, 5% suppression, against ARX
   on the same hierarchies (generated from privet's, written as ARX CSV hierarchies). ARX is
   not built here: ``--arx-classpath`` names an ARX you have (its classes and jars); a small
   driver calls its public API. The loss of both solutions is recomputed by one function.

    .venv/bin/python bench/bench_deid.py [--arx-classpath CLASSPATH] [--quick]

Results go to bench/out/deid.json and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from privet.datasets import adult
from privet.deid import (
    GroupsSpec,
    IntervalsSpec,
    Lattice,
    SuppressSpec,
    Target,
    assess_risk,
    build,
    information_loss,
    measure,
)

OUT = Path(__file__).parent / "out"
QIS = ["age", "workclass", "education", "marital_status", "occupation", "race", "sex",
       "native_country"]  # fmt: skip
SENSITIVE = "income"

# The hierarchies of the ARX comparison: age in 5/10/20-year bins, one middle level for
# workclass, education and marital status, the other quasi-identifiers straight to "*".
HIERARCHIES = {
    "age": IntervalsSpec(type="intervals", widths=[5, 10, 20]),
    "workclass": GroupsSpec(
        type="groups",
        levels=[
            {
                "Private": ["Private"],
                "Self-employed": ["Self-emp-not-inc", "Self-emp-inc"],
                "Government": ["Federal-gov", "Local-gov", "State-gov"],
                "Not working": ["Without-pay", "Never-worked"],
            }
        ],
    ),
    "education": GroupsSpec(
        type="groups",
        levels=[
            {
                "Primary": ["Preschool", "1st-4th", "5th-6th", "7th-8th"],
                "Secondary": ["9th", "10th", "11th", "12th", "HS-grad"],
                "Some college": ["Some-college", "Assoc-acdm", "Assoc-voc"],
                "Graduate": ["Bachelors", "Masters", "Prof-school", "Doctorate"],
            }
        ],
    ),
    "marital_status": GroupsSpec(
        type="groups",
        levels=[
            {
                "Married": ["Married-civ-spouse", "Married-AF-spouse", "Married-spouse-absent"],
                "Never married": ["Never-married"],
                "Previously married": ["Divorced", "Separated", "Widowed"],
            }
        ],
    ),
}


def timed(function, *args, repeat: int = 1, **kwargs):
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = function(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best, value


# -- 1. risk against pycanon ----------------------------------------------------------------


def _pycanon_measure(path: str, which: str, qis: list[str], sensitive: list[str], queue):
    import pandas as pd
    import pycanon.anonymity as pycanon

    data = pd.read_parquet(path)
    started = time.perf_counter()
    if which == "k":
        value = pycanon.k_anonymity(data, qis)
    elif which == "l":
        value = pycanon.l_diversity(data, qis, sensitive)
    else:
        value = pycanon.t_closeness(data, qis, sensitive)
    queue.put((time.perf_counter() - started, float(value)))


def pycanon_timed(frame: pl.DataFrame, which: str, qis, sensitive, limit: float):
    """(seconds, value) of one pycanon measure in a child process; None when over ``limit``."""
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "data.parquet")
        frame.write_parquet(path)
        queue: multiprocessing.Queue = multiprocessing.Queue()
        child = multiprocessing.Process(
            target=_pycanon_measure, args=(path, which, qis, sensitive, queue)
        )
        child.start()
        child.join(limit)
        if child.is_alive():
            child.terminate()
            child.join()
            return None
        return queue.get()


def privet_klt(frame: pl.DataFrame, qis, sensitive):
    k_time, _ = timed(measure, frame, qis, repeat=3)
    klt_time, _ = timed(measure, frame, qis, sensitive, repeat=3)
    report_time, report = timed(assess_risk, frame, qis, sensitive, repeat=3)
    return k_time, klt_time, report_time, report


def filled(frame: pl.DataFrame) -> pl.DataFrame:
    """pycanon's pandas group-by drops null keys: both sides get nulls as "?"."""
    return frame.with_columns(pl.col(pl.String).fill_null("?"))


def million_rows(seed: int = 7) -> pl.DataFrame:
    """Adult resampled to 1,000,000 rows, ages jittered by up to ±2 years (more classes)."""
    base = filled(adult()).select([*QIS, SENSITIVE])
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, base.height, 1_000_000)
    frame = base[picks]
    jitter = pl.Series(rng.integers(-2, 3, frame.height))
    return frame.with_columns((pl.col("age") + jitter).clip(17, 90).alias("age"))


def bench_risk(frame: pl.DataFrame, label: str, limit: float, prefix: int = 100_000) -> dict:
    qis, sensitive = QIS, [SENSITIVE]
    k_time, klt_time, report_time, report = privet_klt(frame, qis, sensitive)
    row = {
        "table": label,
        "rows": frame.height,
        "classes": report.classes,
        "privet_k_s": k_time,
        "privet_klt_s": klt_time,
        "privet_full_report_s": report_time,
        "privet": {"k": report.k, "l": report.l, "t": report.t},
        "pycanon": {},
        "pycanon_s": {},
        "notes": [],
    }
    for which in ("k", "l", "t"):
        result = pycanon_timed(frame, which, qis, sensitive, limit)
        if result is None:
            row["notes"].append(
                f"pycanon {which} did not finish in {limit:.0f} s on {frame.height:,} rows; "
                f"values compared on the first {prefix:,} rows"
            )
            part = frame.head(prefix)
            sub = assess_risk(part, qis, sensitive)
            again = pycanon_timed(part, which, qis, sensitive, limit)
            mine = {"k": sub.k, "l": sub.l, "t": sub.t}[which]
            row["pycanon_s"][which] = None
            row["pycanon"][which] = None
            row[f"prefix_{which}"] = {
                "privet": mine,
                "pycanon": None if again is None else again[1],
                "pycanon_s": None if again is None else again[0],
                "equal": again is not None and abs(mine - again[1]) < 1e-9,
            }
            continue
        row["pycanon_s"][which] = result[0]
        row["pycanon"][which] = result[1]
    row["equal"] = all(
        row["pycanon"][m] is None or abs(row["privet"][m] - row["pycanon"][m]) < 1e-9
        for m in ("k", "l", "t")
    )
    return row


# -- 2. optimal anonymization against ARX ---------------------------------------------------

ARX_DRIVER = r"""
import java.nio.charset.StandardCharsets;
import java.io.PrintWriter;
import org.deidentifier.arx.*;
import org.deidentifier.arx.AttributeType.Hierarchy;
import org.deidentifier.arx.criteria.KAnonymity;
import org.deidentifier.arx.metric.Metric;
import org.deidentifier.arx.metric.Metric.AggregateFunction;

/** privet's benchmark driver: one optimal k-anonymization per run, timings on stdout. */
public class PrivetArxBench {
    public static void main(String[] args) throws Exception {
        String dir = args[0];
        int k = Integer.parseInt(args[1]);
        double suppression = Double.parseDouble(args[2]);
        int runs = Integer.parseInt(args[3]);
        String[] qis = args[4].split(",");
        String[] others = args.length > 5 && !args[5].isEmpty()
            ? args[5].split(",") : new String[0];
        for (int run = 0; run < runs; run++) {
            long load = System.nanoTime();
            Data data = Data.create(dir + "/data.csv", StandardCharsets.UTF_8, ',');
            for (String q : qis) {
                data.getDefinition().setAttributeType(
                    q, Hierarchy.create(dir + "/h_" + q + ".csv", StandardCharsets.UTF_8, ';'));
            }
            for (String o : others) {
                data.getDefinition().setAttributeType(o, AttributeType.INSENSITIVE_ATTRIBUTE);
            }
            ARXConfiguration config = ARXConfiguration.create();
            config.addPrivacyModel(new KAnonymity(k));
            config.setSuppressionLimit(suppression);
            config.setQualityModel(Metric.createLossMetric(AggregateFunction.ARITHMETIC_MEAN));
            ARXAnonymizer anonymizer = new ARXAnonymizer();
            long start = System.nanoTime();
            ARXResult result = anonymizer.anonymize(data, config);
            long end = System.nanoTime();
            ARXLattice.ARXNode best = result.getGlobalOptimum();
            DataHandle out = result.getOutput();
            int suppressed = 0;
            StringBuilder rows = new StringBuilder();
            for (int r = 0; r < out.getNumRows(); r++) {
                if (out.isOutlier(r)) { suppressed++; rows.append(r).append('\n'); }
            }
            if (run == runs - 1) {
                try (PrintWriter w = new PrintWriter(dir + "/suppressed.txt", "UTF-8")) {
                    w.print(rows);
                }
            }
            StringBuilder levels = new StringBuilder();
            String[] names = best.getQuasiIdentifyingAttributes();
            int[] transformation = best.getTransformation();
            for (int i = 0; i < names.length; i++) {
                levels.append(i == 0 ? "" : ",").append('"').append(names[i]).append("\":")
                      .append(transformation[i]);
            }
            System.out.println("{\"run\":" + run + ",\"anonymize_ms\":" + (end - start) / 1e6
                + ",\"with_loading_ms\":" + (end - load) / 1e6
                + ",\"suppressed\":" + suppressed + ",\"levels\":{" + levels + "}"
                + ",\"score\":\"" + best.getHighestScore() + "\"}");
        }
    }
}
"""


def hierarchy_csv(frame: pl.DataFrame, column: str, hierarchy) -> str:
    """An ARX hierarchy file (value;level1;…;*) from privet's hierarchy, nulls as "?"."""
    domain = frame.select(pl.col(column).unique()).sort(column, nulls_last=True)
    labels = domain.with_columns(
        [hierarchy.expr(level).cast(pl.String).alias(f"l{level}")
         for level in range(hierarchy.height + 1)]
    )  # fmt: skip
    lines = []
    for row in labels.iter_rows():
        cells = ["?" if v is None else str(v) for v in row[1:]]
        lines.append(";".join(cells))
    return "\n".join(lines) + "\n"


def bench_arx(
    frame: pl.DataFrame,
    hierarchies: dict,
    classpath: str | None,
    runs: int,
    *,
    heap: str = "4g",
    work: Path | None = None,
) -> dict:
    """ARX's optimal k = 5 anonymization of ``frame`` in a JVM of ``heap`` (files in ``work``)."""
    if classpath is None:
        return {"measured": False, "why": "no --arx-classpath given"}
    if shutil.which("javac") is None:
        return {"measured": False, "why": "no JDK (javac) on this machine"}
    work = work or OUT / "arx-run"
    work.mkdir(parents=True, exist_ok=True)
    others = [c for c in frame.columns if c not in QIS]
    frame.with_columns(pl.col(pl.String).fill_null("?")).write_csv(work / "data.csv")
    for column in QIS:
        (work / f"h_{column}.csv").write_text(hierarchy_csv(frame, column, hierarchies[column]))
    (work / "PrivetArxBench.java").write_text(ARX_DRIVER)
    driver = str(work / "PrivetArxBench.java")
    subprocess.run(["javac", "-nowarn", "-cp", classpath, "-d", str(work), driver], check=True)
    started = time.perf_counter()
    process = subprocess.run(
        ["java", f"-Xmx{heap}", "-cp", f"{work}:{classpath}", "PrivetArxBench", str(work), "5",
         "0.05", str(runs), ",".join(QIS), ",".join(others)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    results = [json.loads(line) for line in process.stdout.splitlines() if line.startswith("{")]
    suppressed_rows = [int(x) for x in (work / "suppressed.txt").read_text().split()]
    kept = np.ones(frame.height, dtype=bool)
    kept[suppressed_rows] = False
    levels = results[-1]["levels"]
    loss, dm, nue = information_loss(frame, hierarchies, levels, kept)
    return {
        "measured": True,
        "arx_classpath": classpath,
        "runs": results,
        "first_run_ms": results[0]["anonymize_ms"],
        "best_run_ms": min(r["anonymize_ms"] for r in results),
        "best_with_loading_ms": min(r["with_loading_ms"] for r in results),
        "jvm_wall_s": wall,
        "levels": levels,
        "suppressed": results[-1]["suppressed"],
        "loss": loss,
        "discernibility": dm,
        "non_uniform_entropy": nue,
        "arx_score": results[-1]["score"],
    }


def bench_privet_anonymization(frame: pl.DataFrame, runs: int) -> tuple[dict, dict]:
    hierarchies = {
        q: build(q, HIERARCHIES.get(q, SuppressSpec(type="suppress")), frame.get_column(q))
        for q in QIS
    }
    timings, result, lattice, best = [], None, None, None
    for _ in range(runs):
        started = time.perf_counter()
        lattice = Lattice(
            frame, [hierarchies[q] for q in QIS], [], Target(k=5, max_suppression=0.05)
        )
        result, best = lattice.search()
        kept = lattice.rows_kept(best.node)
        out = frame.filter(pl.Series(kept)).with_columns(
            [hierarchies[c].expr(v).alias(c) for c, v in result.levels.items() if v > 0]
        )
        timings.append(time.perf_counter() - started)
    assert result is not None and lattice is not None and best is not None
    loss, dm, nue = information_loss(frame, hierarchies, result.levels, kept)
    check = assess_risk(out, QIS)
    return (
        {
            "first_run_s": timings[0],
            "best_run_s": min(timings),
            "search_s": result.seconds,
            "levels": result.levels,
            "suppressed": result.suppressed,
            "loss": loss,
            "search_loss": result.loss,
            "discernibility": dm,
            "non_uniform_entropy": nue,
            "evaluated": result.evaluated,
            "lattice_size": result.lattice_size,
            "k_after": check.k,
        },
        hierarchies,
    )


# -- driver -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arx-classpath", help="classpath of an ARX installation (classes, jars)")
    parser.add_argument("--quick", action="store_true", help="skip the 1M-row table")
    parser.add_argument("--limit", type=float, default=300.0, help="pycanon time limit, s")
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the anonymization")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    table = filled(adult())
    results: dict = {
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, Polars {pl.__version__}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    print("risk on Adult …", file=sys.stderr)
    results["risk_adult"] = bench_risk(table, "Adult", args.limit)
    if not args.quick:
        print("risk on 1M rows …", file=sys.stderr)
        results["risk_1m"] = bench_risk(million_rows(), "Adult resampled to 1M", args.limit)
    print("optimal k=5 on Adult …", file=sys.stderr)
    mine, hierarchies = bench_privet_anonymization(adult(), args.runs)
    results["anonymize_privet"] = mine
    results["anonymize_arx"] = bench_arx(adult(), hierarchies, args.arx_classpath, args.runs)
    (OUT / "deid.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
