"""Encryption at rest: a master key from a KMS URI, Tink keysets, an object store."""

from privet.vault._keysets import export_data_key, import_data_key, new_data_key, primary_key_id
from privet.vault._kms import check_uri, create_local_master_key, default_key_dir, master_aead
from privet.vault._objects import LocalObjectStore
from privet.vault._stream import decrypt_object, decrypt_object_into, encrypting_object
from privet.vault._vault import PSEUDONYM_KEYSET, Vault

__all__ = [
    "PSEUDONYM_KEYSET",
    "LocalObjectStore",
    "Vault",
    "check_uri",
    "create_local_master_key",
    "decrypt_object",
    "decrypt_object_into",
    "default_key_dir",
    "encrypting_object",
    "export_data_key",
    "import_data_key",
    "master_aead",
    "new_data_key",
    "primary_key_id",
]
