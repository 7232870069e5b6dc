"""One measured operation per process: ``python bench/ops.py OP '{"arg": ...}'``.

Each operation runs in a fresh interpreter so that one measurement's heap, page-cache
warm-up or leaked threads cannot change the next one, and so that ``ru_maxrss`` is the peak
of that operation alone (plus the interpreter and imports, reported as ``base_rss_mb``).
Only the operation itself is inside the timer; imports, workspace set-up and input
generation are not. The result is one JSON object on the last line of stdout.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import sqlite3
import sys
import time
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from privet import Workspace, auditlog, tables
from privet.auditlog import canonical, leaf_hash
from privet.vault import _stream

Result = dict[str, Any]
DATASET = "people"
PURPOSE = "training"
ACTOR = "bench"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@contextmanager
def _clock(result: Result, key: str = "seconds") -> Iterator[None]:
    """Wall time into ``key``; CPU time of all threads into ``cpu_<key>``. Other work on the
    machine stretches the wall time (waiting for a core) far more than the CPU time."""
    start, cpu = time.perf_counter(), time.process_time()
    yield
    result[key] = time.perf_counter() - start
    result[f"cpu_{key}"] = time.process_time() - cpu


def _fresh_workspace(root: str) -> Workspace:
    # Keys live in PRIVET_KEY_DIR (set by run.py to a folder outside the workspace).
    shutil.rmtree(root, ignore_errors=True)
    Path(root).mkdir(parents=True)
    return Workspace.init(root, actor=ACTOR)


# -- ingest and export ----------------------------------------------------------------------


def ingest_privet(csv: str, root: str) -> Result:
    ws = _fresh_workspace(root)
    result: Result = {}
    with _clock(result):
        info = ws.ingest(csv, name=DATASET, owner=ACTOR, purposes=[PURPOSE], actor=ACTOR)
    result["rows"], result["stored_bytes"] = info.rows, info.stored_bytes
    return result


def ingest_plain(csv: str, parquet: str) -> Result:
    result: Result = {}
    with _clock(result):
        with _clock(result, "read_seconds"):
            frame = pl.read_csv(csv)
        with _clock(result, "write_seconds"):
            frame.write_parquet(parquet, compression="zstd")
    result["rows"] = frame.height
    return result


def export_privet(root: str, dest: str) -> Result:
    ws = Workspace.open(root)
    Path(dest).unlink(missing_ok=True)
    result: Result = {}
    with _clock(result):
        ws.export(DATASET, dest, purpose=PURPOSE, actor=ACTOR)
    result["bytes"] = Path(dest).stat().st_size
    return result


def export_plain(parquet: str, dest: str) -> Result:
    Path(dest).unlink(missing_ok=True)
    result: Result = {}
    with _clock(result):
        with _clock(result, "read_seconds"):
            frame = pl.read_parquet(parquet)
        with _clock(result, "write_seconds"):
            if dest.endswith(".csv"):
                frame.write_csv(dest)
            else:
                frame.write_parquet(dest, compression="zstd")
    result["bytes"] = Path(dest).stat().st_size
    return result


class _Stages:
    """Accumulates wall and CPU time per stage by wrapping the functions privet calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                for key, spent in ((name, time.perf_counter() - start),
                                   (f"cpu_{name}", time.process_time() - cpu)):  # fmt: skip
                    self.seconds[key] = self.seconds.get(key, 0.0) + spent

        return timed


def ingest_stages(csv: str, root: str) -> Result:
    """A real ``ws.ingest`` with its internal calls timed in place (module attributes are
    looked up at call time, so patching them here reaches the library's own calls)."""
    ws = _fresh_workspace(root)
    stages = _Stages()
    tables.read_table = stages.wrap("read_table", tables.read_table)  # type: ignore[method-assign]
    tables.to_parquet_bytes = stages.wrap("parquet_serialize", tables.to_parquet_bytes)  # type: ignore[method-assign]
    # The content hash is taken by whichever catalog module stores the version (it moves in
    # refactors), so every privet.catalog module's ``hashlib`` is swapped; read_table's own
    # hash of the source file lives in privet.tables and stays inside "read_table".
    timed_hashlib = types.SimpleNamespace(sha256=stages.wrap("sha256_parquet", hashlib.sha256))
    for module in list(sys.modules.values()):
        if module.__name__.startswith("privet.catalog") and vars(module).get("hashlib"):
            module.hashlib = timed_hashlib  # type: ignore[attr-defined]
    _stream.encrypt_into = stages.wrap("encrypt_and_write", _stream.encrypt_into)  # type: ignore[assignment]
    os.fsync = stages.wrap("fsync", os.fsync)  # the object store's file and folder syncs
    marks: dict[str, float] = {}
    start = time.perf_counter()
    ws.ingest(
        csv,
        name=DATASET,
        owner=ACTOR,
        purposes=[PURPOSE],
        actor=ACTOR,
        progress=lambda stage: marks.setdefault(stage, time.perf_counter()),
    )
    end = time.perf_counter()
    result: Result = dict(stages.seconds)
    result["keys_and_checks"] = marks["reading"] - start
    result["catalog_commit"] = end - marks["registering"]
    result["seconds"] = end - start
    return result


