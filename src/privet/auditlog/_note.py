"""Signed checkpoints in the C2SP formats, signed with Ed25519.

* c2sp.org/signed-note: a note is a text ending in a newline, a blank line, then
  one or more lines "— <key name> <base64(4-byte key ID || signature)>".
* c2sp.org/tlog-checkpoint: the text of a checkpoint is the log's origin, the
  tree size in decimal and the base64 root hash, one per line.

Keys are in the golang.org/x/mod/sumdb/note text encoding, so they interoperate
with the Go tooling: ``<name>+<hex key ID>+<base64(0x01 || public key)>`` and
``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 || seed)>``.

Only the three mandatory checkpoint lines are supported: a body with extension
lines is rejected rather than silently losing signed content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "Checkpoint",
    "NoteError",
    "key_id",
    "open_note",
    "parse_signer_key",
    "parse_verifier_key",
    "sign_note",
    "signer_key",
    "verified_text",
    "verifier_key",
]

_ALG_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # EM DASH, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
# The spec requires accepting at least 16; the bound keeps hostile notes cheap.
_MAX_SIGNATURES = 100
_MAX_TREE_SIZE = 2**64 - 1  # sizes are uint64 in every other implementation
_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_RE = re.compile(r"[0-9a-f]{8}")
# ASCII controls other than newline are banned in notes; DEL is excluded too.
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


class NoteError(ValueError):
    """A note or key failed to parse or verify."""


def _b64decode(text: str) -> bytes:
    """Strict standard base64: valid alphabet, padding, and canonical form."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("invalid base64") from None
    # Non-canonical encodings (stray bits in the padding) would give one value
    # many spellings; a signed text should have exactly one.
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("invalid base64")
    return raw


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_name(name: str) -> None:
    if (
        not isinstance(name, str)
        or not name
        or "+" in name
        or any(c.isspace() for c in name)
        or _CONTROL_RE.search(name)
    ):
        raise NoteError(f"invalid key name {name!r}")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed claim about its tree: the root hash at a given size."""

    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        # Validate here so body() can never produce text that parse_body rejects.
        if not isinstance(self.origin, str) or not self.origin:
            raise ValueError("checkpoint origin must be a non-empty string")
        if "\n" in self.origin or _CONTROL_RE.search(self.origin):
            raise ValueError("checkpoint origin contains control characters")
        if (
            not isinstance(self.size, int)
            or isinstance(self.size, bool)
            or not 0 <= self.size <= _MAX_TREE_SIZE
        ):
            raise ValueError("checkpoint size must be an integer in [0, 2**64)")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise ValueError("checkpoint root must be 32 bytes")

    def body(self) -> str:
        """The checkpoint note text (what gets signed)."""
        return f"{self.origin}\n{self.size}\n{_b64encode(self.root)}\n"

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        """Parse a checkpoint text; the exact inverse of ``body``."""
        if not text.endswith("\n"):
            raise ValueError("checkpoint must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise ValueError("checkpoint has too few lines")
        if len(lines) > 3:
            raise ValueError("checkpoint extension lines are not supported")
        origin, size_text, root_text = lines
        if not origin:
            raise ValueError("checkpoint origin is empty")
        if not _SIZE_RE.fullmatch(size_text):
            raise ValueError("checkpoint size is not a canonical decimal")
        size = int(size_text)
        if size > _MAX_TREE_SIZE:
            raise ValueError("checkpoint size out of range")
        try:
            root = _b64decode(root_text)
        except ValueError:
            raise ValueError("checkpoint root is not valid base64") from None
        if len(root) != 32:
            raise ValueError("checkpoint root is not 32 bytes")
        return cls(origin, size, root)


def _public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte Ed25519 key ID: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    _check_name(name)
    data = name.encode("utf-8") + b"\n" + _ALG_ED25519 + _public_bytes(public_key)
    return hashlib.sha256(data).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """Encode a public key as ``<name>+<hex key ID>+<base64(0x01 || key)>``."""
    kid = key_id(name, public_key)
    return f"{name}+{kid.hex()}+{_b64encode(_ALG_ED25519 + _public_bytes(public_key))}"


def _parse_key(text: str, what: str) -> tuple[str, bytes, bytes]:
    """Split ``name+hexid+base64`` and check the algorithm byte; returns raw key."""
    parts = text.split("+", 2)  # the base64 key may itself contain "+"
    if len(parts) != 3:
        raise NoteError(f"malformed {what}")
    name, kid_hex, key_b64 = parts
    _check_name(name)
    if not _KEY_ID_RE.fullmatch(kid_hex):
        raise NoteError(f"malformed {what}")
    try:
        raw = _b64decode(key_b64)
    except ValueError:
        raise NoteError(f"malformed {what}") from None
    if len(raw) != 33 or raw[:1] != _ALG_ED25519:
        raise NoteError(f"unsupported {what} type (only Ed25519)")
    return name, bytes.fromhex(kid_hex), raw[1:]


def parse_verifier_key(text: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Parse a verifier key string into (name, 4-byte key ID, public key).

    The key ID is recomputed, so a key string whose ID does not match its name
    and key is rejected.
    """
    name, kid, raw = _parse_key(text, "verifier key")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise NoteError("malformed verifier key") from None
    if key_id(name, public_key) != kid:
        raise NoteError("verifier key ID does not match key")
    return name, kid, public_key


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """Encode a private key as ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>``."""
    kid = key_id(name, private_key.public_key())
    seed = private_key.private_bytes_raw()
    return f"{_PRIVATE_PREFIX}{name}+{kid.hex()}+{_b64encode(_ALG_ED25519 + seed)}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a signer key string into (name, private key), checking its key ID."""
    if not text.startswith(_PRIVATE_PREFIX):
        raise NoteError("malformed signer key")
    name, kid, seed = _parse_key(text[len(_PRIVATE_PREFIX) :], "signer key")
    try:
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
    except ValueError:
        raise NoteError("malformed signer key") from None
    if key_id(name, private_key.public_key()) != kid:
        raise NoteError("signer key ID does not match key")
    return name, private_key


