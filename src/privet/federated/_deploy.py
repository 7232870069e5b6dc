"""A federation as real processes on this machine: SuperLink, one SuperNode per party, TLS.

privet makes the certificates (:mod:`privet.federated._tls`), starts the processes
(:mod:`privet.federated._processes`), writes a Flower app folder whose components are
privet's own installed modules, submits it with ``flwr run`` and waits for the ServerApp's
result file. Everything lives in one working folder, removed afterwards unless the caller
gave it; every process is ended on the way out, also on error.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from privet.federated._extra import require_flower
from privet.federated._parties import Party
from privet.federated._processes import Cluster, FederationFailed, Started, toml_string
from privet.federated._tls import make_certificates

if TYPE_CHECKING:
    from privet.federated._apps import ServerResult
    from privet.federated._requests import FederateRequest

Progress = Callable[[str], None]
T = TypeVar("T")

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
class Deployment(Generic[T]):
    """What a finished run left: its result (as ``read`` made it) and each process's log."""

    run_id: str
    result: T
    seconds: float
    logs: dict[str, Path] = field(default_factory=dict)


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
    read: Callable[[Path], T],
    workdir: Path | None = None,
    files: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    timeout: float = 600.0,
    expect_nodes: int | None = None,
    before_run: Callable[[Cluster, list[Started]], None] | None = None,
) -> Deployment[T]:
    """Run a Flower app on a SuperLink and ``nodes`` started here, over TLS; its result.

    ``run_config`` is passed to the ServerApp, plus ``privet-result``: the path where it
    writes its result (atomically) and, beside it with ``.progress`` appended, one line per
    round, passed on to ``progress``. ``read`` turns the result file into the returned
    result; the file is removed afterwards. ``expect_nodes`` SuperNodes (all by default)
    must have joined before the run starts; the others are started but not waited for (tests
    start SuperNodes that must be refused). ``before_run`` is called with the cluster and its
    SuperNodes once they have joined. A failure raises :class:`FederationFailed`: one
    sentence with the tail of the failing process's log. Every process is stopped before
    this returns or raises; without ``workdir``, a temporary folder holds everything.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="privet-federation-") as tmp:
            return deploy(
                nodes,
                run_config,
                serverapp=serverapp,
                clientapp=clientapp,
                read=read,
                workdir=Path(tmp),
                files=files,
                progress=progress,
                timeout=timeout,
                expect_nodes=expect_nodes,
                before_run=before_run,
            )
    say = progress or (lambda _message: None)
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    result = workdir / RESULT_FILE
    steps = result.with_name(result.name + ".progress")
    for stale in (result, steps):
        stale.unlink(missing_ok=True)
    certs = make_certificates(workdir / f"certs-{uuid.uuid4().hex[:8]}")
    app = write_app(
        workdir / "app",
        serverapp=serverapp,
        clientapp=clientapp,
        config_keys=(*run_config, RESULT_KEY),
        files=files,
    )
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
        say(f"{len(wanted)} SuperNodes joined over TLS")
        if before_run is not None:
            before_run(cluster, started)
        begin = time.monotonic()
        run_id = cluster.submit(app, {**run_config, RESULT_KEY: str(result)})
        _wait(cluster, link, run_id, result, steps, timeout, say)
        return Deployment(
            run_id=run_id,
            result=read(result),
            seconds=time.monotonic() - begin,
            logs={s.name: s.log for s in cluster.started},
        )
    finally:
        for leftover in (result, steps):
            leftover.unlink(missing_ok=True)
        cluster.stop()
        shutil.rmtree(certs.folder, ignore_errors=True)


def _wait(
    cluster: Cluster,
    link: Started,
    run_id: str,
    result: Path,
    steps: Path,
    timeout: float,
    say: Progress,
) -> None:
    """Wait for the run's result file; raise if the run failed, a process died, or time ran out."""
    deadline = time.monotonic() + timeout
    next_status = time.monotonic() + STATUS_EVERY
    told = 0
    while not result.exists():
        told = _pass_on(steps, told, say)
        cluster.check_alive()
        now = time.monotonic()
        if now >= deadline:
            with suppress(FederationFailed):  # the processes are stopped next anyway
                cluster.flwr("stop", run_id, timeout=20)
            raise FederationFailed(f"the federated run did not finish in {timeout:.0f} s")
        if now >= next_status:
            status, details = cluster.run_status(run_id)
            if result.exists():
                break
            if status.startswith("finished"):
                if status != "finished:completed":
                    raise FederationFailed(f"the federated run {status}: {details[:500]}")
                raise FederationFailed("the federated run finished without writing its result")
            next_status = time.monotonic() + STATUS_EVERY
        time.sleep(0.1)
    _pass_on(steps, told, say)


def _pass_on(steps: Path, told: int, say: Progress) -> int:
    """Pass the ServerApp's new progress lines on; how many have been passed on."""
    try:
        text = steps.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return told
    # A line still being written (no newline yet) waits for the next look.
    complete = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    for line in complete[told:]:
        say(line)
    return max(told, len(complete))


# -- privet's federated training as processes ----------------------------------------------------

SERVER_APP = "privet.federated._deployed_apps:server_app"
CLIENT_APP = "privet.federated._deployed_apps:client_app"


def deployed_nodes(parties: list[Party]) -> list[Node]:
    """One SuperNode per party, its ClientApp told its party (and index) in its node config."""
    return [
        Node(p.name, {PARTY_KEY: p.model_dump_json(), "privet-index": str(i)})
        for i, p in enumerate(parties)
    ]


def deployed_config(request: FederateRequest, parties: list[Party], *, run: str) -> dict[str, str]:
    """The run config privet's deployed ServerApp reads (the result path is added later)."""
    return {
        PLAN_KEY: request.model_dump_json(),
        "privet-run": run,
        "privet-parties": str(len(parties)),
    }


def run_deployed(
    request: FederateRequest,
    parties: list[Party],
    *,
    run: str,
    result: ServerResult,
    progress: Progress | None = None,
    workdir: Path | None = None,
    timeout: float | None = None,
) -> ServerResult:
    """Train ``request`` with one SuperNode per party and a SuperLink, real processes on
    loopback speaking TLS with certificates made here; ``result`` is filled in and returned.

    Each party's ClientApp opens its own workspace and reads through its broker; a party
    that is refused drops out of the round (SecAgg+ tolerates it down to its threshold).
    """
    from privet.federated._deployed_apps import read_result

    require_flower()
    # Each stage of a round starts a ClientApp process per party (Flower's isolation):
    # allow a minute per party and round, over a floor for starting up, and never less
    # than SecAgg+'s own per-stage wait for its five stages (four, and evaluation).
    stage = request.secagg.timeout if request.secagg and request.secagg.timeout else 0.0
    per_round = max(60.0 * len(parties), 5 * stage)
    limit = timeout or 300.0 + per_round * request.rounds
    done = deploy(
        deployed_nodes(parties),
        deployed_config(request, parties, run=run),
        serverapp=SERVER_APP,
        clientapp=CLIENT_APP,
        read=read_result,
        workdir=workdir,
        progress=progress,
        timeout=limit,
    )
    got = done.result
    result.weights, result.rounds = got.weights, got.rounds
    result.accuracy, result.evaluated = got.accuracy, got.evaluated
    return result
