"""privet's benchmarks, each against its peer in the same run: ``python bench/run.py``.

1. Ingest/export throughput of a generated CSV (default 1 GiB) against plain Polars on the
   same file, with peak RSS and a stage breakdown of privet's ingest and export.
2. Audit-log appends, verification, checkpoint and inclusion proof against the raw floor:
   plain sqlite3 inserts of the same rows and plain hashlib over the same entries.

Every measurement runs in its own subprocess (see ops.py). Throughput figures take the
*best* of ``--repeats`` runs (least disturbed by other load on a shared machine); privet
and its peer alternate, so slow drift hits both. Prints a table and writes
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
WORK = OUT / "work"
KEYS = OUT / "keys"  # outside every workspace under WORK, as Workspace.init requires
MB = 1e6  # throughput is in decimal MB/s; --size-mb is in MiB so 1024 gives >= 1 GB

Row = tuple[str, str, float, float | None, str, bool | None]
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
    results["ingest"] = _compare(privet_runs, plain_runs, csv_bytes)  # the last ws stays

    for fmt in ("csv", "parquet"):
        p, q = paired(
            ("export_privet", {"root": str(ws), "dest": str(WORK / f"privet-export.{fmt}")}),
            ("export_plain", {"parquet": str(plain_pq), "dest": str(WORK / f"plain-export.{fmt}")}),
            repeats,
        )
        results[f"export_{fmt}"] = _compare(p, q, csv_bytes)
        for side in ("privet", "plain"):
            (WORK / f"{side}-export.{fmt}").unlink(missing_ok=True)

    stages_ws = WORK / "ws-stages"
    shutil.rmtree(stages_ws, ignore_errors=True)
    results["ingest_stages"] = op("ingest_stages", csv=str(csv), root=str(stages_ws))
    shutil.rmtree(stages_ws, ignore_errors=True)
    results["read_stages"] = op("read_stages", csv=str(csv))
    results["export_stages"] = op("export_stages", root=str(ws), dest=str(WORK / "stages.csv"))
    (WORK / "stages.csv").unlink(missing_ok=True)
    return results


def _compare(privet: Runs, peer: Runs, nbytes: int) -> dict[str, Any]:
    p, q = best(privet), best(peer)
    return {
        "privet_mb_s": nbytes / MB / p["seconds"],
        "peer_mb_s": nbytes / MB / q["seconds"],
        "ratio": q["seconds"] / p["seconds"],
        "privet_peak_rss_mb": max(r["peak_rss_mb"] for r in privet),
        "peer_peak_rss_mb": max(r["peak_rss_mb"] for r in peer),
        "base_rss_mb": p["base_rss_mb"],
        "privet_seconds": [r["seconds"] for r in privet],
        "peer_seconds": [r["seconds"] for r in peer],
    }


def audit_log(entries: int, single: int, repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {"entries": entries}
    roots = {batch: WORK / f"log-{batch}" for batch in (1000, 10_000, 1)}
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)
    main = str(roots[1000])
    for batch, root in roots.items():
        count = single if batch == 1 else entries
        privet = op("log_append", root=str(root), entries=count, batch=batch)
        # Same table definition as privet's, read from the catalog it just created.
        with sqlite3.connect(root / ".privet" / "catalog.db") as db:
            (ddl,) = db.execute(
                "SELECT sql FROM sqlite_master WHERE name = 'log_entries'"
            ).fetchone()
        floor = op("sqlite_floor", path=str(WORK / "floor.db"), ddl=ddl, entries=count, batch=batch)
        results[f"append_batch_{batch}"] = {
            "privet_per_s": count / privet["seconds"],
            "peer_per_s": count / floor["seconds"],
            "ratio": floor["seconds"] / privet["seconds"],
            "encode_us_per_entry": floor["encode_seconds"] / count * 1e6,
            "privet_seconds": privet["seconds"],
            "peer_seconds": floor["seconds"],
        }
        if batch != 1000:
            shutil.rmtree(root, ignore_errors=True)  # only the batch-1000 log is reused
    verify = best([op("log_verify", root=main) for _ in range(repeats)])
    floors = [op("hash_floor", root=main) for _ in range(repeats)]
    floor = best(floors)
    results["verify"] = {
        "entries": verify["entries"],
        "privet_per_s": verify["entries"] / verify["seconds"],
        "peer_per_s": floor["entries"] / floor["seconds"],
        "ratio": floor["seconds"] / verify["seconds"],
        "peer_leaf_only_per_s": floor["entries"] / min(f["leaf_seconds"] for f in floors),
        "sqlite_read_seconds": min(f["read_seconds"] for f in floors),
        "privet_seconds": verify["seconds"],
        "peer_seconds": floor["seconds"],
        "privet_peak_rss_mb": verify["peak_rss_mb"],
    }
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


def table(results: dict[str, Any]) -> list[Row]:
    """(metric, unit, privet, peer, ratio or note, goal met) rows for the printout."""
    t, log = results["throughput"], results["audit_log"]
    rows: list[Row] = []
    for key, label in (
        ("ingest", "ingest CSV -> store"),
        ("export_csv", "export -> CSV"),
        ("export_parquet", "export -> Parquet"),
    ):
        c = t[key]
        goal = c["ratio"] >= 0.7 if key != "export_parquet" else None
        rows.append((label, "MB/s", c["privet_mb_s"], c["peer_mb_s"], f"{c['ratio']:.2f}x", goal))
        rss = f"{c['privet_peak_rss_mb'] / c['peer_peak_rss_mb']:.2f}x"
        rows.append(("  peak RSS", "MB", c["privet_peak_rss_mb"], c["peer_peak_rss_mb"], rss, None))
    for batch in (1000, 10_000, 1):
        a = log[f"append_batch_{batch}"]
        goal = a["privet_per_s"] >= 20_000 if batch > 1 else None
        rows.append(
            (f"log append, {batch}/txn", "entries/s", a["privet_per_s"], a["peer_per_s"],
             f"{a['ratio']:.2f}x", goal)
        )  # fmt: skip
    v = log["verify"]
    rows.append(
        ("log verify", "entries/s", v["privet_per_s"], v["peer_per_s"], f"{v['ratio']:.2f}x",
         v["privet_per_s"] >= 200_000)
    )  # fmt: skip
    rows.append(("log checkpoint", "s", log["checkpoint"]["seconds"], None, "", None))
    rows.append(("log prove_inclusion", "s", log["prove_inclusion"]["seconds"], None, "", None))
    return rows


def print_table(rows: list[Row]) -> None:
    print(f"{'metric':<26}{'unit':>10}{'privet':>12}{'peer':>12}{'ratio':>9}  goal")
    for metric, unit, privet, peer, ratio, goal in rows:
        mark = "" if goal is None else ("met" if goal else "MISSED")
        peer_s = "" if peer is None else f"{peer:,.1f}"
        print(f"{metric:<26}{unit:>10}{privet:>12,.1f}{peer_s:>12}{ratio:>9}  {mark}")


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
    shutil.rmtree(WORK, ignore_errors=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_table(table(results))
    print(f"\n{results['seconds']:.0f} s; details in {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
