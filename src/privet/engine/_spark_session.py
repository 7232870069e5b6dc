"""privet's Spark session: one per process and master URL, locked down before it starts.

The driver listens on loopback only (a cluster's executors reach it through ``--spark-master``
on the same host here), the UI is off, every connection is authenticated and encrypted
(``spark.authenticate``, ``spark.network.crypto``) and every file Spark writes locally
(shuffle, spill, cached blocks) is encrypted (``spark.io.encryption``), so no plaintext row
reaches disk. A standalone cluster's master and workers must share the application's secret:
privet reads it from ``PRIVET_SPARK_SECRET`` (for ``local[...]`` a fresh one is made).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import secrets
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from subprocess import PIPE, STDOUT
from typing import IO, TYPE_CHECKING

from privet.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

INSTALL = "pip install 'privet[spark]'"
DEFAULT_MASTER = "local[*]"
SECRET_ENV = "PRIVET_SPARK_SECRET"
_lock = threading.Lock()
_session: tuple[str, SparkSession] | None = None
# Spark's own log (driver and executors) says only FATAL, on stderr: a failed task's report
# quotes its Python traceback, which can quote a value, and reaches privet as the job's
# exception anyway; and no log goes to a file.
_LOG4J = """\
rootLogger.level = fatal
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = spark: %p %c{1}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = fatal
"""
# What the JVM and Spark's shell set-up print at start whatever the log level, dropped.
_NOISE = (
    "WARNING: Using incubator modules",
    "Setting default log level to",
    "To adjust logging level use sc.setLogLevel",
)


def require_spark() -> None:
    """Stop with one sentence naming the extra when PySpark (or Java) is missing."""
    try:
        found = importlib.util.find_spec("pyspark")
    except (ImportError, ValueError):  # a broken or half-removed install counts as missing
        found = None
    if found is None:
        raise InvalidInput(f"the Spark engine needs PySpark and Java 17: {INSTALL}")
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise InvalidInput(
            "the Spark engine needs Java 17: install it (or set JAVA_HOME); "
            f"PySpark comes with {INSTALL}"
        )


def spark_session(master: str | None = None) -> SparkSession:
    """This process's Spark session for ``master``, started once; without ``master``, the
    running session, else one on ``local[*]``.

    A different master than the running session's is refused: Spark allows one context per
    process.
    """
    global _session
    require_spark()
    with _lock:
        if _session is not None:
            running, session = _session
            if master is not None and running != master:
                raise InvalidInput(
                    f"this process already runs Spark on {running!r}; "
                    f"one Spark master per process ({master!r} was asked for)",
                    parameter="spark_master",
                )
            return session
        master = master or DEFAULT_MASTER
        session = _start(master)
        _session = (master, session)
        return session


def stop_spark() -> None:
    """Stop this process's session and Spark's JVM (the next :func:`spark_session` starts
    both afresh: a JVM keeps the first session's authentication secret for good)."""
    global _session
    with _lock:
        if _session is None:
            return
        from pyspark import SparkContext

        _session[1].stop()
        _session = None
        gateway = SparkContext._gateway
        if gateway is None:
            return
        gateway.shutdown()
        process = getattr(gateway, "proc", None)
        if process is not None:
            process.stdin.close()  # Spark's JVM exits when its standard input closes
            process.wait(timeout=60)
        SparkContext._gateway = None
        SparkContext._jvm = None


def _secret(master: str) -> str:
    if master.startswith("local"):
        return secrets.token_hex(32)
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        raise InvalidInput(
            f"a Spark cluster needs the secret its master and workers share: set {SECRET_ENV} "
            "(their spark.authenticate.secret)",
            parameter="spark_master",
        )
    return secret


def _driver_memory() -> str:
    """A third of the machine's memory (at least 1 GiB), in Spark's notation."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return f"{max(1024, total // 3 // (1 << 20))}m"


def _start(master: str) -> SparkSession:
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    folder = Path(tempfile.mkdtemp(prefix="privet-spark-"))
    atexit.register(shutil.rmtree, folder, True)
    log4j = folder / "log4j2.properties"
    log4j.write_text(_LOG4J)
    java_options = f"-Dlog4j2.configurationFile=file:{log4j}"
    # The executors import privet from where this process does (a cluster needs the same
    # privet installed, or reachable at this path, on every worker).
    privet_root = str(Path(__file__).resolve().parents[2])
    python_path = os.pathsep.join([privet_root, os.environ.get("PYTHONPATH", "")]).strip(":")
    conf = SparkConf().setAll(
        [
            ("spark.master", master),
            ("spark.app.name", "privet"),
            ("spark.driver.host", "127.0.0.1"),
            ("spark.driver.bindAddress", "127.0.0.1"),
            ("spark.ui.enabled", "false"),
            ("spark.ui.showConsoleProgress", "false"),
            ("spark.pyspark.python", sys.executable),
            ("spark.pyspark.driver.python", sys.executable),
            ("spark.executorEnv.PYTHONPATH", python_path),
            ("spark.sql.execution.arrow.pyspark.enabled", "true"),
            ("spark.authenticate", "true"),
            ("spark.network.crypto.enabled", "true"),
            ("spark.io.encryption.enabled", "true"),
            ("spark.driver.extraJavaOptions", java_options),
            ("spark.executor.extraJavaOptions", java_options),
            ("spark.local.dir", str(folder)),
            # A protected copy comes back to this process to be stored: let it, within the
            # driver's heap (SPARK_DRIVER_MEMORY, else a third of this machine's memory).
            ("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY") or _driver_memory()),
            ("spark.driver.maxResultSize", "0"),
        ]
    )
    secret = _secret(master)
    # The secret goes to spark-submit in a private properties file, not on its command line
    # (which any local user can list).
    properties = folder / "secret.properties"
    fd = os.open(properties, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"spark.authenticate.secret {secret}\n")
    # PySpark takes the executors' Python from the environment when its context starts.
    saved = {name: os.environ.get(name) for name in ("PYSPARK_SUBMIT_ARGS", "PYSPARK_PYTHON")}
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--properties-file {properties} pyspark-shell"
    os.environ["PYSPARK_PYTHON"] = sys.executable
    try:
        if SparkContext._gateway is not None:
            # A JVM this process started outside privet: the conf reaches it over py4j.
            conf.set("spark.authenticate.secret", secret)
            session = SparkSession(SparkContext(conf=conf))
        else:
            # Spark's JVM prints through a pipe privet drains (its noise dropped), not
            # straight onto privet's output.
            gateway = launch_gateway(conf, popen_kwargs={"stdout": PIPE, "stderr": STDOUT})
            threading.Thread(target=_drain, args=(gateway.proc.stdout,), daemon=True).start()
            session = SparkSession(SparkContext(conf=conf, gateway=gateway))
    finally:
        properties.unlink(missing_ok=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    session.sparkContext.setLogLevel("FATAL")
    return session


def _drain(pipe: IO[bytes]) -> None:
    for line in pipe:
        text = line.decode(errors="replace")
        if not text.startswith(_NOISE):
            sys.stderr.write(text)
