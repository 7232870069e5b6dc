"""A federation as real processes on this machine: SuperLink, one SuperNode per party, TLS.

privet makes the certificates (:mod:`privet.federated._tls`), starts the processes
(:mod:`privet.federated._processes`), writes a Flower app folder whose components are
privet's own installed modules, submits it with ``flwr run`` and waits for the ServerApp's
result file. Everything lives in one working folder, removed afterwards unless the caller
gave it; every process is ended on the way out, also on error.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from privet.federated._processes import Cluster, FederationFailed, Started, toml_string
from privet.federated._tls import Certificates, make_certificates

Progress = Callable[[str], None]

PARTY_KEY = "privet-party"
PLAN_KEY = "privet-plan"
RESULT_KEY = "privet-result"
RESULT_FILE = "result.bin"
APP_NAME = "privet-federation"
# How often the SuperLink is asked for the run's status while waiting for its result.
STATUS_EVERY = 3.0


@dataclass(frozen=True)
class Node:
    """One SuperNode to start: its name and the node config its ClientApp reads."""

    name: str
    config: Mapping[str, str]
    # Tests start SuperNodes that must be refused: without the CA, or trusting another one.
    root_certificates: Path | None = None
    insecure: bool = False


@dataclass
class Deployment:
    """What a finished run left: the result file's bytes and where each party's log is."""

    run_id: str
    result: bytes
    seconds: float
    logs: dict[str, Path] = field(default_factory=dict)
    rounds_seen: int = 0


def write_app(
    folder: Path,
    *,
    serverapp: str,
    clientapp: str,
    config_keys: tuple[str, ...] = (PLAN_KEY, RESULT_KEY),
    files: Mapping[str, str] | None = None,
) -> Path:
    """A Flower app folder (``pyproject.toml``) whose components are ``module:attribute``.

    The run config declares ``config_keys`` (empty strings) so that ``flwr run
    --run-config`` may set them; ``files`` adds modules to the app bundle (tests' toy apps).
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = "".join(f"{key} = {toml_string('')}\n" for key in config_keys)
    (folder / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["hatchling"]\n'
        'build-backend = "hatchling.build"\n\n'
        "[project]\n"
        f'name = "{APP_NAME}"\n'
        'version = "1.0.0"\n'
        'description = "A privet federation"\n'
        "dependencies = []\n\n"
        "[tool.flwr.app]\n"
        'publisher = "privet"\n\n'
        "[tool.flwr.app.components]\n"
        f"serverapp = {toml_string(serverapp)}\n"
        f"clientapp = {toml_string(clientapp)}\n\n"
        "[tool.flwr.app.config]\n" + config,
        encoding="utf-8",
    )
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def deploy(
    nodes: list[Node],
    run_config: Mapping[str, str],
    *,
    serverapp: str,
    clientapp: str,
    workdir: Path | None = None,
    files: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    timeout: float = 600.0,
    expect_nodes: int | None = None,
    certificates: Certificates | None = None,
    before_run: Callable[[Cluster, list[Started]], None] | None = None,
) -> Deployment:
    """Run a Flower app on a SuperLink and ``nodes`` started here; the result file's bytes.

    ``run_config`` is passed to the ServerApp, plus ``privet-result``: the path where it must
    write its result (atomically). That file is read and removed. ``expect_nodes`` SuperNodes
    (all by default) must have joined before the run starts; the others are started but not
    waited for. Any failure raises :class:`FederationFailed` with one sentence and the tail
    of the failing process's log; every process is stopped before this returns or raises.
    ``before_run`` is called with the cluster and its SuperNodes once they have joined.
    """
    say = progress or (lambda _message: None)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="privet-federation-") as tmp:
            return deploy(
                nodes,
                run_config,
                serverapp=serverapp,
                clientapp=clientapp,
                workdir=Path(tmp),
                files=files,
                progress=progress,
                timeout=timeout,
                expect_nodes=expect_nodes,
                certificates=certificates,
                before_run=before_run,
            )
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    certs = certificates or make_certificates(workdir / "certs")
    app = write_app(
        workdir / "app",
        serverapp=serverapp,
        clientapp=clientapp,
        config_keys=(*run_config, RESULT_KEY),
        files=files,
    )
    result = workdir / RESULT_FILE
    result.unlink(missing_ok=True)
    cluster = Cluster(workdir / "processes", certs)
    try:
        say(f"starting the SuperLink on {cluster.address} (TLS)")
        link = cluster.start_superlink()
        cluster.wait_listening()
        started = [
            cluster.start_supernode(
                n.name, n.config, root_certificates=n.root_certificates, insecure=n.insecure
            )
            for n in nodes
        ]
        wanted = started[: expect_nodes if expect_nodes is not None else len(started)]
        for extra in started[len(wanted) :]:
            extra.required = False
        for node in wanted:
            cluster.wait_registered(node)
        say(f"{len(wanted)} SuperNodes joined")
        if before_run is not None:
            before_run(cluster, started)
        begin = time.monotonic()
        run_id = cluster.submit(app, {**run_config, RESULT_KEY: str(result)})
        say(f"run {run_id} started")
        rounds = _wait(cluster, link, run_id, result, timeout, say)
        data = result.read_bytes()
        return Deployment(
            run_id=run_id,
            result=data,
            seconds=time.monotonic() - begin,
            logs={s.name: s.log for s in cluster.started},
            rounds_seen=rounds,
        )
    finally:
        result.unlink(missing_ok=True)
        cluster.stop()


def _wait(
    cluster: Cluster, link: Started, run_id: str, result: Path, timeout: float, say: Progress
) -> int:
    """Wait for the run's result file; raise if the run failed, a process died, or time ran out."""
    deadline = time.monotonic() + timeout
    next_status = time.monotonic() + STATUS_EVERY
    rounds = 0
    while True:
        if result.exists():
            return rounds
        cluster.check_alive()
        seen = _rounds_in(link.log)
        if seen > rounds:
            rounds = seen
            say(f"round {rounds}")
        now = time.monotonic()
        if now >= deadline:
            _stop_run(cluster, run_id)
            raise FederationFailed(f"run {run_id} did not finish in {timeout:.0f} s: {link.tail()}")
        if now >= next_status:
            status, details = cluster.run_status(run_id)
            if result.exists():
                return rounds
            if status.startswith("finished"):
                if status != "finished:completed":
                    raise FederationFailed(f"run {run_id} {status}: {details[:500]}")
                raise FederationFailed(f"run {run_id} finished without writing its result")
            next_status = time.monotonic() + STATUS_EVERY
        time.sleep(0.1)


def _stop_run(cluster: Cluster, run_id: str) -> None:
    with suppress(FederationFailed):  # the processes are stopped next anyway
        cluster.flwr("stop", run_id, timeout=20)


_ROUND = re.compile(r"\[ROUND (\d+)\]")


def _rounds_in(log: Path) -> int:
    """The highest round the ServerApp announced in the SuperLink's log."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return max((int(m) for m in _ROUND.findall(text)), default=0)
