"""Which rows a model was trained on and which were held out, as packed row bitmaps.

Positions in the broker's read of the version, never values, so that an audit can rebuild
the exact members and non-members of the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from privet.dp._card import Split

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl
    import torch

    from privet.dp.randomness import SecureRandom


def split_rows(
    n: int, *, rows: int, test_fraction: float, train_rows: int | None, random: SecureRandom
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and held-out positions among ``n`` rows, by an independent coin per row.

    A row is held out with probability ``test_fraction``; otherwise it is trained on with
    probability min(1, train_rows / (rows · (1 − test_fraction))), where ``rows`` is the
    catalog's row count (public), never a count of the data; otherwise it is unused.
    Adding or removing one person then changes only that person's row: exactly the
    add/remove neighbours the accountant composes. A fixed-size split (shuffle, cut at a
    count, keep the first k) lets one person's arrival displace another's row, a
    replacement the add/remove analysis does not cover.
    """
    import numpy as np
    import torch

    held = random.uniform(n) < test_fraction
    trained = ~held
    if train_rows is not None:
        keep = min(1.0, train_rows / max(rows * (1 - test_fraction), 1.0))
        trained &= random.uniform(n) < keep
    return torch.from_numpy(np.flatnonzero(trained)), torch.from_numpy(np.flatnonzero(held))


def split_record(positions: pl.Series, train: torch.Tensor, test: torch.Tensor, rows: int) -> Split:
    """Which rows of the version (by position in the broker's read) were trained on / held out."""
    rows_of = positions.to_numpy()
    return Split(
        rows=rows,
        train=pack_rows(rows_of[train.numpy()], rows),
        test=pack_rows(rows_of[test.numpy()], rows),
        train_count=len(train),
        test_count=len(test),
    )


def pack_rows(positions: npt.ArrayLike, rows: int) -> str:
    """A bitmap of ``positions`` among ``rows``, compressed and base64-encoded."""
    import base64
    import zlib

    import numpy as np

    bits = np.zeros(rows, dtype=bool)
    bits[np.asarray(positions, dtype=np.int64)] = True
    return base64.b64encode(zlib.compress(np.packbits(bits).tobytes(), 9)).decode()


def unpack_rows(packed: str, rows: int) -> npt.NDArray[np.int64]:
    """The row positions of a bitmap made by ``pack_rows`` (a sorted int64 array)."""
    import base64
    import zlib

    import numpy as np

    raw = np.frombuffer(zlib.decompress(base64.b64decode(packed)), dtype=np.uint8)
    return np.flatnonzero(np.unpackbits(raw)[:rows]).astype(np.int64)
