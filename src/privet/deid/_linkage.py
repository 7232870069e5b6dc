"""Linkage risk: can the records of one table be linked to another's on the columns they share?

Two attackers are measured on the same shared quasi-identifiers:

- the deterministic one joins the tables on exact values: an A record that meets exactly one
  B record is linked, and a combination held by exactly one record on each side singles out one
  person across the pair (the two releases together re-identify them, whatever each one's k);
- the probabilistic one is a Fellegi–Sunter model (Splink on DuckDB, Fellegi & Sunter 1969):
  exact-agreement levels per column with term-frequency adjustments, u from random pairs, m by
  EM. At a precision target it accepts every pair at or above the lowest probability
  threshold whose accepted pairs' mean probability still meets the target (ties are taken
  together), and expects as many correct links among them as the sum of their probabilities.

Only counts and column names leave this module; values and row positions stay inside (the
positions of accepted pairs are returned to library callers that already hold both tables).
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from privet import catalog, schema, tables
from privet.deid._assess import check_columns
from privet.deid._columns import ASSESSMENT, file_columns, stored_columns
from privet.deid._plan import Column
from privet.engine import open_rows
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core

INSTALL = "pip install 'privet[link]'"
# A column is shared when at least this share of A's distinct values occur in B.
MIN_OVERLAP = 0.5
PRECISIONS = (0.5, 0.9, 0.99)
# Candidate pairs a blocking rule may produce, as a multiple of the larger table (a column
# such as sex alone would pair everyone with half the other side).
PAIR_BUDGET = 10
_ID = "__privet_row__"


class SharedColumn(BaseModel):
    """A column used for linking and why."""

    name: str
    reason: str = Field(description="Why it was used: given, or roles and value overlap.")
    overlap: float = Field(description="Share of A's distinct values that occur in B.")


class AtPrecision(BaseModel):
    """The probabilistic attacker's links at one precision target."""

    precision: float = Field(description="Target: the accepted pairs' mean match probability.")
    accepted_pairs: int = Field(description="Pairs at or above min_probability.")
    expected_correct: float = Field(
        description="Expected correct links among them: the sum of their match probabilities."
    )
    records_linked: int = Field(description="Records of A in at least one accepted pair.")
    min_probability: float | None = Field(description="Lowest match probability accepted.")


class Probabilistic(BaseModel):
    """The Fellegi–Sunter attacker (Splink, DuckDB backend)."""

    method: str = "Fellegi-Sunter (Splink 5, DuckDB)"
    prior: float = Field(
        description="Probability two random records match: min(|A|, |B|) / (|A|·|B|), i.e. "
        "every record of the smaller table has its person in the other (the worst case)."
    )
    blocking: list[list[str]] = Field(
        description="Blocking rules (columns that must agree) generating candidate pairs."
    )
    candidate_pairs: int = Field(description="Pairs scored.")
    at_precision: list[AtPrecision]
    note: str = (
        "expected_correct is the sum of the accepted pairs' match probabilities: the number of "
        "correct links the model expects among them"
    )


class LinkageReport(BaseModel):
    """How far the records of A can be linked to B."""

    source: str = Field(description="A: the table assessed.")
    target: str = Field(description="B: the table the attacker links it to.")
    rows_source: int
    rows_target: int
    columns: list[SharedColumn] = Field(description="The shared quasi-identifiers linked on.")
    unique_matches: int = Field(
        description="Records of A that match exactly one record of B on the shared columns."
    )
    unique_match_share: float = Field(description="unique_matches / rows of A.")
    reidentified: int = Field(
        description="People singled out by the pair: combinations held by exactly one record "
        "of A and exactly one of B."
    )
    reidentified_share: float = Field(description="reidentified / rows of A.")
    probabilistic: Probabilistic | None = Field(
        description="The Fellegi–Sunter attacker, unless skipped."
    )


class ReleasesReport(BaseModel):
    """A release assessed against its source and every other release of the same people."""

    source: str
    pairs: list[LinkageReport]
    skipped: dict[str, str] = Field(
        default_factory=dict, description="Releases not assessed, and why (no shared column)."
    )
    reidentified_max: int = Field(description="The most people any one pair re-identifies.")


@dataclass
class Linkage:
    """A report and, for library callers, the accepted pairs as row positions."""

    report: LinkageReport
    # Per precision target: positions (in A, in B) and match probability of accepted pairs.
    accepted: dict[float, pl.DataFrame] = field(default_factory=dict)


