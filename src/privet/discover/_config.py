"""User recognizers from YAML (read with ``yaml.safe_load``, checked by pydantic).

```yaml
defaults: true              # start from privet's recognizers (false: only the ones below)
recognizers:
  - name: employee_badge    # unique; an existing name needs `force: true`
    entity: EMPLOYEE_BADGE
    category: user.unique_id      # a fideslang key (optional)
    pattern: 'EMP-[0-9]{6}'       # valid for Python re and Polars: no look-around
    validator: luhn               # optional: luhn, iban, us_ssn, phone, verhoeff, …
    context: [badge, employee]
    column_hints: [badge, employee_no]
    strength: format              # checksum, format or weak
    needs_hint: false
    min_share: 0.8
    score: 0.85
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from privet.discover._recognizers import PatternRecognizer, RecognizerRegistry, default_registry
from privet.discover._validators import NAMED
from privet.errors import InvalidInput
from privet.tables import file_errors

_MAX_FILE = 1 << 20


class RecognizerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique recognizer name.")
    entity: str = Field(description="Entity type it finds, UPPER_SNAKE_CASE.")
    pattern: str = Field(description="Regex (Python re and Polars; no look-around).")
    category: str | None = Field(default=None, description="fideslang data category key.")
    validator: str | None = Field(default=None, description=f"One of: {', '.join(NAMED)}.")
    context: list[str] = Field(default_factory=list, description="Words that raise the score.")
    column_hints: list[str] = Field(
        default_factory=list, description="Patterns over the column name's _-joined tokens."
    )
    strength: Literal["checksum", "format", "weak"] = Field(
        default="format", description="How much a value match alone says."
    )
    needs_hint: bool = Field(default=False, description="Require a column hint or context.")
    min_share: float = Field(default=0.8, gt=0, le=1, description="Column threshold.")
    score: float = Field(default=0.85, gt=0, le=1, description="Score of a match in text.")
    numbers: bool = Field(default=False, description="Also scan integer columns.")
    force: bool = Field(default=False, description="Replace a recognizer of the same name.")


class RecognizerFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: bool = Field(default=True, description="Start from privet's recognizers.")
    recognizers: list[RecognizerSpec] = Field(description="The recognizers to add.")


def read_recognizer_file(path: Path, base: RecognizerRegistry | None) -> RecognizerRegistry:
    with file_errors(path):
        data = path.read_bytes()
    if len(data) > _MAX_FILE:
        raise InvalidInput(f"{path.name} is larger than 1 MB; a recognizer file is small")
    try:
        raw = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise InvalidInput(f"{path.name} is not valid UTF-8 YAML") from None
    try:
        spec = RecognizerFile.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise InvalidInput(f"{path.name}: {where}: {first['msg']}") from None
    registry = (base or default_registry()).copy() if spec.defaults else RecognizerRegistry()
    for item in spec.recognizers:
        if item.validator is not None and item.validator not in NAMED:
            raise InvalidInput(
                f"{path.name}: recognizer {item.name!r}: unknown validator {item.validator!r} "
                f"(use one of {', '.join(NAMED)})"
            )
        recognizer = PatternRecognizer(
            name=item.name,
            entity=item.entity,
            pattern=item.pattern,
            validator=NAMED[item.validator] if item.validator else None,
            category=item.category,
            context=item.context,
            column_hints=item.column_hints,
            strength=item.strength,
            needs_hint=item.needs_hint,
            min_share=item.min_share,
            score=item.score,
            numbers=item.numbers,
        )
        registry.add(recognizer, force=item.force)
    return registry
