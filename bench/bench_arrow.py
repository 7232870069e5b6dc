"""Governed reads as Arrow (HTTP Arrow IPC stream, Arrow Flight) against a direct read (issue 20).

``python bench/bench_arrow.py [--copies 1 8 32 312] [--repeats 5]``

The data and the governance are those of ``bench_serve.py`` (section 6.2): privet's raw people
table (UCI Adult joined with generated identifiers, 48,842 rows), repeated ``K`` times, stored
by privet; an analyst with an approved grant reads it. Every side ends with the same Polars
frame in memory:

- direct: ``pl.read_parquet`` of the same rows written as plain Parquet (no governance, no
  encryption);
- HTTP Arrow: ``privet.connect("http://…", token=…).read(...)``, i.e. ``GET
  /v1/datasets/people/rows?format=arrow`` to ``privet serve`` on loopback (token check, policy
  and grant decision, the audit entry committed before the first byte, decryption and the hash
  check, batches decoded while earlier ones are sent, the grant re-checked between batches),
  read by ``pyarrow.ipc`` as the batches arrive, then handed to Polars;
- Flight: the same read over Arrow Flight (``privet serve --flight-port``, ``grpc://``);
- HTTP Parquet, for comparison: ``bench_serve.py``'s side (the stored Parquet streamed over
  HTTP, then ``pl.read_parquet`` of the received bytes), and the same through
  ``privet.connect(...).read(..., wire="parquet")``.

The sides alternate ``--repeats`` times; the best run of each counts (least disturbed by other
load on a shared machine) and the median is printed beside it. Goal: ≥ 0.7× direct at 51 MB
and above. Writes bench/out/arrow.json.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import OUT, POLICY, _setup, free_port  # noqa: E402 - same data and governance

# Above this many copies the table is built, ingested and exported without holding it in
# memory (Polars sinks, privet's streaming ingest and export): ~500 MB of Parquet is ~7 GB
# as a frame.
_IN_MEMORY_COPIES = 32


def _setup_streamed(root: Path, copies: int) -> tuple[Path, Path, str, int]:
    """``_setup`` for a big table: the repeated table is written by a Polars sink, ingested
    from Parquet and exported (the stored plaintext, as it is) with streaming forced."""
    from datetime import timedelta

    import polars as pl

    from privet import Workspace
    from privet.datasets import raw_people
    from privet.policy import GrantRequest

    one, source, plain = root / "one.parquet", root / "people-source.parquet", root / "p.parquet"
    raw_people().write_parquet(one)
    pl.concat([pl.scan_parquet(one)] * copies).sink_parquet(source)
    project = root / "project"
    os.environ["PRIVET_STREAMING"] = "1"
    try:
        with Workspace.init(project, actor="alice") as ws:
            ws.ingest(source, name="people", owner="alice", purposes=["analytics"], actor="alice")
            ws.access.add_user("carol", roles=["approver"], actor="alice")
            ws.access.add_user("bob", roles=["analyst"], actor="alice")
            ws.access.set_policy(POLICY, actor="alice")
            issued = ws.access.issue_token("bob", expires_in=timedelta(hours=4), actor="alice")
            ask = GrantRequest(
                dataset="people",
                view="raw",
                purpose="analytics",
                duration_seconds=4 * 3600,
                reason="benchmark",
            )
            grant = ws.access.request_grant(ask, actor="bob")
            ws.access.approve_grant(grant.id, actor="carol")
            ws.export("people", plain, purpose="analytics", actor="alice")
    finally:
        del os.environ["PRIVET_STREAMING"]
    source.unlink()
    rows = pl.scan_parquet(plain).select(pl.len()).collect().item()
    return project, plain, issued.secret, rows


def _serve(project: Path, port: int, flight_port: int, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "privet", "serve", "-w", str(project), "--port", str(port),
         "--flight-port", str(flight_port), "--log-level", "warning"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(600):
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"privet serve did not start; see {log}")


def measure(copies: int, repeats: int) -> dict[str, Any]:
    import httpx
    import polars as pl
    import pyarrow as pa

    import privet

    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        root = Path(tmp)
        os.environ["PRIVET_KEY_DIR"] = str(root / "keys")
        setup = _setup if copies <= _IN_MEMORY_COPIES else _setup_streamed
        project, plain, token, rows = setup(root, copies)
        file_size = plain.stat().st_size
        port, flight_port = free_port(), free_port()
        server = _serve(project, port, flight_port, OUT / "arrow-server.log")
        base = f"http://127.0.0.1:{port}"
        parquet_client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})

        def parquet_over_http() -> pl.DataFrame:
            # bench_serve.py's side (section 6.2): the stored Parquet streamed, decoded after.
            response = parquet_client.get(
                "/v1/datasets/people/rows", params={"purpose": "analytics"}
            )
            response.raise_for_status()
            return pl.read_parquet(io.BytesIO(response.content))

        sides_connect = privet.connect(base, token=token)
        sides = {
            "direct": lambda: pl.read_parquet(plain),
            "parquet": parquet_over_http,
            "http": privet.connect(base, token=token),
            "connect_parquet": lambda: sides_connect.read(
                "people", purpose="analytics", wire="parquet"
            ),
            "flight": privet.connect(f"grpc://127.0.0.1:{flight_port}", token=token),
        }
        runs: dict[str, list[float]] = {name: [] for name in sides}
        try:

            def run(name: str) -> int:
                side = sides[name]
                if callable(side):
                    return side().height
                return side.read("people", purpose="analytics").height

            # Warm-up (imports, the first connection, caches); a big table's sides were warmed
            # by the smaller ones of the same run.
            for name in sides if copies <= _IN_MEMORY_COPIES else ():
                assert run(name) == rows
            for _ in range(repeats):
                for name in sides:
                    wall = time.perf_counter()
                    assert run(name) == rows
                    runs[name].append(time.perf_counter() - wall)
                    gc.collect()  # a big frame is freed before the next side reads
                    pa.default_memory_pool().release_unused()
        finally:
            parquet_client.close()
            sides_connect.close()
            for side in sides.values():
                if not callable(side):
                    side.close()
            server.terminate()
            server.wait()
    best = {name: min(times) for name, times in runs.items()}
    median = {name: statistics.median(times) for name, times in runs.items()}
    return {
        "copies": copies,
        "rows": rows,
        "parquet_bytes": file_size,
        **{f"{name}_ms_best": best[name] * 1000 for name in runs},
        **{f"{name}_ms_median": median[name] * 1000 for name in runs},
        "parquet_ratio": best["direct"] / best["parquet"],
        "connect_parquet_ratio": best["direct"] / best["connect_parquet"],
        "http_ratio": best["direct"] / best["http"],
        "http_ratio_median": median["direct"] / median["http"],
        "flight_ratio": best["direct"] / best["flight"],
        "flight_ratio_median": median["direct"] / median["flight"],
        "load_avg": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"load average at the start: {os.getloadavg()}")
    results = []
    for copies in args.copies:
        results.append(measure(copies, args.repeats))
        (OUT / "arrow.json").write_text(json.dumps(results, indent=2))
        r = results[-1]
        print(
            f"{r['rows']:>11,} rows {r['parquet_bytes'] / 1e6:>7.1f} MB  direct "
            f"{r['direct_ms_best']:>8.1f} ms  HTTP Parquet {r['parquet_ms_best']:>8.1f} ms "
            f"{r['parquet_ratio']:.2f}x  connect(wire=parquet) "
            f"{r['connect_parquet_ms_best']:>8.1f} ms {r['connect_parquet_ratio']:.2f}x  "
            f"HTTP Arrow {r['http_ms_best']:>8.1f} ms "
            f"{r['http_ratio']:.2f}x ({r['http_ratio_median']:.2f}x)  Flight "
            f"{r['flight_ms_best']:>8.1f} ms {r['flight_ratio']:.2f}x "
            f"({r['flight_ratio_median']:.2f}x)  load {r['load_avg']:.1f}",
            flush=True,
        )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
