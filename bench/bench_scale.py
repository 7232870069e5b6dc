"""Scale-out benchmarks (issue 19): k/ℓ/t and the optimal k = 5 search at 1M, 10M, 100M rows.

For each size N, on an Adult-like table generated here (Adult resampled with a seeded RNG):

1. ingest into a fresh workspace (timed; the ingest path is reported);
2. privet's risk (k, ℓ, t of the 8 quasi-identifiers of bench_deid.py, sensitive ``income``)
   and protect (optimal k = 5, bench_deid.py's hierarchies, 5% suppression) through the
   ``Workspace`` door on (a) Polars streaming (``PRIVET_STREAMING=1``) and (b) Spark
   ``local[2]`` (start-up timed apart); both engines must give the same k, ℓ, t, classes and
   the same protected row count;
3. the peers: the issue's naive Spark job (``groupBy`` of the 8 QIs, distinct count of the
   sensitive column, plain ``local[2]`` over the plaintext Parquet) and Polars' own eager and
   streaming group-by of the same; privet's ratio to each;
4. ARX (``--arx-classpath``, built outside this repository) at 1M and 10M rows: its risk
   model (classes, k, sample uniques) and its optimal k = 5 on the same hierarchies, with
   bench_deid.py's driver;
5. on paper, from Spark's measured per-row cost: 10 nodes x 16 cores on 10B rows.

Every measurement runs in a child process, one at a time; its peak memory is the largest sum
of RSS over the child's process tree (the Spark or ARX JVM and Spark's Python workers
included), sampled from /proc every 0.2 s, beside ``ru_maxrss`` of the largest single
process of the tree (wait4). Inputs are cached in bench/out/scale by size and seed.

    .venv/bin/python bench/bench_scale.py [--rows 1e6,1e7,1e8] [--arx-classpath CP] [--quick]
        [--data DIR] [--spark-driver-memory 4g] [--max-rss-gb 16] [--timeout 1800]

A measurement past ``--timeout`` or ``--max-rss-gb`` (the tree's RSS; the machine is shared)
is killed with its JVMs and reported as such; protect is skipped above ``--protect-max-rows``
(to bound the run's time: its output streams to a private file, at any size). The script
exits 1 when the engines, the independent group-bys or ARX's risk model disagree with
privet's figures.
Results go to bench/out/scale.json (rewritten after each size) and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
SCALE = OUT / "scale"
sys.path.insert(0, str(BENCH))

from bench_deid import HIERARCHIES, QIS, SENSITIVE  # noqa: E402

Result = dict[str, Any]
ACTOR = "bench"
DATASET = "adult"
CHUNK = 1_000_000
# Share of rows with one categorical quasi-identifier redrawn from its marginal: new
# combinations keep appearing as N grows, as in a real population, not only Adult's own.
REDRAW = 0.05
SPARK_MASTER = "local[2]"


# -- 1. the Adult-like table ----------------------------------------------------------------


def generate(rows: int, seed: int, folder: Path = SCALE) -> Path:
    """An Adult-like Parquet file of ``rows`` rows, written chunk by chunk (cached).

    Rows are drawn from Adult with a seeded RNG per chunk (so the file depends only on rows
    and seed); ages are jittered by up to ±2 years and 5% of rows get one categorical
    quasi-identifier redrawn from Adult's marginal, so classes grow with N.
    """
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    from privet.datasets import adult

    path = folder / f"adult_{rows}_{seed}.parquet"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    base = adult()
    categorical = [q for q in QIS if base.schema[q] == pl.String]
    partial = path.with_suffix(".partial")
    writer = None
    try:
        for index, start in enumerate(range(0, rows, CHUNK)):
            size = min(CHUNK, rows - start)
            rng = np.random.default_rng([seed, index])
            frame = base[rng.integers(0, base.height, size)]
            jitter = pl.Series(rng.integers(-2, 3, size))
            redraw = rng.random(size) < REDRAW
            which = rng.integers(0, len(categorical), size)
            donors = rng.integers(0, base.height, size)
            changes = [(pl.col("age") + jitter).clip(17, 90).alias("age")]
            for position, column in enumerate(categorical):
                mask = pl.Series(redraw & (which == position))
                donor = base.get_column(column).gather(pl.Series(donors))
                changes.append(pl.when(mask).then(donor).otherwise(pl.col(column)).alias(column))
            table = frame.with_columns(changes).to_arrow(compat_level=pl.CompatLevel.oldest())
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=CHUNK)
        if writer is not None:
            writer.close()
            writer = None
        partial.rename(path)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return path


# -- the child process side -------------------------------------------------------------------


def _hierarchy_specs() -> dict[str, Any]:
    from privet.deid import SuppressSpec

    return {q: HIERARCHIES.get(q, SuppressSpec(type="suppress")) for q in QIS}


def _workspace(root: str) -> Any:
    from privet import Workspace

    return Workspace.open(root)


def _engine_kwargs(method: Any, engine: str, master: str | None) -> dict[str, Any] | None:
    """The engine keywords the facade takes, or None when it has no ``engine=`` yet."""
    names = inspect.signature(method).parameters
    if "engine" not in names:
        return None
    kwargs: dict[str, Any] = {"engine": engine}
    if engine == "spark":
        kwargs["spark_master"] = master
    return kwargs


def _spark_start(master: str) -> float | None:
    """Seconds to start privet's Spark session (reused by the measured call), if exposed."""
    try:
        from privet.engine import spark_session
    except ImportError:
        return None
    started = time.perf_counter()
    spark_session(master)
    return time.perf_counter() - started


