"""Tests for privet.auditlog._note (C2SP signed-note checkpoints, Ed25519)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privet.auditlog._note import (
    Checkpoint,
    NoteError,
    key_id,
    open_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    signer_key,
    verifier_key,
)

EM_DASH = "\u2014"

# --- Published vectors -----------------------------------------------------------------

# A real sum.golang.org checkpoint and the Go checksum database's public key.
# Source: transparency-dev/formats, log/note_test.go (TestSumDBNoteParsing).
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_BODY = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n"
SUMDB_SIG = (
    f"{EM_DASH} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95"
    "949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n"
)
SUMDB_NOTE = SUMDB_BODY + "\n" + SUMDB_SIG

# Signer/verifier key pair, note text and the expected signed note.
# Source: golang/mod, sumdb/note/note_test.go (TestNewSigner, TestSign, TestOpen).
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    f"{EM_DASH} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{EM_DASH} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01"
    "oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# Further published signer/verifier pairs.
# Source: transparency-dev/formats, log/note_test.go.
FORMATS_KEY_PAIRS = [
    (
        "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
    ),
    (
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
    ),
    (
        "PRIVATE+KEY+KnownAgain+4893b26c+ARhZda/l25zjGZswYLDZsLNRzNpmv5wYTN9IoTr1OJ2+",
        "KnownAgain+4893b26c+AQ+LR7BFF/F/dkpIBjBpSvT0crkteizuUkavAoGeaYMj",
    ),
    (
        "PRIVATE+KEY+Unknown+fdbb2e08+Aav2knTC6orbhXX8pMWuNiWgO+Wwk2DB+h1eU2Q1W1nU",
        "Unknown+fdbb2e08+AWgRIYZ+8x1Vl+1Q+sR8zciNHiYI1SdlBjNw+RV0rots",
    ),
]

# The example checkpoint text. Source: C2SP/C2SP, tlog-checkpoint.md.
C2SP_CHECKPOINT_BODY = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _independent_key_id(name: str, raw_public_key: bytes) -> bytes:
    """The signed-note key ID, computed by hand from the spec's formula."""
    h = hashlib.sha256()
    h.update(name.encode())
    h.update(bytes([0x0A, 0x01]))
    h.update(raw_public_key)
    return h.digest()[:4]


@pytest.fixture(scope="module")
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _checkpoint(size: int = 42) -> Checkpoint:
    return Checkpoint("example.org/privet/audit", size, hashlib.sha256(b"root").digest())


def _signed(key: Ed25519PrivateKey, cp: Checkpoint | None = None) -> tuple[str, str]:
    cp = cp or _checkpoint()
    name = cp.origin
    return sign_note(cp.body(), name, key), verifier_key(name, key.public_key())


# --- Known answers -----------------------------------------------------------------------


def test_opens_published_sumdb_checkpoint() -> None:
    cp = open_note(SUMDB_NOTE, SUMDB_VKEY)
    assert cp == Checkpoint(
        "go.sum database tree",
        6476701,
        base64.b64decode("mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="),
    )
    assert cp.body() == SUMDB_BODY


def test_published_verifier_key_id_matches_independent_computation() -> None:
    name, kid, public_key = parse_verifier_key(SUMDB_VKEY)
    assert name == "sum.golang.org"
    assert kid == bytes.fromhex("033de0ae")
    raw = base64.b64decode(SUMDB_VKEY.split("+", 2)[2])[1:]
    assert _raw_public(public_key) == raw
    assert _independent_key_id(name, raw) == kid
    assert key_id(name, public_key) == kid
    assert verifier_key(name, public_key) == SUMDB_VKEY


def test_sign_reproduces_published_go_note_signature() -> None:
    # Ed25519 is deterministic, so the published signature is a full known answer.
    name, private_key = parse_signer_key(PETER_SKEY)
    assert name == "PeterNeumann"
    assert sign_note(PETER_TEXT, name, private_key) == PETER_TEXT + "\n" + PETER_SIG
    assert signer_key(name, private_key) == PETER_SKEY
    assert verifier_key(name, private_key.public_key()) == PETER_VKEY


@pytest.mark.parametrize(("skey", "vkey"), FORMATS_KEY_PAIRS + [(PETER_SKEY, PETER_VKEY)])
def test_published_key_pairs_round_trip_and_ids_match(skey: str, vkey: str) -> None:
    name, private_key = parse_signer_key(skey)
    assert signer_key(name, private_key) == skey
    assert verifier_key(name, private_key.public_key()) == vkey
    vname, kid, public_key = parse_verifier_key(vkey)
    assert vname == name
    assert kid == _independent_key_id(name, _raw_public(public_key))
    assert _raw_public(public_key) == _raw_public(private_key.public_key())


