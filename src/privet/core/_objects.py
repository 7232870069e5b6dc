"""An encrypted object and the catalog row that refers to it, written as one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privet.core._core import Core


@contextmanager
def stored_object(
    core: Core, key: str, plaintext: bytes, *, handle: Any, dataset_id: str, context: str
) -> Iterator[int]:
    """Encrypt ``plaintext`` under the dataset's keyset and put it at ``key``; yield its size.

    The body inserts (and commits) the row that refers to the object. If it raises, the
    object is deleted: a row is never left pointing at nothing, nor an object at no row.
    ``context`` (a version or model id) is bound as associated data, so an object cannot
    pass for another. Encryption happens before the body, outside any database write lock.
    The object store's write lock is held from the first byte until the body has committed
    (or the object is deleted), so garbage collection never takes an object in flight.
    """
    with core.store.writing():
        stored = core.store.put(
            key, core.vault.encrypt_version(handle, dataset_id, context, plaintext)
        )
        try:
            yield stored
        except BaseException:
            core.store.delete(key)
            raise
