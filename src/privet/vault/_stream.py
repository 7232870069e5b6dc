"""Streaming AEAD over whole dataset files (Tink AES-256-GCM-HKDF, 1 MB segments)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import tink
from tink import streaming_aead

from privet.errors import IntegrityError
from privet.vault._keysets import import_data_key

_CHUNK = 1 << 20


def encrypt_into(
    handle: tink.KeysetHandle, plaintext: bytes | memoryview, context: bytes, out: BinaryIO
) -> None:
    """Write the ciphertext of ``plaintext`` to ``out``, bound to ``context``.

    The context (dataset and version ids) is authenticated, so an object copied under
    another version's name fails to decrypt instead of passing as that version.
    """
    primitive = handle.primitive(streaming_aead.StreamingAead)
    view = memoryview(plaintext)
    with primitive.new_encrypting_stream(out, context) as stream:
        for start in range(0, len(view), _CHUNK):
            stream.write(view[start : start + _CHUNK])


def encrypt_file_into(
    handle: tink.KeysetHandle, source: BinaryIO, context: bytes, out: BinaryIO, digest: Any
) -> None:
    """``encrypt_into`` for plaintext read from ``source`` a chunk at a time (a file larger
    than memory); ``digest`` (a hashlib object) sees every plaintext byte on the way."""
    primitive = handle.primitive(streaming_aead.StreamingAead)
    with primitive.new_encrypting_stream(out, context) as stream:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            stream.write(chunk)


def decrypt_from(handle: tink.KeysetHandle, source: BinaryIO, context: bytes) -> bytes:
    primitive = handle.primitive(streaming_aead.StreamingAead)
    try:
        with primitive.new_decrypting_stream(source, context) as stream:
            return stream.read()
    except tink.TinkError:
        raise IntegrityError("a stored version failed to decrypt (altered or wrong key)") from None


def decrypt_object(key: bytes, source: BinaryIO, context: bytes) -> bytes:
    """Decrypt one object with its serialized data key (``export_data_key``): what a job
    that was handed that key alone runs, away from the workspace and its keysets."""
    return decrypt_from(import_data_key(key), source, context)


def encrypting_object(key: bytes, out: BinaryIO, context: bytes) -> BinaryIO:
    """A writable stream that encrypts what it is given into ``out``, bound to ``context``,
    with a serialized data key (``export_data_key``); closing it writes the last segment."""
    primitive = import_data_key(key).primitive(streaming_aead.StreamingAead)
    return primitive.new_encrypting_stream(out, context)


def decrypt_object_into(key: bytes, source: BinaryIO, context: bytes, out: BinaryIO) -> None:
    """``decrypt_object`` written to ``out`` a segment at a time (an object larger than
    memory); a segment is authenticated before it is written."""
    for chunk in decrypt_chunks(import_data_key(key), source, context, _CHUNK):
        out.write(chunk)


def decrypt_chunks(
    handle: tink.KeysetHandle, source: BinaryIO, context: bytes, size: int
) -> Iterator[bytes]:
    """Plaintext in pieces of at most ``size`` bytes; each segment is authenticated first."""
    primitive = handle.primitive(streaming_aead.StreamingAead)
    try:
        with primitive.new_decrypting_stream(source, context) as stream:
            while chunk := stream.read(size):
                yield chunk
    except tink.TinkError:
        raise IntegrityError("a stored version failed to decrypt (altered or wrong key)") from None
