"""``ws.openlineage``: the workspace's lineage as OpenLineage RunEvents, to a file or a receiver."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from openlineage.client.event_v2 import RunEvent

    from privet.account import LineageExport
    from privet.core import Core


class OpenLineage:
    """Ingest, protect, synth, train, audit and export runs as OpenLineage events.

    Built from the audit log and the lineage graph: datasets, versions, models and exports
    as datasets of the namespace ``privet://<workspace id>``, with schema, column-lineage
    and privet's governance facets. Never a cell value. The same log gives the same events.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def events(self) -> list[RunEvent]:
        """Every run, a START and a COMPLETE event each, in log order."""
        from privet import account

        return account.lineage_events(self._core)

    def lines(self) -> list[str]:
        """Each event as one line of JSON, as the OpenLineage client serializes it."""
        from privet import account

        return list(account.lineage_lines(account.lineage_events(self._core)))

    def export(
        self,
        *,
        actor: str,
        path: str | Path | None = None,
        url: str | None = None,
        stream: IO[str] | None = None,
        overwrite: bool = False,
        timeout: float = 10.0,
    ) -> LineageExport:
        """Write the events to ``path`` (JSON lines, atomically) or ``stream``, or POST each
        to the OpenLineage receiver at ``url`` (Marquez: ``http://HOST:5000``; a URL with a
        path is the endpoint itself). The export is recorded in the audit log."""
        from privet import account
        from privet.errors import InvalidInput

        if sum(x is not None for x in (path, url, stream)) != 1:
            raise InvalidInput("give one destination: a file, a stream or a receiver URL")
        if url is not None:
            result = account.send_lineage(self._core, url, timeout=timeout)
        elif stream is not None:
            result = account.stream_lineage(self._core, stream)
        else:
            assert path is not None
            result = account.write_lineage(self._core, Path(path), overwrite=overwrite)
        account.record_lineage_export(self._core, result, actor=actor)
        return result