def _streaming() -> Result:
    """Whether this build has the Polars streaming path, and what the environment asks."""
    from privet import tables

    return {"streaming_in_build": hasattr(tables, "streams"),
            "PRIVET_STREAMING": os.environ.get("PRIVET_STREAMING")}  # fmt: skip


def op_ingest(args: Result) -> Result:
    from privet import Workspace, tables

    root = Path(args["root"])
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    ws = Workspace.init(root, actor=ACTOR)
    roles = {q: "quasi_identifier" for q in QIS} | {SENSITIVE: "sensitive"}
    path = "in memory (tables.read_table, then one encrypted Parquet object)"
    if hasattr(tables, "streams") and hasattr(tables, "file_memory"):
        if tables.streams(tables.file_memory(Path(args["parquet"]))):
            path = "streaming (Polars sink to a private Parquet file, encrypted by chunks)"
        else:
            path = "in memory (the streaming build chose memory)"
    started = time.perf_counter()
    info = ws.ingest(
        args["parquet"],
        name=DATASET,
        owner=ACTOR,
        purposes=["research"],
        actor=ACTOR,
        roles=roles,
        scan=False,
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": info.rows, "stored_bytes": info.stored_bytes,
            "path": path}  # fmt: skip


def op_risk(args: Result) -> Result:
    from privet.deid import RiskRequest

    ws = _workspace(args["root"])
    kwargs = _engine_kwargs(ws.deid.risk, args["engine"], args.get("master"))
    if kwargs is None:
        if args["engine"] != "polars":
            return {"skipped": "ws.deid.risk takes no engine= yet (before the merge)"}
        kwargs = {}
    result: Result = {"engine_keyword": bool(kwargs), **_streaming()}
    if args["engine"] == "spark":
        result["startup_s"] = _spark_start(args["master"])
    request = RiskRequest(quasi_identifiers=QIS, sensitive=[SENSITIVE])
    started = time.perf_counter()
    report = ws.deid.risk(DATASET, request, actor=ACTOR, **kwargs)
    result["seconds"] = time.perf_counter() - started
    result.update(
        rows=report.rows, k=report.k, l=report.l, t=report.t, classes=report.classes,
        sample_uniques=report.sample_uniques, prosecutor_risk_avg=report.prosecutor_risk_avg,
    )  # fmt: skip
    return result


def op_protect(args: Result) -> Result:
    from privet.deid import ProtectRequest, shortcut_plan

    ws = _workspace(args["root"])
    kwargs = _engine_kwargs(ws.deid.protect, args["engine"], args.get("master"))
    if kwargs is None:
        if args["engine"] != "polars":
            return {"skipped": "ws.deid.protect takes no engine= yet (before the merge)"}
        kwargs = {}
    result: Result = {"engine_keyword": bool(kwargs), **_streaming()}
    if args["engine"] == "spark":
        result["startup_s"] = _spark_start(args["master"])
    plan = shortcut_plan(
        k=5, quasi_identifiers=QIS, max_suppression=0.05, hierarchies=_hierarchy_specs()
    )
    output = f"{DATASET}_k5_{args['engine']}_{time.time_ns()}"
    started = time.perf_counter()
    report = ws.deid.protect(
        DATASET, ProtectRequest(plan=plan), output=output, actor=ACTOR, **kwargs
    )
    result["seconds"] = time.perf_counter() - started
    result.update(
        rows_in=report.rows_in, rows_out=report.rows_out, suppressed=report.suppressed,
        levels=report.levels, k_after=report.risk_after.k if report.risk_after else None,
        evaluated=report.search.evaluated if report.search else None, output=report.output,
    )  # fmt: skip
    return result


