"""The Polars engine for tables larger than memory: the broker writes the governed read to a
private Parquet file, and every answer is computed from lazy scans of it by Polars'
streaming engine, a slice of rows at a time, rather than from the table in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from privet import policy, tables
from privet.engine._rows import COUNT, BatchFunction, Rows

if TYPE_CHECKING:
    from privet.core import Core


# Columns ``take`` adds for a moment (privet's reserved prefix: no table has them).
_POSITION, _ORDER = "__privet_position__", "__privet_order__"
# A transform of the rows, applied to each slice in turn.
_Step = Callable[[pl.LazyFrame], pl.LazyFrame]


class LazyRows:
    """Rows in a private plaintext Parquet file, scanned lazily; answers stream.

    Every answer is computed a slice of the file at a time (see :func:`privet.tables.slices`),
    each slice read, transformed (``map_batches``, ``without``: row-local, so a slice's
    answer depends on that slice only) and reduced by Polars' streaming engine, then the
    slices' answers are combined. The rows made from these ones read the same file: use them
    while it is open. Leaving the ``with`` block (or :meth:`close`) deletes the file.
    """

    engine = "polars"

    def __init__(
        self,
        scan: pl.LazyFrame,
        file: policy.FileRelease | None = None,
        steps: tuple[_Step, ...] = (),
        rows: int | None = None,
    ) -> None:
        self._scan = scan
        self._file = file
        self._steps = steps
        self._rows = rows  # of the scan, before the steps
        self._height: int | None = None

    def _slices(self, size: int | None = None) -> Iterator[pl.LazyFrame]:
        if self._rows is None:
            self._rows = int(self._scan.select(pl.len()).collect(engine="streaming").item())
        if self._steps:
            # A step sees whole batches (no projection pushdown): smaller slices.
            size = tables.WRITE_SLICE_ROWS
        for part in tables.slices(self._scan, self._rows, size):
            for step in self._steps:
                part = step(part)
            yield part

    def _then(self, step: _Step) -> LazyRows:
        return LazyRows(self._scan, None, (*self._steps, step), self._rows)

    @property
    def height(self) -> int:
        if self._height is None:
            self._height = sum(
                int(part.select(pl.len()).collect(engine="streaming").item())
                for part in self._slices()
            )
        return self._height

    @property
    def schema(self) -> pl.Schema:
        frame = self._scan
        for step in self._steps:
            frame = step(frame)
        return frame.collect_schema()

    def counts(self, columns: Sequence[str]) -> pl.DataFrame:
        # Nulls form one group, as in FrameRows and Spark's groupBy.
        keys = list(columns)
        count = pl.len().cast(pl.Int64).alias(COUNT)
        parts = [
            part.group_by(keys).agg(count).collect(engine="streaming") for part in self._slices()
        ]
        return pl.concat(parts).group_by(keys).agg(pl.col(COUNT).sum())

    def map_batches(self, function: BatchFunction, schema: Mapping[str, pl.DataType]) -> Rows:
        def step(frame: pl.LazyFrame) -> pl.LazyFrame:
            # streamable: the function sees one batch at a time (row-local by contract);
            # whole batches, since nothing says which columns it reads or how it changes them.
            return frame.map_batches(
                function,
                schema=dict(schema),
                streamable=True,
                predicate_pushdown=False,
                projection_pushdown=False,
                slice_pushdown=False,
            )

        return self._then(step)

    def without(self, combinations: pl.DataFrame) -> Rows:
        on, other = combinations.columns, combinations.lazy()
        return self._then(lambda frame: frame.join(other, on=on, how="anti", nulls_equal=True))

    def collect(self) -> pl.DataFrame:
        return pl.concat([part.collect(engine="streaming") for part in self._slices()])

    def write(self, destination: Path, finish: BatchFunction | None = None) -> int:
        # Smaller slices: a slice written is held whole, as Polars and then as Arrow.
        done = (part.collect(engine="streaming") for part in self._slices(tables.WRITE_SLICE_ROWS))
        return tables.write_frames((finish(f) for f in done) if finish else done, destination)

    def take(self, positions: pl.Series) -> pl.DataFrame:
        # Each slice's rows numbered from where the slice starts, matched to the positions.
        wanted = pl.DataFrame({_POSITION: positions.cast(pl.UInt64)}).with_row_index(_ORDER)
        found, start = [], 0
        for part in self._slices():
            numbered = part.with_row_index(_POSITION, offset=start).with_columns(
                pl.col(_POSITION).cast(pl.UInt64)
            )
            found.append(numbered.join(wanted.lazy(), on=_POSITION).collect(engine="streaming"))
            start += int(part.select(pl.len()).collect(engine="streaming").item())
        return pl.concat(found).sort(_ORDER).drop(_POSITION, _ORDER)

    def close(self) -> None:
        """Delete the plaintext file (rows made from these ones can no longer be read)."""
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> LazyRows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def streaming_rows(
    core: Core,
    ref: str,
    *,
    purpose: str,
    actor: str | None = None,
    identity: policy.Identity | None = None,
    view: str = "raw",
    channel: str = "library",
) -> LazyRows:
    """A governed read of ``ref`` (decided and logged by the broker, see
    :func:`privet.policy.release_to_file`) as :class:`LazyRows`; use it in a ``with`` block."""
    released = policy.release_to_file(
        core, ref, purpose=purpose, actor=actor, identity=identity, view=view, channel=channel
    )
    try:
        return LazyRows(pl.scan_parquet(released.path), released)
    except BaseException:
        released.close()
        raise


def use_streaming(core: Core, ref: str) -> bool:
    """Whether the Polars engine reads ``ref`` by streaming: ``$PRIVET_STREAMING`` (1 or 0)
    when set, else whether its plaintext would need more than the memory this process has
    (the smallest of its cgroup limits and ``MemAvailable``, with a margin for Polars)."""
    return policy.larger_than_memory(core, ref)
