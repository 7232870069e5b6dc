"""``pseudonym``: a keyed pseudonym, HMAC-SHA256 under the workspace's PRF key.

One key per workspace: a value gets the same pseudonym in every dataset of the workspace (so
pseudonymized tables still join) and an unrelated one in any other workspace (no linkage
across them). Unkeyed hashing is refused by design: a hash of a phone number or national id
is reversed by enumerating the few billion candidates.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.errors import InvalidInput
from privet.operators._base import Context, KeyedPrf, Operator, register_operator
from privet.tables import unique_map

PSEUDONYM_DOMAIN = b"privet/pseudonym/v1\x00"


class PseudonymParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    length: int = Field(16, ge=8, le=32, description="Bytes of the HMAC kept (hex: twice).")
    prefix: str = Field("", max_length=16, description="Text put before each pseudonym.")
    namespace: str = Field(
        "",
        max_length=64,
        description="Separates pseudonym spaces: equal values get equal pseudonyms only "
        "within one namespace.",
    )


def pseudonymize(prf: KeyedPrf, value: str, length: int = 16, namespace: str = "") -> str:
    data = PSEUDONYM_DOMAIN + namespace.encode() + b"\x00" + value.encode()
    return prf.compute(data, length).hex()


@register_operator
class Pseudonym(Operator):
    name = "pseudonym"
    summary = "keyed pseudonym (HMAC-SHA256, workspace key): stable within the workspace"
    Params = PseudonymParams
    accepts = ("string", "numeric", "temporal", "boolean")
    needs_keys = True
    output_role = ("user.unique_id.pseudonymous", "quasi_identifier")

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        prf = context.prf
        if prf is None:
            raise InvalidInput("keyed pseudonyms need a workspace (its key); run in one")
        p: PseudonymParams = self.params  # type: ignore[assignment]
        return frame.with_columns(
            unique_map(
                frame.get_column(column),
                lambda v: p.prefix + pseudonymize(prf, v, p.length, p.namespace),
            )
        )
