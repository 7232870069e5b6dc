"""The column classifier: names, recognizer shares and value distributions → a finding.

All columns are scanned together: their values are stacked into one long String Series
(column id, value), each recognizer runs once over it (vectorized), and shares are counted
per column with a group-by. A recognizer is tried on a random sample of each column first
and run over all values only where the sample shows a match: a column whose sample of 256
has no match has less than a 2% share of matches (at 99% confidence), far below any
threshold, so nothing that could change a finding is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from privet.discover import _hints as H
from privet.discover._model import ColumnFinding, EntityShare, Evidence
from privet.discover._recognizers import Recognizer, RecognizerRegistry, Strength
from privet.discover._text import scan_texts
from privet.taxonomy import CATEGORIES, Role

_PROBE = 256  # values per column a recognizer is first tried on
_MIN_LISTED = 0.1  # an entity is listed for a column from this share on
_TEXT_MIN_MEAN_LENGTH = 30
_TEXT_MIN_MEAN_SPACES = 3.0
_TEXT_DIRECT_SHARE = 0.02  # free text holding direct identifiers in this share of rows
_TEXT_PERSON_SHARE = 0.05  # … or person names in this share (names have more false hits)
_TEXT_ROWS = 2000  # free-text values scanned per column (entities are counted on these)
_DATE_ENTITIES = frozenset({"DATE_TIME", "DATE_OF_BIRTH"})
_STRENGTH_RANK = {Strength.CHECKSUM: 2, Strength.FORMAT: 1, Strength.WEAK: 0}
_BASE_CONFIDENCE = {Strength.CHECKSUM: 0.95, Strength.FORMAT: 0.9, Strength.WEAK: 0.75}


@dataclass
class Profile:
    """What is known of one column before recognizers run."""

    name: str
    norm: str
    kind: str  # string, integer, float, date, bool or other
    rows: int
    values: int = 0  # non-null, non-empty
    unique: int = 0
    mean_length: float = 0.0
    mean_spaces: float = 0.0
    low: float | None = None
    high: float | None = None
    # recognizer name → (matched share, validated share) over the column's values
    shares: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def null_share(self) -> float:
        return 1 - self.values / self.rows if self.rows else 1.0

    @property
    def unique_share(self) -> float:
        return self.unique / self.values if self.values else 0.0

    @property
    def free_text(self) -> bool:
        return (
            self.kind == H.STRING
            and self.mean_length >= _TEXT_MIN_MEAN_LENGTH
            and self.mean_spaces >= _TEXT_MIN_MEAN_SPACES
        )


def kind_of(dtype: pl.DataType) -> str:
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return H.STRING
    if dtype.is_integer():
        return H.INTEGER
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return H.FLOAT
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return H.DATE
    if dtype == pl.Boolean:
        return H.BOOL
    return "other"


def profile(frame: pl.DataFrame) -> tuple[list[Profile], pl.DataFrame]:
    """Profiles of every column, and the long frame (c: column index, v: value) of the
    columns whose values recognizers read (strings, integers, dates)."""
    profiles = [
        Profile(name, H.normalize(name), kind_of(dtype), frame.height)
        for name, dtype in frame.schema.items()
    ]
    scanned = [i for i, p in enumerate(profiles) if p.kind in (H.STRING, H.INTEGER, H.DATE)]
    numeric = [p.name for p in profiles if p.kind in (H.INTEGER, H.FLOAT)]
    if numeric:
        bounds = frame.select(
            *[pl.col(c).cast(pl.Float64, strict=False).min().alias(f"{i}") for i, c in
              enumerate(numeric)],
            *[pl.col(c).cast(pl.Float64, strict=False).max().alias(f"{i}+") for i, c in
              enumerate(numeric)],
        ).row(0)  # fmt: skip
        by_name = {p.name: p for p in profiles}
        for i, column in enumerate(numeric):
            by_name[column].low, by_name[column].high = bounds[i], bounds[i + len(numeric)]
    for p in profiles:
        if p.kind in (H.FLOAT, H.BOOL):
            series = frame.get_column(p.name)
            p.values = series.len() - series.null_count()
            p.unique = series.drop_nulls().n_unique() if p.values else 0
    if not scanned:
        return profiles, pl.DataFrame({"c": [], "v": []}, schema={"c": pl.UInt32, "v": pl.String})
    keys = [f"{i}" for i in scanned]
    long = (
        frame.select(
            [
                pl.col(profiles[i].name).cast(pl.String).alias(k)
                for i, k in zip(scanned, keys, strict=True)
            ]
        )  # fmt: skip
        .unpivot(on=keys, variable_name="c", value_name="v")
        .with_columns(pl.col("c").cast(pl.UInt32), pl.col("v").str.strip_chars())
        .filter(pl.col("v").is_not_null() & (pl.col("v") != ""))
    )
    stats = long.group_by("c").agg(
        n=pl.len(),
        u=pl.col("v").n_unique(),
        length=pl.col("v").str.len_chars().mean(),
        spaces=pl.col("v").str.count_matches(" ", literal=True).mean(),
    )
    for c, n, u, length, spaces in stats.iter_rows():
        p = profiles[c]
        p.values, p.unique, p.mean_length, p.mean_spaces = n, u, length or 0.0, spaces or 0.0
    return profiles, long


def _applies(recognizer: Recognizer, p: Profile) -> bool:
    if p.kind == H.INTEGER:
        return recognizer.numbers
    if p.kind == H.DATE:
        return recognizer.entity in _DATE_ENTITIES
    return p.kind == H.STRING


def measure(
    profiles: list[Profile],
    long: pl.DataFrame,
    registry: RecognizerRegistry,
    progress: Callable[[str], None] = lambda _s: None,
) -> None:
    """Fill each profile's recognizer shares (matched, validated) over its values."""
    if long.height == 0:
        return
    probe = long.filter(pl.int_range(pl.len()).shuffle(seed=0).over("c") < _PROBE)
    sizes = {p_idx: p.values for p_idx, p in enumerate(profiles)}
    recognizers = list(registry)
    for number, recognizer in enumerate(recognizers):
        progress(f"recognizer {number + 1}/{len(recognizers)}")
        wanted = [i for i, p in enumerate(profiles) if p.values and _applies(recognizer, p)]
        if not wanted:
            continue
        sample = probe.filter(pl.col("c").is_in(wanted)) if len(wanted) < len(profiles) else probe
        matched, _ = recognizer.match_values(sample["v"])
        hit = sample.filter(matched)["c"].unique().to_list()
        if not hit:
            continue
        rows = long.filter(pl.col("c").is_in(hit))
        matched, valid = recognizer.match_values(rows["v"])
        counts = (
            pl.DataFrame({"c": rows["c"], "m": matched, "ok": valid})
            .group_by("c")
            .agg(pl.col("m").sum(), pl.col("ok").sum())
        )
        for c, m, ok in counts.iter_rows():
            size = sizes[c]
            profiles[c].shares[recognizer.name] = (m / size, ok / size)


