"""Governed-read throughput over HTTP against reading the same file directly (issue 3).

``python bench/bench_serve.py [--rows 48842] [--repeats 7]``

The data: privet's raw people table (UCI Adult joined with generated identifiers). Both
sides end with the same Polars frame in memory:

- direct: ``pl.read_parquet`` of the plain Parquet file (no governance, no encryption);
- HTTP: ``GET /v1/datasets/people/rows?format=parquet`` against ``privet serve`` on loopback
  by an analyst holding an approved grant (token check, policy decision, grant check,
  decryption, the audit entry committed before the first byte, the stream, then
  ``pl.read_parquet`` of the received bytes). One client, sequential reads.

Both sides alternate, ``--repeats`` times; the best run of each counts (least disturbed by
other load on a shared machine), and the median is printed beside it. Goal: HTTP ≥ 0.5×
direct. Writes bench/out/serve.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"

POLICY = """
version: 1
approver_roles: [approver]
rules:
  - roles: [analyst]
    views: [raw]
    purposes: [analytics]
"""


def _setup(root: Path, rows: int) -> tuple[Path, Path, str]:
    from privet import Workspace
    from privet.datasets import raw_people
    from privet.policy import (
        add_user,
        approve_grant,
        issue_token,
        local_identity,
        request_grant,
        set_policy,
    )

    frame = raw_people(rows)
    csv, plain = root / "people.csv", root / "people.parquet"
    frame.write_csv(csv)
    project = root / "project"
    with Workspace.init(project, actor="alice") as ws:
        ws.ingest(csv, name="people", owner="alice", purposes=["analytics"], actor="alice")
        add_user(ws, "carol", roles=["approver"], actor="alice")
        add_user(ws, "bob", roles=["analyst"], actor="alice")
        set_policy(ws, POLICY, actor="alice")
        token = issue_token(ws, "bob", expires_in=timedelta(hours=2), actor="alice").secret
        grant = request_grant(
            ws,
            local_identity(ws, "bob"),
            dataset="people",
            view="raw",
            purpose="analytics",
            duration=timedelta(hours=2),
            reason="benchmark",
        )
        approve_grant(ws, grant.id, identity=local_identity(ws, "carol"))
        # "The same file": the stored version's own rows, written as plain Parquet.
        ws.read("people", purpose="analytics", actor="alice").write_parquet(plain)
    return project, plain, token


def _serve(project: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "privet", "serve", "-w", str(project), "--port", str(port),
         "--log-level", "warning"],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"privet serve did not start; see {log}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=48_842)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import httpx
    import polars as pl

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        root = Path(tmp)
        os.environ["PRIVET_KEY_DIR"] = str(root / "keys")
        project, plain, token = _setup(root, args.rows)
        file_size = plain.stat().st_size
        port = free_port()
        server = _serve(project, port, OUT / "serve-server.log")
        headers = {"Authorization": f"Bearer {token}"}
        direct_s: list[float] = []
        http_s: list[float] = []
        size = 0
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:

                def over_http() -> int:
                    response = client.get(
                        "/v1/datasets/people/rows", params={"purpose": "analytics"}
                    )
                    response.raise_for_status()
                    return pl.read_parquet(io.BytesIO(response.content)).height

                over_http()  # warm-up: imports, first connection, caches
                pl.read_parquet(plain)
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    assert pl.read_parquet(plain).height == args.rows
                    direct_s.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    assert over_http() == args.rows
                    http_s.append(time.perf_counter() - start)
                size = len(
                    client.get("/v1/datasets/people/rows", params={"purpose": "analytics"}).content
                )
        finally:
            server.terminate()
            server.wait()

    direct, http = min(direct_s), min(http_s)
    result = {
        "rows": args.rows,
        "parquet_bytes_file": file_size,
        "parquet_bytes_http": size,
        "repeats": args.repeats,
        "direct_seconds_best": direct,
        "direct_seconds_median": statistics.median(direct_s),
        "http_seconds_best": http,
        "http_seconds_median": statistics.median(http_s),
        "direct_rows_per_s": args.rows / direct,
        "http_rows_per_s": args.rows / http,
        "ratio_http_to_direct": direct / http,
        "ratio_median": statistics.median(direct_s) / statistics.median(http_s),
        "goal": ">= 0.5",
        "load_avg": os.getloadavg()[0],
    }
    (OUT / "serve.json").write_text(json.dumps(result, indent=2))
    print(f"governed read of {args.rows:,} rows (Parquet), best of {args.repeats}:")
    print(f"  direct pl.read_parquet : {direct * 1000:8.1f} ms  {args.rows / direct:12,.0f} rows/s")
    print(f"  HTTP governed stream   : {http * 1000:8.1f} ms  {args.rows / http:12,.0f} rows/s")
    print(
        f"  ratio HTTP/direct      : {direct / http:.2f}x (median {result['ratio_median']:.2f}x; "
        f"goal >= 0.5x: {'met' if direct / http >= 0.5 else 'missed'})"
    )


if __name__ == "__main__":
    main()
