"""What runs in the Spark executors: decrypt the version, check it, decode a share of it.

Each task is handed the whole read (``Source``, pickled into the job's function, so the data
key travels only over Spark's authenticated, encrypted connections) and its task number. It
decrypts the object with the Tink streaming AEAD, checks the plaintext against its recorded
SHA-256 before yielding a single row, and decodes only its share of the Parquet row groups
(task ``i`` of ``n`` takes groups ``i, i + n, ...``), so the tasks decode in parallel.

A count with no steps (a risk assessment's) takes a faster road: the task's share is a run of
consecutive row groups, and only the counted columns are decoded, text as dictionaries, so
Polars groups codes (decrypting is cheap, about 1 GB/s; decoding every column of every row
group into strings was most of a count's time).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from privet.engine._rows import COUNT
from privet.errors import IntegrityError
from privet.vault import decrypt_object, encrypting_object

Step = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class Source:
    """One released version, as the job's tasks read it (see ``policy.JobRelease``)."""

    path: str
    context: bytes
    sha256: str
    columns: tuple[str, ...]
    tasks: int
    key: bytes = field(repr=False)


# The column that numbers a row by its position in the stored version (``take``).
POSITION = "__privet_position"


def frames(
    source: Source, steps: Sequence[Step], task_ids: Iterable[int], *, numbered: bool = False
) -> Iterator[pl.DataFrame]:
    """The rows of these tasks' shares, one frame per row group, ``steps`` applied; with
    ``numbered``, first given their position in the version (column ``POSITION``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for task in task_ids:
        plaintext = _plaintext(source)
        parquet = pq.ParquetFile(pa.BufferReader(plaintext))
        sizes = [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
        for group in range(task, parquet.num_row_groups, source.tasks):
            table = parquet.read_row_group(group, columns=list(source.columns))
            frame = pl.from_arrow(table)
            assert isinstance(frame, pl.DataFrame)
            if numbered:
                frame = frame.with_row_index(POSITION, offset=sum(sizes[:group]))
            for step in steps:
                frame = step(frame)
            yield frame


def _plaintext(source: Source) -> bytes:
    """The version's Parquet bytes, checked against the recorded hash before any use."""
    with open(source.path, "rb") as encrypted:
        plaintext = decrypt_object(source.key, encrypted, source.context)
    if hashlib.sha256(plaintext).hexdigest() != source.sha256:
        raise IntegrityError("a stored version does not match its recorded hash")
    return plaintext


def task_ids(batches: Iterable[Any]) -> Iterator[int]:
    """The task numbers in ``spark.range``'s batches (one per partition)."""
    for batch in batches:
        yield from batch.column(0).to_pylist()


def rows_task(
    source: Source, steps: Sequence[Step], schema: Any, batches: Iterable[Any]
) -> Iterator[Any]:
    """mapInArrow: the shares' rows as Arrow batches of the job's ``schema``."""
    for frame in frames(source, steps, task_ids(batches)):
        yield from _arrow(frame, schema).to_batches()


def counts_task(
    source: Source,
    steps: Sequence[Step],
    columns: Sequence[str],
    schema: Any,
    batches: Iterable[Any],
    *,
    packed: bool = False,
) -> Iterator[Any]:
    """mapInArrow: each task's group counts (Polars, over its whole share), so only groups,
    never rows, leave the task: as rows of ``schema`` for Spark to add up, or with
    ``packed`` as one Arrow IPC message in one binary cell (column ``PACKED``) for the
    driver to add up (the JVM then moves a few opaque values, not a row per group)."""
    for counted in _task_counts(source, steps, list(columns), task_ids(batches)):
        if packed:
            import pyarrow as pa

            message = io.BytesIO()
            counted.write_ipc(message, compression="lz4")  # a fifth of the bytes, as fast
            cell = pa.array([message.getvalue()], pa.binary())
            yield pa.RecordBatch.from_arrays([cell], names=[PACKED])
        else:
            yield from _arrow(counted, schema).to_batches()


def unpacked(cells: Iterable[bytes]) -> list[pl.DataFrame]:
    """The tasks' counts from their ``PACKED`` cells."""
    return [pl.read_ipc(io.BytesIO(cell)) for cell in cells]


# The one column of a packed count's rows.
PACKED = "counts"