def _check_text(text: str) -> None:
    if not text or not text.endswith("\n") or _CONTROL_RE.search(text):
        raise NoteError("malformed note")
    try:
        text.encode("utf-8")  # lone surrogates cannot be signed or verified
    except UnicodeEncodeError:
        raise NoteError("malformed note") from None


def sign_note(body: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign ``body`` (a text ending in newline) and return the complete note."""
    _check_text(body)
    _check_name(name)
    kid = key_id(name, private_key.public_key())
    sig = private_key.sign(body.encode("utf-8"))
    return f"{body}\n{_SIG_PREFIX}{name} {_b64encode(kid + sig)}\n"


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a note into its text and (key name, signature blob) pairs."""
    _check_text(note)
    # The text ends at the last blank line; signature lines are never blank.
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("malformed note")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    lines = sig_block.split("\n")
    if lines.pop() != "" or not lines or len(lines) > _MAX_SIGNATURES:
        raise NoteError("malformed note")
    sigs = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise NoteError("malformed note")
        name, sep, blob_b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep:
            raise NoteError("malformed note")
        try:
            _check_name(name)
            blob = _b64decode(blob_b64)
        except ValueError:
            raise NoteError("malformed note") from None
        if len(blob) < 5:  # 4-byte key ID and a non-empty signature
            raise NoteError("malformed note")
        sigs.append((name, blob))
    return text, sigs


def open_note(note: str, verifier_key: str) -> Checkpoint:
    """Verify a signed checkpoint note against one trusted key and parse it.

    Signatures by other keys are ignored (they may be witnesses or a rotated
    key), but every signature claiming to be by the trusted key must verify.
    The text is only parsed after a signature has been verified.
    """
    text = verified_text(note, verifier_key)
    try:
        return Checkpoint.parse_body(text)
    except ValueError as e:
        raise NoteError(f"malformed checkpoint: {e}") from None


def verified_text(note: str, verifier_key: str) -> str:
    """The text of any signed note (a checkpoint, an erasure receipt), once a signature by
    ``verifier_key`` has verified (the same rules as :func:`open_note`)."""
    name, kid, public_key = parse_verifier_key(verifier_key)
    text, sigs = _split_note(note)
    message = text.encode("utf-8")
    verified = False
    for sig_name, blob in sigs:
        if sig_name != name or blob[:4] != kid:
            continue
        try:
            public_key.verify(blob[4:], message)
        except InvalidSignature:
            raise NoteError("note signature does not verify") from None
        verified = True
    if not verified:
        raise NoteError(f"no signature by key {name}+{kid.hex()}")
    return text
