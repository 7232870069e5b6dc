"""Flower's SuperLink and SuperNodes as real processes on loopback, with TLS, and their cleanup.

One :class:`Cluster` owns every process it starts: the SuperLink, one SuperNode per party,
and what those start themselves (SuperExec, ``flwr-serverapp``, ``flwr-clientapp``). Each
gets its own Flower home and log file under the cluster's folder; every process carries a
marker in its environment, so :meth:`Cluster.stop` finds and ends them all, even those a
crashed parent left behind. Flower's telemetry, update check and runtime dependency
installation are switched off: nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privet.errors import PrivetError
from privet.federated._tls import Certificates

MARKER = "PRIVET_FEDERATION_PROCESS"
LOOPBACK = "127.0.0.1"
# How long a SIGTERM'd process may take to shut down before it is killed.
GRACE = 5.0
# Flower's SuperExec looks for new tasks at this interval (its default is 1 s).
TASK_POLL_INTERVAL = "0.2"
LOG_TAIL = 12


class FederationFailed(PrivetError):
    """A process of a federation on this machine failed or the run did not finish."""


def flower_bin(name: str) -> str:
    """The path of Flower's console script ``name`` beside this Python interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise FederationFailed(f"{name} is not installed next to {sys.executable}")
    return str(path)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (JSON's string escapes are all valid TOML ones)."""
    return json.dumps(value, ensure_ascii=True)


def write_toml_table(path: Path, values: Mapping[str, str]) -> Path:
    """A TOML file of string keys and values, mode 0600 (a party's config names its data)."""
    text = "".join(f"{key} = {toml_string(value)}\n" for key, value in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path


def _privet_source() -> str:
    """The folder holding the ``privet`` package this process runs, for the children's path."""
    return str(Path(__file__).resolve().parents[2])


def _scrub(text: str) -> str:
    """The last lines of a log with the ANSI colour codes Flower writes removed."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip() for line in text.splitlines()]
    lines = [line for line in lines if line.strip() and "warnings.warn" not in line]
    return " | ".join(lines[-LOG_TAIL:])


def _die_with_parent() -> None:
    """In the child before exec: end it if privet's process dies, even by SIGKILL (Linux)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Started:
    """A process this cluster started: its name, its Popen, its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    # A process expected to fail (a SuperNode that must be refused) does not fail the run.
    required: bool = True

    def tail(self) -> str:
        try:
            return _scrub(self.log.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return ""


@dataclass
class Cluster:
    """A SuperLink and SuperNodes on loopback under ``folder``, speaking TLS with ``certs``."""

    folder: Path
    certs: Certificates
    port: int = 0
    marker: str = field(default_factory=lambda: secrets.token_hex(8))
    started: list[Started] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.folder / "logs").mkdir(mode=0o700, exist_ok=True)
        self.port = self.port or free_port()

    # -- the environment of every Flower process -------------------------------------------

    def env(self, home: str) -> dict[str, str]:
        """The environment of a Flower process: its own home, nothing sent off the machine."""
        flower_home = self.folder / "homes" / home
        flower_home.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = dict(os.environ)
        path = [str(Path(sys.executable).parent), env.get("PATH", "")]
        python_path = [_privet_source(), env.get("PYTHONPATH", "")]
        env.update(
            {
                # SuperLink and SuperNode start flower-superexec by name: this venv's first.
                "PATH": os.pathsep.join(p for p in path if p),
                "PYTHONPATH": os.pathsep.join(p for p in python_path if p),
                "FLWR_HOME": str(flower_home),
                "FLWR_TELEMETRY_ENABLED": "0",
                "FLWR_DISABLE_UPDATE_CHECK": "1",
                "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
                "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": TASK_POLL_INTERVAL,
                "PYTHONWARNINGS": "ignore::UserWarning:google.protobuf.runtime_version",
                "PYTHONUNBUFFERED": "1",
                MARKER: self.marker,
            }
        )
        return env

    def spawn(self, name: str, argv: list[str], *, home: str) -> Started:
        """Start ``argv`` in a session of its own, its output in ``logs/<name>.log``."""
        log = self.folder / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(home),
                cwd=self.folder,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        started = Started(name, popen, log)
        self.started.append(started)
        return started

    # -- the processes ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def start_superlink(self) -> Started:
        """The SuperLink: Fleet, Control and Runtime APIs on one TLS port of loopback."""
        c = self.certs
        return self.spawn(
            "superlink",
            [
                flower_bin("flower-superlink"),
                "--ssl-ca-certfile", str(c.ca),
                "--ssl-certfile", str(c.cert),
                "--ssl-keyfile", str(c.key),
                "--host", LOOPBACK,
                "--port", str(self.port),
                "--disable-runtime-dependency-installation",
            ],
            home="superlink",
        )  # fmt: skip

    def start_supernode(
        self,
        name: str,
        node_config: Mapping[str, str],
        *,
        root_certificates: Path | None = None,
        insecure: bool = False,
    ) -> Started:
        """A SuperNode that trusts ``root_certificates`` (this cluster's CA by default).

        ``node_config`` reaches the ClientApp as ``context.node_config``; it is passed in a
        file of mode 0600, not on the command line where any local user could read it.
        """
        config = write_toml_table(self.folder / f"node-{name}.toml", node_config)
        c = self.certs
        trust = (
            ["--insecure"] if insecure else ["--root-certificates", str(root_certificates or c.ca)]
        )
        return self.spawn(
            f"supernode-{name}",
            [
                flower_bin("flower-supernode"),
                *trust,
                "--superlink", self.address,
                "--node-config", str(config),
                # The SuperNode's own Runtime API (for its ClientApp processes): TLS too.
                "--host", LOOPBACK,
                "--port", str(free_port()),
                "--ssl-certfile", str(c.cert),
                "--ssl-keyfile", str(c.key),
                "--ssl-ca-certfile", str(c.ca),
            ],
            home=f"supernode-{name}",
        )  # fmt: skip

    # -- the flwr CLI, as the coordinator ---------------------------------------------------

    def flwr(self, *args: str, timeout: float = 60.0) -> str:
        """Run ``flwr ARGS`` against this cluster's SuperLink; its standard output."""
        home = self.folder / "homes" / "cli"
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The flwr CLI reads its SuperLink connection from its home's config.toml.
        (home / "config.toml").write_text(
            '[superlink]\ndefault = "privet"\n\n[superlink.privet]\n'
            f"address = {toml_string(self.address)}\n"
            f"root-certificates = {toml_string(str(self.certs.ca))}\n",
            encoding="utf-8",
        )
        try:
            done = subprocess.run(
                [flower_bin("flwr"), *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=self.env("cli"),
                cwd=self.folder,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise FederationFailed(f"flwr {args[0]} did not answer in {timeout:.0f} s") from None
        out = done.stdout.decode("utf-8", errors="replace")
        if done.returncode != 0:
            err = _scrub(done.stderr.decode("utf-8", errors="replace") + "\n" + out)
            raise FederationFailed(f"flwr {args[0]} failed: {err}")
        return out

    def flwr_json(self, *args: str) -> dict[str, Any]:
        out = self.flwr(*args, "--format", "json")
        start = out.find("{")
        try:
            document = json.loads(out[start:]) if start >= 0 else None
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise FederationFailed(f"flwr {args[0]} answered no JSON: {_scrub(out)}")
        if document.get("success") is False:
            error = _scrub(str(document.get("error-message", "")))
            raise FederationFailed(f"flwr {args[0]} failed: {error or 'no reason given'}")
        return document

    def online_nodes(self) -> list[str]:
        """The ids of the SuperNodes the SuperLink lists as online."""
        nodes = self.flwr_json("supernode", "ls").get("nodes")
        return [
            str(n["node-id"])
            for n in (nodes if isinstance(nodes, list) else [])
            if isinstance(n, dict) and n.get("status") == "online"
        ]

    def submit(self, app: Path, run_config: Mapping[str, str]) -> str:
        """Start a run of the Flower app in folder ``app``; its run id."""
        overrides = write_toml_table(self.folder / "run-config.toml", run_config)
        document = self.flwr_json("run", str(app), "privet", "--run-config", str(overrides))
        run_id = document.get("run-id")
        if not document.get("success") or not run_id:
            raise FederationFailed("the SuperLink did not start the run")
        return str(run_id)

    def run_status(self, run_id: str) -> tuple[str, str]:
        """The run's status (``running``, ``finished:completed``, ...) and its details."""
        runs = self.flwr_json("ls", "--run-id", run_id).get("runs")
        for run in runs if isinstance(runs, list) else []:
            if isinstance(run, dict) and str(run.get("run-id")) == run_id:
                return str(run.get("status", "")), str(run.get("status-details", ""))
        return "unknown", ""

    # -- waiting and stopping --------------------------------------------------------------

    def check_alive(self) -> None:
        """Raise, with the tail of its log, if a process this cluster started has exited."""
        for started in self.started:
            code = started.popen.poll()
            if code is not None and started.required:
                raise FederationFailed(f"{started.name} exited with code {code}: {started.tail()}")

    def wait_registered(self, node: Started, timeout: float = 60.0) -> None:
        """Wait until ``node``'s log says the SuperLink registered it (its SuperNode ID)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with suppress(OSError):
                if "SuperNode ID:" in node.log.read_text(encoding="utf-8", errors="replace"):
                    return
            time.sleep(0.1)
        raise FederationFailed(
            f"{node.name} did not join the SuperLink in {timeout:.0f} s: {node.tail()}"
        )

    def wait_listening(self, timeout: float = 60.0) -> None:
        """Wait until the SuperLink accepts TCP connections on its port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with suppress(OSError), socket.create_connection((LOOPBACK, self.port), 0.5):
                return
            time.sleep(0.1)
        raise FederationFailed(f"the SuperLink did not listen in {timeout:.0f} s")

    def stop(self) -> None:
        """End every process of this cluster (SIGTERM, then SIGKILL after a grace period)."""
        pids = set(self._marked()) | {s.popen.pid for s in self.started if s.popen.poll() is None}
        for pid in pids:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        for started in self.started:
            with suppress(subprocess.TimeoutExpired):
                started.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        while time.monotonic() < deadline and any(self._alive(pid) for pid in pids):
            time.sleep(0.05)
        for pid in set(self._marked()) | {p for p in pids if self._alive(p)}:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for started in self.started:
            with suppress(subprocess.TimeoutExpired):
                started.popen.wait(timeout=GRACE)

    def running(self) -> list[int]:
        """The pids of this cluster's processes that are still running."""
        return [pid for pid in self._marked() if self._alive(pid)]

    def _marked(self) -> Iterator[int]:
        """The processes carrying this cluster's marker (Linux's /proc; elsewhere none)."""
        needle = f"{MARKER}={self.marker}".encode()
        proc = Path("/proc")
        if not proc.is_dir():
            return
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    yield int(entry.name)

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            try:
                os.kill(pid, 0)
            except (ProcessLookupError, PermissionError):
                return False
            return True
        # A zombie has exited; only its parent's wait is missing.
        return stat.rsplit(")", 1)[-1].split()[0] != "Z"
