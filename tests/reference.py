"""Independent reference implementations used by the tests to check privet's claims.

Nothing here imports privet: a shared mistake between the code and its check is unlikely.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# --- Independent reference, straight from the RFC's recursive definitions ----------
# Deliberately naive (slicing, recursion, hashlib called directly) and sharing no
# code with the module, so a shared mistake is unlikely.


def _ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(bytes([1]) + left + right).digest()


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if not d:
        return hashlib.sha256().digest()
    if len(d) == 1:
        return d[0]
    k = _ref_k(len(d))
    return _ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _ref_k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _ref_k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_root_from_path(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes | None:
    """Undo PATH: the root implied by a proof, or None if its shape is wrong."""
    if size == 1:
        return leaf if not proof else None
    if not proof:
        return None
    k = _ref_k(size)
    *rest, last = proof
    if index < k:
        sub = ref_root_from_path(index, k, leaf, rest)
        return None if sub is None else _ref_node(sub, last)
    sub = ref_root_from_path(index - k, size - k, leaf, rest)
    return None if sub is None else _ref_node(last, sub)


def ref_verify_inclusion(
    index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes
) -> bool:
    if not 0 <= index < size:
        return False
    return ref_root_from_path(index, size, leaf, list(proof)) == root


def _ref_undo_subproof(
    m: int, n: int, proof: list[bytes], b: bool, old_root: bytes
) -> tuple[bytes, bytes] | None:
    """Undo SUBPROOF: the (old subtree, new subtree) hashes a proof implies."""
    if m == n:
        if b:
            # This subtree is the whole old tree, whose root the verifier holds.
            return (old_root, old_root) if not proof else None
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = _ref_k(n)
    *rest, last = proof
    if m <= k:
        sub = _ref_undo_subproof(m, k, rest, b, old_root)
        return None if sub is None else (sub[0], _ref_node(sub[1], last))
    sub = _ref_undo_subproof(m - k, n - k, rest, False, old_root)
    return None if sub is None else (_ref_node(last, sub[0]), _ref_node(last, sub[1]))


def ref_verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> bool:
    if old_size < 0 or old_size > new_size:
        return False
    if old_size == 0:
        return not proof and old_root == hashlib.sha256().digest()
    got = _ref_undo_subproof(old_size, new_size, list(proof), True, old_root)
    return got is not None and got == (old_root, new_root)


# --- Signed-note checkpoints (C2SP signed-note / tlog-checkpoint), verified by hand ------


def ref_open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note signed by ``vkey``; raises ValueError."""
    name, key_hash_hex, key_b64 = vkey.split("+", 2)
    key = base64.b64decode(key_b64)
    assert key[0] == 1  # algorithm byte: Ed25519
    expected_id = hashlib.sha256(name.encode() + b"\n\x01" + key[1:]).digest()[:4]
    assert expected_id.hex() == key_hash_hex
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    for line in signatures.splitlines():
        signer, _, blob = line.removeprefix("\u2014 ").rpartition(" ")
        raw = base64.b64decode(blob)
        if signer == name and raw[:4] == expected_id:
            try:
                Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], body.encode())
            except InvalidSignature:
                raise ValueError("bad signature") from None
            origin, size, root = body.splitlines()[:3]
            return origin, int(size), base64.b64decode(root)
    raise ValueError("no signature by that key")


def ref_leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()
