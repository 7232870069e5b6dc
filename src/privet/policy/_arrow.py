"""Governed reads as Arrow record batches: what the Arrow IPC stream and Arrow Flight send.

The read is decided and logged (one entry) by the broker before any batch exists, exactly as
for Parquet and CSV streams. The stored Parquet is then decrypted and its hash checked *before*
the first batch is decoded, so no byte of an altered object is ever sent (a Parquet file
cannot be decoded before its footer, the last bytes, anyway). Decoding and sending overlap: a
producer thread decodes and slices the rows while the caller sends the batches already made,
and the grant is re-checked between two batches, so a revoked or expired grant stops the
stream within one batch.

Batches carry Polars' own layout (``CompatLevel.newest()``: string and binary *views*), so a
Polars reader takes them without converting a cell; pyarrow ≥ 14, pandas, DuckDB and Flight
clients read views too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

from privet.errors import InvalidInput

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from privet.core import Core
    from privet.policy._broker import Release
    from privet.policy._decide import Decision
    from privet.policy._identity import Identity

# The IPC stream's end: a continuation marker and a zero-length message.
_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
# Batches decoded ahead of the one being sent: enough to keep the sender busy, few enough
# that a stopped stream has decoded little more than it sent.
_AHEAD = 2


class BatchStream:
    """A governed read as Arrow record batches: ``schema``, then the batches by iteration.

    Decided and logged before this exists (``log_index`` is the read's log entry). Between
    two batches the grant is checked again; an expired or revoked one raises
    ``PolicyDenied`` (and the stop is logged). :meth:`close` stops the decoding early.
    """

    def __init__(
        self,
        log_index: int,
        produce: Callable[[], Iterator[Any]],
        check: Callable[[], None],
        *,
        serialized: bool = False,
    ) -> None:
        self.log_index = log_index
        self.serialized = serialized
        self._check = check
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_AHEAD)
        self._stop = threading.Event()
        # The thread holds the queue and the flag, not this object: a stream dropped without
        # close() (a client gone before the first batch) is collected, and __del__ stops it.
        self._thread = threading.Thread(
            target=_produce,
            args=(produce, self._queue, self._stop),
            name="privet-arrow-decode",
            daemon=True,
        )
        self._thread.start()
        # The producer's first item is the schema (or the error that stopped it: a tampered
        # object, a bad key), so a caller learns of either before it answers anyone.
        try:
            self.schema: pa.Schema = self._take()
        except BaseException:
            self.close()
            raise
        self._batches = self._consume()

    def __del__(self) -> None:
        self._stop.set()

    def _take(self) -> Any:
        kind, value = self._queue.get()
        if kind == "error":
            raise value
        if kind == "end":
            return None
        return value

    def _consume(self) -> Iterator[Any]:
        try:
            first = True
            while (batch := self._take()) is not None:
                if not first:
                    self._check()
                first = False
                yield batch
        finally:
            self.close()

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        if self.serialized:
            raise InvalidInput("this stream was made for ipc(): its batches are serialized")
        return next(self._batches)

    def close(self) -> None:
        """Stop decoding (the batches not yet taken are dropped)."""
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    def ipc(self) -> Iterator[bytes]:
        """The Arrow IPC stream format (``application/vnd.apache.arrow.stream``): the schema
        message, one message per batch as it comes, and the end-of-stream marker. A stream
        stopped before its end has no marker, so a reader cannot take it for a whole one."""
        try:
            yield self.schema.serialize().to_pybytes()
            for message in self._batches:
                # Serialized by the producer thread while the one before was being sent, and
                # yielded as a memoryview of Arrow's own buffer (no copy on the way to the
                # socket; every consumer of a byte stream takes the buffer protocol).
                yield message if self.serialized else memoryview(message.serialize())  # type: ignore[misc]
            yield _END_OF_STREAM
        finally:
            self.close()


def _produce(
    produce: Callable[[], Iterator[Any]],
    out: queue.Queue[tuple[str, Any]],
    stop: threading.Event,
) -> None:
    try:
        for item in produce():
            if not _put(out, stop, ("item", item)):
                return
        _put(out, stop, ("end", None))
    except BaseException as err:  # noqa: BLE001 - handed to the consumer, which raises it
        _put(out, stop, ("error", err))


def _put(out: queue.Queue[tuple[str, Any]], stop: threading.Event, item: tuple[str, Any]) -> bool:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _row_groups(plaintext: bytes) -> Iterator[pl.DataFrame]:
    """The stored Parquet's rows, one row group at a time (the first is ready after one row
    group's decoding, not the whole file's). ``plaintext`` is whole and hash-checked: the
    decryption ends with the check, before this runs."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(pa.BufferReader(plaintext)).metadata
    rows = pl.scan_parquet(plaintext)
    if meta.num_row_groups == 0:
        yield rows.collect()
        return
    start = 0
    for index in range(meta.num_row_groups):
        count = meta.row_group(index).num_rows
        # Polars skips the other row groups by their row counts.
        yield rows.slice(start, count).collect()
        start += count


def arrow_layout(frame: pl.DataFrame) -> pa.Schema:
    import polars as pl

    return frame.clear().to_arrow(compat_level=pl.CompatLevel.newest()).schema


def batch_stream(
    core: Core,
    release: Release,
    decision: Decision,
    identity: Identity,
    batch_rows: int,
    stored: Iterator[bytes] | None,
    *,
    serialized: bool = False,
) -> BatchStream:
    """The batches of a release decided and logged by the broker: from ``stored`` (the
    version's Parquet, decrypted chunk by chunk, its hash checked at the end) when the view
    left it unchanged, else from the release's shaped frame. With ``serialized``, the
    producer thread also serializes each batch (IPC messages, for :meth:`BatchStream.ipc`)."""
    from privet.policy._broker import still_allowed

    if batch_rows < 1:
        raise InvalidInput("batch_rows must be positive", parameter="batch_rows")

    def produce() -> Iterator[Any]:
        import polars as pl

        newest = pl.CompatLevel.newest()
        frames = _row_groups(b"".join(stored)) if stored is not None else iter([release.frame])
        first = next(frames)
        yield arrow_layout(first)
        for frame in chain([first], frames):
            # Sliced by Polars, which compacts a slice's strings: an Arrow slice would carry
            # (and serialize) every string buffer of the whole column with each batch.
            for part in frame.iter_slices(batch_rows):
                for batch in part.to_arrow(compat_level=newest).to_batches():
                    yield memoryview(batch.serialize()) if serialized else batch

    def check() -> None:
        still_allowed(core, release, decision, identity)

    return BatchStream(release.log_index, produce, check, serialized=serialized)
