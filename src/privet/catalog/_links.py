"""Subject links: the keyed pseudonym that ties a derived row, a consent record or an erasure
to its person without holding the person's id.

``link = HMAC-SHA256(workspace PRF key, domain ‖ subject id as text)[:16]``, hex. One key per
workspace (``Vault.keyed_prf``), so the same person has the same link in every dataset of
the workspace; the domain keeps a link from ever equalling a ``pseudonym`` a plan serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from privet.catalog._info import SUBJECT_LINK
from privet.errors import InvalidInput
from privet.schema import Keyset
from privet.tables import unique_map
from privet.vault import PSEUDONYM_KEYSET

if TYPE_CHECKING:
    from tink.prf import Prf

    from privet.core import Core

LINK_DOMAIN = b"privet/subject-link/v1\x00"


def subject_link(core: Core, subject_id: str) -> str:
    """The link of one subject id (given as the text it is stored as)."""
    try:
        data = subject_id.encode()
    except UnicodeEncodeError:  # e.g. a lone surrogate from undecodable command-line bytes
        raise InvalidInput(
            "subject is not valid text (it cannot be written as UTF-8)",
            parameter="subject",
        ) from None
    prf = keyed_prf(core)
    return prf.compute(LINK_DOMAIN + data, 16).hex()


def subject_links(core: Core, values: pl.Series) -> pl.Series:
    """Each value's link (nulls stay null), named ``SUBJECT_LINK``."""
    prf = keyed_prf(core)
    return unique_map(values, lambda v: prf.compute(LINK_DOMAIN + v.encode(), 16).hex()).alias(
        SUBJECT_LINK
    )


def keyed_prf(core: Core) -> Prf:
    """The workspace's PRF for pseudonyms and links. The write lock is taken only the first
    time, when the key is made (a key made in a session that is not committed would be a
    different key): reads that need links stay reads."""
    with core.reading() as session:
        if session.get(Keyset, PSEUDONYM_KEYSET) is not None:
            return core.vault.keyed_prf(session)
    with core.session() as session:
        prf = core.vault.keyed_prf(session)
        session.commit()
    return prf
