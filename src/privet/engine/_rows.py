"""A governed version as the heavy operations see it, whatever engine holds the rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import polars as pl

from privet import tables

# The name of the count column of :meth:`Rows.counts`.
COUNT = "len"

# A row-local transform of one batch of rows (it must not depend on other batches).
BatchFunction = Callable[[pl.DataFrame], pl.DataFrame]


class Rows(Protocol):
    """The rows of one read, already decided and logged by the broker."""

    engine: str

    @property
    def height(self) -> int:
        """Number of rows."""
        ...

    @property
    def schema(self) -> pl.Schema:
        """Column names and Polars types, as a Polars read of the version gives them."""
        ...

    def counts(self, columns: Sequence[str]) -> pl.DataFrame:
        """Each distinct combination of ``columns`` (a null is a value of its own) with its
        number of rows in column ``COUNT`` (Int64); row order unspecified."""
        ...

    def map_batches(self, function: BatchFunction, schema: Mapping[str, pl.DataType]) -> Rows:
        """Rows transformed batch by batch by a row-local ``function`` whose output has
        ``schema``."""
        ...

    def without(self, combinations: pl.DataFrame) -> Rows:
        """The rows whose values in ``combinations``' columns are none of its rows (nulls
        match nulls)."""
        ...

    def collect(self) -> pl.DataFrame:
        """All rows as one Polars frame (in memory)."""
        ...

    def take(self, positions: pl.Series) -> pl.DataFrame:
        """The rows at these positions of the stored version, in the order given."""
        ...

    def write(self, destination: Path, finish: BatchFunction | None = None) -> int:
        """Write the rows to ``destination`` (an empty private file) as one Parquet file,
        never holding all of them: ``finish``, if given, is applied to each batch in this
        process (where the workspace's keys are) just before it is written. Returns the
        number of rows written."""
        ...


class FrameRows:
    """Rows already in this process's memory (the Polars engine's in-memory form)."""

    engine = "polars"

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    @property
    def height(self) -> int:
        return self.frame.height

    @property
    def schema(self) -> pl.Schema:
        return self.frame.schema

    def counts(self, columns: Sequence[str]) -> pl.DataFrame:
        return self.frame.group_by(list(columns)).agg(pl.len().cast(pl.Int64).alias(COUNT))

    def map_batches(self, function: BatchFunction, schema: Mapping[str, pl.DataType]) -> Rows:
        return FrameRows(function(self.frame))

    def without(self, combinations: pl.DataFrame) -> Rows:
        on = combinations.columns
        kept = self.frame.join(combinations, on=on, how="anti", nulls_equal=True)
        return FrameRows(kept)

    def collect(self) -> pl.DataFrame:
        return self.frame

    def take(self, positions: pl.Series) -> pl.DataFrame:
        return self.frame[positions]

    def write(self, destination: Path, finish: BatchFunction | None = None) -> int:
        return tables.write_frames([finish(self.frame) if finish else self.frame], destination)


def sample_rows(rows: Rows, n: int, seed: int) -> pl.DataFrame:
    """At most ``n`` rows drawn at random with ``seed``: the very rows Polars'
    ``DataFrame.sample(n, seed=seed)`` draws from the whole table, on every engine."""
    if rows.height <= n:
        return rows.collect()
    # Polars draws a frame's sample as the same positions it draws from a range.
    return rows.take(pl.int_range(0, rows.height, eager=True).sample(n=n, seed=seed))
