"""Recognizers from YAML (read with ``yaml.safe_load``, checked by pydantic).

privet's own pattern recognizers are such a file (``recognizers.yaml`` beside this module);
a user's file adds to them (or replaces them, with ``defaults: false``):

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

Also accepted (privet's own recognizers use them):

- ``pattern`` as a list of pieces, joined without separator (a long pattern on lines);
- a named group ``m`` in ``pattern`` marks the entity inside what the pattern matches
  (``'born in (?P<m>\\d{4})'``), and ``value_pattern`` is then what a whole column value
  must match (``'\\d{4}'``); without it, ``pattern`` is;
- ``needs_context: true``: a match in text counts only beside a context word, even when
  ``needs_hint`` is false (the default is ``needs_hint``'s value).

YAML anchors and aliases (``&phone_hints`` … ``*phone_hints``) share a list between entries.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from privet.discover._recognizers import PatternRecognizer, RecognizerRegistry, default_registry
from privet.discover._validators import NAMED
from privet.errors import InvalidInput
from privet.tables import file_errors

_MAX_FILE = 1 << 20
_BUILTIN = "recognizers.yaml"
# The safe loader; libyaml's build of it reads privet's file ~30x faster than pure Python.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _joined(value: object) -> object:
    """A list of pattern pieces is one pattern."""
    if isinstance(value, list) and all(isinstance(piece, str) for piece in value):
        return "".join(value)
    return value


Pattern = Annotated[str, BeforeValidator(_joined)]


class RecognizerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Unique recognizer name.")
    entity: str = Field(description="Entity type it finds, UPPER_SNAKE_CASE.")
    pattern: Pattern = Field(
        description="Regex (Python re and Polars; no look-around), or a list of its pieces."
    )
    value_pattern: Pattern | None = Field(
        default=None,
        description="What a whole column value must match, when ``pattern`` also matches "
        "text around the entity (marked by a group named m); default: ``pattern``.",
    )
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
    needs_context: bool | None = Field(
        default=None, description="Require a context word in text (default: needs_hint)."
    )
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
    spec = _parse(data, path.name)
    registry = (base or default_registry()).copy() if spec.defaults else RecognizerRegistry()
    for item, recognizer in zip(spec.recognizers, _build(spec, path.name), strict=True):
        registry.add(recognizer, force=item.force)
    return registry


def as_registry(recognizers: RecognizerRegistry | str | Path | None) -> RecognizerRegistry | None:
    """A registry as given, or the defaults plus the recognizers of a YAML file (None: the
    defaults)."""
    if recognizers is None or isinstance(recognizers, RecognizerRegistry):
        return recognizers
    return read_recognizer_file(Path(recognizers), None)


def builtin_recognizers() -> list[PatternRecognizer]:
    """privet's pattern recognizers from the file shipped with it, in its order.

    Their patterns are compiled on first use, not here (a test checks them all in both
    engines): importing them stays fast.
    """
    data = resources.files("privet.discover").joinpath(_BUILTIN).read_bytes()
    return _build(_parse(data, _BUILTIN), _BUILTIN, check=False)


def _parse(data: bytes, source: str) -> RecognizerFile:
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_SafeLoader)  # noqa: S506 - safe
    except (yaml.YAMLError, UnicodeDecodeError):
        raise InvalidInput(f"{source} is not valid UTF-8 YAML") from None
    try:
        return RecognizerFile.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise InvalidInput(f"{source}: {where}: {first['msg']}") from None


def _build(spec: RecognizerFile, source: str, *, check: bool = True) -> list[PatternRecognizer]:
    built = []
    for item in spec.recognizers:
        if item.validator is not None and item.validator not in NAMED:
            raise InvalidInput(
                f"{source}: recognizer {item.name!r}: unknown validator {item.validator!r} "
                f"(use one of {', '.join(NAMED)})"
            )
        built.append(
            PatternRecognizer(
                name=item.name,
                entity=item.entity,
                pattern=item.pattern,
                value_pattern=item.value_pattern,
                validator=NAMED[item.validator] if item.validator else None,
                category=item.category,
                context=item.context,
                column_hints=item.column_hints,
                strength=item.strength,
                needs_hint=item.needs_hint,
                needs_context=item.needs_context,
                min_share=item.min_share,
                score=item.score,
                numbers=item.numbers,
                check=check,
            )
        )
    return built
