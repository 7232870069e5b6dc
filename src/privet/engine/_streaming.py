"""The Polars engine for tables larger than memory: the broker writes the governed read to a
private Parquet file, and every answer is computed from a lazy scan of it by Polars'
streaming engine, which holds a few batches of rows at a time rather than the table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import polars as pl

from privet import policy, tables
from privet.engine._rows import COUNT, BatchFunction, Rows

if TYPE_CHECKING:
    from privet.core import Core


class LazyRows:
    """Rows in a private plaintext Parquet file, scanned lazily; answers stream.

    The rows made from it (``map_batches``, ``without``) read the same file: use them while
    it is open. Leaving the ``with`` block (or :meth:`close`) deletes the file.
    """

    engine = "polars"

    def __init__(self, frame: pl.LazyFrame, file: policy.FileRelease | None = None) -> None:
        self.frame = frame
        self._file = file
        self._height: int | None = None

    @property
    def height(self) -> int:
        if self._height is None:
            self._height = int(self.frame.select(pl.len()).collect(engine="streaming").item())
        return self._height

    @property
    def schema(self) -> pl.Schema:
        return self.frame.collect_schema()

    def counts(self, columns: Sequence[str]) -> pl.DataFrame:
        # A slice at a time, then summed (see tables.slices: memory holds one slice's worth).
        # Nulls form one group, as in FrameRows and Spark's groupBy.
        keys = list(columns)
        count = pl.len().cast(pl.Int64).alias(COUNT)
        parts = [
            part.group_by(keys).agg(count).collect(engine="streaming")
            for part in tables.slices(self.frame, self.height)
        ]
        return pl.concat(parts).group_by(keys).agg(pl.col(COUNT).sum())

    def map_batches(self, function: BatchFunction, schema: Mapping[str, pl.DataType]) -> Rows:
        # streamable: the function sees one batch at a time (it is row-local by contract);
        # whole batches, since nothing says which columns it reads or how it changes them.
        mapped = self.frame.map_batches(
            function,
            schema=dict(schema),
            streamable=True,
            predicate_pushdown=False,
            projection_pushdown=False,
        )
        return LazyRows(mapped)

    def without(self, combinations: pl.DataFrame) -> Rows:
        on = combinations.columns
        kept = self.frame.join(combinations.lazy(), on=on, how="anti", nulls_equal=True)
        return LazyRows(kept)

    def collect(self) -> pl.DataFrame:
        return self.frame.collect(engine="streaming")

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
