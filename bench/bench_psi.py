"""Private set intersection: ``privet link --psi`` against openmined-psi called directly
(issue 18).

``python bench/bench_psi.py [--sizes 100000 1000000] [--repeats 1] [--gcs]``

Each side holds ``n`` distinct ids (``subj-<16 hex>``), 10% of them shared. Measured in the
same run, alternating:

- direct: openmined-psi 2.0.6 in one process (a fresh ``python`` running the client and the
  server objects back to back: CreateRequest, CreateSetupMessage, ProcessRequest,
  GetIntersection), with the ``Raw`` data structure privet uses (exact); ``--gcs`` adds a
  run with the library's default GCS (false-positive rate 1e-9), which sends a smaller setup;
- privet: workspace A runs ``ws.federated.link_psi`` against workspace B's ``privet serve``
  on loopback (a real HTTP round trip): both governed reads, the bucketing, openmined-psi
  per bucket in parallel processes on both sides, both log entries, and storing the
  matching rows as a derived dataset. Its time is the call's wall time.

Both find the same intersection, checked against the generator's own set. Bytes are the
messages each way (privet: the HTTP bodies; direct: the serialized protobufs). The CPU time
of everything privet ran (client and server processes with their workers) is printed beside
the wall time: its ratio to direct's CPU time is the overhead, whatever the other load on
the machine. Goal: privet ≤ 0.5× direct's wall time. Writes bench/out/psi.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
TICK = os.sysconf("SC_CLK_TCK")

POLICY = """
version: 1
approver_roles: [approver]
rules:
  - roles: [linker]
    views: [raw]
    purposes: [linking]
"""

# The direct run: openmined-psi as its README shows it, in a process of its own.
DIRECT = r"""
import json, sys, time
from private_set_intersection.python import DataStructure, client, server

mine = open(sys.argv[1]).read().split("\n")
theirs = open(sys.argv[2]).read().split("\n")
ds = DataStructure.GCS if sys.argv[3] == "gcs" else DataStructure.RAW
started = time.perf_counter()
c = client.CreateWithNewKey(True)
s = server.CreateWithNewKey(True)
request = c.CreateRequest(mine)
setup = s.CreateSetupMessage(1e-9, len(mine), theirs, ds)
response = s.ProcessRequest(request)
found = c.GetIntersection(setup, response)
seconds = time.perf_counter() - started
matched = sorted(mine[i] for i in found)
print(json.dumps({
    "seconds": seconds,
    "intersection": len(matched),
    "bytes_sent": len(request.SerializeToString()),
    "bytes_received": len(setup.SerializeToString()) + len(response.SerializeToString()),
    "matched_sha": __import__("hashlib").sha256("\n".join(matched).encode()).hexdigest(),
}))
"""


def _ids(count: int, start: int) -> list[str]:
    rng = secrets.SystemRandom()
    return [f"subj-{rng.getrandbits(64):016x}-{i}" for i in range(start, start + count)]


def _cpu_of(pid: int) -> float:
    """A process's CPU time and that of the children it waited for (its PSI workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def _own_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(project: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "privet", "serve", "-w", str(project), "--port", str(port),
         "--log-level", "warning"],
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


def _setup(root: Path, mine: list[str], theirs: list[str]) -> tuple[Path, Path, str]:
    from datetime import timedelta

    import polars as pl

    from privet import Workspace
    from privet.policy import GrantRequest

    for name, values in (("a", mine), ("b", theirs)):
        pl.DataFrame({"pid": values}).write_parquet(root / f"{name}.parquet")
        (root / name).mkdir()
    with Workspace.init(root / "a", actor="alice") as ws:
        ws.ingest(root / "a.parquet", name="ids", owner="alice", purposes=["linking"],
                  actor="alice", scan=False, categories={"pid": "user.unique_id"})  # fmt: skip
    with Workspace.init(root / "b", actor="olga") as ws:
        ws.ingest(root / "b.parquet", name="ids", owner="olga", purposes=["linking"],
                  actor="olga", scan=False, categories={"pid": "user.unique_id"})  # fmt: skip
        ws.access.add_user("carol", roles=["approver"], actor="olga")
        ws.access.add_user("alice", roles=["linker"], actor="olga")
        ws.access.set_policy(POLICY, actor="olga")
        token = ws.access.issue_token("alice", expires_in=timedelta(hours=6), actor="olga").secret
        grant = ws.access.request_grant(
            GrantRequest(dataset="ids", view="raw", purpose="linking",
                         duration_seconds=6 * 3600, reason="benchmark"),
            actor="alice",
        )  # fmt: skip
        ws.access.approve_grant(grant.id, actor="carol")
    return root / "a", root / "b", token


