"""Governed reads on Spark: the broker decides and logs, then the executors decrypt.

``spark_rows`` asks the broker first (``policy.release_to_job``): a refusal raises before any
Spark job exists. The release carries the object's own data key, which goes into the job's
function only (pickled, sent over Spark's authenticated and encrypted connections), never
into Spark options, configuration, logs or files. The rows then live in the executors: the
job is ``spark.range(n).mapInArrow(...)``, whose ``n`` tasks each decrypt the object, check
its hash and decode their share of its row groups.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from privet import policy, tables
from privet.engine._rows import COUNT, BatchFunction, Rows
from privet.engine._spark_session import spark_session
from privet.engine._spark_tasks import (
    PACKED,
    POSITION,
    Parts,
    Source,
    Step,
    anti_join,
    counts_task,
    part_context,
    rows_task,
    take_task,
    unpacked,
    write_task,
)
from privet.engine._spark_types import polars_schema, spark_schema, to_polars
from privet.errors import IntegrityError
from privet.vault import decrypt_object_into, export_data_key, new_data_key

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from privet.core import Core
    from privet.policy import Identity

# Rows per task, about one Parquet row group as Polars writes them: a smaller version is
# read by one task (every task decrypts the whole object, and decodes only its share).
_ROWS_PER_TASK = 250_000
# Up to this many tasks, their group counts are added up in the driver (it holds at most
# this many copies of the groups); more tasks (a cluster's) add them up in Spark's shuffle.
_MERGE_IN_DRIVER = 8


def spark_rows(
    core: Core,
    ref: str,
    *,
    purpose: str,
    actor: str | None = None,
    identity: Identity | None = None,
    view: str = "raw",
    channel: str,
    master: str | None = None,
) -> SparkRows:
    """Version ``ref`` as rows in Spark, read for ``purpose`` (one audit entry, logged now).

    Only views the broker releases unchanged are read here (raw, protected, synthetic);
    a masked or filtered view is refused (use the Polars engine)."""
    spark = spark_session(master)  # started (and checked) before the read is logged
    release = policy.release_to_job(
        core, ref, purpose=purpose, actor=actor, identity=identity, view=view, channel=channel
    )
    schema = polars_schema(release.columns)
    parallelism = spark.sparkContext.defaultParallelism
    tasks = max(1, min(parallelism, -(-release.version.rows // _ROWS_PER_TASK)))
    source = Source(
        path=str(release.path),
        context=release.context,
        sha256=release.sha256,
        columns=tuple(schema.names()),
        tasks=tasks,
        key=release.key,
    )
    return SparkRows(spark, source, schema, release.version.rows, scratch=core.private_file)


# An owner-only file for plaintext or a job's parts, deleted on close (``Core.private_file``).
Scratch = Callable[[str], tables.PrivateFile]


class SparkRows:
    """Rows of one governed read, held by Spark's executors (see :class:`Rows`).

    Transforms (``map_batches``, ``without``) are Polars functions each task applies to its
    batches after decoding them; every action runs them from the encrypted object again, so
    no decrypted copy is kept anywhere between jobs.
    """

    engine = "spark"

    def __init__(
        self,
        spark: SparkSession,
        source: Source,
        schema: pl.Schema,
        height: int | None,
        steps: tuple[Step, ...] = (),
        *,
        scratch: Scratch,
    ) -> None:
        self._spark = spark
        self._source = source
        self._schema = schema
        self._height = height
        self._steps = steps
        self._scratch = scratch
        self._frame: DataFrame | None = None

    @property
    def height(self) -> int:
        if self._height is None:
            with spark_errors():
                self._height = self.dataframe.count()
        return self._height

    @property
    def schema(self) -> pl.Schema:
        return self._schema

    @property
    def dataframe(self) -> DataFrame:
        """The rows as a PySpark DataFrame (its actions decrypt in the executors)."""
        if self._frame is None:
            struct = spark_schema(self._schema)
            task = partial(rows_task, self._source, self._steps, _arrow_schema(struct))
            self._frame = self._tasks().mapInArrow(task, struct)
        return self._frame

    def counts(self, columns: Sequence[str]) -> pl.DataFrame:
        from pyspark.sql import functions as F

        keys = list(columns)
        out = pl.Schema({**{c: self._schema[c] for c in keys}, COUNT: pl.Int64()})
        struct = spark_schema(out)
        task = partial(counts_task, self._source, self._steps, keys, _arrow_schema(struct))
        if self._source.tasks <= _MERGE_IN_DRIVER:
            # One job: the few tasks' counts come back packed and Polars adds them up (a
            # groupBy in the JVM costs a shuffle stage, a second job, and a row per group).
            task = partial(task, packed=True)
            cells = self._tasks().mapInArrow(task, f"{PACKED} binary")
            with spark_errors():
                table = cells.toArrow()
            parts = [to_polars(part, out) for part in unpacked(table.column(PACKED).to_pylist())]
            if not parts:
                return pl.DataFrame(schema=out)
            return pl.concat(parts).group_by(keys).agg(pl.col(COUNT).sum())
        partials = self._tasks().mapInArrow(task, struct)
        # Spark's groupBy keeps a null key as a group of its own, as Polars does.
        merged = partials.groupBy(*keys).agg(F.sum(COUNT).alias(COUNT))
        return self._to_polars(merged, out)

    def map_batches(self, function: BatchFunction, schema: Mapping[str, pl.DataType]) -> Rows:
        steps = (*self._steps, function)
        return self._then(pl.Schema(schema), steps)

    def without(self, combinations: pl.DataFrame) -> Rows:
        # The combinations (small) travel inside each task's function, like the key.
        step: Step = partial(anti_join, combinations)
        return self._then(self._schema, (*self._steps, step))

    def _then(self, schema: pl.Schema, steps: tuple[Step, ...]) -> SparkRows:
        return SparkRows(self._spark, self._source, schema, None, steps, scratch=self._scratch)

    def collect(self) -> pl.DataFrame:
        return self._to_polars(self.dataframe, self._schema)

    def take(self, positions: pl.Series) -> pl.DataFrame:
        if self._steps:
            raise ValueError("take reads the stored version's positions, before any step")
        out = pl.Schema({**self._schema, POSITION: pl.UInt32()})
        struct = spark_schema(out)
        task = partial(take_task, self._source, positions, _arrow_schema(struct))
        found = self._to_polars(self._tasks().mapInArrow(task, struct), out)
        order = pl.DataFrame({POSITION: positions.cast(pl.UInt32)})
        return order.join(found, on=POSITION, how="left", maintain_order="left").drop(POSITION)

    def write(self, destination: Path, finish: BatchFunction | None = None) -> int:
        # Each task encrypts its rows into a part with a key made for this job; the driver
        # then decrypts one part at a time into a private file and copies it, a row group at
        # a time, to the destination: no task's rows are ever all in the driver's memory.
        from pyspark.sql.types import LongType, StructField, StructType

        key = export_data_key(new_data_key(set()))
        struct = StructType([StructField("task", LongType()), StructField("rows", LongType())])
        with ExitStack() as stack:
            files = [stack.enter_context(self._scratch("part")) for _ in range(self._source.tasks)]
            parts = Parts(tuple(str(f.path) for f in files), uuid.uuid4().bytes, key)
            task = partial(write_task, self._source, self._steps, parts, _arrow_schema(struct))
            with spark_errors():
                written = self._tasks().mapInArrow(task, struct).toArrow().to_pylist()
            rows = {int(w["task"]): int(w["rows"]) for w in written}
            frames = self._read_parts(parts, [t for t in sorted(rows) if rows[t]])
            if finish is not None:
                frames = (finish(frame) for frame in frames)
            return tables.write_frames(frames, destination)

    def _read_parts(self, parts: Parts, tasks: list[int]) -> Iterator[pl.DataFrame]:
        import pyarrow.parquet as pq

        if not tasks:  # no rows: one empty frame, so the file has the schema
            yield pl.DataFrame(schema=self._schema)
        for task in tasks:
            with self._scratch("part") as plain:
                with open(parts.paths[task], "rb") as encrypted, open(plain.path, "wb") as out:
                    decrypt_object_into(parts.key, encrypted, part_context(parts, task), out)
                parquet = pq.ParquetFile(plain.path)
                for group in range(parquet.num_row_groups):
                    frame = pl.from_arrow(parquet.read_row_group(group))
                    assert isinstance(frame, pl.DataFrame)
                    yield to_polars(frame, self._schema)

    def _tasks(self) -> DataFrame:
        n = self._source.tasks
        return self._spark.range(n, numPartitions=n)

    @staticmethod
    def _to_polars(frame: DataFrame, schema: pl.Schema) -> pl.DataFrame:
        with spark_errors():
            table = frame.toArrow()
        rows = pl.from_arrow(table)
        assert isinstance(rows, pl.DataFrame)
        return to_polars(rows, schema)


def _arrow_schema(struct: Any) -> Any:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(struct)


@contextmanager
def spark_errors() -> Iterator[None]:
    """Around a Spark action on governed rows: an integrity failure in a task (altered or
    mismatched object) is raised as privet's ``IntegrityError``, its sentence unchanged."""
    try:
        yield
    except Exception as err:
        text = str(err)
        marker = "IntegrityError: "
        if marker in text:
            raise IntegrityError(text.split(marker, 1)[1].splitlines()[0].strip()) from None
        raise
