"""Incident scoping over a 1M-entry audit log (issue 17; goal < 2 s).

A workspace holds three datasets: ``people`` (``raw_people`` rows, subject id ``person_id``),
``visits`` (three rows per person of a shifted range, subject id ``person_id``) and
``survey`` (one person per row, no subject id). The log is then filled to ``--entries``
entries with read entries of 500 actors over 30 days, made by the same constructor the
broker uses (``auditlog.events.read``) and appended through the real append path
(``privet.auditlog.append``, which writes the access index in the same transaction), in
transactions of 10,000. The actor under investigation (``mallory``) has 0.2% of them, on the
three real versions, through the library, files and HTTP. A few real reads through the broker
by mallory end the log.

Timed (each the median of ``--repeats``, in this process, warm):

- ``ws.incidents.scope(actor="mallory")``: the whole scope, including the internal re-reads
  of the three versions that count people by subject link, and its log entry;
- the same with a 7-day window, and for one API token;
- the alternatives the access index replaced, over the same log: every entry parsed in
  Python (the DBAPI cursor and ``json.loads``, the floor of any Python filter), and SQLite's
  own ``json_extract`` over every entry (one SQL scan, no Python per entry);
- the cost of the index on appends: 200,000 read entries appended to a fresh workspace in
  transactions of 10,000, and 2,000 in transactions of one entry (as the broker appends a
  read), with and without the index rows (``auditlog._log.access_rows`` stubbed out).

    .venv/bin/python bench/bench_incident.py            # 1M entries (about 1-2 min)
    .venv/bin/python bench/bench_incident.py --quick    # 100,000 entries

Prints a table and writes bench/out/incident.json (incident-quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH.parent / "src"))

import polars as pl  # noqa: E402

from privet import Workspace, auditlog  # noqa: E402
from privet.auditlog import _log  # noqa: E402
from privet.auditlog.events import ReadFacts  # noqa: E402
from privet.datasets import raw_people  # noqa: E402
from privet.policy import GrantRequest  # noqa: E402

POLICY = """
approver_roles: [steward]
rules:
  - {roles: [analyst], views: [raw, masked], purposes: [analytics]}
"""
TARGET = "mallory"
BATCH = 10_000
T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 30


def _median(run: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def build(root: Path, entries: int, people_rows: int) -> dict[str, Any]:
    os.environ["PRIVET_KEY_DIR"] = str(root / "keys")
    project = root / "project"
    project.mkdir(parents=True)
    people = raw_people(people_rows)
    ids = people["person_id"].to_list()
    shifted = ids[people_rows // 4 :] + [f"Q{i:07d}" for i in range(people_rows // 4)]
    frames = {
        "people": people,
        "visits": pl.DataFrame(
            {
                "person_id": [p for p in shifted for _ in range(3)],
                "clinic": [f"C{j % 40}" for j in range(3 * len(shifted))],
            }
        ),
        "survey": pl.DataFrame(
            {"score": [j % 10 for j in range(people_rows // 2)], "band": ["x"] * (people_rows // 2)}
        ),
    }
    ws = Workspace.init(project, actor="alice")
    versions = {}
    for name, frame in frames.items():
        path = root / f"{name}.parquet"
        frame.write_parquet(path)
        info = ws.ingest(
            path,
            name=name,
            owner="alice",
            purposes=["analytics"],
            actor="alice",
            subject_id="person_id" if name != "survey" else None,
            scan=False,
        )
        versions[name] = (ws.dataset(name).id, info.id, info.rows)
    ws.access.set_policy(POLICY, actor="alice")
    ws.access.add_user("carol", roles=["steward"], actor="alice")
    ws.access.add_user(TARGET, roles=["analyst"], actor="alice")
    for name in frames:
        grant = ws.access.request_grant(
            GrantRequest(
                dataset=name, view="raw", purpose="analytics", duration_seconds=86_400, reason="x"
            ),
            identity=ws.access.local_identity(TARGET),
        )
        ws.access.approve_grant(grant.id, identity=ws.access.local_identity("carol"))
    token = ws.access.issue_token(TARGET, expires_in=timedelta(days=1), actor="alice").id
    rng = random.Random(17)
    actors = [f"analyst{i:03d}" for i in range(499)]
    names = list(versions)
    t0 = time.perf_counter()
    written = ws.log.size()
    span = DAYS * 86_400 * 1_000_000
    while written < entries:
        events = []
        for i in range(min(BATCH, entries - written)):
            ts = T0 + timedelta(microseconds=span * (written + i) // entries)
            mine = rng.random() < 0.002
            dataset, version, rows = versions[rng.choice(names)]
            channel = rng.choice(["library", "file:csv", f"http:{rng.getrandbits(64):016x}"])
            facts = ReadFacts(
                ts=ts,
                actor=TARGET if mine else rng.choice(actors),
                dataset=dataset,
                version=version,
                purpose="analytics",
                view=rng.choice(["raw", "masked"]),
                channel=channel,
                token=token if mine and channel.startswith("http") else None,
            )
            events.append(
                auditlog.events.read(
                    facts=facts, basis="grant", rows=rng.randint(1, rows), columns=5
                )
            )
        with ws.hazmat.session() as session:
            auditlog.append(session, events)
            session.commit()
        written += len(events)
    build_seconds = time.perf_counter() - t0
    for name in names:  # real reads through the broker end the log
        ws.read(name, purpose="analytics", actor=TARGET)
    ws.close()
    return {"project": project, "token": token, "build_seconds": build_seconds}


def python_scan(ws: Workspace) -> int:
    """Every entry parsed in Python, filtered by actor: the floor of a scan without an index."""
    with ws.hazmat.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT idx, data FROM log_entries ORDER BY idx")
        found = 0
        while batch := cursor.fetchmany(20_000):
            for _, data in batch:
                if json.loads(data).get("actor") == TARGET:
                    found += 1
        cursor.close()
    return found


def sql_scan(ws: Workspace) -> int:
    """SQLite's json_extract over every entry (no Python per entry, still a full scan)."""
    with ws.hazmat.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(
            "SELECT idx, data FROM log_entries "
            "WHERE json_extract(CAST(data AS TEXT), '$.actor') = ?",
            (TARGET,),
        )
        found = len(cursor.fetchall())
        cursor.close()
    return found


