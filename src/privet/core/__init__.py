"""The internal layer under every capability (see :class:`Core`); users use ``Workspace``."""

from privet.core._config import CATALOG_DB, DIRNAME, OBJECTS, PENDING, WorkspaceConfig, locate
from privet.core._core import Clock, Core, utc_now
from privet.core._housekeeping import collect_garbage, garbage, rotate_keys
from privet.core._lifecycle import create, open_folder
from privet.core._objects import (
    Conflict,
    Replaced,
    Shredded,
    StoredObject,
    decrypt_object,
    fresh_object_key,
    key_in_use,
    model_context,
    object_context,
    rekey_object,
    replace_object,
    shred_object,
    stored_object,
)

__all__ = [
    "CATALOG_DB",
    "DIRNAME",
    "OBJECTS",
    "PENDING",
    "Clock",
    "Conflict",
    "Replaced",
    "Shredded",
    "StoredObject",
    "Core",
    "WorkspaceConfig",
    "collect_garbage",
    "create",
    "decrypt_object",
    "fresh_object_key",
    "key_in_use",
    "model_context",
    "object_context",
    "rekey_object",
    "replace_object",
    "shred_object",
    "garbage",
    "locate",
    "open_folder",
    "rotate_keys",
    "stored_object",
    "utc_now",
]