def shared_columns(
    a: pl.DataFrame,
    b: pl.DataFrame,
    columns_a: Sequence[Column],
    columns_b: Sequence[Column],
    on: Sequence[str] | None = None,
) -> list[SharedColumn]:
    """The columns to link on: ``on`` as given, else those both tables hold that either side
    marks as quasi-identifier and whose values overlap (see :data:`MIN_OVERLAP`)."""
    if on:
        names = list(dict.fromkeys(on))
        check_columns(a.columns, names, "--on")
        missing = [c for c in names if c not in b.columns]
        if missing:
            raise InvalidInput(
                f"the other table has no column {', '.join(map(repr, missing))} to link on",
                parameter="on",
            )
        return [SharedColumn(name=c, reason="given", overlap=_overlap(a, b, c)) for c in names]
    roles_a = {c.name: c.role for c in columns_a}
    roles_b = {c.name: c.role for c in columns_b}
    chosen = []
    for name in a.columns:
        if name not in b.columns:
            continue
        marked = [
            side
            for side, roles in (("A", roles_a), ("B", roles_b))
            if roles.get(name) == "quasi_identifier"
        ]
        if not marked:
            continue
        overlap = _overlap(a, b, name)
        if overlap >= MIN_OVERLAP:
            who = " and ".join(marked)
            reason = f"quasi-identifier in {who}; {overlap:.0%} of A's values occur in B"
            chosen.append(SharedColumn(name=name, reason=reason, overlap=overlap))
    if not chosen:
        raise InvalidInput(
            "the two tables share no quasi-identifier whose values overlap; name the columns "
            "with --on",
            parameter="on",
        )
    return chosen


def _overlap(a: pl.DataFrame, b: pl.DataFrame, column: str) -> float:
    left = a.get_column(column).cast(pl.String).drop_nulls().unique()
    if left.len() == 0:
        return 0.0
    right = b.get_column(column).cast(pl.String).drop_nulls().unique()
    return float(left.is_in(right.implode()).sum() / left.len())