def append_cost(root: Path, count: int, batch: int = BATCH) -> dict[str, float]:
    """Appends of ``count`` read entries, ``batch`` per transaction, with and without the
    access index rows."""
    out = {}
    for label, indexed in (("with_index", True), ("without_index", False)):
        project = root / f"append-{label}-{batch}"
        project.mkdir()
        ws = Workspace.init(project, actor="alice")
        original = _log.access_rows
        if not indexed:
            _log.access_rows = lambda start, events: []  # type: ignore[assignment]
        try:
            events = [
                auditlog.events.read(
                    facts=ReadFacts(
                        ts=T0 + timedelta(seconds=i),
                        actor=f"analyst{i % 500:03d}",
                        dataset="d" * 32,
                        version="v" * 32,
                        purpose="analytics",
                        view="raw",
                        channel="library",
                    ),
                    basis="grant",
                    rows=100,
                    columns=5,
                )
                for i in range(count)
            ]
            t0 = time.perf_counter()
            for start in range(0, count, batch):
                with ws.hazmat.session() as session:
                    auditlog.append(session, events[start : start + batch])
                    session.commit()
            out[label] = count / (time.perf_counter() - t0)
        finally:
            _log.access_rows = original  # type: ignore[assignment]
            ws.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 entries")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=20_000, help="rows of `people`")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--append-entries", type=int, default=200_000)
    args = parser.parse_args()
    if args.quick:
        args.entries, args.people, args.repeats, args.append_entries = 100_000, 5_000, 3, 50_000
    root = Path(tempfile.mkdtemp(prefix="privet-bench-incident-"))
    try:
        built = build(root, args.entries, args.people)
        ws = Workspace.open(built["project"])
        size = ws.log.size()
        scope_s, scope = _median(lambda: ws.incidents.scope(actor=TARGET), args.repeats)
        since = T0 + timedelta(days=DAYS - 7)
        window_s, window = _median(
            lambda: ws.incidents.scope(actor=TARGET, since=since), args.repeats
        )
        token_s, by_token = _median(lambda: ws.incidents.scope(token=built["token"]), args.repeats)
        py_s, py_found = _median(lambda: python_scan(ws), 1)
        sql_s, sql_found = _median(lambda: sql_scan(ws), args.repeats)
        ws.close()
        appends = append_cost(root, args.append_entries)
        single = append_cost(root, 2_000, batch=1)
        load = os.getloadavg()[0]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {
        "log_entries": size,
        "target_entries": scope.entries,
        "build_seconds": round(built["build_seconds"], 1),
        "scope_seconds": round(scope_s, 3),
        "scope_7_days_seconds": round(window_s, 3),
        "scope_token_seconds": round(token_s, 3),
        "python_parse_scan_seconds": round(py_s, 3),
        "sqlite_json_extract_scan_seconds": round(sql_s, 3),
        "append_per_second_with_index": round(appends["with_index"]),
        "append_per_second_without_index": round(appends["without_index"]),
        "single_entry_txn_per_second_with_index": round(single["with_index"]),
        "single_entry_txn_per_second_without_index": round(single["without_index"]),
        "scope": {
            "reads": scope.reads,
            "rows": scope.rows,
            "subjects": scope.subjects.total,
            "window_reads": window.reads,
            "token_reads": by_token.reads,
            "python_scan_found": py_found,
            "sql_scan_found": sql_found,
        },
        "load_average_after": load,
        "goal": "scope < 2 s",
        "goal_met": scope_s < 2.0,
    }
    rows = [
        ("log entries", f"{size:,}"),
        (f"entries of {TARGET}", f"{scope.entries:,}"),
        ("building the log (real append path)", f"{built['build_seconds']:.1f} s"),
        ("ws.incidents.scope(actor) — whole log", f"{scope_s:.3f} s"),
        ("ws.incidents.scope(actor, since=7 days)", f"{window_s:.3f} s"),
        ("ws.incidents.scope(token)", f"{token_s:.3f} s"),
        ("full scan: Python json.loads per entry", f"{py_s:.3f} s"),
        ("full scan: SQLite json_extract", f"{sql_s:.3f} s"),
        ("appends/s with the access index", f"{appends['with_index']:,.0f}"),
        ("appends/s without it", f"{appends['without_index']:,.0f}"),
        ("1-entry transactions/s with the index", f"{single['with_index']:,.0f}"),
        ("1-entry transactions/s without it", f"{single['without_index']:,.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    OUT.mkdir(exist_ok=True)
    (OUT / ("incident-quick.json" if args.quick else "incident.json")).write_text(
        json.dumps(report, indent=2)
    )


if __name__ == "__main__":
    main()