def read_stages(csv: str) -> Result:
    """What ``tables.read_table`` does, step by step, plus the ragged-row check timed even
    when the file does not trigger it (it runs only if the last column has nulls)."""
    path = Path(csv)
    result: Result = {}
    with _clock(result, "read_head"), open(path, "rb") as file:
        head = file.read(1 << 20)
    with _clock(result, "scan_nul_and_header"):
        assert b"\x00" not in head[:65536]
        tables._csv_header(head, path.name)
    with _clock(result, "polars_parse"):
        frame = pl.read_csv(path, infer_schema_length=10_000)
    with _clock(result, "sha256_source (runs in a thread during the parse)"):
        tables._file_sha256(path)
    result["ragged_check_ran"] = bool(frame.get_column(frame.columns[-1]).null_count())
    with _clock(result, "ragged_check"):
        tables._check_row_lengths(path, frame, path.name)
    del frame
    # The plain peer's way: Polars given the path memory-maps the file instead of copying it.
    with _clock(result, "polars_parse_from_path"):
        pl.read_csv(path, infer_schema_length=10_000)
    return result


def export_stages(root: str, dest: str) -> Result:
    ws = Workspace.open(root)
    Path(dest).unlink(missing_ok=True)
    stages = _Stages()
    _stream.decrypt_from = stages.wrap("decrypt", _stream.decrypt_from)  # type: ignore[assignment]
    tables.from_parquet_bytes = stages.wrap("parquet_decode", tables.from_parquet_bytes)  # type: ignore[method-assign]
    tables.write_table = stages.wrap("write_file", tables.write_table)  # type: ignore[method-assign]
    os.fsync = stages.wrap("fsync", os.fsync)
    start = time.perf_counter()
    ws.export(DATASET, dest, purpose=PURPOSE, actor=ACTOR)
    result: Result = dict(stages.seconds)
    result["seconds"] = time.perf_counter() - start
    # write_table includes its fsync; report the write alone.
    for cpu in ("", "cpu_"):
        result[f"{cpu}write_file"] -= result.get(f"{cpu}fsync", 0.0)
    return result


# -- audit log ------------------------------------------------------------------------------


def _events(start: int, count: int) -> list[dict[str, Any]]:
    """Realistic read events: ids are fresh uuids, counts and actors vary."""
    rng = random.Random(start)
    return [
        {
            "event": "read",
            "ts": f"2025-06-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}+00:00",
            "actor": rng.choice(("alice", "bob", "carol", "dave")),
            "dataset": uuid.UUID(int=rng.getrandbits(128)).hex,
            "version": uuid.UUID(int=rng.getrandbits(128)).hex,
            "purpose": rng.choice(("training", "analytics", "evaluation")),
            "rows": rng.randrange(1, 10_000_000),
        }
        for i in range(start, start + count)
    ]