def op_naive_spark(args: Result) -> Result:
    """The issue's naive job: plain Spark, groupBy of the 8 QIs, distinct count of income."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F  # noqa: N812

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(args["master"])
        .appName("naive")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - started
    started = time.perf_counter()
    frame = spark.read.parquet(args["parquet"])
    rows = frame.groupBy(*QIS).agg(F.countDistinct(SENSITIVE).alias("d")).collect()
    seconds = time.perf_counter() - started
    spark.stop()
    return {"startup_s": startup, "seconds": seconds, "classes": len(rows),
            "l": min(r["d"] for r in rows)}  # fmt: skip


def op_polars_groupby(args: Result) -> Result:
    """Polars' own group-by of the same, eager (read then group) or streaming (lazy scan)."""
    import polars as pl

    started = time.perf_counter()
    agg = pl.col(SENSITIVE).n_unique().alias("d")
    if args["mode"] == "eager":
        out = pl.read_parquet(args["parquet"], columns=[*QIS, SENSITIVE]).group_by(QIS).agg(agg)
    else:
        out = pl.scan_parquet(args["parquet"]).group_by(QIS).agg(agg).collect(engine="streaming")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "classes": out.height, "l": int(out.get_column("d").min())}


ARX_RISK_DRIVER = r"""
import java.nio.charset.StandardCharsets;
import org.deidentifier.arx.*;
import org.deidentifier.arx.risk.*;

/** privet's benchmark driver: ARX's sample-based risk model of one table, on stdout. */
public class PrivetArxRisk {
    public static void main(String[] args) throws Exception {
        String dir = args[0];
        String[] qis = args[1].split(",");
        String sensitive = args[2];
        long load = System.nanoTime();
        Data data = Data.create(dir + "/data.csv", StandardCharsets.UTF_8, ',');
        for (String q : qis) {
            data.getDefinition().setAttributeType(q, AttributeType.QUASI_IDENTIFYING_ATTRIBUTE);
        }
        data.getDefinition().setAttributeType(sensitive, AttributeType.SENSITIVE_ATTRIBUTE);
        DataHandle handle = data.getHandle();
        long start = System.nanoTime();
        RiskEstimateBuilder builder = handle.getRiskEstimator(
            ARXPopulationModel.create(handle.getNumRows(), 0.01d));
        RiskModelHistogram classes = builder.getEquivalenceClassModel();
        int[] histogram = classes.getHistogram();
        int k = Integer.MAX_VALUE;
        for (int i = 0; i < histogram.length; i += 2) { k = Math.min(k, histogram[i]); }
        double uniques = builder.getSampleBasedUniquenessRisk().getFractionOfUniqueRecords();
        RiskModelSampleRisks risks = builder.getSampleBasedReidentificationRisk();
        long end = System.nanoTime();
        System.out.println("{\"risk_ms\":" + (end - start) / 1e6
            + ",\"with_loading_ms\":" + (end - load) / 1e6
            + ",\"rows\":" + handle.getNumRows() + ",\"classes\":" + (long) classes.getNumClasses()
            + ",\"k\":" + k + ",\"sample_uniques\":" + uniques
            + ",\"prosecutor_risk_avg\":" + risks.getAverageRisk() + "}");
    }
}
"""


def _arx_frame(parquet: str) -> Any:
    import polars as pl

    return pl.read_parquet(parquet).with_columns(pl.col(pl.String).fill_null("?"))


