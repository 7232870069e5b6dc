"""The SISA layout (which shard, slice and split each person falls in) is fixed by the
stored models: a faster implementation must place every row exactly as the definition does.

The definition: a subject link is 16 bytes of keyed PRF output in hex; its first, second,
third and fourth 32-bit words, over 2^32, are the person's uniform draws for shard, slice,
held-out and kept. The reference writes it plainly (Python ints, a sort of the links as
Python strings), independent of privet's vectorised version.
"""

from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from privet.dp import _sisa

_WORD = {b"shard": 0, b"slice": 1, b"test": 2, b"keep": 3}


def _unit(link: str, label: bytes) -> float:
    word = _WORD[label]
    return int(link[8 * word : 8 * word + 8], 16) / 2.0**32


def _reference(
    links: list[str],
    shards: int,
    slices: int,
    test_fraction: float,
    keep: float,
    usable: list[bool],
) -> tuple[list[int], list[int], list[int], list[int]]:
    shard = [int(_unit(v, b"shard") * shards) for v in links]
    slice_ = [int(_unit(v, b"slice") * slices) for v in links]
    held = [_unit(v, b"test") < test_fraction for v in links]
    kept = [_unit(v, b"keep") < keep for v in links]
    trained = [i for i in range(len(links)) if not held[i] and kept[i] and usable[i]]
    trained.sort(key=lambda i: links[i])  # stable: a person's rows keep their read order
    return shard, slice_, trained, [i for i in range(len(links)) if held[i]]


# Few distinct people, many rows each (ties in the sort).
people = st.lists(st.from_regex(r"[0-9a-f]{32}", fullmatch=True), min_size=1, max_size=25,
                  unique=True)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    pool=people,
    shards=st.integers(2, 64),
    slices=st.integers(1, 64),
    test_fraction=st.floats(0.01, 0.5),
    keep=st.floats(0.05, 1.0),
)
def test_layout_places_every_row_as_the_definition_does(
    data: st.DataObject, pool: list[str], shards: int, slices: int, test_fraction: float,
    keep: float,
) -> None:  # fmt: skip
    links = data.draw(st.lists(st.sampled_from(pool), max_size=120))
    usable = data.draw(st.lists(st.booleans(), min_size=len(links), max_size=len(links)))
    got = _sisa.layout(
        links,
        shards=shards,
        slices=slices,
        test_fraction=test_fraction,
        keep=keep,
        usable=np.array(usable, dtype=bool),
    )
    shard, slice_, train, test = _reference(links, shards, slices, test_fraction, keep, usable)
    assert got.shard.tolist() == shard
    assert got.slice.tolist() == slice_
    assert got.train.tolist() == train
    assert got.test.tolist() == test


def test_layout_of_hex_links_known_answer() -> None:
    links = [hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(2000)]
    links = links + links[::3]  # repeated people
    usable = [True] * len(links)
    got = _sisa.layout(links, shards=5, slices=4, test_fraction=0.2, keep=0.9,
                       usable=np.array(usable))  # fmt: skip
    shard, slice_, train, test = _reference(links, 5, 4, 0.2, 0.9, usable)
    assert (got.shard.tolist(), got.slice.tolist()) == (shard, slice_)
    assert (got.train.tolist(), got.test.tolist()) == (train, test)


def test_a_link_that_is_not_one_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="32 hexadecimal digits"):
        _sisa.layout(["P000001"], shards=2, slices=2, test_fraction=0.2, keep=1.0,
                     usable=np.array([True]))  # fmt: skip
