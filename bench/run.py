"""privet's benchmarks, each against its peer in the same run: ``python bench/run.py``.

1. Ingest/export throughput of a generated CSV (default 1 GiB) against plain Polars on the
   same file, with peak RSS and a stage breakdown of privet's ingest and export.
2. Audit-log appends, verification, checkpoint and inclusion proof against the raw floor:
   plain sqlite3 inserts of the same rows and plain hashlib over the same entries.

Every measurement runs in its own subprocess (see ops.py). Throughput figures take the
*best* of ``--repeats`` runs (least disturbed by other load on a shared machine); privet
and its peer alternate, so slow drift hits both. CPU-time ratios are reported beside the
wall-time ones as a check on how much other load distorted a run. Prints a table and writes
bench/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from datagen import people_csv

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
WORK = OUT / "run-work"  # namespaced: other bench scripts share bench/out
KEYS = OUT / "run-keys"  # outside every workspace under WORK, as Workspace.init requires
MB = 1e6  # throughput is in decimal MB/s; --size-mb is in MiB so 1024 gives >= 1 GB

# metric, unit, privet, peer, ratio, cpu ratio, goal, goal met
Row = tuple[str, str, float, float | None, float | None, float | None, str, bool | None]
Runs = list[dict[str, Any]]


def op(name: str, **args: Any) -> dict[str, Any]:
    env = {**os.environ, "PRIVET_KEY_DIR": str(KEYS)}
    env.pop("PRIVET_WORKSPACE", None)
    load = os.getloadavg()[0]
    done = subprocess.run(
        [sys.executable, str(BENCH / "ops.py"), name, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"bench op {name} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_before"] = load  # other work on the machine inflates wall times; keep a trace
    return result


def best(runs: Runs) -> dict[str, Any]:
    return min(runs, key=lambda r: r["seconds"])


def paired(
    privet: tuple[str, dict[str, Any]], peer: tuple[str, dict[str, Any]], repeats: int
) -> tuple[Runs, Runs]:
    """Alternate privet and its peer ``repeats`` times; return (all privet, all peer) runs."""
    runs: tuple[Runs, Runs] = ([], [])
    for r in range(repeats):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for side in order:
            name, args = (privet, peer)[side]
            runs[side].append(op(name, **args))
    return runs


def throughput(size_mb: int, repeats: int) -> dict[str, Any]:
    csv = people_csv(OUT, size_mb)
    csv_bytes = csv.stat().st_size
    plain_pq = WORK / "plain.parquet"
    ws = WORK / "ws-ingest"
    results: dict[str, Any] = {"csv": str(csv.relative_to(BENCH.parent)), "csv_bytes": csv_bytes}

    privet_runs, plain_runs = paired(
        ("ingest_privet", {"csv": str(csv), "root": str(ws)}),
        ("ingest_plain", {"csv": str(csv), "parquet": str(plain_pq)}),
        repeats,
    )
    results["ingest"] = _compare(privet_runs, plain_runs, csv_bytes / MB)  # last ws is kept

    for fmt in ("csv", "parquet"):
        p, q = paired(
            ("export_privet", {"root": str(ws), "dest": str(WORK / f"privet-export.{fmt}")}),
            ("export_plain", {"parquet": str(plain_pq), "dest": str(WORK / f"plain-export.{fmt}")}),
            repeats,
        )
        results[f"export_{fmt}"] = _compare(p, q, csv_bytes / MB)
        for side in ("privet", "plain"):
            (WORK / f"{side}-export.{fmt}").unlink(missing_ok=True)

    # Stage timings: each stage's least time over up to 3 runs (a stage slowed by other load
    # in one run is not slowed in all), wall and CPU.
    stage_runs = min(repeats, 3)
    for name, args in (
        ("ingest_stages", {"csv": str(csv), "root": str(WORK / "ws-stages")}),
        ("read_stages", {"csv": str(csv)}),
        ("export_stages", {"root": str(ws), "dest": str(WORK / "stages.csv")}),
    ):
        runs = [op(name, **args) for _ in range(stage_runs)]
        results[name] = {k: min(r[k] for r in runs) for k in runs[0]}
    shutil.rmtree(WORK / "ws-stages", ignore_errors=True)
    (WORK / "stages.csv").unlink(missing_ok=True)
    return results


def _compare(privet: Runs, peer: Runs, work: float | None = None) -> dict[str, Any]:
    """Rates (``work``, else each run's own "work", per second) of the best run of each side.

    ``ratio`` is privet's best rate over the peer's (1.0: as fast as the peer). ``cpu_ratio``
    is the same from CPU time (all threads), which other load on the machine moves much less
    than wall time.
    """

    def rates(runs: Runs, key: str) -> float:
        return max((work or r["work"]) / r[key] for r in runs)

    return {
        "privet": rates(privet, "seconds"),
        "peer": rates(peer, "seconds"),
        "ratio": rates(privet, "seconds") / rates(peer, "seconds"),
        "cpu_ratio": rates(privet, "cpu_seconds") / rates(peer, "cpu_seconds"),
        "privet_peak_rss_mb": max(r.get("peak_rss_mb", 0) for r in privet),
        "peer_peak_rss_mb": max(r.get("peak_rss_mb", 0) for r in peer),
        "privet_runs": privet,
        "peer_runs": peer,
    }


def audit_log(entries: int, single: int, repeats: int) -> dict[str, Any]:
    """Each append run is split into ``repeats`` consecutive segments, taken like repeats
    (best segment); verify runs ``repeats`` times, best taken."""
    results: dict[str, Any] = {"entries": entries}
    roots = {batch: WORK / f"log-{batch}" for batch in (1000, 10_000, 1)}
    main = str(roots[1000])
    for batch, root in roots.items():
        count = single if batch == 1 else entries
        args = {"entries": count, "batch": batch, "segments": repeats}
        privet = op("log_append", root=str(root), **args)
        # Same table definition as privet's, read from the catalog it just created.
        with sqlite3.connect(root / ".privet" / "catalog.db") as db:
            (ddl,) = db.execute(
                "SELECT sql FROM sqlite_master WHERE name = 'log_entries'"
            ).fetchone()
        floor = op("sqlite_floor", path=str(WORK / "floor.db"), ddl=ddl, **args)
        results[f"append_batch_{batch}"] = {
            **_compare(privet["segments"], floor["segments"]),
            "privet_mean": count / privet["seconds"],
            "peer_mean": count / floor["seconds"],
            "peer_encode_us": floor["encode_seconds"] / count * 1e6,
            "load_before": privet["load_before"],
            "privet_peak_rss_mb": privet["peak_rss_mb"],
            "peer_peak_rss_mb": floor["peak_rss_mb"],
        }
        if batch != 1000:
            shutil.rmtree(root, ignore_errors=True)  # only the batch-1000 log is reused
    verify = [op("log_verify", root=main) for _ in range(repeats)]
    floors = [op("hash_floor", root=main) for _ in range(repeats)]
    results["verify"] = _compare(verify, floors, verify[0]["entries"])
    results["checkpoint"] = op("log_checkpoint", root=main)
    results["prove_inclusion"] = op("log_prove", root=main, repeats=max(3, repeats))
    return results


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if "model name" in ln), "?"
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    versions = {p: metadata.version(p) for p in ("polars", "pyarrow", "tink", "sqlalchemy")}
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "ram_gib": round(mem_kb / (1 << 20), 1),
        "cpu": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        **versions,
    }


def _row(label: str, unit: str, c: dict[str, Any], goal: str = "", met: bool | None = None) -> Row:
    return (label, unit, c["privet"], c["peer"], c["ratio"], c["cpu_ratio"], goal, met)


def table(results: dict[str, Any]) -> list[Row]:
    t, log = results["throughput"], results["audit_log"]
    rows = [_row("ingest CSV", "MB/s", t["ingest"], ">=0.7x", t["ingest"]["ratio"] >= 0.7)]
    for key in ("export_csv", "export_parquet"):
        goal = (">=0.7x", t[key]["ratio"] >= 0.7) if key == "export_csv" else ("", None)
        rows.append(_row(key.replace("_", " to "), "MB/s", t[key], *goal))
    for key in ("ingest", "export_csv", "export_parquet"):
        rss = t[key]["privet_peak_rss_mb"], t[key]["peer_peak_rss_mb"]
        rows.append((f"peak RSS, {key}", "MB", *rss, rss[1] / rss[0], None, "", None))
    for batch in (1000, 10_000, 1):
        a = log[f"append_batch_{batch}"]
        goal = (">=20k/s", a["privet"] >= 20_000) if batch > 1 else ("", None)
        rows.append(_row(f"log append {batch}/txn", "entries/s", a, *goal))
    v = log["verify"]
    rows.append(_row("log verify", "entries/s", v, ">=200k/s", v["privet"] >= 200_000))
    for key in ("checkpoint", "prove_inclusion"):
        rows.append((f"log {key}", "s", log[key]["seconds"], None, None, None, "", None))
    return rows


def print_table(rows: list[Row]) -> None:
    print(f"{'':<24}{'unit':>10}{'privet':>12}{'peer':>12}{'ratio':>8}{'cpu':>7}  goal")
    for metric, unit, privet, peer, ratio, cpu, goal, met in rows:
        cells = [f"{metric:<24}{unit:>10}{privet:>12,.1f}"]
        cells.append(f"{peer:>12,.1f}" if peer is not None else " " * 12)
        cells.append(f"{ratio:>7.2f}x" if ratio is not None else " " * 8)
        cells.append(f"{cpu:>6.2f}x" if cpu is not None else " " * 7)
        verdict = "" if met is None else (" met" if met else " MISSED")
        print("".join(cells) + f"  {goal}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, help="CSV size in MiB (default 1024; quick 64)")
    parser.add_argument("--log-entries", type=int, help="default 1,000,000; quick 100,000")
    parser.add_argument("--single", type=int, help="single-entry transactions (2,000; quick 300)")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (5; quick 1)")
    parser.add_argument("--quick", action="store_true", help="small sizes, about two minutes")
    args = parser.parse_args()
    quick = args.quick
    size_mb = args.size_mb or (64 if quick else 1024)
    entries = args.log_entries or (100_000 if quick else 1_000_000)
    single = args.single or (300 if quick else 2_000)
    repeats = args.repeats or (1 if quick else 5)

    shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree(KEYS, ignore_errors=True)
    WORK.mkdir(parents=True)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "params": {"size_mb": size_mb, "log_entries": entries, "single": single,
                   "repeats": repeats, "quick": quick, "statistic": "best of repeats"},
    }  # fmt: skip
    results["throughput"] = throughput(size_mb, repeats)
    results["audit_log"] = audit_log(entries, single, repeats)
    results["seconds"] = time.perf_counter() - started
    for folder in (WORK, KEYS):  # workspaces and their keys are of no use after the run
        shutil.rmtree(folder, ignore_errors=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(table(results))
    print(f"\n{results['seconds']:.0f} s; details in {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