def classify(
    p: Profile,
    registry: RecognizerRegistry,
    texts: pl.Series | None = None,
) -> ColumnFinding:
    """The finding for one profiled column (``texts``: its values, for free text)."""
    signals: list[str] = []
    matched: dict[str, float] = {}
    validated: dict[str, float] = {}
    by_name = {r.name: r for r in registry}
    for name, (m, ok) in p.shares.items():
        entity = by_name[name].entity
        matched[entity] = max(matched.get(entity, 0.0), round(m, 4))
        validated[entity] = max(validated.get(entity, 0.0), round(ok, 4))
    hint = H.name_hint(p.norm, p.kind) if p.kind != "other" else None
    thing = bool(H.THING_WORDS.search(p.norm))
    eligible: list[str] = []

    def finding(
        category: str | None,
        confidence: float,
        entities: Sequence[EntityShare] = (),
        role: str | None = None,
        free_text: bool = False,
    ) -> ColumnFinding:
        if role is None:
            role = str(CATEGORIES[category][0]) if category else str(Role.OTHER)
        listed = list(entities) or [
            EntityShare(type=e, share=validated[e])
            for e in sorted(set(eligible))
            if validated.get(e, 0) >= _MIN_LISTED
        ]
        return ColumnFinding(
            name=p.name,
            category=category,
            role=role,
            confidence=round(max(0.0, min(0.99, confidence)), 2),
            evidence=Evidence(
                signals=signals,
                name_hint=hint.label if hint else None,
                matched=matched,
                validated=validated,
                values_scanned=p.values,
                null_share=round(p.null_share, 4),
                unique_share=round(p.unique_share, 4),
                free_text=free_text,
            ),
            entities=listed,
        )

    if p.kind == "other":
        signals.append("type not scanned (nested or binary)")
        return finding(None, 0.5)
    if p.values == 0:
        signals.append("no values (all null or empty)")
        return finding(hint.category if hint else None, 0.3 if hint else 0.5)

    # 1. Recognizers: the best one whose validated share clears its threshold.
    best = _best_recognizer(p, registry, signals, thing, eligible)
    if best is not None:
        recognizer, share, hinted = best
        category = recognizer.category
        if category is None and hint is not None and hint.category.startswith("user.contact"):
            category = hint.category  # a URL column named "linkedin" is a social profile
        if category is None:
            signals.append(f"{recognizer.entity} values carry no personal category by themselves")
            return finding(None, 0.6)
        base = _BASE_CONFIDENCE[recognizer.strength] + (0.05 if hinted else 0.0)
        chosen = [EntityShare(type=recognizer.entity, share=round(share, 4))]
        return finding(category, base * (0.6 + 0.4 * share), chosen)

    # 2. Free text: entities inside the values.
    if p.free_text and texts is not None:
        return _classify_text(p, texts, hint, signals, finding)

    # 3. What the name and the value vocabulary say.
    vocabulary = _vocabulary(p, texts)
    if hint is not None and _hint_fits(hint, p, matched):
        if vocabulary is not None and vocabulary[1] == hint.category:
            signals.append(f"name suggests {hint.label}; values are {vocabulary[0]}")
            return finding(hint.category, 0.95)
        signals.append(f"name suggests {hint.label}")
        return finding(hint.category, 0.7)
    if vocabulary is not None:
        signals.append(f"values are {vocabulary[0]}")
        return finding(vocabulary[1], 0.8)
    if hint is not None:
        signals.append(f"name suggests {hint.label}, but the values do not fit")
    if not signals:
        signals.append("no recognizer, name or vocabulary matched")
    return finding(None, 0.7 if not validated else 0.55)


