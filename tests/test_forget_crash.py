"""SIGKILL in the middle of forgetting (issue 16, acceptance 4): an erasure or a retention run
killed at a random point never leaves the workspace inconsistent, and the next run finishes
the job.

One workspace is built once (versions made on a clock set back, so some have expired by the
real clock the command runs on) and copied for each trial; ``privet erase`` or ``privet
retention run`` runs as a real process and is killed once a random number of object files
changed, after a further random delay (seeded). After the kill the workspace is checked from
outside (tests/forget_checks.py): the log verifies, every live row's object decrypts to its
hash, no live row uses a destroyed key, no destroyed key survives. Then the job is finished
in-process and checked: the subject is nowhere, other rows are exact, each expired object is
destroyed exactly once, and no file is left behind.

The default run does 3 trials of each; PRIVET_SLOW=1 runs the 10 of the acceptance.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from privet import Workspace
from privet.catalog import SUBJECT_LINK
from privet.forget import EraseRequest
from tests.forget_checks import Clock, assert_consistent, build_expiring, rows
from tests.forget_support import decryptable_objects, holds_any

SEED = 16
IDENTIFYING = ["person_id", "full_name", "email", "phone", "ssn"]


@dataclass
class Template:
    project: Path
    key_dir: Path
    subject: str
    values: list[str]  # the subject's identifying values and keyed link
    link: str
    contents: dict[str, pl.DataFrame]  # version id → its table, as stored
    expiring: set[tuple[str, str]]  # what retention destroys, by the real clock


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    root = tmp_path_factory.mktemp("forget-crash")
    project, key_dir = root / "template", root / "keys"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(key_dir))
        # 45 days back: people@1-@4 (and what was made from @1) have expired, @5 has not.
        clock = Clock(datetime.now(UTC) - timedelta(days=45))
        with Workspace.init(project, actor="tester", clock=clock) as ws:
            frames = build_expiring(ws, clock, root, rows=600, later=(4, 8, 12, 40))
            ws.access.set_policy("erasure_roles: [dpo]\n", actor="alice")
            ws.access.add_user("dana", roles=["dpo"], actor="alice")
        with Workspace.open(project) as ws:
            subject = str(frames[1]["person_id"][30])
            row = frames[1].filter(pl.col("person_id") == subject)
            with ws.hazmat.reading() as session:
                prf = ws.hazmat.vault.keyed_prf(session)
            link = prf.compute(b"privet/subject-link/v1\x00" + subject.encode(), 16).hex()
            opened, _ = decryptable_objects(ws)
            by_object = {o.path: o.plaintext for o in opened}
            contents = {
                r.id: pl.read_parquet(io.BytesIO(by_object[r.object_key]))
                for r in rows(ws)
                if r.kind == "version"
            }
            expiring = {
                (i.kind, i.name) for i in ws.forget.retention(actor="alice", dry_run=True).destroyed
            }
    assert len(expiring) == 6  # people@1-@4, people-masked@1, m1
    values = [str(row[c][0]) for c in IDENTIFYING] + [link]
    return Template(project, key_dir, subject, values, link, contents, expiring)


def _copy(template: Template, folder: Path) -> Path:
    """A fresh copy of the workspace (the master key file, named by absolute path in the
    workspace's KMS URI, is shared: it is only read)."""
    project = folder / "project"
    shutil.copytree(template.project, project)
    return project


def _files(project: Path) -> set[str]:
    root = project / ".privet" / "objects"
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _run_and_kill(project: Path, args: list[str], rng: random.Random, most: int) -> str:
    """Run ``privet ARGS`` and SIGKILL it once ``n`` object files (of 0..``most``, random)
    appeared or vanished, a random 0-40 ms later; with n = 0, at a random moment of its
    first 3 s (imports, finding the subject). Returns where it was killed."""
    changes, delay = rng.randint(0, most), rng.uniform(0, 0.04)
    if changes == 0:
        delay = rng.uniform(0.3, 3.0)
    before = _files(project)
    env = {**os.environ, "PRIVET_WORKSPACE": str(project)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "privet", *args], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(_files(project) ^ before) < changes:
        if proc.poll() is not None:
            return "finished first"
        assert time.monotonic() < deadline, "the command neither finished nor progressed"
        time.sleep(0.001)
    time.sleep(delay)
    if proc.poll() is not None:
        return "finished first"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return f"killed after {changes} file change(s) + {delay * 1000:.0f} ms"


TRIALS = [pytest.param(n, id=f"trial{n}") for n in range(3)] + [
    pytest.param(n, id=f"trial{n}", marks=pytest.mark.slow) for n in range(3, 10)
]


@pytest.mark.parametrize("trial", TRIALS)
def test_sigkill_mid_erasure_is_finished_by_the_next_run(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trial: int
):
    monkeypatch.setenv("PRIVET_KEY_DIR", str(template.key_dir))
    project = _copy(template, tmp_path)
    rng = random.Random(SEED * 100 + trial)
    where = _run_and_kill(
        project, ["erase", "--subject", template.subject, "--reason", "Art. 17", "--as", "dana"],
        rng, most=14,
    )  # fmt: skip
    with Workspace.open(project) as ws:
        assert_consistent(ws, where=where)
        requests = ws.forget.requests()
        assert len(requests) <= 1, where
        if not requests:  # killed before it was queued: nothing changed, ask again
            live = _live_contents(ws)
            assert live.keys() == template.contents.keys(), where
            assert all(live[v].equals(template.contents[v]) for v in live), where
            ws.forget.erase(EraseRequest(subjects=[template.subject], reason="again"), actor="dana")
        elif requests[0].status == "pending":
            (finished,) = ws.forget.run_pending(actor="dana")
            assert finished.status == "done"
        assert [r.status for r in ws.forget.requests()] == ["done"], where
        assert_consistent(ws, settled=True, where=where)
        # The subject is nowhere any key still opens; every other row is exact.
        opened, _ = decryptable_objects(ws)
        assert not [o.path for o in opened if holds_any(o.plaintext, template.values)], where
        for version_id, after in _live_contents(ws).items():
            assert after.equals(_without(template, template.contents[version_id])), where
        # Each version was rewritten once, whatever the kill interrupted.
        rewrites = Counter(
            r.event["version"] for r in ws.log.records() if r.event["event"] == "erasure.rewrite"
        )
        assert rewrites and set(rewrites.values()) == {1}, where


def _live_contents(ws: Workspace) -> dict[str, pl.DataFrame]:
    opened, _ = decryptable_objects(ws)
    by_object = {o.path: o.plaintext for o in opened}
    return {
        r.id: pl.read_parquet(io.BytesIO(by_object[r.object_key]))
        for r in rows(ws)
        if r.kind == "version" and not r.destroyed
    }


def _without(template: Template, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` without the subject's rows, found by their id or their keyed link."""
    if "person_id" in frame.columns:
        return frame.filter(pl.col("person_id").cast(pl.String) != template.subject)
    return frame.filter(pl.col(SUBJECT_LINK) != template.link)


@pytest.mark.parametrize("trial", TRIALS)
def test_sigkill_mid_retention_is_finished_by_the_next_run(
    template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trial: int
):
    monkeypatch.setenv("PRIVET_KEY_DIR", str(template.key_dir))
    project = _copy(template, tmp_path)
    rng = random.Random(SEED * 1000 + trial)
    where = _run_and_kill(project, ["retention", "run", "--as", "alice"], rng, most=6)
    with Workspace.open(project) as ws:
        assert_consistent(ws, where=where)
        ws.forget.retention(actor="alice")
        assert_consistent(ws, settled=True, where=where)
        destroyed = {(r.kind, r.label) for r in rows(ws) if r.destroyed}
        assert destroyed == template.expiring, where
        assert ws.forget.retention(actor="alice", dry_run=True).destroyed == []
        # Each object was destroyed once: one evidence entry each, none twice.
        shreds = Counter(
            r.event.get("version", r.event.get("model"))
            for r in ws.log.records()
            if r.event["event"] == "retention.shred"
        )
        assert len(shreds) == len(template.expiring) and set(shreds.values()) == {1}, where
        # The live versions are exactly as they were.
        for version_id, after in _live_contents(ws).items():
            assert after.equals(template.contents[version_id]), where