def _direct(root: Path, kind: str) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", DIRECT, str(root / "mine.txt"), str(root / "theirs.txt"), kind],
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = json.loads(done.stdout)
    out["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out


def _privet(a: Path, url: str, token: str, server_pid: int, run: int) -> dict[str, Any]:
    from privet import Workspace
    from privet.server import Client

    with Workspace.open(a) as ws, Client(url, token) as client:
        cpu, server_cpu = _own_cpu(), _cpu_of(server_pid)
        wall = time.perf_counter()
        result = ws.federated.link_psi(
            "ids",
            "pid",
            peer=lambda m: client.psi("ids", m, column="pid", purpose="linking"),
            peer_label=url,
            purpose="linking",
            actor="alice",
            name=f"linked{run}",
        )
        seconds = time.perf_counter() - wall
        used = _own_cpu() - cpu + _cpu_of(server_pid) - server_cpu
        assert result.output is not None
        matched = sorted(ws.read(result.output, purpose="linking", actor="alice")["pid"])
    import hashlib

    return {
        "seconds": seconds,
        "cpu": used,
        "intersection": result.intersection,
        "bytes_sent": result.bytes_sent,
        "bytes_received": result.bytes_received,
        "buckets": result.buckets,
        "matched_sha": hashlib.sha256("\n".join(matched).encode()).hexdigest(),
    }


def measure(n: int, repeats: int, gcs: bool) -> dict[str, Any]:
    import hashlib

    shared = n // 10
    mine = _ids(n, 0)
    theirs = mine[:shared] + _ids(n - shared, n)
    expected = sorted(set(mine) & set(theirs))
    expected_sha = hashlib.sha256("\n".join(expected).encode()).hexdigest()
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "privet": [], "direct_gcs": []}
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        root = Path(tmp)
        os.environ["PRIVET_KEY_DIR"] = str(root / "keys")
        (root / "mine.txt").write_text("\n".join(mine))
        (root / "theirs.txt").write_text("\n".join(theirs))
        a, b, token = _setup(root, mine, theirs)
        port = free_port()
        server = _serve(b, port, OUT / "psi-server.log")
        url = f"http://127.0.0.1:{port}"
        try:
            for run in range(repeats):
                runs["direct"].append(_direct(root, "raw"))
                runs["privet"].append(_privet(a, url, token, server.pid, run))
                if gcs:
                    runs["direct_gcs"].append(_direct(root, "gcs"))
        finally:
            server.terminate()
            server.wait()
    for kind, found in runs.items():
        for r in found:
            same = r["intersection"] == len(expected) and r["matched_sha"] == expected_sha
            if kind != "direct_gcs":
                assert same, f"{kind} found another intersection"
            r["exact"] = same
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items() if v}
    out: dict[str, Any] = {
        "n": n,
        "shared": len(expected),
        "repeats": repeats,
        "runs": runs,
        "direct_s": best["direct"]["seconds"],
        "privet_s": best["privet"]["seconds"],
        "ratio": best["privet"]["seconds"] / best["direct"]["seconds"],
        "cpu_ratio": best["privet"]["cpu"] / best["direct"]["cpu"],
        "load_avg": os.getloadavg()[0],
    }
    if "direct_gcs" in best:
        out["direct_gcs_s"] = best["direct_gcs"]["seconds"]
        out["ratio_gcs"] = best["privet"]["seconds"] / best["direct_gcs"]["seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--gcs", action="store_true", help="also time direct with GCS")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = [measure(n, args.repeats, args.gcs) for n in args.sizes]
    (OUT / "psi.json").write_text(json.dumps(results, indent=2))
    print(f"privet link --psi vs openmined-psi direct (Raw), 10% overlap, best of {args.repeats}")
    print("        n   direct s   privet s   ratio  CPU ratio  buckets  MB sent  MB back  goal")
    for r in results:
        p = min(r["runs"]["privet"], key=lambda x: x["seconds"])
        d = min(r["runs"]["direct"], key=lambda x: x["seconds"])
        print(
            f"{r['n']:>9,} {r['direct_s']:>10.1f} {r['privet_s']:>10.1f} {r['ratio']:>6.2f}x "
            f"{r['cpu_ratio']:>9.2f}x {p['buckets']:>8} {p['bytes_sent'] / 1e6:>8.1f} "
            f"{p['bytes_received'] / 1e6:>8.1f}  {'met' if r['ratio'] <= 0.5 else 'missed'}"
        )
        print(
            f"{'':>9} direct bytes: {d['bytes_sent'] / 1e6:.1f} MB sent, "
            f"{d['bytes_received'] / 1e6:.1f} MB back; intersection {r['shared']:,}, exact"
        )
        if "direct_gcs_s" in r:
            g = min(r["runs"]["direct_gcs"], key=lambda x: x["seconds"])
            print(
                f"{'':>9} direct GCS: {r['direct_gcs_s']:.1f} s (privet {r['ratio_gcs']:.2f}x), "
                f"{g['bytes_received'] / 1e6:.1f} MB back, exact: {g['exact']}"
            )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
