"""Loader for the bundled UCI Adult ("Census Income") data set."""

from __future__ import annotations

import functools
import gzip
from importlib import resources
from typing import Literal

import polars as pl

Split = Literal["all", "train", "test"]

# Column names follow the attribute list in adult.names, snake_cased.
ADULT_SCHEMA: dict[str, pl.DataType] = {
    "age": pl.Int64(),
    "workclass": pl.String(),
    "fnlwgt": pl.Int64(),
    "education": pl.String(),
    "education_num": pl.Int64(),
    "marital_status": pl.String(),
    "occupation": pl.String(),
    "relationship": pl.String(),
    "race": pl.String(),
    "sex": pl.String(),
    "capital_gain": pl.Int64(),
    "capital_loss": pl.Int64(),
    "hours_per_week": pl.Int64(),
    "native_country": pl.String(),
    "income": pl.String(),
}

_FILES = {"train": "adult.data.gz", "test": "adult.test.gz"}


def _read_split(split: Literal["train", "test"]) -> pl.DataFrame:
    # Go through importlib.resources so this works from a wheel or zip, not just a checkout.
    resource = resources.files("privet.datasets") / "adult" / _FILES[split]
    raw = gzip.decompress(resource.read_bytes())
    # Every field after the first is preceded by one space and no value contains ", ",
    # so dropping it up front lets polars parse the integer columns directly.
    # rstrip: both files end with a blank line, which would otherwise become an all-null row.
    text = raw.replace(b", ", b",").rstrip(b"\n") + b"\n"
    frame = pl.read_csv(
        text,
        has_header=False,
        # adult.test starts with a stray "|1x3 Cross validator" line.
        skip_rows=1 if split == "test" else 0,
        schema=ADULT_SCHEMA,
        null_values="?",
    )
    # adult.test writes its labels as "<=50K." / ">50K."; unify with adult.data.
    return frame.with_columns(pl.col("income").str.strip_suffix("."))


@functools.cache
def _load(split: Split) -> pl.DataFrame:
    if split == "all":
        return pl.concat([_load("train"), _load("test")], rechunk=True)
    return _read_split(split)


def adult(split: Split = "all") -> pl.DataFrame:
    """Return the UCI Adult census extract as a polars DataFrame.

    ``"train"`` is ``adult.data`` (32,561 rows), ``"test"`` is ``adult.test``
    (16,281 rows) and ``"all"`` is both, train first (48,842 rows). Missing
    values (``"?"`` in the files) are null; ``income`` is ``"<=50K"`` or ``">50K"``.

    The result is cached per split; polars frames are immutable, so sharing it is safe.
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', not {split!r}")
    return _load(split)


# Columns adult_with_identifiers() adds: each singles people out and none predicts anything.
PLANTED = ("zip_code", "birth_date", "badge_code")


def adult_with_identifiers(seed: int = 7) -> pl.DataFrame:
    """Adult with three generated columns that identify people and say nothing about them:
    a random ZIP code (most are unique), birth date and badge number (3,000 of them), each
    drawn independently of every other column with ``seed``. The data to try the
    minimization advisor on: a model of ``income`` needs none of them."""
    import numpy as np

    frame = adult()
    rng = np.random.default_rng(seed)
    n = frame.height
    zips = rng.integers(10_000, 99_999, n)
    days = rng.integers(0, 365 * 70, n)
    badges = rng.integers(0, 3_000, n)
    return frame.with_columns(
        pl.Series(PLANTED[0], [f"{z:05d}" for z in zips]),
        pl.Series(PLANTED[1], np.datetime64("1930-01-01", "D") + days).cast(pl.Date),
        pl.Series(PLANTED[2], [f"B{b:04d}" for b in badges]),
    )
