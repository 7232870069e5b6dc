"""The benchmark input: a large CSV grown from ``raw_people()``, generated locally, never fetched.

Each 48,842-row block is the bundled table shuffled and perturbed (new ids, unique emails,
jittered ages, birth dates, weights and hours, identifier columns permuted independently),
so the file keeps the real mix of strings, ints, dates and sparse free-text notes while no
block repeats another byte for byte (which would flatter compression). Deterministic for a
seed; written once under a name that carries its size and seed, then reused.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import polars as pl

from privet.datasets import raw_people

MB = 1 << 20
_PERMUTED = ("phone", "ssn", "street_address", "notes")


def people_csv(out_dir: Path, size_mb: int, seed: int = 7) -> Path:
    """A CSV of at least ``size_mb`` MiB in ``out_dir`` (generated on first use)."""
    path = out_dir / f"people-{size_mb}mb-seed{seed}.csv"
    if path.exists():
        return path
    base = raw_people(seed=seed)
    rng = random.Random(f"privet.bench/{seed}")
    part = path.with_suffix(".part")
    with open(part, "wb") as out:
        block = 0
        while out.tell() < size_mb * MB:
            _block(base, block, rng).write_csv(out, include_header=block == 0)
            block += 1
    os.replace(part, path)  # a half-written file never passes for a finished one
    return path


def _block(base: pl.DataFrame, block: int, rng: random.Random) -> pl.DataFrame:
    n = base.height
    ids = pl.format("P{}", (pl.int_range(n) + block * n + 1).cast(pl.String).str.zfill(9))
    if block == 0:
        return base.with_columns(person_id=ids)
    years = pl.Series(rng.choices(range(-2, 3), k=n))
    frame = base.sample(fraction=1.0, shuffle=True, seed=rng.randrange(1 << 32))
    frame = frame.with_columns(
        [
            frame[c].sample(fraction=1.0, shuffle=True, seed=rng.randrange(1 << 32))
            for c in _PERMUTED
        ]
    )
    return frame.with_columns(
        person_id=ids,
        email=pl.col("email").str.replace("@", f".{block}@", literal=True),
        age=(pl.col("age") + years).clip(17, 90),
        date_of_birth=pl.col("date_of_birth") - pl.duration(days=pl.lit(years) * 365),
        fnlwgt=(pl.col("fnlwgt") * pl.Series(rng.choices(range(90, 111), k=n)) // 100),
        hours_per_week=(pl.col("hours_per_week") + pl.Series(rng.choices(range(-3, 4), k=n))).clip(
            1, 99
        ),
    )