def _segments(txns: list[tuple[int, float, float]], segments: int) -> Result:
    """(entries, wall, cpu) per transaction, grouped into ``segments`` consecutive runs that
    run.py treats like repeats: on a busy machine some segments are slowed, not all."""
    size = -(-len(txns) // segments)
    groups = [txns[i : i + size] for i in range(0, len(txns), size)]
    runs = [
        {
            "work": sum(t[0] for t in g),
            "seconds": sum(t[1] for t in g),
            "cpu_seconds": sum(t[2] for t in g),
        }
        for g in groups
    ]
    total = {k: sum(r[k] for r in runs) for k in ("work", "seconds", "cpu_seconds")}
    return {**total, "segments": runs}


def log_append(root: str, entries: int, batch: int, segments: int) -> Result:
    """``entries`` appends committed in transactions of ``batch``; only the transactions
    are timed, the events are built outside the timer."""
    ws = Workspace.open(root) if Path(root).exists() else _fresh_workspace(root)
    txns = []
    for start in range(0, entries, batch):
        events = _events(start, min(batch, entries - start))
        t0, c0 = time.perf_counter(), time.process_time()
        with ws.hazmat.session() as session:
            auditlog.append(session, events)
            session.commit()
        txns.append((len(events), time.perf_counter() - t0, time.process_time() - c0))
    return _segments(txns, segments)


def sqlite_floor(path: str, ddl: str, entries: int, batch: int, segments: int) -> Result:
    """The same rows inserted with plain sqlite3 ``executemany``: the floor under privet.

    Same table definition and the same pragmas privet's engine sets (WAL, synchronous=FULL,
    BEGIN IMMEDIATE), so the difference is privet's own per-entry work. Building the rows
    (canonical JSON + leaf hash) is timed separately, as ``encode_seconds``.
    """
    Path(path).unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(ddl)
    txns, encode = [], 0.0
    for start in range(0, entries, batch):
        events = _events(start, min(batch, entries - start))
        t0 = time.perf_counter()
        rows = []
        for i, event in enumerate(events, start):
            data = canonical(event)
            rows.append((i, data, leaf_hash(data)))
        t1, c1 = time.perf_counter(), time.process_time()
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO log_entries (idx, data, leaf_hash) VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")
        encode += t1 - t0
        txns.append((len(rows), time.perf_counter() - t1, time.process_time() - c1))
    db.close()
    return {**_segments(txns, segments), "encode_seconds": encode}


def log_verify(root: str) -> Result:
    ws = Workspace.open(root)
    result: Result = {}
    with _clock(result):
        report = ws.log.verify()
    result["entries"] = report.size
    return result


def hash_floor(root: str) -> Result:
    """Plain hashlib over the same entries: the leaf SHA-256 of each, then the n-1 interior
    SHA-256 of the RFC 9162 tree (the minimum hashing any verifier must do). Reading the
    rows with plain sqlite3 is timed too, as ``read_seconds``."""
    result: Result = {}
    db = sqlite3.connect(Path(root) / ".privet" / "catalog.db")
    with _clock(result, "read_seconds"):
        entries = [bytes(d) for (d,) in db.execute("SELECT data FROM log_entries ORDER BY idx")]
    sha = hashlib.sha256
    with _clock(result, "leaf_seconds"):
        level = [sha(b"\x00" + data).digest() for data in entries]
    with _clock(result, "tree_seconds"):
        while len(level) > 1:
            odd = [level[-1]] if len(level) & 1 else []
            level = [
                sha(b"\x01" + a + b).digest() for a, b in zip(level[::2], level[1::2], strict=False)
            ] + odd
    result["seconds"] = result["leaf_seconds"] + result["tree_seconds"]
    result["cpu_seconds"] = result["cpu_leaf_seconds"] + result["cpu_tree_seconds"]
    result["entries"] = len(entries)
    return result


def log_checkpoint(root: str) -> Result:
    ws = Workspace.open(root)
    result: Result = {}
    with _clock(result):
        row = ws.log.checkpoint()
    result["size"] = row.size
    return result


def log_prove(root: str, repeats: int) -> Result:
    """``prove_inclusion`` of the middle entry against the latest checkpoint (median)."""
    ws = Workspace.open(root)
    index = ws.log.latest_checkpoint().size // 2
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ws.log.prove_inclusion(index)
        times.append(time.perf_counter() - t0)
    return {"seconds": sorted(times)[len(times) // 2], "all": times, "index": index}


OPS: dict[str, Callable[..., Result]] = {
    f.__name__: f
    for f in (
        ingest_privet,
        ingest_plain,
        export_privet,
        export_plain,
        ingest_stages,
        read_stages,
        export_stages,
        log_append,
        sqlite_floor,
        log_verify,
        hash_floor,
        log_checkpoint,
        log_prove,
    )
}


def main() -> None:
    op, args = sys.argv[1], json.loads(sys.argv[2])
    base = _rss_mb()
    result = OPS[op](**args)
    result["peak_rss_mb"] = _rss_mb()
    result["base_rss_mb"] = base
    print(json.dumps(result))


if __name__ == "__main__":
    main()
