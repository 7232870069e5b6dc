"""``token``: a reversible token, deterministic AEAD (AES-SIV) under the workspace's key.

Equal values get equal tokens (joins still work). Turning tokens back into values is a
separate, purpose-bound and logged call (``ws.deid.detokenize``), never a side effect.
"""

from __future__ import annotations

import base64

import polars as pl
import tink
from pydantic import BaseModel, ConfigDict, Field

from privet.errors import IntegrityError, InvalidInput
from privet.operators._base import (
    Context,
    DeterministicAead,
    Operator,
    register_operator,
)
from privet.tables import unique_map

TOKEN_PREFIX = "tok_"
TOKEN_CONTEXT = b"privet/token/v1\x00"


class TokenParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    namespace: str = Field(
        "", max_length=64, description="Tokens of one namespace detokenize only with it."
    )


def make_token(daead: DeterministicAead, value: str, namespace: str = "") -> str:
    sealed = daead.encrypt_deterministically(value.encode(), TOKEN_CONTEXT + namespace.encode())
    return TOKEN_PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")


def open_token(daead: DeterministicAead, token: str, namespace: str = "") -> str:
    """The value behind ``token``; a terse error for anything that is not one of ours."""
    try:
        if not token.startswith(TOKEN_PREFIX):
            raise ValueError
        body = token[len(TOKEN_PREFIX) :]
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        plain = daead.decrypt_deterministically(sealed, TOKEN_CONTEXT + namespace.encode())
        return plain.decode()
    except (ValueError, tink.TinkError, UnicodeDecodeError):
        raise IntegrityError("a value is not a token of this workspace") from None


@register_operator
class Token(Operator):
    name = "token"
    summary = "reversible token (AES-SIV, workspace key); detokenize is a separate logged call"
    Params = TokenParams
    accepts = ("string", "numeric", "temporal", "boolean")
    needs_keys = True
    output_role = ("user.unique_id.pseudonymous", "quasi_identifier")

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        daead = context.daead
        if daead is None:
            raise InvalidInput("reversible tokens need a workspace (its key); run in one")
        namespace = self.params.namespace  # type: ignore[attr-defined]
        return frame.with_columns(
            unique_map(frame.get_column(column), lambda v: make_token(daead, v, namespace))
        )