def op_arx_risk(args: Result) -> Result:
    import polars as pl

    work = Path(args["work"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # Only the columns the risk model reads: ARX holds every column of its input in memory.
    frame = _arx_frame(args["parquet"]).select([*QIS, SENSITIVE])
    frame.write_csv(work / "data.csv")
    del frame
    (work / "PrivetArxRisk.java").write_text(ARX_RISK_DRIVER)
    classpath = args["classpath"]
    subprocess.run(
        ["javac", "-nowarn", "-cp", classpath, "-d", str(work), str(work / "PrivetArxRisk.java")],
        check=True,
    )
    started = time.perf_counter()
    done = subprocess.run(
        ["java", f"-Xmx{args['heap']}", "-cp", f"{work}:{classpath}", "PrivetArxRisk", str(work),
         ",".join(QIS), SENSITIVE],
        capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    jvm_rss = _children_maxrss_mb()
    if done.returncode:
        return {"failed": True, "jvm_wall_s": wall, "jvm_peak_rss_mb": jvm_rss,
                "stderr_tail": done.stderr[-800:]}  # fmt: skip
    result = json.loads([x for x in done.stdout.splitlines() if x.startswith("{")][-1])
    result.update(jvm_wall_s=wall, jvm_peak_rss_mb=jvm_rss, polars_version=pl.__version__)
    return result


def op_arx_anonymize(args: Result) -> Result:
    import polars as pl

    from bench_deid import bench_arx
    from privet.deid import build

    # Nulls stay nulls: bench_arx writes them as "?" in the data and in the hierarchies.
    frame = pl.read_parquet(args["parquet"])
    specs = _hierarchy_specs()
    hierarchies = {q: build(q, specs[q], frame.get_column(q)) for q in QIS}
    try:
        result = bench_arx(
            frame, hierarchies, args["classpath"], 1, heap=args["heap"], work=Path(args["work"])
        )
    except subprocess.CalledProcessError as err:
        return {"failed": True, "jvm_peak_rss_mb": _children_maxrss_mb(),
                "stderr_tail": (err.stderr or "")[-800:]}  # fmt: skip
    result.pop("arx_classpath", None)
    result["jvm_peak_rss_mb"] = _children_maxrss_mb()  # javac's too, but the JVM is larger
    result["rows_out"] = frame.height - result["suppressed"]
    return result


def _children_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


OPS = {
    "ingest": op_ingest,
    "risk": op_risk,
    "protect": op_protect,
    "naive_spark": op_naive_spark,
    "polars_groupby": op_polars_groupby,
    "arx_risk": op_arx_risk,
    "arx_anonymize": op_arx_anonymize,
}


def child(name: str, payload: str) -> None:
    try:
        result = OPS[name](json.loads(payload))
    except Exception as err:  # noqa: BLE001 - a failed measurement is a result, said so
        text = str(err)
        # A JVM error's message is its stack trace: keep its first line and its causes.
        lines = text.splitlines()
        causes = [x.strip() for x in lines if "Caused by" in x or "Exception:" in x]
        short = " | ".join(dict.fromkeys([lines[0] if lines else "", *causes[:4]]))
        result = {"failed": True, "error": f"{type(err).__name__}: {short[:800]}"}
    print(json.dumps(result, default=str))


# -- the parent side: one child at a time, its process tree's memory sampled ----------------


def _tree(root: int) -> list[int]:
    pids, stack = [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as handle:
                    stack.extend(int(c) for c in handle.read().split())
        except OSError:
            continue
    return pids


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


LIMITS = {"timeout_s": 1800.0, "max_rss_mb": 16 * 1024.0}


def measure(name: str, args: Result, env: dict[str, str] | None = None) -> Result:
    """Run one op in a child; its result plus peak tree RSS and the wall time of the child.

    The child gets its own process group: past ``LIMITS`` (time, or RSS of its tree, so that
    a measurement cannot push the shared machine into swap or the OOM killer) the group is
    killed, the Spark or ARX JVM with it, and the result says why.
    """
    print(f"  {name} {json.dumps({k: v for k, v in args.items() if k != 'classpath'})}",
          file=sys.stderr, flush=True)  # fmt: skip
    full_env = {**os.environ, "PRIVET_KEY_DIR": str(SCALE / "keys"), **(env or {})}
    full_env.pop("PRIVET_WORKSPACE", None)
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(BENCH.parent / "src"), full_env.get("PYTHONPATH", "")] if p
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", name, json.dumps(args)],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    peak = [0]
    stopped: list[str] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = sum(_rss_kib(p) for p in _tree(process.pid))
            peak[0] = max(peak[0], rss)
            over = None
            if rss / 1024 > LIMITS["max_rss_mb"]:
                over = f"its process tree passed {LIMITS['max_rss_mb']:.0f} MB of RSS"
            elif time.perf_counter() - started > LIMITS["timeout_s"]:
                over = f"it ran past {LIMITS['timeout_s']:.0f} s"
            if over and not stopped:
                stopped.append(over)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)  # the group this call started, JVMs included
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    readers = [
        threading.Thread(target=lambda: out_chunks.append(process.stdout.read()), daemon=True),
        threading.Thread(target=lambda: err_chunks.append(process.stderr.read()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    if stopped:
        # What the killed child left running in its group (a JVM, Spark's workers).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
    for reader in readers:
        reader.join(timeout=10)
    wall = time.perf_counter() - started
    lines = [x for x in "".join(out_chunks).splitlines() if x.startswith("{")]
    if stopped:
        result: Result = {"failed": True, "stopped": f"killed: {stopped[0]}"}
    elif not lines:
        result = {"failed": True, "exit": process.returncode,
                  "stderr_tail": "".join(err_chunks)[-800:]}  # fmt: skip
    else:
        result = json.loads(lines[-1])
    result["peak_tree_rss_mb"] = peak[0] / 1024
    result["max_process_rss_mb"] = usage.ru_maxrss / 1024
    # CPU of the child and the descendants it reaped (a JVM left to exit with it may be
    # missing): far below 2 x wall when other work on the machine took the cores.
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    result["child_wall_s"] = wall
    result["load_before"] = os.getloadavg()[0]
    return result


def measure_best(name: str, args: Result, repeats: int) -> Result:
    """The fastest of ``repeats`` runs (the least disturbed by other load), all times kept."""
    runs = [measure(name, args)]
    while len(runs) < repeats and _ok(runs[-1]):  # a run stopped or failed is not retried
        runs.append(measure(name, args))
    done = [r for r in runs if _ok(r)] or runs
    best = min(done, key=lambda r: r.get("seconds", math.inf))
    best["all_seconds"] = [r.get("seconds") for r in runs]
    return best


# -- the run ---------------------------------------------------------------------------------


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _ok(result: Result) -> bool:
    return not result.get("failed") and "skipped" not in result


def _spark_env(args: argparse.Namespace) -> dict[str, str]:
    """The driver's heap for both Spark jobs (local mode: the executors live in it too);
    spark-submit reads SPARK_DRIVER_MEMORY when no spark.driver.memory is set."""
    return {"SPARK_DRIVER_MEMORY": args.spark_driver_memory} if args.spark_driver_memory else {}


def run_size(rows: int, args: argparse.Namespace) -> Result:
    started = time.perf_counter()
    parquet = generate(rows, args.seed, Path(args.data))
    entry: Result = {
        "rows": rows,
        "parquet": str(parquet),
        "parquet_bytes": parquet.stat().st_size,
        "generate_s": time.perf_counter() - started,
    }
    root = str(SCALE / f"ws_{rows}_{args.seed}")
    base = {"root": root}
    if "privet" in args.parts:
        ingest_env = {"auto": {}, "stream": {"PRIVET_STREAMING": "1"},
                      "memory": {"PRIVET_STREAMING": "0"}}[args.ingest]  # fmt: skip
        entry["ingest"] = measure("ingest", {"root": root, "parquet": str(parquet)}, ingest_env)
        entry["ingest"]["asked"] = args.ingest
        engines: dict[str, Result] = {}
        for engine in args.engines:
            env = {"PRIVET_STREAMING": "1"} if engine == "polars" else _spark_env(args)
            master = args.spark_master if engine == "spark" else None
            ops = {"risk": measure("risk", {**base, "engine": engine, "master": master}, env)}
            if rows <= args.protect_max_rows:
                ops["protect"] = measure(
                    "protect", {**base, "engine": engine, "master": master}, env
                )
            else:
                ops["protect"] = {"skipped": f"above --protect-max-rows {args.protect_max_rows:,}"}
            engines[engine] = ops
        entry["privet"] = engines
        entry["engines_agree"] = _agreement(engines)
    if "peers" in args.parts:
        entry["naive_spark"] = measure(
            "naive_spark", {"parquet": str(parquet), "master": args.spark_master}, _spark_env(args)
        )
        for mode in ("eager", "streaming"):
            entry[f"polars_{mode}"] = measure_best(
                "polars_groupby", {"parquet": str(parquet), "mode": mode}, args.repeats
            )
    if "arx" in args.parts and rows in args.arx_rows:
        if args.arx_classpath is None:
            entry["arx"] = {"measured": False, "why": "no --arx-classpath given"}
        else:
            work = str(SCALE / f"arx_{rows}")
            common = {"parquet": str(parquet), "classpath": args.arx_classpath,
                      "heap": args.arx_heap, "work": work}  # fmt: skip
            entry["arx"] = {
                "risk": measure("arx_risk", common),
                "anonymize": measure("arx_anonymize", common),
                "commit": _arx_commit(args.arx_classpath),
                "heap": args.arx_heap,
            }
    entry["checks"] = _checks(entry)
    return entry


def _agreement(engines: Result) -> Result:
    """Do the engines that ran give the same k, ℓ, t, classes, and the same protected rows?"""
    out: Result = {}
    for op, fields in (("risk", ("rows", "k", "l", "t", "classes", "sample_uniques")),
                       ("protect", ("rows_out", "suppressed", "levels"))):  # fmt: skip
        ran = {e: v[op] for e, v in engines.items() if op in v and _ok(v[op])}
        if len(ran) < 2:
            out[op] = {"compared": False, "ran": sorted(ran)}
            continue
        first, *others = ran.values()
        out[op] = {
            "compared": True,
            "equal": all(all(o[f] == first[f] for f in fields) for o in others),
            "fields": list(fields),
        }
    return out


def _checks(entry: Result) -> Result:
    """The independent group-bys (Polars', Spark's) against privet's classes and ℓ."""
    checks: Result = {}
    peers = [p for p in ("naive_spark", "polars_eager", "polars_streaming") if p in entry]
    risk = [v["risk"] for v in entry.get("privet", {}).values() if _ok(v["risk"])]
    for peer in peers:
        if not _ok(entry[peer]):
            continue
        for figures in risk:
            key = f"{peer}_classes_and_l_equal"
            same = figures["classes"] == entry[peer]["classes"] and figures["l"] == entry[peer]["l"]
            checks[key] = checks.get(key, True) and same
    arx_anon = entry.get("arx", {}).get("anonymize")
    protects = [v["protect"] for v in entry.get("privet", {}).values() if _ok(v["protect"])]
    if arx_anon and _ok(arx_anon) and protects:
        # Both search for the least loss; equal levels are expected, a tie may differ.
        checks["info_arx_same_levels_and_suppressed"] = all(
            p["levels"] == arx_anon["levels"] and p["suppressed"] == arx_anon["suppressed"]
            for p in protects
        )
    arx = entry.get("arx", {}).get("risk")
    if arx and _ok(arx) and risk:
        checks["arx_classes_k_uniques_prosecutor_equal"] = all(
            f["classes"] == arx["classes"]
            and f["k"] == arx["k"]
            and abs(f["sample_uniques"] - arx["sample_uniques"]) < 1e-9
            and abs(f["prosecutor_risk_avg"] - arx["prosecutor_risk_avg"]) < 1e-9
            for f in risk
        )
    return checks


def _arx_commit(classpath: str) -> str | None:
    for part in classpath.split(":"):
        marker = Path(part).parent / "COMMIT"
        if marker.exists():
            return marker.read_text().strip()
    return None


def extrapolate(sizes: list[Result], nodes: int = 10, cores: int = 16) -> Result:
    """On paper: each Spark measurement (privet's risk and protect, the naive job), start-up
    excluded, on 10B rows over ``nodes`` x ``cores``, from its cost measured on local[2]."""
    picks = {
        "privet_spark_risk": lambda e: e.get("privet", {}).get("spark", {}).get("risk"),
        "privet_spark_protect": lambda e: e.get("privet", {}).get("spark", {}).get("protect"),
        "naive_spark_groupby": lambda e: e.get("naive_spark"),
    }
    out: Result = {
        "formula": "T(10B) = T(N) * (10B/N)^max(b,1) * c_local / (nodes * cores * e)",
        "assumptions": [
            "N: the largest size where the measurement succeeded; T(N): its seconds on "
            "local[2], Spark start-up excluded",
            "b: the growth exponent of T between the two largest sizes measured, "
            "log(T2/T1)/log(N2/N1), taken as at least 1 (never better than linear)",
            f"c_local = 2 cores here; {nodes} nodes x {cores} cores; parallel efficiency "
            "e = 0.7 (assumed, not measured)",
            "each core of a node as fast as one here; storage delivers the bytes as fast as "
            "the cores read them; the shuffle carries group counts (classes), not rows",
            "the protect output is written by the executors into encrypted parts, which the "
            "driver copies one after the other into the file the version is encrypted from: "
            "that copy is serial and is not in this figure",
        ],
        "nodes": nodes,
        "cores_per_node": cores,
    }
    target, local_cores, efficiency = 10_000_000_000, 2, 0.7
    for label, pick in picks.items():
        points = sorted((e["rows"], pick(e)["seconds"]) for e in sizes if pick(e) and _ok(pick(e)))
        if not points:
            out[label] = {"computed": False, "why": "not measured"}
            continue
        exponent = None
        if len(points) >= 2:
            (n1, t1), (n2, t2) = points[-2], points[-1]
            exponent = math.log(t2 / t1) / math.log(n2 / n1)
        rows, seconds = points[-1]
        single = seconds * (target / rows) ** max(exponent or 1.0, 1.0)
        cluster = single * local_cores / (nodes * cores * efficiency)
        out[label] = {
            "computed": True,
            "measured": [{"rows": n, "seconds": t, "us_per_row": t / n * 1e6} for n, t in points],
            "growth_exponent": exponent,
            "local2_10b_s": single,
            "cluster_s": cluster,
            "cluster_min": cluster / 60,
        }
    return out


def markdown(results: Result) -> str:
    lines = [f"# privet scale benchmarks ({results['machine']})", "", f"`{results['command']}`", ""]
    head = (
        "| rows | op | privet Polars (streaming) s | privet Spark s (+start) "
        "| naive Spark s (+start) | Polars eager group-by s | Polars streaming group-by s "
        "| ARX s | peak MB (privet Polars / privet Spark / ARX) |"
    )
    lines += [head, "|" + "---|" * 9]

    def f(x: Any) -> str:
        return "—" if x is None else f"{x:.1f}" if isinstance(x, float) else str(x)

    def s(r: Result | None) -> float | None:
        return r.get("seconds") if r and _ok(r) else None

    for e in results["sizes"]:
        pv = e.get("privet", {})
        pol, spk = pv.get("polars", {}), pv.get("spark", {})
        arx = e.get("arx", {}) if isinstance(e.get("arx"), dict) else {}
        naive = e.get("naive_spark")
        for op in ("risk", "protect"):
            sp = spk.get(op)
            start = f" (+{f(sp.get('startup_s'))})" if sp and _ok(sp) else ""
            arx_op = arx.get("risk" if op == "risk" else "anonymize")
            arx_cell = "—"
            if arx_op and _ok(arx_op):
                ms, load = (
                    (arx_op["risk_ms"], arx_op["with_loading_ms"])
                    if op == "risk"
                    else (arx_op["first_run_ms"], arx_op["best_with_loading_ms"])
                )
                arx_cell = f"{ms / 1000:.1f} ({load / 1000:.1f} with CSV load)"
            mem = " / ".join(
                f(r.get("peak_tree_rss_mb")) if r else "—" for r in (pol.get(op), sp, arx_op)
            )
            naive_cell = "—"
            if op == "risk" and naive and _ok(naive):
                naive_cell = f"{f(naive['seconds'])} (+{f(naive['startup_s'])})"
            lines.append(
                f"| {e['rows']:,} | {op} | {f(s(pol.get(op)))} | {f(s(sp))}{start} | "
                f"{naive_cell} | {f(s(e.get('polars_eager')) if op == 'risk' else None)} | "
                f"{f(s(e.get('polars_streaming')) if op == 'risk' else None)} | {arx_cell} | "
                f"{mem} |"
            )
    lines.append("")
    for e in results["sizes"]:
        ing = e.get("ingest")
        if ing:
            lines.append(f"- {e['rows']:,} rows: ingest {f(s(ing))} s ({ing.get('path', ing)}), "
                         f"peak {f(ing.get('peak_tree_rss_mb'))} MB")  # fmt: skip
        lines.append(f"- {e['rows']:,} rows: engines agree {e.get('engines_agree')}; "
                     f"checks {e.get('checks')}; ratios {e.get('ratios')}")  # fmt: skip
    for e in results["sizes"]:
        for label, r in _measurements(e):
            if r.get("failed") or "skipped" in r:
                why = (
                    r.get("stopped")
                    or r.get("error")
                    or r.get("skipped")
                    or r.get("stderr_tail", "")[-200:]
                )
                lines.append(f"- {e['rows']:,} rows, {label}: not measured — {why}")
    x = results.get("extrapolation", {})
    if x:
        lines += ["", f"On paper, 10 nodes x 16 cores, 10B rows: {x['formula']}"]
        for label in ("privet_spark_risk", "privet_spark_protect", "naive_spark_groupby"):
            one = x.get(label, {})
            if one.get("computed"):
                b = one["growth_exponent"]
                lines.append(
                    f"- {label}: {one['cluster_min']:.1f} min (b = "
                    f"{'—' if b is None else f'{b:.2f}'}; measured "
                    + ", ".join(f"{m['rows']:,}: {m['us_per_row']:.2f} µs/row"
                                for m in one["measured"]) + ")"
                )  # fmt: skip
            else:
                lines.append(f"- {label}: {one.get('why', 'not measured')}")
        lines += [f"  - {a}" for a in x["assumptions"]]
    return "\n".join(lines)


def _measurements(entry: Result) -> list[tuple[str, Result]]:
    found = [("ingest", entry["ingest"])] if "ingest" in entry else []
    for engine, ops in entry.get("privet", {}).items():
        found += [(f"privet {engine} {op}", r) for op, r in ops.items()]
    for peer in ("naive_spark", "polars_eager", "polars_streaming"):
        if peer in entry:
            found.append((peer.replace("_", " "), entry[peer]))
    arx = entry.get("arx", {})
    found += [(f"ARX {op}", arx[op]) for op in ("risk", "anonymize") if op in arx]
    return found


def ratios(entry: Result) -> Result:
    pv = entry.get("privet", {})
    pol = pv.get("polars", {}).get("risk")
    spk = pv.get("spark", {}).get("risk")

    def sec(r: Result | None) -> float | None:
        return r["seconds"] if r and _ok(r) else None

    out = {
        "privet_spark_risk_over_naive_spark": _ratio(sec(spk), sec(entry.get("naive_spark"))),
        "privet_spark_risk_over_privet_polars_risk": _ratio(sec(spk), sec(pol)),
        "privet_polars_risk_over_polars_streaming_groupby": _ratio(
            sec(pol), sec(entry.get("polars_streaming"))
        ),
        "privet_polars_risk_over_polars_eager_groupby": _ratio(
            sec(pol), sec(entry.get("polars_eager"))
        ),
        "naive_spark_over_polars_eager": _ratio(
            sec(entry.get("naive_spark")), sec(entry.get("polars_eager"))
        ),
    }
    pp = pv.get("polars", {}).get("protect")
    sp = pv.get("spark", {}).get("protect")
    out["privet_spark_protect_over_privet_polars_protect"] = _ratio(sec(sp), sec(pp))
    return out


def _short(arg: str) -> str:
    """A long classpath shown as its first entry and a count."""
    parts = arg.split(":")
    return arg if len(parts) < 3 else f"{parts[0]}:…({len(parts)} entries)"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e6,1e7,1e8", help="sizes, comma-separated")
    parser.add_argument("--quick", action="store_true", help="1M rows only")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--engines", default="polars,spark")
    parser.add_argument("--parts", default="privet,peers,arx", help="privet, peers, arx")
    parser.add_argument("--spark-master", default=SPARK_MASTER)
    parser.add_argument(
        "--spark-driver-memory", default="",
        help="SPARK_DRIVER_MEMORY for privet's and the naive Spark job (default: Spark's 1g)",
    )  # fmt: skip
    parser.add_argument(
        "--protect-max-rows", type=float, default=1e8,
        help="largest size protect runs at (to bound the run's time)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=2, help="runs of the Polars group-bys")
    parser.add_argument(
        "--ingest", choices=["auto", "stream", "memory"], default="stream",
        help="ingest path: PRIVET_STREAMING=1 (default), =0, or privet's own choice",
    )  # fmt: skip
    parser.add_argument("--arx-classpath", help="classpath of an ARX build (classes, jars)")
    parser.add_argument("--arx-rows", default="1e6,1e7", help="sizes ARX runs at")
    parser.add_argument("--arx-heap", default="8g", help="ARX JVM heap (-Xmx)")
    parser.add_argument(
        "--data", default=str(SCALE), help="folder of the generated tables (cached by size, seed)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="per measurement, s")
    parser.add_argument(
        "--max-rss-gb", type=float, default=16.0,
        help="stop a measurement whose process tree passes this RSS (shared machine)",
    )  # fmt: skip
    parser.add_argument("--out", default=str(OUT / "scale.json"))
    args = parser.parse_args()
    sizes = [1_000_000] if args.quick else [int(float(x)) for x in args.rows.split(",")]
    args.arx_rows = {int(float(x)) for x in args.arx_rows.split(",")}
    args.protect_max_rows = int(args.protect_max_rows)
    args.engines = args.engines.split(",")
    args.parts = set(args.parts.split(","))
    OUT.mkdir(exist_ok=True)
    LIMITS.update(timeout_s=args.timeout, max_rss_mb=args.max_rss_gb * 1024)
    import polars as pl

    results: Result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}, Polars {pl.__version__}",
        "command": " ".join([Path(sys.executable).name, *(_short(a) for a in sys.argv)]),
        "memory_method": "peak_tree_rss_mb: largest sum of VmRSS over the child's process tree "
        "(/proc/PID/task/*/children, sampled every 0.2 s); max_process_rss_mb: ru_maxrss from "
        "wait4, the largest single process of the tree",
        "generator": f"Adult resampled (seeded per 1M-row chunk), age ±2 years, {REDRAW:.0%} of "
        "rows with one categorical QI redrawn from Adult's marginal; all 15 Adult columns",
        "limits": {"timeout_s": args.timeout, "max_rss_gb": args.max_rss_gb},
        "spark_driver_memory": args.spark_driver_memory or "Spark's default (1g)",
        "sizes": [],
    }
    for rows in sizes:
        print(f"{rows:,} rows …", file=sys.stderr, flush=True)
        entry = run_size(rows, args)
        entry["ratios"] = ratios(entry)
        results["sizes"].append(entry)
        results["extrapolation"] = extrapolate(results["sizes"])
        Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    wrong = [
        f"{e['rows']:,} rows: {what}"
        for e in results["sizes"]
        for what, fine in [
            *((f"engines differ on {op}", a.get("equal", True))
              for op, a in e.get("engines_agree", {}).items()),
            *((f"check {name}", ok) for name, ok in e.get("checks", {}).items()
              if not name.startswith("info_")),
        ]
        if not fine
    ]  # fmt: skip
    if wrong:
        sys.exit("MISMATCH: " + "; ".join(wrong))


if __name__ == "__main__":
    main()
