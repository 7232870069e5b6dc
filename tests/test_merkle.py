"""Tests for privet.auditlog._merkle (RFC 9162 Merkle trees).

Three layers: published known-answer vectors, an independent reference written
here from the RFC's recursive definitions, and property tests tying the two.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privet.auditlog._merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from tests.reference import (
    ref_mth,
    ref_path,
    ref_root_from_path,
    ref_subproof,
    ref_verify_consistency,
    ref_verify_inclusion,
)

# --- Published RFC 6962 vectors --------------------------------------------------
# Source: transparency-dev/merkle, testonly/constants.go (LeafInputs, NodeHashes,
# RootHashes) and proof/verify_test.go (inclusionProofs, consistencyProofs), the
# vectors carried over from the Certificate Transparency reference implementations.

RFC6962_LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]

# Root hash for each tree size 0..8 (RootHashes()).
RFC6962_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# Leaf hashes (level 0) and level-1 node hashes of the 8-leaf tree (NodeHashes()).
RFC6962_LEVEL0 = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
RFC6962_LEVEL1 = [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
]

# (0-based leaf index, tree size, audit path). verify_test.go numbers leaves from 1.
RFC6962_INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]

# (old size, new size, consistency proof).
RFC6962_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

RFC_LEAVES = [leaf_hash(d) for d in RFC6962_LEAF_INPUTS]


def _unhex(hashes: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hashes]


def _leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"entry {salt}/{i}".encode()) for i in range(n)]


# --- Known answers ---------------------------------------------------------------------


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == RFC6962_ROOTS[0]
    assert root_from_leaves([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert CompactRange().size == 0


def test_leaf_hash_matches_rfc6962_vector() -> None:
    assert [h.hex() for h in RFC_LEAVES] == RFC6962_LEVEL0


def test_node_hash_matches_rfc6962_vector() -> None:
    pairs = [node_hash(RFC_LEAVES[i], RFC_LEAVES[i + 1]) for i in range(0, 8, 2)]
    assert [h.hex() for h in pairs] == RFC6962_LEVEL1


@pytest.mark.parametrize("size", range(9))
def test_root_matches_rfc6962_vector(size: int) -> None:
    assert root_from_leaves(RFC_LEAVES[:size]).hex() == RFC6962_ROOTS[size]


def test_compact_range_root_matches_rfc6962_vector_at_every_size() -> None:
    cr = CompactRange()
    for size in range(1, 9):
        cr.append(RFC_LEAVES[size - 1])
        assert cr.size == size
        assert cr.root().hex() == RFC6962_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), RFC6962_INCLUSION)
def test_inclusion_proof_matches_rfc6962_vector(index: int, size: int, path: list[str]) -> None:
    leaves = RFC_LEAVES[:size]
    proof = inclusion_proof(index, leaves)
    assert proof == _unhex(path)
    root = bytes.fromhex(RFC6962_ROOTS[size])
    assert verify_inclusion(index, size, leaves[index], proof, root)


@pytest.mark.parametrize(("old", "new", "path"), RFC6962_CONSISTENCY)
def test_consistency_proof_matches_rfc6962_vector(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, RFC_LEAVES[:new])
    assert proof == _unhex(path)
    old_root, new_root = bytes.fromhex(RFC6962_ROOTS[old]), bytes.fromhex(RFC6962_ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)


# --- Against the independent reference, exhaustively for small trees -------------------

MAX_EXHAUSTIVE = 40


def test_root_from_leaves_and_compact_range_match_reference_for_small_trees() -> None:
    leaves = _leaves(MAX_EXHAUSTIVE)
    cr = CompactRange()
    for n in range(MAX_EXHAUSTIVE + 1):
        want = ref_mth(leaves[:n])
        assert root_from_leaves(leaves[:n]) == want
        assert cr.root() == want
        if n < MAX_EXHAUSTIVE:
            cr.append(leaves[n])


def test_every_inclusion_proof_matches_reference_and_verifies() -> None:
    leaves = _leaves(MAX_EXHAUSTIVE)
    for size in range(1, MAX_EXHAUSTIVE + 1):
        tree = leaves[:size]
        root = ref_mth(tree)
        for index in range(size):
            proof = inclusion_proof(index, tree)
            assert proof == ref_path(index, tree), (index, size)
            assert ref_verify_inclusion(index, size, tree[index], proof, root), (index, size)
            assert verify_inclusion(index, size, tree[index], proof, root), (index, size)


def test_every_consistency_proof_matches_reference_and_verifies() -> None:
    leaves = _leaves(MAX_EXHAUSTIVE)
    for new in range(1, MAX_EXHAUSTIVE + 1):
        new_root = ref_mth(leaves[:new])
        for old in range(1, new + 1):
            old_root = ref_mth(leaves[:old])
            proof = consistency_proof(old, leaves[:new])
            assert proof == ref_subproof(old, leaves[:new], True), (old, new)
            assert ref_verify_consistency(old, new, old_root, new_root, proof), (old, new)
            assert verify_consistency(old, new, old_root, new_root, proof), (old, new)


def test_inclusion_proof_rejected_for_any_other_index_or_size() -> None:
    leaves = _leaves(20)
    for size in range(1, 21):
        tree = leaves[:size]
        root = ref_mth(tree)
        for index in range(size):
            proof = inclusion_proof(index, tree)
            for other in range(size):
                if other != index:
                    assert not verify_inclusion(other, size, tree[index], proof, root)
            for other_size in range(1, 24):
                if other_size != size:
                    got = verify_inclusion(index, other_size, tree[index], proof, root)
                    want = ref_verify_inclusion(index, other_size, tree[index], proof, root)
                    assert got == want, (index, size, other_size)


def test_consistency_proof_rejected_for_other_sizes() -> None:
    leaves = _leaves(20)
    roots = [ref_mth(leaves[:n]) for n in range(21)]
    for new in range(2, 21):
        for old in range(1, new):
            proof = consistency_proof(old, leaves[:new])
            for o2 in range(0, 21):
                for n2 in range(o2, 21):
                    if (o2, n2) == (old, new):
                        continue
                    got = verify_consistency(o2, n2, roots[old], roots[new], proof)
                    assert got == ref_verify_consistency(o2, n2, roots[old], roots[new], proof)


# --- Edge cases and argument checking ---------------------------------------------------


def test_single_leaf_tree_has_empty_proof_and_root_equal_to_leaf() -> None:
    leaf = leaf_hash(b"data")
    assert root_from_leaves([leaf]) == leaf
    assert inclusion_proof(0, [leaf]) == []
    assert verify_inclusion(0, 1, leaf, [], leaf)
    assert not verify_inclusion(0, 1, leaf, [], EMPTY_ROOT)
    assert not verify_inclusion(0, 1, leaf, [leaf], leaf)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 1), (5, 3), (-1, 4)])
def test_inclusion_proof_rejects_out_of_range_index(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        inclusion_proof(index, _leaves(size))


@pytest.mark.parametrize(("old", "size"), [(0, 4), (-1, 4), (5, 4), (1, 0)])
def test_consistency_proof_rejects_bad_old_size(old: int, size: int) -> None:
    with pytest.raises(ValueError, match="old tree size"):
        consistency_proof(old, _leaves(size))


def test_verify_inclusion_rejects_impossible_index_and_size() -> None:
    leaf = leaf_hash(b"x")
    for index, size in [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 1)]:
        assert not verify_inclusion(index, size, leaf, [], leaf)


def test_consistency_between_equal_sizes_needs_equal_roots_and_empty_proof() -> None:
    a, b = _leaves(1)[0], _leaves(1, salt=1)[0]
    assert verify_consistency(5, 5, a, a, [])
    assert not verify_consistency(5, 5, a, b, [])
    assert not verify_consistency(5, 5, a, a, [a])


def test_empty_tree_is_consistent_with_every_tree_given_empty_proof() -> None:
    root = ref_mth(_leaves(7))
    assert verify_consistency(0, 7, EMPTY_ROOT, root, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 7, root, root, [])
    assert not verify_consistency(0, 7, EMPTY_ROOT, root, [root])


def test_inclusion_proof_longer_than_the_path_is_rejected_even_if_it_hashes_to_root() -> None:
    # Leaf 7 of an 8-leaf tree, presented as leaf 3 of a 4-leaf tree: hashing
    # past the top of the small tree reproduces the big root, and must not count.
    leaves = _leaves(8)
    root8 = ref_mth(leaves)
    proof = inclusion_proof(7, leaves)
    assert verify_inclusion(7, 8, leaves[7], proof, root8)
    assert not verify_inclusion(3, 4, leaves[7], proof, root8)
    assert not ref_verify_inclusion(3, 4, leaves[7], proof, root8)
    # The same confusion at size 1, where the path is empty.
    assert not verify_inclusion(0, 1, leaves[1], [leaves[0]], ref_mth(leaves[:2]))


def test_consistency_rejects_shrinking_tree_and_empty_proof() -> None:
    leaves = _leaves(8)
    r4, r8 = ref_mth(leaves[:4]), ref_mth(leaves)
    assert not verify_consistency(8, 4, r8, r4, consistency_proof(4, leaves))
    assert not verify_consistency(4, 8, r4, r8, [])
    assert not verify_consistency(-1, 8, r4, r8, [])


def test_large_tree_proofs_verify_without_recursion_limits() -> None:
    # An odd size just above a power of two exercises the deepest ragged edge.
    n = (1 << 15) + 3
    leaves = _leaves(n)
    cr = CompactRange()
    for leaf in leaves:
        cr.append(leaf)
    root = root_from_leaves(leaves)
    assert cr.root() == root and cr.size == n
    for index in (0, 1, n // 2, n - 3, n - 1):
        proof = inclusion_proof(index, leaves)
        assert verify_inclusion(index, n, leaves[index], proof, root)
    for old in (1, 2, 1000, 1 << 15, n - 1):
        old_root = root_from_leaves(leaves[:old])
        assert verify_consistency(old, n, old_root, root, consistency_proof(old, leaves))


# --- Property tests ------------------------------------------------------------------

_sizes = st.integers(min_value=1, max_value=300)


@given(n=st.integers(min_value=0, max_value=600), salt=st.integers(0, 2**16))
@settings(max_examples=60, deadline=None)
def test_compact_range_root_equals_root_from_leaves(n: int, salt: int) -> None:
    leaves = _leaves(n, salt)
    cr = CompactRange()
    for leaf in leaves:
        cr.append(leaf)
    assert cr.size == n
    assert cr.root() == root_from_leaves(leaves)


@st.composite
def _tamper(draw: st.DrawFn, proof: list[bytes]) -> list[bytes]:
    """A proof that differs from ``proof``: a flipped bit, a dropped, added or moved hash."""
    out = list(proof)
    kinds = ["append", "prepend"] + (["flip", "drop", "dup"] if out else [])
    if len(out) > 1:
        kinds.append("swap")
    kind = draw(st.sampled_from(kinds))
    extra = draw(st.binary(min_size=32, max_size=32))
    if kind == "append":
        out.append(extra)
    elif kind == "prepend":
        out.insert(0, extra)
    else:
        i = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            bit = draw(st.integers(0, 255))
            h = bytearray(out[i])
            h[bit // 8] ^= 1 << (bit % 8)
            out[i] = bytes(h)
        elif kind == "drop":
            del out[i]
        elif kind == "dup":
            out.insert(i, out[i])
        else:
            j = draw(st.integers(0, len(out) - 1).filter(lambda j: out[j] != out[i]))
            out[i], out[j] = out[j], out[i]
    return out


@given(data=st.data(), size=_sizes)
@settings(max_examples=150, deadline=None)
def test_tampered_inclusion_proof_fails(data: st.DataObject, size: int) -> None:
    leaves = _leaves(size)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, leaves)
    root = root_from_leaves(leaves)
    bad = data.draw(_tamper(proof))
    assert not verify_inclusion(index, size, leaves[index], bad, root)
    assert not ref_verify_inclusion(index, size, leaves[index], bad, root)


@given(data=st.data(), size=st.integers(min_value=2, max_value=300))
@settings(max_examples=150, deadline=None)
def test_tampered_consistency_proof_fails(data: st.DataObject, size: int) -> None:
    leaves = _leaves(size)
    old = data.draw(st.integers(1, size - 1))
    proof = consistency_proof(old, leaves)
    old_root, new_root = root_from_leaves(leaves[:old]), root_from_leaves(leaves)
    bad = data.draw(_tamper(proof))
    assert not verify_consistency(old, size, old_root, new_root, bad)
    assert not ref_verify_consistency(old, size, old_root, new_root, bad)


@given(data=st.data(), size=_sizes)
@settings(max_examples=200, deadline=None)
def test_verify_inclusion_agrees_with_reference(data: st.DataObject, size: int) -> None:
    leaves = _leaves(size)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, leaves)
    root = root_from_leaves(leaves)
    # Perturb the claim, the proof, or nothing; both verifiers must agree either way.
    claim_index = data.draw(st.sampled_from([index, index ^ 1, index + 1, index - 1, 0]))
    claim_size = data.draw(st.sampled_from([size, size + 1, size - 1, size * 2, size // 2]))
    if data.draw(st.booleans()):
        proof = data.draw(_tamper(proof))
    got = verify_inclusion(claim_index, claim_size, leaves[index], proof, root)
    want = ref_verify_inclusion(claim_index, claim_size, leaves[index], proof, root)
    assert got == want


@given(data=st.data(), size=st.integers(min_value=1, max_value=300))
@settings(max_examples=200, deadline=None)
def test_verify_consistency_agrees_with_reference(data: st.DataObject, size: int) -> None:
    leaves = _leaves(size)
    old = data.draw(st.integers(1, size))
    proof = consistency_proof(old, leaves)
    old_root, new_root = root_from_leaves(leaves[:old]), root_from_leaves(leaves)
    claim_old = data.draw(st.sampled_from([old, old + 1, old - 1, old ^ 2, 0]))
    claim_new = data.draw(st.sampled_from([size, size + 1, size - 1, size * 2]))
    if data.draw(st.booleans()):
        proof = data.draw(_tamper(proof))
    if data.draw(st.booleans()):
        old_root, new_root = new_root, old_root
    got = verify_consistency(claim_old, claim_new, old_root, new_root, proof)
    want = ref_verify_consistency(claim_old, claim_new, old_root, new_root, proof)
    assert got == want


@given(
    proof=st.lists(st.sampled_from(_leaves(4, salt=9)), max_size=6),
    index=st.integers(0, 12),
    size=st.integers(0, 12),
)
@settings(max_examples=300, deadline=None)
def test_verify_inclusion_agrees_with_reference_on_arbitrary_proofs(
    proof: list[bytes], index: int, size: int
) -> None:
    # Hashes drawn from a small pool, so the reference sometimes accepts too.
    pool = _leaves(4, salt=9)
    leaf = pool[0]
    for root in {ref_root_from_path(index, size, leaf, proof) or pool[1], pool[2]}:
        got = verify_inclusion(index, size, leaf, proof, root)
        assert got == ref_verify_inclusion(index, size, leaf, proof, root)
