"""Sealing for the DPO: the scope's subject ids leave only encrypted to the DPO's public
keyset (Tink HPKE: X25519, HKDF-SHA256, AES-256-GCM); the DPO opens them with the private
keyset, kept offline."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from privet import auditlog
from privet.account._incident_models import IncidentScope
from privet.account._incident_people import subject_ids
from privet.account._new_file import write_new
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core

SEALED_FORMAT = "privet-incident-sealed/1"
_CONTEXT = b"privet/incident-seal/v1\x00"


class Sealed(BaseModel):
    path: str
    subjects: int
    sha256: str
    log_index: int


def _hybrid() -> Any:
    from tink import hybrid

    hybrid.register()
    return hybrid


def make_dpo_key(folder: Path) -> tuple[Path, Path]:
    """A DPO key pair (Tink HPKE: X25519, HKDF-SHA256, AES-256-GCM) in ``folder``: the
    private keyset ``dpo-private.json`` (cleartext, mode 0600: keep it offline) and the
    public keyset ``dpo-public.json`` (give it to whoever runs ``privet incident``)."""
    import tink
    from tink import secret_key_access

    hybrid = _hybrid()
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / "dpo-private.json", folder / "dpo-public.json"
    for path in (private, public):
        if path.exists():
            raise InvalidInput(f"{path} exists already; choose another folder")
    handle = tink.new_keyset_handle(
        hybrid.hybrid_key_templates.DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM
    )
    secret = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret)
    public.write_text(
        tink.json_proto_keyset_format.serialize_without_secret(handle.public_keyset_handle())
    )
    return private, public


def _read_public(path: Path) -> Any:
    import tink

    try:
        return tink.json_proto_keyset_format.parse_without_secret(path.read_text())
    except (OSError, tink.TinkError, ValueError):
        raise InvalidInput(f"{path} is not a Tink public keyset (JSON)") from None


def seal(core: Core, incident: IncidentScope, public_keyset: Path, out: Path, *, by: str) -> Sealed:
    """Write the scope's subject list encrypted to the DPO's public keyset (Tink HPKE) at
    ``out``; logged as ``incident.seal`` (counts and the file's hash only)."""
    hybrid = _hybrid()
    handle = _read_public(Path(public_keyset))
    encrypt = handle.primitive(hybrid.HybridEncrypt)
    people = subject_ids(core, incident)
    body = json.dumps(
        {
            "actor": incident.actor,
            "token": incident.token,
            "scope_log_index": incident.log_index,
            "subjects": people,
        },
        sort_keys=True,
    ).encode()
    header = {
        "format": SEALED_FORMAT,
        "workspace": core.config.id,
        "scope_log_index": incident.log_index,
        "recipient_key": handle.keyset_info().primary_key_id,
    }
    context = _CONTEXT + json.dumps(header, sort_keys=True).encode()
    ciphertext = encrypt.encrypt(body, context)
    document = json.dumps({**header, "ciphertext": base64.b64encode(ciphertext).decode()})
    write_new(out, document, mode=0o644)
    digest = hashlib.sha256(document.encode()).hexdigest()
    count = sum(len(v) for v in people.values())
    with core.session() as session:
        (index,) = auditlog.append(
            session,
            [
                auditlog.events.incident_seal(
                    ts=core.now(),
                    actor=by,
                    scope=incident.log_index,
                    subjects=count,
                    recipient_key=header["recipient_key"],
                    sha256=digest,
                )
            ],
        )
        session.commit()
    return Sealed(path=str(out), subjects=count, sha256=digest, log_index=index)


def unseal(sealed: Path, private_keyset: Path) -> dict[str, Any]:
    """The DPO's side: decrypt a sealed subject list with the private keyset."""
    import tink
    from tink import secret_key_access

    hybrid = _hybrid()
    try:
        document = json.loads(Path(sealed).read_text())
        ciphertext = base64.b64decode(document.pop("ciphertext"))
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidInput(f"{sealed} is not a sealed incident file") from None
    if document.get("format") != SEALED_FORMAT:
        raise InvalidInput(f"{sealed} is not a sealed incident file ({SEALED_FORMAT})")
    try:
        handle = tink.json_proto_keyset_format.parse(
            Path(private_keyset).read_text(), secret_key_access.TOKEN
        )
        decrypt = handle.primitive(hybrid.HybridDecrypt)
    except (OSError, tink.TinkError, ValueError):
        raise InvalidInput(f"{private_keyset} is not a Tink private keyset (JSON)") from None
    context = _CONTEXT + json.dumps(document, sort_keys=True).encode()
    try:
        plaintext = decrypt.decrypt(ciphertext, context)
    except tink.TinkError:
        raise InvalidInput(
            "the sealed file does not open with this key (wrong key, or the file was altered)"
        ) from None
    result: dict[str, Any] = json.loads(plaintext)
    return result
