"""Master keys: the key-encryption key named by a KMS URI.

Two kinds of URI are understood:

* ``local-file:///abs/path/key.json`` — a Tink AES-256-GCM keyset in a local file, created
  with mode 0600 *outside* the workspace, so copying the workspace folder never copies it.
* ``aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID`` — a key in AWS KMS through Tink's AWS KMS
  client (boto3; ``AWS_ENDPOINT_URL`` points it at a local emulator in tests).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import tink
from tink import aead, cleartext_keyset_handle

from privet.errors import InvalidInput, KeyUnavailable

LOCAL_SCHEME = "local-file://"
AWS_SCHEME = "aws-kms://"
# What Tink's AWS client accepts (partition "aws"), with a region that is a valid host label.
_AWS_KEY_ARN = re.compile(
    r"arn:aws:kms:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?:\d{12}:(?:key/[A-Za-z0-9-]+|alias/[\w/-]+)"
)

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
    if not _AWS_KEY_ARN.fullmatch(arn):
        raise InvalidInput("an AWS KMS URI looks like aws-kms://arn:aws:kms:REGION:ACCOUNT:key/ID")
    client = boto3.client("kms", region_name=arn.split(":")[3])
    try:
        return _AwsAead(awskms.new_client(boto3_client=client, key_uri=uri).get_aead(uri))
    except tink.TinkError:
        raise KeyUnavailable(
            "the AWS KMS key cannot be used (check the URI and credentials)"
        ) from None


class _AwsAead(aead.Aead):
    """Tink's AWS KMS AEAD with every AWS failure turned into ``KeyUnavailable``.

    Tink wraps only ``ClientError`` (a refusal) in ``TinkError``; a network or credentials
    failure (``BotoCoreError``) would otherwise escape as a raw botocore exception.
    """

    def __init__(self, inner: aead.Aead) -> None:
        self._inner = inner

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        return self._call(self._inner.encrypt, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        return self._call(self._inner.decrypt, ciphertext, associated_data)

    @staticmethod
    def _call(operation: Callable[[bytes, bytes], bytes], data: bytes, context: bytes) -> bytes:
        from botocore.exceptions import BotoCoreError

        try:
            return operation(data, context)
        except tink.TinkError as err:
            cause = err.args[0] if err.args else None
            code = getattr(cause, "response", {}).get("Error", {}).get("Code", "refused")
            raise KeyUnavailable(
                f"AWS KMS refused to use the master key ({code}): check that the key exists, "
                "is enabled, and that these credentials may use it"
            ) from None
        except BotoCoreError:
            raise KeyUnavailable(
                "AWS KMS cannot be reached or signed for (check the network, AWS_ENDPOINT_URL "
                "and the AWS credentials)"
            ) from None
