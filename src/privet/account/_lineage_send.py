"""Where the events go: a file or a text stream as JSON lines, or each POSTed to an
OpenLineage HTTP receiver with the client's transport; and the export's audit-log entry.

Every destination serializes as the client does (:func:`to_json`), so the file, the stream
and the receiver get the same bytes, and the recorded SHA-256 is of those bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Transport
from pydantic import BaseModel, ConfigDict, Field

from privet import auditlog, tables
from privet.account._openlineage import events, to_json
from privet.errors import InvalidInput, PrivetError

if TYPE_CHECKING:
    from privet.core import Core


class LineageExport(BaseModel):
    """What an export sent: how many events (two per run), where, and their hash."""

    model_config = ConfigDict(frozen=True)

    events: int = Field(
        description="RunEvents written or accepted (a START and a COMPLETE or FAIL per run)"
    )
    runs: int
    destination: str = Field(description="file:NAME, stream, or http:SCHEME://HOST[:PORT]")
    sha256: str = Field(description="SHA-256 of the events as JSON lines, each ending in \\n")


class _LinesTransport(Transport):
    """Newline-delimited JSON into a writer, serialized as every OpenLineage transport does."""

    kind = "privet-ndjson"

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write

    def emit(self, event: Any) -> None:
        self._write(Serde.to_json(event) + "\n")


def _emit(transport: Transport, runs: Sequence[RunEvent]) -> str:
    digest = hashlib.sha256()
    for event in runs:
        transport.emit(event)
        digest.update((to_json(event) + "\n").encode())
    return digest.hexdigest()


def _runs(runs: Sequence[RunEvent]) -> int:
    return len({event.run.runId for event in runs})


def write_file(core: Core, path: Path, *, overwrite: bool = False) -> LineageExport:
    """Write the events to ``path`` as JSON lines, atomically."""
    tables.check_new_file(path, overwrite=overwrite)
    runs = events(core)
    with tables.atomic_file(path, mode=0o644, journal=core.journal) as out:
        digest = _emit(_LinesTransport(lambda line: out.write(line.encode("utf-8"))), runs)
    return LineageExport(
        events=len(runs), runs=_runs(runs), destination=f"file:{path.name}", sha256=digest
    )


def write_stream(core: Core, stream: IO[str]) -> LineageExport:
    """Write the events to a text stream (standard output) as JSON lines."""
    runs = events(core)
    digest = _emit(_LinesTransport(stream.write), runs)
    stream.flush()
    return LineageExport(events=len(runs), runs=_runs(runs), destination="stream", sha256=digest)


def receiver(url: str) -> tuple[str, str]:
    """``(base, endpoint)`` of an OpenLineage HTTP receiver: a bare ``http(s)://HOST[:PORT]``
    gets the standard endpoint ``api/v1/lineage`` (Marquez), a URL with a path is used as is."""
    wrong = InvalidInput(
        f"{url[:80]!r} is not an OpenLineage receiver URL; give http(s)://HOST[:PORT][/PATH]",
        parameter="url",
    )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise wrong from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise wrong
    endpoint = parts.path.lstrip("/") or "api/v1/lineage"
    if parts.query:
        endpoint += f"?{parts.query}"
    return f"{parts.scheme}://{parts.netloc}/", endpoint


def send(core: Core, url: str, *, timeout: float = 10.0) -> LineageExport:
    """POST each event to the receiver at ``url`` with the client's HTTP transport."""
    import requests
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    base, endpoint = receiver(url)
    where = urlsplit(base)
    shown = f"{where.scheme}://{where.hostname}" + (f":{where.port}" if where.port else "")
    transport = HttpTransport(
        HttpConfig(
            url=base,
            endpoint=endpoint,
            timeout=timeout,
            # A receiver that is down fails fast: two retries on a lost connection or a 5xx.
            retry={
                "total": 2,
                "connect": 2,
                "read": 2,
                "backoff_factor": 0.2,
                "status_forcelist": [500, 502, 503, 504],
                "allowed_methods": ["HEAD", "POST"],
            },
        )
    )
    runs = events(core)
    sent = 0
    try:
        digest = hashlib.sha256()
        for event in runs:
            transport.emit(event)
            digest.update((to_json(event) + "\n").encode())
            sent += 1
    except requests.HTTPError as err:
        status = err.response.status_code if err.response is not None else "an error"
        raise PrivetError(
            f"the OpenLineage receiver at {shown} answered HTTP {status} "
            f"(after {sent} of {len(runs)} event(s) were accepted)"
        ) from None
    except requests.RequestException as err:
        reason = "could not be reached"
        if isinstance(err, requests.Timeout):
            reason = "timed out"
        elif isinstance(err, requests.exceptions.SSLError):
            reason = "has a TLS certificate this machine does not trust"
        raise PrivetError(
            f"the OpenLineage receiver at {shown} {reason} "
            f"(after {sent} of {len(runs)} event(s) were accepted)"
        ) from None
    finally:
        transport.close()
    return LineageExport(
        events=len(runs), runs=_runs(runs), destination=f"http:{shown}", sha256=digest.hexdigest()
    )


def record_export(core: Core, result: LineageExport, *, actor: str) -> None:
    """The export's audit-log entry (where to, how many events, their hash)."""
    with core.session() as session:
        auditlog.append(
            session,
            [
                auditlog.events.lineage_export(
                    ts=core.now(),
                    actor=actor,
                    destination=result.destination,
                    events=result.events,
                    runs=result.runs,
                    sha256=result.sha256,
                )
            ],
        )
        session.commit()
