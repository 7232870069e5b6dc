"""Merkle tree hashing for the audit log, as specified by RFC 9162 §2.1 (CT v2).

The tree shape and hashing are the RFC 6962/9162 ones, so roots and proofs are
interoperable with other transparency-log tooling: leaves are hashed as
SHA-256(0x00 || data), interior nodes as SHA-256(0x01 || left || right), and a
tree of n > 1 leaves splits at the largest power of two strictly below n.

Proof *generation* takes the full list of leaf hashes and is O(n) hashes per
proof; proof *verification* is the RFC's bit-shifting algorithm and needs only
the proof. Everything here is iterative, so tree size is not limited by
Python's recursion depth.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

_sha256 = hashlib.sha256

#: Root of the empty tree: the hash of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT: bytes = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf entry; the 0x00 prefix keeps leaves distinct from nodes."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two child hashes into their parent."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2): the RFC's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_hash(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(leaves[lo:hi]) for hi > lo, in hi - lo - 1 hashes, without recursion.

    Pairing each level left to right and carrying an odd last node up unchanged
    builds exactly the RFC's left-balanced tree.
    """
    level = list(leaves[lo:hi])
    sha = _sha256
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        level = [
            sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if odd is not None:
            level.append(odd)
    return level[0]


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """Root hash of the tree whose leaf hashes are ``leaves``."""
    if not leaves:
        return EMPTY_ROOT
    return _subtree_hash(leaves, 0, len(leaves))


class CompactRange:
    """The right frontier of a growing tree, for streaming roots in O(log n) memory.

    Holds one perfect-subtree root per set bit of ``size``, largest (leftmost)
    first. ``append`` is amortized O(1) hashes and deliberately minimal, because
    it sits in the verifier's per-entry loop. It takes *leaf hashes* and does
    not check their length.
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._nodes: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash to the right edge of the tree."""
        nodes = self._nodes
        n = self._size
        # Each trailing 1 bit of the old size is a perfect subtree of the same
        # height as the carry; merge them like binary addition.
        while n & 1:
            leaf = _sha256(b"\x01" + nodes.pop() + leaf).digest()
            n >>= 1
        nodes.append(leaf)
        self._size += 1

    def root(self) -> bytes:
        """Current root: the subtree roots folded together from the right."""
        nodes = self._nodes
        if not nodes:
            return EMPTY_ROOT
        h = nodes[-1]
        for i in range(len(nodes) - 2, -1, -1):
            h = _sha256(b"\x01" + nodes[i] + h).digest()
        return h


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Audit path PATH(index, D[n]) of RFC 9162 §2.1.3.1, with n = len(leaves).

    Hashes are ordered from the leaf's sibling up to the root's child, as the
    RFC's verification algorithm consumes them.
    """
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} out of range for tree size {n}")
    siblings: list[bytes] = []
    lo, hi = 0, n
    # Walk down from the root; each step's sibling subtree is disjoint from the
    # next, so the total work is at most n hashes.
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            siblings.append(_subtree_hash(leaves, mid, hi))
            hi = mid
        else:
            siblings.append(_subtree_hash(leaves, lo, mid))
            lo = mid
    siblings.reverse()
    return siblings


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> list[bytes]:
    """Consistency proof PROOF(old_size, D[n]) of RFC 9162 §2.1.4.1, n = len(leaves).

    Returns [] when old_size == n, as SUBPROOF(n, D[n], true) does.
    """
    n = len(leaves)
    if old_size <= 0:
        raise ValueError(f"old tree size must be positive, got {old_size}")
    if old_size > n:
        raise ValueError(f"old tree size {old_size} exceeds tree size {n}")
    out: list[bytes] = []
    lo, hi, m = 0, n, old_size
    # ``complete`` is the RFC's b: true while the current subtree still starts at
    # leaf 0, where the verifier already knows the old root and needs no hash.
    complete = True
    while m != hi - lo:
        mid = lo + _split(hi - lo)
        if m <= mid - lo:
            out.append(_subtree_hash(leaves, mid, hi))
            hi = mid
        else:
            out.append(_subtree_hash(leaves, lo, mid))
            m -= mid - lo
            lo = mid
            complete = False
    if not complete:
        out.append(_subtree_hash(leaves, lo, hi))
    out.reverse()
    return out


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof by the algorithm of RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False  # proof is longer than the path
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # Skip levels where this node is a lone right-edge node that is
            # promoted without hashing.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check a consistency proof by the algorithm of RFC 9162 §2.1.4.2.

    The RFC covers 0 < old_size < new_size. The edge cases follow from the
    definitions: equal sizes need an empty proof and equal roots, and the empty
    tree (whose root is EMPTY_ROOT) is a prefix of every tree, with an empty proof.
    """
    if old_size < 0 or old_size > new_size:
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect left subtree: its root is a path node that
        # the prover leaves out.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