def _best_recognizer(
    p: Profile, registry: RecognizerRegistry, signals: list[str], thing: bool, eligible: list[str]
) -> tuple[Recognizer, float, bool] | None:
    """The recognizer that classifies the column; ``eligible`` gets every entity that
    qualified (threshold, hint and name checks passed)."""
    candidates = []
    for order, recognizer in enumerate(registry):
        if recognizer.name not in p.shares:
            continue
        share = p.shares[recognizer.name][1]
        hinted = recognizer.hinted_by(p.norm)
        threshold = min(recognizer.min_share, 0.5) if hinted else recognizer.min_share
        if share < threshold:
            continue
        if recognizer.needs_hint and not hinted:
            continue
        if recognizer.strength == Strength.WEAK and thing and not hinted:
            signals.append(
                f"{recognizer.entity}-shaped values ({share:.0%}) ignored: the name says "
                "the column is about things, not people"
            )
            continue
        if recognizer.entity == "PERSON" and p.unique < min(20, max(2, p.values // 2)):
            continue  # a handful of repeated words ("White", "Black") is a category
        specific = recognizer.category is not None
        rank = _STRENGTH_RANK[recognizer.strength]
        candidates.append((hinted, specific, rank, share, -order, recognizer))
    eligible.extend(c[-1].entity for c in candidates)
    if not candidates:
        return None
    hinted, _, _, share, _, recognizer = max(candidates, key=lambda c: c[:5])
    how = "validated" if getattr(recognizer, "validator", None) else "matched"
    signals.insert(0, f"{share:.0%} of values {how} as {recognizer.entity}")
    if hinted:
        signals.insert(1, "the column name agrees")
    return recognizer, share, hinted


def _hint_fits(hint: H.Hint, p: Profile, matched: dict[str, float]) -> bool:
    if hint.distinct and p.unique_share < 0.5:
        return False
    if hint.value_range is not None and p.kind in (H.INTEGER, H.FLOAT):
        low, high = hint.value_range
        if p.low is None or p.high is None or p.low < low or p.high > high:
            return False
    if hint.label == "age" and p.kind == H.STRING and matched.get("AGE", 0) < 0.5:
        return p.mean_length <= 3  # "42" as text, not "age: unknown" prose
    if hint.label == "postal code" and p.kind == H.INTEGER:
        return p.high is not None and p.high < 1_000_000
    return True


def _vocabulary(p: Profile, texts: pl.Series | None) -> tuple[str, str] | None:
    """A small categorical column whose values come from a known vocabulary."""
    if p.kind != H.STRING or texts is None or p.unique > 60:
        return None
    counts = (
        pl.DataFrame({"v": texts})
        .with_columns(
            k=pl.col("v").str.to_lowercase().str.replace_all(r"[-_/.]+", " ").str.strip_chars()
        )
        .group_by("k")
        .len()
    )
    keys, sizes = counts["k"].to_list(), counts["len"].to_list()
    total = sum(sizes)
    for label, category, words, most in H.VOCABULARIES:
        if len(keys) > most:
            continue
        inside = sum(s for k, s in zip(keys, sizes, strict=True) if k in words)
        distinctive = {k for k in keys if k in words and k not in H.GENERIC_VALUES}
        if total and inside / total >= 0.9 and len(distinctive) >= 2:
            return label, category
    from privet.discover._lexicon import countries

    known = countries()
    inside = sum(s for k, s in zip(keys, sizes, strict=True) if k in known)
    if total and inside / total >= 0.8 and len(keys) >= 2:
        return "country names", "user.contact.address.country"
    return None


def _classify_text(
    p: Profile,
    texts: pl.Series,
    hint: H.Hint | None,
    signals: list[str],
    finding: Callable[..., ColumnFinding],
) -> ColumnFinding:
    sample = texts if len(texts) <= _TEXT_ROWS else texts.sample(_TEXT_ROWS, seed=0)
    found = scan_texts(sample)
    rows = max(1, len(sample))
    per_type: dict[str, int] = {}
    categories: dict[str, str | None] = {}
    for entities in found:
        for entity_type in {e.type for e in entities}:
            per_type[entity_type] = per_type.get(entity_type, 0) + 1
        for e in entities:
            categories[e.type] = e.category
    shares = {t: n / rows for t, n in per_type.items()}
    listed = [EntityShare(type=t, share=round(s, 4)) for t, s in sorted(shares.items())]
    direct = sorted(
        t
        for t, s in shares.items()
        if categories.get(t)
        and CATEGORIES[categories[t] or ""][0] == Role.DIRECT_IDENTIFIER
        and s >= (_TEXT_PERSON_SHARE if t == "PERSON" else _TEXT_DIRECT_SHARE)
    )
    if direct:
        top = max(shares[t] for t in direct)
        signals.append(f"free text holding {', '.join(direct)} (up to {top:.0%} of rows)")
        return finding(
            "user.content.private",
            0.7 + 0.25 * min(1.0, top * 4),
            listed,
            role=str(Role.DIRECT_IDENTIFIER),
            free_text=True,
        )
    if hint is not None and hint.category == "user.content.private":
        signals.append("free text; the name says it is written by or about people")
        return finding("user.content.private", 0.7, listed, free_text=True)
    signals.append("free text without personal entities")
    return finding(None, 0.6, listed, free_text=True)
