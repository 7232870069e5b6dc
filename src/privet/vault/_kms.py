"""Master keys: the key-encryption key named by a KMS URI.

Two kinds of URI are understood:

* ``local-file:///abs/path/key.json`` — a Tink AES-256-GCM keyset in a local file, created
  with mode 0600 *outside* the workspace, so copying the workspace folder never copies it.
* ``aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID`` — a key in AWS KMS through Tink's AWS KMS
  client (boto3; ``AWS_ENDPOINT_URL`` points it at a local emulator in tests).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import tink
from tink import aead, cleartext_keyset_handle

from privet.errors import InvalidInput, KeyUnavailable

LOCAL_SCHEME = "local-file://"
AWS_SCHEME = "aws-kms://"

aead.register()


def default_key_dir() -> Path:
    """Where local master keys live: ``$PRIVET_KEY_DIR``, else ``~/.config/privet/keys``."""
    configured = os.environ.get("PRIVET_KEY_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    return Path.home() / ".config" / "privet" / "keys"


def local_key_uri(path: Path) -> str:
    return LOCAL_SCHEME + str(path.resolve())


def create_local_master_key(path: Path) -> str:
    """Write a fresh AES-256-GCM keyset to ``path`` (mode 0600, never overwritten)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    serialized = tink.json_proto_keyset_format.serialize(handle, tink.secret_key_access.TOKEN)
    # O_EXCL: a second workspace can never silently replace an existing master key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(serialized)
        out.flush()
        os.fsync(out.fileno())
    return local_key_uri(path)


def check_uri(uri: str) -> None:
    if not (uri.startswith(LOCAL_SCHEME) or uri.startswith(AWS_SCHEME)):
        raise InvalidInput(
            f"unsupported KMS URI scheme in {uri.split('://')[0]!r}; "
            f"use {LOCAL_SCHEME}/path or {AWS_SCHEME}arn:aws:kms:…"
        )


def master_aead(uri: str) -> aead.Aead:
    """The AEAD primitive of the master key, or ``KeyUnavailable`` with what to fix."""
    check_uri(uri)
    if uri.startswith(LOCAL_SCHEME):
        return _local_aead(Path(uri[len(LOCAL_SCHEME) :]))
    return _aws_aead(uri)


def _local_aead(path: Path) -> aead.Aead:
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except FileNotFoundError:
        raise KeyUnavailable(
            f"the master key file {path} is missing; without it the workspace's encrypted "
            "data cannot be decrypted (restore the key file, or set PRIVET_KEY_DIR)"
        ) from None
    except OSError as err:
        raise KeyUnavailable(
            f"the master key file {path} cannot be read ({err.strerror})"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyUnavailable(
            f"the master key file {path} is readable by other users; run: chmod 600 {path}"
        )
    try:
        handle = cleartext_keyset_handle.read(tink.JsonKeysetReader(text))
        return handle.primitive(aead.Aead)
    except tink.TinkError:
        raise KeyUnavailable(f"the master key file {path} is not a valid key") from None


def _aws_aead(uri: str) -> aead.Aead:
    try:
        import boto3
        from tink.integration import awskms
    except ImportError:
        raise KeyUnavailable("AWS KMS needs boto3: pip install 'privet[aws]'") from None
    arn = uri[len(AWS_SCHEME) :]
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "kms":
        raise InvalidInput("an AWS KMS URI looks like aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID")
    client = boto3.client("kms", region_name=parts[3])
    try:
        return awskms.new_client(boto3_client=client, key_uri=uri).get_aead(uri)
    except tink.TinkError:
        raise KeyUnavailable(
            "the AWS KMS key cannot be used (check the URI and credentials)"
        ) from None
