"""Column types between the catalog, Polars and Spark.

The catalog records each column's Polars type as text (``str(dtype)``); a Spark job's schema
is fixed before any row is decrypted, so it is built from that record. Spark has no unsigned
integers and no categoricals: those travel as the next wider signed type (UInt64 as a
20-digit decimal) or as text, and are cast back when rows return to Polars.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from privet.errors import InvalidInput

if TYPE_CHECKING:
    from pyspark.sql.types import DataType, StructType

_SIMPLE: dict[str, pl.DataType] = {
    str(t): t
    for t in (
        pl.Boolean(),
        pl.Int8(),
        pl.Int16(),
        pl.Int32(),
        pl.Int64(),
        pl.UInt8(),
        pl.UInt16(),
        pl.UInt32(),
        pl.UInt64(),
        pl.Float32(),
        pl.Float64(),
        pl.String(),
        pl.Categorical(),
        pl.Binary(),
        pl.Date(),
        pl.Null(),
    )
}
_DATETIME = re.compile(r"^Datetime\(time_unit='(ms|us|ns)', time_zone=(None|'[^']+')\)$")
_DECIMAL = re.compile(r"^Decimal\(precision=(\d+), scale=(\d+)\)$")


def polars_dtype(recorded: str, column: str) -> pl.DataType:
    """The Polars type the catalog recorded for ``column``."""
    if recorded in _SIMPLE:
        return _SIMPLE[recorded]
    if match := _DATETIME.match(recorded):
        zone = None if match[2] == "None" else match[2].strip("'")
        return pl.Datetime(match[1], zone)  # type: ignore[arg-type]
    if match := _DECIMAL.match(recorded):
        return pl.Decimal(int(match[1]), int(match[2]))
    raise InvalidInput(
        f"column {column[:60]!r} has type {recorded[:60]}, which the Spark engine does not "
        "read yet: use --engine polars",
        parameter="engine",
    )


def polars_schema(columns: Sequence[tuple[str, str]]) -> pl.Schema:
    return pl.Schema({name: polars_dtype(dtype, name) for name, dtype in columns})


def spark_type(dtype: pl.DataType) -> DataType:
    from pyspark.sql import types as t

    simple: dict[Any, DataType] = {
        pl.Boolean: t.BooleanType(),
        pl.Int8: t.ByteType(),
        pl.Int16: t.ShortType(),
        pl.Int32: t.IntegerType(),
        pl.Int64: t.LongType(),
        pl.UInt8: t.ShortType(),
        pl.UInt16: t.IntegerType(),
        pl.UInt32: t.LongType(),
        pl.UInt64: t.DecimalType(20, 0),
        pl.Float32: t.FloatType(),
        pl.Float64: t.DoubleType(),
        pl.String: t.StringType(),
        pl.Categorical: t.StringType(),
        pl.Null: t.StringType(),
        pl.Binary: t.BinaryType(),
        pl.Date: t.DateType(),
    }
    base = dtype.base_type()
    if base in simple:
        return simple[base]
    if isinstance(dtype, pl.Datetime):
        return t.TimestampType() if dtype.time_zone else t.TimestampNTZType()
    if isinstance(dtype, pl.Decimal):
        return t.DecimalType(dtype.precision or 38, dtype.scale)
    raise InvalidInput(f"the Spark engine cannot hold a {dtype} column yet: use --engine polars")


def spark_schema(schema: Mapping[str, pl.DataType]) -> StructType:
    from pyspark.sql.types import StructField, StructType

    return StructType([StructField(name, spark_type(d), True) for name, d in schema.items()])


def to_polars(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows back from Spark with the Polars types they had (UTC timestamps in their zone)."""
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
