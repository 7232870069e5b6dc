"""The vault: the workspace's keys, unwrapped on demand, and encryption of stored versions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, BinaryIO

import tink
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from tink import aead, daead, prf
from tink.proto import tink_pb2

from privet.errors import Destroyed, IntegrityError, KeyUnavailable
from privet.schema import Keyset
from privet.vault import _keysets, _stream
from privet.vault._kms import master_aead

WORKSPACE_KEYSET = "workspace"
SIGNING_KEY = "log-signing"
daead.register()
prf.register()
PSEUDONYM_KEYSET = "pseudonym-prf"
TOKEN_KEYSET = "token-daead"


def dataset_keyset_name(dataset_id: str) -> str:
    return f"dataset:{dataset_id}"


class Vault:
    """Unwraps keys lazily, so commands that only read metadata never touch the KMS."""

    def __init__(self, kms_uri: str, workspace_id: str, clock: Callable[[], datetime]) -> None:
        self.kms_uri = kms_uri
        self._context = workspace_id.encode()
        self._clock = clock
        self._master: aead.Aead | None = None
        self._workspace: tink.KeysetHandle | None = None

    # -- key hierarchy ----------------------------------------------------------------------

    def master(self) -> aead.Aead:
        if self._master is None:
            self._master = master_aead(self.kms_uri)
        return self._master

    def _ctx(self, what: str) -> bytes:
        return b"privet/" + what.encode() + b"/" + self._context

    def workspace_aead(self, session: Session) -> aead.Aead:
        return self.workspace_keyset(session).primitive(aead.Aead)

    def workspace_keyset(self, session: Session) -> tink.KeysetHandle:
        if self._workspace is None:
            row = session.get(Keyset, WORKSPACE_KEYSET)
            if row is None:
                raise IntegrityError("the workspace keyset is missing from the catalog")
            try:
                self._workspace = _keysets.unwrap(
                    row.wrapped, self.master(), self._ctx("workspace")
                )
            except tink.TinkError:
                raise KeyUnavailable(
                    "the master key cannot unwrap this workspace's keys (wrong key file or KMS key)"
                ) from None
        return self._workspace

    def create(self, session: Session) -> Ed25519PrivateKey:
        """New workspace keyset and log-signing key, stored wrapped; returns the signing key."""
        handle = _keysets.new_workspace_keyset()
        self._store(
            session,
            WORKSPACE_KEYSET,
            "aead",
            _keysets.wrap(handle, self.master(), self._ctx("workspace")),
        )
        self._workspace = handle
        signing = Ed25519PrivateKey.generate()
        raw = signing.private_bytes_raw()
        self._store(
            session,
            SIGNING_KEY,
            "ed25519",
            self.workspace_aead(session).encrypt(raw, self._ctx(SIGNING_KEY)),
        )
        return signing

    def signing_key(self, session: Session) -> Ed25519PrivateKey:
        row = session.get(Keyset, SIGNING_KEY)
        if row is None:
            raise IntegrityError("the log signing key is missing from the catalog")
        try:
            raw = self.workspace_aead(session).decrypt(row.wrapped, self._ctx(SIGNING_KEY))
        except tink.TinkError:
            raise IntegrityError("the log signing key failed to decrypt") from None
        return Ed25519PrivateKey.from_private_bytes(raw)

    def dataset_keyset(self, session: Session, dataset_id: str) -> tink.KeysetHandle:
        row = session.get(Keyset, dataset_keyset_name(dataset_id))
        if row is None:
            raise IntegrityError("a dataset key is missing from the catalog")
        try:
            return _keysets.unwrap(row.wrapped, self.workspace_aead(session), self._ctx(row.name))
        except tink.TinkError:
            raise IntegrityError("a dataset key failed to unwrap") from None

    # -- data keys: one per stored object ----------------------------------------------------

    def data_key(self, session: Session, dataset_id: str, key_id: int) -> tink.KeysetHandle:
        """The key that decrypts one object of the dataset (and nothing else)."""
        handle = _keysets.only_key(self.dataset_keyset(session, dataset_id), key_id)
        if handle is None:
            raise Destroyed("this object's key was destroyed (crypto-shredded): it is gone")
        return handle

    def add_data_key(self, session: Session, dataset_id: str, key: tink.KeysetHandle) -> None:
        """Put a new object's key into its dataset's keyset (read afresh inside ``session``,
        the write transaction, so that concurrent writers never drop each other's keys)."""
        row = session.get(Keyset, dataset_keyset_name(dataset_id))
        current = None if row is None else self.dataset_keyset(session, dataset_id)
        try:
            merged = _keysets.with_key(current, key)
        except ValueError:
            raise IntegrityError("a new data key clashed with an existing one; retry") from None
        self.store_dataset_keyset(session, dataset_id, merged)

    def destroy_data_key(self, session: Session, dataset_id: str, key_id: int) -> bool:
        """Remove ``key_id`` from the dataset's keyset for good; False if it was not there.

        Final once ``session`` commits: the keyset row is rewritten without it (SQLite's
        secure_delete zeroes the old row's bytes). A copy of the catalog taken earlier
        still holds it, wrapped: backups are the operator's to expire (see the README).
        """
        handle = self.dataset_keyset(session, dataset_id)
        if key_id not in _keysets.key_ids(handle):
            return False
        self.store_dataset_keyset(session, dataset_id, _keysets.without_key(handle, key_id))
        return True

    def store_dataset_keyset(
        self, session: Session, dataset_id: str, handle: tink.KeysetHandle
    ) -> None:
        name = dataset_keyset_name(dataset_id)
        wrapped = _keysets.wrap(handle, self.workspace_aead(session), self._ctx(name))
        self._store(session, name, "streaming-aead", wrapped)

    def _store(self, session: Session, name: str, kind: str, wrapped: bytes) -> None:
        row = session.get(Keyset, name)
        if row is None:
            session.add(Keyset(name=name, kind=kind, wrapped=wrapped, updated_at=self._clock()))
        else:
            row.wrapped, row.updated_at = wrapped, self._clock()

    # -- keys for de-identification -------------------------------------------------------

    def keyed_prf(self, session: Session) -> prf.Prf:
        """The workspace's HMAC-SHA256 PRF for keyed pseudonyms (made on first use).

        One key per workspace: the same value gets the same pseudonym in every dataset of a
        workspace (joins still work) and a different one elsewhere (no cross-workspace
        linkage). Rotation leaves it alone, since a new key would change every pseudonym.
        The caller commits ``session`` when the key was just made.
        """
        handle = self._derived_keyset(session, PSEUDONYM_KEYSET, prf.prf_key_templates.HMAC_SHA256)
        return handle.primitive(prf.PrfSet).primary()

    def token_aead(self, session: Session) -> daead.DeterministicAead:
        """The workspace's AES-SIV key for reversible tokens (made on first use)."""
        handle = self._derived_keyset(
            session, TOKEN_KEYSET, daead.deterministic_aead_key_templates.AES256_SIV
        )
        return handle.primitive(daead.DeterministicAead)

    def _derived_keyset(
        self, session: Session, name: str, template: tink_pb2.KeyTemplate
    ) -> tink.KeysetHandle:
        row = session.get(Keyset, name)
        kek = self.workspace_aead(session)
        if row is not None:
            try:
                return _keysets.unwrap(row.wrapped, kek, self._ctx(name))
            except tink.TinkError:
                raise IntegrityError(f"the {name} key failed to unwrap") from None
        handle = tink.new_keyset_handle(template)
        self._store(session, name, name, _keysets.wrap(handle, kek, self._ctx(name)))
        return handle

    # -- rotation ---------------------------------------------------------------------------

    def rotate(self, session: Session) -> dict[str, int]:
        """Add a new primary key to the workspace keyset and to every dataset keyset.

        Everything wrapped is re-wrapped under the new workspace key in the same transaction;
        older keys stay in each keyset so existing versions remain readable.
        """
        datasets = {
            row.name: self.dataset_keyset(session, row.name.split(":", 1)[1])
            for row in session.scalars(select(Keyset).where(Keyset.kind == "streaming-aead"))
        }
        signing = self.signing_key(session)
        derived = {
            row.name: _keysets.unwrap(
                row.wrapped, self.workspace_aead(session), self._ctx(row.name)
            )
            for row in session.scalars(
                select(Keyset).where(Keyset.name.in_([PSEUDONYM_KEYSET, TOKEN_KEYSET]))
            )
        }
        rotated = _keysets.with_new_primary(
            self.workspace_keyset(session), _keysets.WORKSPACE_TEMPLATE
        )
        self._store(
            session,
            WORKSPACE_KEYSET,
            "aead",
            _keysets.wrap(rotated, self.master(), self._ctx("workspace")),
        )
        self._workspace = rotated
        self._store(
            session,
            SIGNING_KEY,
            "ed25519",
            self.workspace_aead(session).encrypt(
                signing.private_bytes_raw(), self._ctx(SIGNING_KEY)
            ),
        )
        for name, handle in derived.items():  # re-wrapped under the new key, not rotated
            self._store(
                session,
                name,
                name,
                _keysets.wrap(handle, self.workspace_aead(session), self._ctx(name)),
            )
        for name, handle in datasets.items():
            new = _keysets.with_new_primary(handle, _keysets.DATASET_TEMPLATE)
            self.store_dataset_keyset(session, name.split(":", 1)[1], new)
        return {
            "workspace_key_id": _keysets.primary_key_id(rotated),
            "workspace_keys": _keysets.key_count(rotated),
            "dataset_keysets": len(datasets),
        }

    # -- data -------------------------------------------------------------------------------

    @staticmethod
    def version_context(dataset_id: str, version_id: str) -> bytes:
        return f"privet/version/{dataset_id}/{version_id}".encode()

    def encrypt_version(
        self, handle: tink.KeysetHandle, dataset_id: str, version_id: str, plaintext: bytes
    ) -> Callable[[BinaryIO], None]:
        context = self.version_context(dataset_id, version_id)
        return lambda out: _stream.encrypt_into(handle, plaintext, context, out)

    def encrypt_version_from(
        self,
        handle: tink.KeysetHandle,
        dataset_id: str,
        version_id: str,
        source: BinaryIO,
        digest: Any,
    ) -> Callable[[BinaryIO], None]:
        """``encrypt_version`` of the plaintext read from ``source`` chunk by chunk, never
        whole in memory; ``digest`` (a hashlib object) is fed the plaintext on the way."""
        context = self.version_context(dataset_id, version_id)
        return lambda out: _stream.encrypt_file_into(handle, source, context, out, digest)

    def decrypt_version(
        self, handle: tink.KeysetHandle, dataset_id: str, version_id: str, source: BinaryIO
    ) -> bytes:
        return _stream.decrypt_from(handle, source, self.version_context(dataset_id, version_id))

    def decrypt_version_chunks(
        self,
        handle: tink.KeysetHandle,
        dataset_id: str,
        version_id: str,
        source: BinaryIO,
        size: int,
    ) -> Iterator[bytes]:
        """``decrypt_version`` as an iterator of at most ``size`` bytes at a time."""
        context = self.version_context(dataset_id, version_id)
        return _stream.decrypt_chunks(handle, source, context, size)
