"""``redact_text`` replaces personal data found inside free text by ``<ENTITY_TYPE>``.

It uses the discovery recognizers (``privet.discover.scan_text``) when they are installed;
otherwise a few strict patterns (e-mail, phone, US SSN, payment card, IP address, URL).
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.operators._base import Context, Operator, TextScanner, register_operator

# Fallback patterns, most specific first. Each replaces a whole match.
FALLBACK = [
    ("EMAIL_ADDRESS", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    ("URL", r"https?://[^\s<>\"']+"),
    ("US_SSN", r"\b\d{3}-\d{2}-\d{4}\b"),
    ("CREDIT_CARD", r"\b(?:\d[ -]?){13,19}\b"),
    ("IP_ADDRESS", r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
    ("PHONE_NUMBER", r"(?:\+\d{1,3}[ .-]?)?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}\b"),
]


class TextParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entities: list[str] | None = Field(
        None, description="Entity types to redact (default: every type found)."
    )
    placeholder: str = Field("<{type}>", description="Replacement; {type} is the entity type.")


def scanner() -> TextScanner | None:
    try:
        from privet.discover import scan_text
    except ImportError:
        return None
    return scan_text


@register_operator
class RedactText(Operator):
    name = "redact_text"
    summary = "replace personal data inside free text by <ENTITY_TYPE>"
    Params = TextParams
    accepts = ("string",)

    def apply(self, frame: pl.DataFrame, column: str, context: Context) -> pl.DataFrame:
        p: TextParams = self.params  # type: ignore[assignment]
        wanted = set(p.entities) if p.entities else None
        scan = context.scan_text
        if scan is None:
            expr = pl.col(column)
            for entity, pattern in FALLBACK:
                if wanted is None or entity in wanted:
                    label = p.placeholder.replace("{type}", entity)
                    expr = expr.str.replace_all(pattern, label.replace("$", "$$"))
            return frame.with_columns(expr.alias(column))

        def redact(text: str) -> str:
            found = [
                (e.start, e.end, getattr(e, "entity_type", None) or e.type) for e in scan(text)
            ]
            spans = [s for s in found if wanted is None or s[2] in wanted]
            out, cursor = [], 0
            for start, end, entity in sorted(spans):
                if start < cursor:  # overlapping finds: the earlier one already covers it
                    continue
                out.append(text[cursor:start])
                out.append(p.placeholder.replace("{type}", entity))
                cursor = end
            out.append(text[cursor:])
            return "".join(out)

        values = frame.get_column(column)
        return frame.with_columns(
            values.map_elements(redact, return_dtype=pl.String, skip_nulls=True).alias(column)
        )