def test_published_non_checkpoint_note_verifies_then_fails_as_checkpoint() -> None:
    # The signature checks out, so the failure is the body, not the signature.
    note = PETER_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        with pytest.raises(NoteError, match="malformed checkpoint"):
            open_note(note, vkey)
    # Go's TestOpen corrupts the signature by splicing "ABCD" into it.
    corrupt = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match="does not verify"):
        open_note(PETER_TEXT + "\n" + corrupt, PETER_VKEY)


def test_parses_c2sp_example_checkpoint_body() -> None:
    cp = Checkpoint.parse_body(C2SP_CHECKPOINT_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.body() == C2SP_CHECKPOINT_BODY


# --- Round trip and tampering ------------------------------------------------------------


def test_sign_then_open_round_trips(log_key: Ed25519PrivateKey) -> None:
    for size in (0, 1, 42, 2**64 - 1):
        cp = _checkpoint(size)
        note, vkey = _signed(log_key, cp)
        assert open_note(note, vkey) == cp


def test_note_has_c2sp_layout(log_key: Ed25519PrivateKey) -> None:
    cp = _checkpoint()
    note, vkey = _signed(log_key, cp)
    body, sig_line = note.split("\n\n")
    assert body + "\n" == cp.body() == f"{cp.origin}\n42\n{base64.b64encode(cp.root).decode()}\n"
    assert sig_line.startswith(f"{EM_DASH} {cp.origin} ") and sig_line.endswith("\n")
    blob = base64.b64decode(sig_line.rstrip("\n").split(" ")[2], validate=True)
    assert len(blob) == 4 + 64
    assert blob[:4] == _independent_key_id(cp.origin, _raw_public(log_key.public_key()))
    # The signature is over the body text exactly.
    log_key.public_key().verify(blob[4:], cp.body().encode())
    assert vkey.split("+")[1] == blob[:4].hex()


def test_any_one_character_change_is_rejected(log_key: Ed25519PrivateKey) -> None:
    note, vkey = _signed(log_key)
    for i, ch in enumerate(note):
        for replacement in {chr(ord(ch) ^ 1), "A" if ch != "A" else "B", ""}:
            tampered = note[:i] + replacement + note[i + 1 :]
            with pytest.raises(NoteError):
                open_note(tampered, vkey)


def test_any_one_byte_change_in_signature_is_rejected(log_key: Ed25519PrivateKey) -> None:
    note, vkey = _signed(log_key)
    body, sig_line = note.split("\n\n")
    prefix, b64 = sig_line.rstrip("\n").rsplit(" ", 1)
    blob = base64.b64decode(b64)
    for i in range(len(blob)):
        for bit in (0x01, 0x80):
            bad = bytearray(blob)
            bad[i] ^= bit
            tampered = f"{body}\n\n{prefix} {base64.b64encode(bad).decode()}\n"
            with pytest.raises(NoteError):
                open_note(tampered, vkey)


def test_any_one_byte_change_in_body_is_rejected(log_key: Ed25519PrivateKey) -> None:
    cp = _checkpoint()
    note, vkey = _signed(log_key, cp)
    sig = note[len(cp.body()) :]
    for i in range(len(cp.root)):
        root = bytearray(cp.root)
        root[i] ^= 0x01
        forged = Checkpoint(cp.origin, cp.size, bytes(root))
        with pytest.raises(NoteError, match="does not verify"):
            open_note(forged.body() + sig, vkey)
    for size in (cp.size - 1, cp.size + 1):
        with pytest.raises(NoteError, match="does not verify"):
            open_note(Checkpoint(cp.origin, size, cp.root).body() + sig, vkey)


def test_wrong_key_is_rejected(log_key: Ed25519PrivateKey) -> None:
    note, _ = _signed(log_key)
    other = Ed25519PrivateKey.generate()
    # Same name, different key: the key ID differs, so the signature is not "by" it.
    same_name = verifier_key(_checkpoint().origin, other.public_key())
    with pytest.raises(NoteError, match="no signature by key"):
        open_note(note, same_name)
    # Same key, different name.
    with pytest.raises(NoteError, match="no signature by key"):
        open_note(note, verifier_key("someone.else", log_key.public_key()))
    with pytest.raises(NoteError, match="no signature by key"):
        open_note(SUMDB_NOTE, PETER_VKEY)


def test_matching_name_and_id_with_bad_signature_is_rejected(log_key: Ed25519PrivateKey) -> None:
    # Another key's signature relabelled with the trusted name and key ID.
    cp = _checkpoint()
    _, vkey = _signed(log_key, cp)
    _, kid, _ = parse_verifier_key(vkey)
    forger = Ed25519PrivateKey.generate()
    blob = base64.b64encode(kid + forger.sign(cp.body().encode())).decode()
    forged = f"{cp.body()}\n{EM_DASH} {cp.origin} {blob}\n"
    with pytest.raises(NoteError, match="note signature does not verify"):
        open_note(forged, vkey)


def test_signatures_by_other_keys_are_ignored(log_key: Ed25519PrivateKey) -> None:
    note, vkey = _signed(log_key)
    witness = Ed25519PrivateKey.generate()
    cosigned = note + sign_note(_checkpoint().body(), "witness.example", witness).split("\n\n")[1]
    assert open_note(cosigned, vkey) == _checkpoint()
    # Unknown signatures may come first, and may even be garbage.
    assert open_note(SUMDB_BODY + "\n" + PETER_SIG + SUMDB_SIG, SUMDB_VKEY).size == 6476701


def test_every_signature_by_the_trusted_key_must_verify(log_key: Ed25519PrivateKey) -> None:
    note, vkey = _signed(log_key)
    body, sig_line = note.split("\n\n")
    assert open_note(f"{body}\n\n{sig_line}{sig_line}", vkey) == _checkpoint()
    # Bump a character well inside the Ed25519 signature (not the key ID).
    i = len(sig_line) - 10
    corrupt = sig_line[:i] + ("A" if sig_line[i] != "A" else "B") + sig_line[i + 1 :]
    with pytest.raises(NoteError, match="does not verify"):
        open_note(f"{body}\n\n{sig_line}{corrupt}", vkey)


@pytest.mark.parametrize(
    "note",
    [
        "",
        SUMDB_BODY,  # no signatures
        SUMDB_BODY + "\n",  # blank line, still no signatures
        SUMDB_NOTE[:-1],  # signature line without its newline
        SUMDB_NOTE + "Unexpected line.\n",
        SUMDB_NOTE + "\n",
        "\x01" + SUMDB_NOTE,
        SUMDB_NOTE.replace("\n", "\r\n"),
        SUMDB_BODY + "\n" + SUMDB_SIG.replace(EM_DASH, "-"),
        SUMDB_BODY + "\n" + SUMDB_SIG.replace("sum.golang.org", "sum golang.org"),
        SUMDB_BODY + "\n" + SUMDB_SIG.replace("sum.golang.org", "sum+golang.org"),
        SUMDB_BODY + "\n" + SUMDB_SIG.replace("sum.golang.org ", "sum.golang.org  "),
        SUMDB_BODY + "\n" + f"{EM_DASH} sum.golang.org AAAA\n",  # too short for a key ID
        SUMDB_BODY + "\n" + SUMDB_SIG * 101,
        SUMDB_BODY + "\ud800\n\n" + SUMDB_SIG,  # lone surrogate: not encodable
    ],
)
def test_malformed_note_is_rejected(note: str) -> None:
    with pytest.raises(NoteError, match="malformed note"):
        open_note(note, SUMDB_VKEY)


def test_text_ends_at_the_last_blank_line(log_key: Ed25519PrivateKey) -> None:
    # Note texts may contain blank lines; the signature must still be found and
    # verified (it is the checkpoint parse that then fails).
    text = "first stanza\n\nsecond stanza\n"
    note = sign_note(text, "poet.example", log_key)
    with pytest.raises(NoteError, match="malformed checkpoint"):
        open_note(note, verifier_key("poet.example", log_key.public_key()))


def test_note_error_is_a_value_error() -> None:
    assert issubclass(NoteError, ValueError)


# --- Keys ---------------------------------------------------------------------------------


def test_key_id_matches_independent_computation() -> None:
    for name in ("a", "example.org/log", "Señor-1", "x" * 200):
        key = Ed25519PrivateKey.generate().public_key()
        assert key_id(name, key) == _independent_key_id(name, _raw_public(key))
        assert parse_verifier_key(verifier_key(name, key))[1] == key_id(name, key)


@pytest.mark.parametrize("vkey", [PETER_VKEY, SUMDB_VKEY])
def test_any_mangled_verifier_key_is_rejected(vkey: str) -> None:
    # Every proper substring and every single-character bump must fail, as in
    # golang/mod's TestNewVerifier.
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(NoteError):
                    parse_verifier_key(vkey[i:j])
    for i, ch in enumerate(vkey):
        with pytest.raises(NoteError):
            parse_verifier_key(vkey[:i] + chr(ord(ch) + 1) + vkey[i + 1 :])


@pytest.mark.parametrize(
    "vkey",
    [
        # Wrong key length and an unknown algorithm byte, from golang/mod's note_test.go.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        PETER_VKEY.upper(),
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),
        "",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        " " + PETER_VKEY,
        PETER_SKEY,
    ],
)
def test_malformed_verifier_key_is_rejected(vkey: str) -> None:
    with pytest.raises(NoteError):
        parse_verifier_key(vkey)


