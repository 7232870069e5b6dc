"""Spark for the tests: a ``local[2]`` session per test module, and a real standalone cluster
(a master and one worker on loopback, sharing an authentication secret) when a test asks.

A session costs seconds to start, so each module shares one; Spark allows one context per
process, so a module's session is stopped when the module ends.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pyspark = pytest.importorskip("pyspark")

from privet.engine import SECRET_ENV, spark_session, stop_spark  # noqa: E402


@contextmanager
def local_session() -> Iterator[object]:
    """A ``local[2]`` Spark session, stopped after."""
    stop_spark()
    try:
        yield spark_session("local[2]")
    finally:
        stop_spark()


@pytest.fixture(scope="module")
def local_spark() -> Iterator[object]:
    """This module's ``local[2]`` Spark session."""
    with local_session() as session:
        yield session


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _daemon(spark_home: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        # Small, quick-starting JVMs: the test's cluster holds a few hundred rows.
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_DAEMON_JAVA_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1",
    }
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(spark_home / "bin" / "spark-class"), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole, children too
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's standalone cluster (see :func:`standalone_cluster`)."""
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as url:
        yield url


@contextmanager
def standalone_cluster(folder: Path) -> Iterator[str]:
    """A standalone master and one worker (1 core, 1 GiB) on 127.0.0.1, authenticated with a
    fresh secret that the application gets from ``PRIVET_SPARK_SECRET``; yields the master
    URL with the session started on it, and stops all of it after (logs in ``folder``)."""
    spark_home = Path(pyspark.__file__).parent
    secret = secrets.token_hex(32)
    properties = folder / "spark.properties"
    properties.write_text(
        "spark.authenticate true\n"
        f"spark.authenticate.secret {secret}\n"
        "spark.network.crypto.enabled true\n"
        "spark.worker.cleanup.enabled true\n"
    )
    properties.chmod(0o600)
    port = _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    master = _daemon(
        spark_home,
        folder / "master.log",
        "org.apache.spark.deploy.master.Master",
        "--host", "127.0.0.1", "--port", str(port), "--webui-port", "0",
        "--properties-file", str(properties),
    )  # fmt: skip
    worker = _daemon(
        spark_home,
        folder / "worker.log",
        "org.apache.spark.deploy.worker.Worker", master_url,
        "--host", "127.0.0.1", "--webui-port", "0", "--cores", "1", "--memory", "1g",
        "--work-dir", str(folder / "work"), "--properties-file", str(properties),
    )  # fmt: skip
    previous = os.environ.get(SECRET_ENV)
    try:
        _wait_for(folder / "master.log", re.compile(r"Registering worker 127\.0\.0\.1"), master)
        stop_spark()
        os.environ[SECRET_ENV] = secret
        spark_session(master_url)
        yield master_url
    finally:
        stop_spark()
        if previous is None:
            os.environ.pop(SECRET_ENV, None)
        else:
            os.environ[SECRET_ENV] = previous
        _stop(worker)
        _stop(master)


def _wait_for(log: Path, pattern: re.Pattern[str], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if pattern.search(log.read_text(errors="replace")):
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"the Spark master did not register a worker:\n{log.read_text()[-2000:]}")