def _task_counts(
    source: Source, steps: Sequence[Step], keys: list[str], tasks: Iterable[int]
) -> Iterator[pl.DataFrame]:
    if not steps:
        for task in tasks:
            yield from _share_counts(source, keys, task)
        return
    parts: list[pl.DataFrame] = []
    for frame in frames(source, steps, tasks):
        parts.append(frame.group_by(keys).agg(pl.len().cast(pl.Int64).alias(COUNT)))
        if len(parts) >= _MERGE_EVERY:  # a share's groups, not one copy per row group
            parts = [_merged(parts, keys)]
    if parts:
        yield _merged(parts, keys)


# Row groups' counts held before they are merged: memory stays near one share's groups.
_MERGE_EVERY = 8


def _share_counts(source: Source, keys: list[str], task: int) -> Iterator[pl.DataFrame]:
    """Task ``task``'s group counts of the stored rows: its run of consecutive row groups
    (the runs of the ``source.tasks`` tasks cover every group once), only ``keys`` decoded,
    text as dictionaries (Polars then groups a row group's codes, not its strings)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plaintext = _plaintext(source)
    schema = pq.read_schema(pa.BufferReader(plaintext))
    text = (pa.types.is_string, pa.types.is_large_string)  # Polars makes them Categorical
    coded = [k for k in keys if any(is_text(schema.field(k).type) for is_text in text)]
    parquet = pq.ParquetFile(pa.BufferReader(plaintext), read_dictionary=coded)
    groups = parquet.num_row_groups
    parts: list[pl.DataFrame] = []
    for group in range(task * groups // source.tasks, (task + 1) * groups // source.tasks):
        frame = pl.from_arrow(parquet.read_row_group(group, columns=keys))
        assert isinstance(frame, pl.DataFrame)
        parts.append(frame.group_by(keys).agg(pl.len().cast(pl.Int64).alias(COUNT)))
        if len(parts) >= _MERGE_EVERY:
            parts = [_merged(parts, keys)]
    if parts:  # none when there are more tasks than row groups
        yield _merged(parts, keys)


def _merged(parts: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts).group_by(keys).agg(pl.col(COUNT).sum())


def take_task(
    source: Source, positions: pl.Series, schema: Any, batches: Iterable[Any]
) -> Iterator[Any]:
    """mapInArrow: the rows of the tasks' shares at ``positions``, numbered."""
    wanted = pl.DataFrame({POSITION: positions.cast(pl.UInt32)})
    for frame in frames(source, (), task_ids(batches), numbered=True):
        found = frame.join(wanted, on=POSITION, how="semi")
        if found.height:
            yield from _arrow(found, schema).to_batches()


@dataclass(frozen=True)
class Parts:
    """Where a job's tasks write their rows: task ``i`` to ``paths[i]`` (files the driver
    made, owner-only), encrypted with a key made for this job alone."""

    paths: tuple[str, ...]
    context: bytes
    key: bytes = field(repr=False)


def part_context(parts: Parts, task: int) -> bytes:
    """What each part is bound to: one job's one task (a part cannot pass as another)."""
    return parts.context + b":" + str(task).encode()


def write_task(
    source: Source, steps: Sequence[Step], parts: Parts, schema: Any, batches: Iterable[Any]
) -> Iterator[Any]:
    """mapInArrow: each task's rows, ``steps`` applied, encrypted as one Parquet file into
    its part (a row group at a time; nothing is written in plaintext); yields the task's
    number and row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for task in task_ids(batches):
        rows = 0
        with (
            open(parts.paths[task], "wb") as out,
            encrypting_object(parts.key, out, part_context(parts, task)) as stream,
        ):
            writer = None
            for frame in frames(source, steps, [task]):
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(stream, table.schema, compression="zstd")
                writer.write_table(table)
                rows += frame.height
            if writer is not None:
                writer.close()
        yield pa.RecordBatch.from_pydict({"task": [task], "rows": [rows]}, schema=schema)


def anti_join(combinations: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` without the rows matching one of ``combinations`` (nulls match nulls)."""
    on = combinations.columns
    return frame.join(combinations, on=on, how="anti", nulls_equal=True)


def _arrow(frame: pl.DataFrame, schema: Any) -> Any:
    # Spark reads exactly the types of its schema (plain strings, UTC timestamps, ...).
    table = frame.select(schema.names).to_arrow(compat_level=pl.CompatLevel.oldest())
    return table.cast(schema)