def test_any_mangled_signer_key_is_rejected() -> None:
    for i in range(len(PETER_SKEY) + 1):
        for j in range(i + 1, len(PETER_SKEY) + 1):
            if (i, j) != (0, len(PETER_SKEY)):
                with pytest.raises(NoteError):
                    parse_signer_key(PETER_SKEY[i:j])
    for i, ch in enumerate(PETER_SKEY):
        with pytest.raises(NoteError):
            parse_signer_key(PETER_SKEY[:i] + chr(ord(ch) + 1) + PETER_SKEY[i + 1 :])
    with pytest.raises(NoteError):
        parse_signer_key(PETER_VKEY)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\tname", "nbsp\u00a0name", "a\nb"])
def test_invalid_key_names_are_rejected(name: str, log_key: Ed25519PrivateKey) -> None:
    with pytest.raises(NoteError, match="invalid key name"):
        verifier_key(name, log_key.public_key())
    with pytest.raises(NoteError, match="invalid key name"):
        sign_note(_checkpoint().body(), name, log_key)
    with pytest.raises(NoteError, match="invalid key name"):
        signer_key(name, log_key)


@pytest.mark.parametrize("body", ["", "no newline", "bell\x07\n", "\ud800\n"])
def test_sign_rejects_text_that_cannot_be_a_note(body: str, log_key: Ed25519PrivateKey) -> None:
    with pytest.raises(NoteError, match="malformed note"):
        sign_note(body, "example.org", log_key)