def _keys(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """The shared columns as text (a zip read as a number on one side still meets its text),
    with a row position; rows with a null there cannot match exactly and are left out."""
    return (
        frame.select([pl.col(c).cast(pl.String) for c in columns])
        .with_row_index(_ID)
        .drop_nulls(list(columns))
    )


def exact_matches(a: pl.DataFrame, b: pl.DataFrame, columns: Sequence[str]) -> tuple[int, int]:
    """(A records matching exactly one B record, combinations unique on both sides)."""
    cols = list(columns)
    left = _keys(a, cols).group_by(cols).len("fa")
    right = _keys(b, cols).group_by(cols).len("fb")
    joined = left.join(right, on=cols, how="inner")
    unique = joined.filter(pl.col("fb") == 1).get_column("fa").sum()
    both = joined.filter((pl.col("fa") == 1) & (pl.col("fb") == 1)).height
    return int(unique or 0), int(both)


def link_tables(
    a: pl.DataFrame,
    b: pl.DataFrame,
    *,
    columns_a: Sequence[Column] = (),
    columns_b: Sequence[Column] = (),
    on: Sequence[str] | None = None,
    source: str = "A",
    target: str = "B",
    precisions: Sequence[float] = PRECISIONS,
    probabilistic: bool = True,
    seed: int = 0,
    scratch: Path | None = None,
) -> Linkage:
    """Linkage risk of table ``a`` against table ``b`` (see the module).

    DuckDB spills what does not fit in memory to an owner-only temporary folder in ``scratch``
    (default: the system's), deleted when the model is done.
    """
    for p in precisions:
        if not 0 < p < 1:
            raise InvalidInput("a precision target must be in (0, 1)", parameter="precision")
    if a.height == 0 or b.height == 0:
        raise InvalidInput("both tables need rows to measure linkage")
    shared = shared_columns(a, b, columns_a, columns_b, on)
    names = [c.name for c in shared]
    unique, both = exact_matches(a, b, names)
    accepted: dict[float, pl.DataFrame] = {}
    model = None
    if probabilistic:
        model, accepted = _splink(a, b, names, sorted(set(precisions)), seed, scratch)
    report = LinkageReport(
        source=source,
        target=target,
        rows_source=a.height,
        rows_target=b.height,
        columns=shared,
        unique_matches=unique,
        unique_match_share=unique / a.height,
        reidentified=both,
        reidentified_share=both / a.height,
        probabilistic=model,
    )
    return Linkage(report, accepted)


def _pairs(left: pl.DataFrame, right: pl.DataFrame, columns: Sequence[str]) -> int:
    """Pairs a blocking rule on ``columns`` yields, counted on a hash of the key (the columns
    of ``left`` and ``right`` are hashes already): a collision only merges two groups, which
    can only raise the count, so the budget stays safe."""
    key = pl.struct(list(columns)).hash(seed=0).alias("key")
    fa = left.select(key).group_by("key").len("fa")
    fb = right.select(key).group_by("key").len("fb")
    joined = fa.join(fb, on="key")
    return int(joined.select((pl.col("fa").cast(pl.Int64) * pl.col("fb")).sum()).item() or 0)


def _blocking(left: pl.DataFrame, right: pl.DataFrame, columns: list[str]) -> list[list[str]]:
    """All columns agree, and each "all but one" rule whose pairs fit the budget."""
    budget = PAIR_BUDGET * max(left.height, right.height)
    rules = [columns]
    if len(columns) > 1:
        # Each column hashed once (the same seed on both sides), then combined per rule.
        hashes = [pl.col(c).hash(seed=0) for c in columns]
        hashed_left, hashed_right = left.select(hashes), right.select(hashes)
        for dropped in columns:
            rest = [c for c in columns if c != dropped]
            if _pairs(hashed_left, hashed_right, rest) <= budget:
                rules.append(rest)
    return rules


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Splink's log and warnings stay out of privet's output (they may quote SQL)."""
    logger = logging.getLogger("splink")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.CRITICAL)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate


def _splink(
    a: pl.DataFrame,
    b: pl.DataFrame,
    columns: list[str],
    precisions: list[float],
    seed: int,
    scratch: Path | None,
) -> tuple[Probabilistic, dict[float, pl.DataFrame]]:
    try:
        import duckdb
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError:
        raise InvalidInput(f"the probabilistic attacker needs Splink: {INSTALL}") from None
    left, right = _keys(a, columns), _keys(b, columns)
    if left.height == 0 or right.height == 0:
        raise InvalidInput("no record has a value in every shared column")
    rules = _blocking(left, right, columns)
    prior = min(left.height, right.height) / (left.height * right.height)
    prior = min(prior, 0.5)
    with _quiet(), tempfile.TemporaryDirectory(prefix="link-", dir=scratch) as spill:
        # Nothing is downloaded (no extension is installed or loaded), nothing outside is
        # read, and spilled plaintext stays in an owner-only folder deleted on exit.
        config: dict[str, str | bool | int | float | list[str]] = {
            "temp_directory": spill,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
        connection = duckdb.connect(":memory:", config=config)
        connection.execute("SET enable_external_access = false")
        db = DuckDBAPI(connection=connection)
        tables = [
            db.register(t.rename({_ID: "unique_id"}).to_arrow(), table_name=name)
            for t, name in ((left, "privet_a"), (right, "privet_b"))
        ]
        settings = SettingsCreator(
            link_type="link_only",
            comparisons=[
                cl.ExactMatch(c).configure(term_frequency_adjustments=True) for c in columns
            ],
            blocking_rules_to_generate_predictions=[block_on(*rule) for rule in rules],
            probability_two_random_records_match=prior,
            retain_matching_columns=False,
        )
        linker = Linker(tables, settings, log_level=None)
        pairs_u = min(1e7, float(left.height) * right.height)
        linker.training.estimate_u_using_random_sampling(max_pairs=pairs_u, seed=seed)
        for rule in rules[1:]:  # each "all but one" rule trains the m of the column left out
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), fix_probability_two_random_records_match=True
            )
        table = linker.inference.predict(warning_mode="never").as_pyarrow_table()
        connection.close()
    scored = pl.from_arrow(table)
    assert isinstance(scored, pl.DataFrame)
    scored = scored.select(
        a=pl.col("unique_id_l").cast(pl.Int64),
        b=pl.col("unique_id_r").cast(pl.Int64),
        p=pl.col("match_probability").cast(pl.Float64),
    )
    # Pairs are accepted from the most probable down, a whole probability value at a time
    # (ties are taken or left together, so the answer does not depend on the pairs' order).
    levels = (
        scored.group_by("p")
        .agg(pl.len().alias("n"), pl.col("p").sum().alias("s"))
        .sort("p", descending=True)
        .with_columns(pl.col("n").cum_sum().alias("cn"), pl.col("s").cum_sum().alias("cs"))
    )
    points, accepted = [], {}
    for target in precisions:
        # The lowest threshold whose accepted pairs' mean probability meets the target.
        meets = levels.filter(pl.col("cs") >= target * pl.col("cn"))
        threshold = float(meets.get_column("p").min()) if meets.height else None  # type: ignore[arg-type]
        chosen = (
            scored.filter(pl.col("p") >= threshold) if threshold is not None else scored.head(0)
        )
        accepted[target] = chosen
        points.append(
            AtPrecision(
                precision=target,
                accepted_pairs=chosen.height,
                expected_correct=float(chosen.get_column("p").sum()),
                records_linked=chosen.get_column("a").n_unique(),
                min_probability=threshold if chosen.height else None,
            )
        )
    model = Probabilistic(
        prior=prior, blocking=rules, candidate_pairs=scored.height, at_precision=points
    )
    return model, accepted


def dataset_linkage(
    core: Core,
    ref: str,
    other: str,
    *,
    actor: str,
    on: Sequence[str] | None = None,
    precisions: Sequence[float] = PRECISIONS,
    probabilistic: bool = True,
) -> LinkageReport:
    """Linkage risk of stored version ``ref`` against ``other``: a dataset (``NAME`` or
    ``NAME@VERSION``) or a CSV, Parquet or JSON-lines file. Each dataset is read once through
    the broker under privet's assessment purpose (one audit entry per read)."""
    a, columns_a, ref_a = _read(core, ref, actor)
    if tables.names_file(other):
        b = tables.read_table(Path(other)).frame
        columns_b = file_columns(b)
        ref_b = Path(other).name
    else:
        b, columns_b, ref_b = _read(core, other, actor)
    return link_tables(
        a,
        b,
        columns_a=columns_a,
        columns_b=columns_b,
        on=on,
        source=ref_a,
        target=ref_b,
        precisions=precisions,
        probabilistic=probabilistic,
        scratch=_scratch(core),
    ).report


def release_linkage(
    core: Core,
    ref: str,
    *,
    actor: str,
    on: Sequence[str] | None = None,
    precisions: Sequence[float] = PRECISIONS,
    probabilistic: bool = True,
) -> ReleasesReport:
    """``ref`` against its source and every other dataset derived from the same root (the
    other releases of the same people), pair by pair."""
    with core.reading() as session:
        dataset, _ = catalog.resolve(session, ref)
        root = dataset.derived_from or dataset.id
        found = session.scalars(
            select(schema.Dataset).where(
                or_(schema.Dataset.id == root, schema.Dataset.derived_from == root)
            )
        ).all()
        others = sorted(
            d.name
            for d in found
            if d.id != dataset.id and any(v.shredded_at is None for v in d.versions)
        )
    if not others:
        raise InvalidInput(
            f"dataset {dataset.name!r} has no source or sibling release to link it to",
            parameter="link",
        )
    a, columns_a, ref_a = _read(core, ref, actor)
    pairs, skipped = [], {}
    for name in others:
        b, columns_b, ref_b = _read(core, name, actor)
        try:
            linkage = link_tables(
                a,
                b,
                columns_a=columns_a,
                columns_b=columns_b,
                on=on,
                source=ref_a,
                target=ref_b,
                precisions=precisions,
                probabilistic=probabilistic,
                scratch=_scratch(core),
            )
        except InvalidInput as error:
            skipped[ref_b] = str(error)
            continue
        pairs.append(linkage.report)
    return ReleasesReport(
        source=ref_a,
        pairs=pairs,
        skipped=skipped,
        reidentified_max=max((p.reidentified for p in pairs), default=0),
    )


def _scratch(core: Core) -> Path:
    """The workspace's owner-only scratch folder (where its private files go)."""
    with core.private_file("link") as marker:
        return marker.path.parent


def _read(core: Core, ref: str, actor: str) -> tuple[pl.DataFrame, list[Column], str]:
    stored = stored_columns(core, ref)
    with open_rows(core, stored.ref, purpose=ASSESSMENT, actor=actor, engine="polars") as rows:
        frame = rows.collect()
    return frame, stored.columns, stored.ref
