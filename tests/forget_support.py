"""Independent checks for the forgetting tests: decrypt every object with the master key,
verify a C2SP signed note with plain Ed25519, recompute commitments.

Nothing here calls privet's own finders: the tests look for the erased subject the way an
auditor with the master key would, in every object the store holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import tink
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from tink import streaming_aead

from privet import Workspace
from privet.schema import Keyset

_NAME = re.compile(r"^(?P<id>[0-9a-f]{32})(?:\.[0-9a-f]{8})?\.(?P<suffix>.+)$")


@dataclass
class Opened:
    path: str
    plaintext: bytes


def every_key(ws: Workspace) -> list[tink.KeysetHandle]:
    """Every data key of every dataset keyset, one single-key handle each."""
    from tink import proto_keyset_format, secret_key_access
    from tink.proto import tink_pb2

    core = ws.hazmat
    handles = []
    with core.reading() as session:
        names = session.scalars(select(Keyset.name).where(Keyset.kind == "streaming-aead"))
        for name in list(names):
            handle = core.vault.dataset_keyset(session, name.split(":", 1)[1])
            keyset = tink_pb2.Keyset.FromString(
                proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
            )
            for key in keyset.key:
                single = tink_pb2.Keyset(primary_key_id=key.key_id)
                single.key.append(key)
                handles.append(
                    proto_keyset_format.parse(single.SerializeToString(), secret_key_access.TOKEN)
                )
    return handles


def decryptable_objects(ws: Workspace) -> tuple[list[Opened], list[str]]:
    """Every object file in the store that some key still opens, and those none opens."""
    keys = every_key(ws)
    root = ws.hazmat.store.root
    opened, sealed = [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".tmp/"):
            continue
        folder, dataset_id = rel.split("/")[0], rel.split("/")[1]
        parts = _NAME.match(path.name)
        assert parts is not None, rel
        context_id = parts["id"] if folder == "versions" else f"model:{parts['id']}"
        aad = f"privet/version/{dataset_id}/{context_id}".encode()
        data = path.read_bytes()
        for handle in keys:
            try:
                primitive = handle.primitive(streaming_aead.StreamingAead)
                with primitive.new_decrypting_stream(io.BytesIO(data), aad) as stream:
                    opened.append(Opened(rel, stream.read()))
                break
            except tink.TinkError:
                continue
        else:
            sealed.append(rel)
    return opened, sealed


def holds_any(plaintext: bytes, values: list[str]) -> bool:
    """Whether the object's bytes (Parquet or weights) or its cells contain a value."""
    if any(v.encode() in plaintext for v in values):
        return True
    try:
        frame = pl.read_parquet(io.BytesIO(plaintext))
    except Exception:  # noqa: BLE001 - not a table (model weights)
        return False
    for column in frame.columns:
        cells = frame.get_column(column).cast(pl.String, strict=False)
        if cells.is_in(values).any():
            return True
    return False


def holds_row(plaintext: bytes, row: pl.DataFrame) -> bool:
    """Whether a stored table has a row equal to ``row`` on every column of ``row`` (values
    compared as text, since the catalog keeps them as given)."""
    try:
        frame = pl.read_parquet(io.BytesIO(plaintext))
    except Exception:  # noqa: BLE001 - not a table (model weights)
        return False
    if not set(row.columns) <= set(frame.columns):
        return False
    text = [pl.col(c).cast(pl.String) for c in row.columns]
    wanted = row.select(text)
    return frame.select(text).join(wanted, on=row.columns, how="semi", nulls_equal=True).height > 0


def verify_note(note: str, verifier_key: str) -> str:
    """The text of a C2SP signed note once its Ed25519 signature by ``verifier_key`` checks
    (c2sp.org/signed-note, written here from the spec, not with privet's code)."""
    name, key_hex, key_b64 = verifier_key.split("+", 2)
    raw = base64.b64decode(key_b64)
    assert raw[0] == 1, "not an Ed25519 key"
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    expected_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4]
    assert expected_id.hex() == key_hex
    text, _, signatures = note.rpartition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        signer, blob_b64 = line.removeprefix("\u2014 ").rsplit(" ", 1)
        blob = base64.b64decode(blob_b64)
        if signer == name and blob[:4] == expected_id:
            public.verify(blob[4:], text.encode())  # raises if forged
            return text
    raise AssertionError("no signature by the verifier key")


def commitment(nonce_hex: str, subject: str) -> str:
    return hmac.new(bytes.fromhex(nonce_hex), subject.encode(), hashlib.sha256).hexdigest()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]