# --- Checkpoint body ----------------------------------------------------------------------

_ROOT_B64 = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"origin\n5\n{_ROOT_B64}",  # no final newline
        "origin\n5\n",  # too few lines
        f"\n5\n{_ROOT_B64}\n",  # empty origin
        f"origin\n5\n{_ROOT_B64}\nextension\n",  # extension lines unsupported
        f"origin\n5\n{_ROOT_B64}\n\n",
        f"origin\n05\n{_ROOT_B64}\n",  # leading zero
        f"origin\n-5\n{_ROOT_B64}\n",
        f"origin\n+5\n{_ROOT_B64}\n",
        f"origin\n 5\n{_ROOT_B64}\n",
        f"origin\n\uff15\n{_ROOT_B64}\n",  # a fullwidth digit is still not ASCII
        f"origin\n{2**64}\n{_ROOT_B64}\n",
        f"origin\n\n{_ROOT_B64}\n",
        "origin\n5\nYmFuYW5hcw==\n",  # 7 bytes, not 32
        f"origin\n5\n{_ROOT_B64[:-1]}\n",  # bad padding
        f"origin\n5\n{_ROOT_B64[:-2]}B=\n",  # non-canonical trailing bits
        f"origin\n5\n{_ROOT_B64.replace('A', '-')}\n",  # URL-safe alphabet
        f"origin\r\n5\n{_ROOT_B64}\n",
        f"ori\x00gin\n5\n{_ROOT_B64}\n",
    ],
)
def test_parse_body_rejects_malformed_checkpoint(text: str) -> None:
    with pytest.raises(ValueError):
        Checkpoint.parse_body(text)


def test_parse_body_accepts_edge_values() -> None:
    for size in (0, 1, 2**64 - 1):
        text = f"origin with spaces\n{size}\n{_ROOT_B64}\n"
        cp = Checkpoint.parse_body(text)
        assert (cp.origin, cp.size, cp.root) == ("origin with spaces", size, bytes(range(32)))
        assert cp.body() == text


@pytest.mark.parametrize(
    ("origin", "size", "root"),
    [
        ("", 1, bytes(32)),
        ("a\nb", 1, bytes(32)),
        ("o", -1, bytes(32)),
        ("o", 2**64, bytes(32)),
        ("o", True, bytes(32)),
        ("o", 1, bytes(31)),
        ("o", 1, "0" * 32),
    ],
)
def test_checkpoint_rejects_values_it_cannot_encode(origin: str, size: int, root: bytes) -> None:
    with pytest.raises(ValueError):
        Checkpoint(origin, size, root)


def test_malformed_checkpoint_in_a_valid_note_is_a_note_error(log_key: Ed25519PrivateKey) -> None:
    note = sign_note(f"origin\n05\n{_ROOT_B64}\n", "origin", log_key)
    with pytest.raises(NoteError, match="malformed checkpoint"):
        open_note(note, verifier_key("origin", log_key.public_key()))
