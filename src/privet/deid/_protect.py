"""Running a plan: a stored dataset into a new protected dataset, or a file into a file.

Order of work, so that nothing moves before the plan is known to be sound:

1. check the plan against the catalog's columns and row count (no data read yet);
2. read the rows through the broker under privet's internal assessment purpose (logged);
3. check the plan against the values (hierarchies cover them, ℓ is possible);
4. apply the column operators, then search the generalization lattice and suppress;
5. re-measure k, ℓ and t on the result with the risk code (not the search's) and refuse to
   store anything that misses a target;
6. store the result with its lineage edge and audit entry, and report risk and utility.

A stored result keeps each row linked to its person (``catalog.SUBJECT_LINK``, a keyed
pseudonym of the source's subject id that the broker serves only to DP releases): k-anonymity
counts rows, not people, so a person with 200 rows passes k = 5 on their own, and DP on the
copy must still bound that person's rows together, not protect each row at ε.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from privet import auditlog, catalog, policy, tables
from privet.catalog import INTERNAL_PURPOSES, SUBJECT_LINK
from privet.deid._plan import Checked, Column, Plan, check_plan, check_values
from privet.deid._risk import RiskReport, assess_risk
from privet.deid._search import Lattice, Target
from privet.deid._utility import ROW, UtilityReport, information_loss, ml_utility
from privet.errors import IntegrityError, InvalidInput, PolicyDenied
from privet.operators import Context, kind_of, open_token, text_scanner, unique_map

if TYPE_CHECKING:
    from privet.core import Core

ASSESSMENT = INTERNAL_PURPOSES[0]
Progress = Callable[[str], None]


class SearchReport(BaseModel):
    lattice_size: int = Field(description="Nodes in the generalization lattice.")
    evaluated: int = Field(description="Nodes evaluated (the rest were pruned).")
    seconds: float = Field(description="Time the search took.")
    metric: str = Field(description="The loss metric minimized.")
    loss: float = Field(description="Its value at the chosen node.")


class ProtectReport(BaseModel):
    """What ``protect`` did, and the risk and utility before and after."""

    source: str = Field(description="The dataset version or file protected.")
    output: str = Field(description="The new dataset version, or the file written.")
    rows_in: int
    rows_out: int
    suppressed: int = Field(description="Records removed by the search's suppression.")
    quasi_identifiers: list[str]
    sensitive: list[str]
    privacy: dict[str, Any] | None = Field(description="The privacy model reached.")
    levels: dict[str, int] = Field(description="Generalization level chosen per QI.")
    hierarchies: dict[str, str] = Field(description="Kind of hierarchy per generalized column.")
    operators: dict[str, str] = Field(description="Operator applied per column.")
    search: SearchReport | None
    risk_before: RiskReport | None
    risk_after: RiskReport | None
    utility: UtilityReport
    notes: list[str] = Field(default_factory=list)


@dataclass
class Outcome:
    frame: pl.DataFrame
    report: ProtectReport
    # The position in the input of every output row (suppression removes rows).
    rows: np.ndarray


def _context(core: Core | None, checked: Checked, subject: str | None) -> Context:
    names = {op.name for op in checked.operators.values()}
    prf = daead = None
    if names & {"pseudonym", "token", "date_shift"}:
        if core is None:
            raise InvalidInput(
                "pseudonyms, tokens and date shifts use the workspace's keys; run inside a "
                "workspace (-w PATH)"
            )
        with core.session() as session:
            if names & {"pseudonym", "date_shift"}:
                prf = core.vault.keyed_prf(session)
            if "token" in names:
                daead = core.vault.token_aead(session)
            session.commit()  # keys are made on first use
    scan = text_scanner() if "redact_text" in names else None
    return Context(
        prf=prf, daead=daead, subject=subject, hierarchies=checked.hierarchies, scan_text=scan
    )


def run_plan(
    frame: pl.DataFrame,
    checked: Checked,
    context: Context,
    *,
    source: str,
    output: str,
    progress: Progress | None = None,
) -> Outcome:
    """Apply ``checked`` (already checked against ``frame``'s values) and measure the result."""
    step = progress or (lambda _stage: None)
    plan, privacy = checked.plan, checked.plan.privacy
    original = frame.with_row_index(ROW)
    work = original
    for name, op in checked.operators.items():
        step(f"applying {op.name} to {name}")
        if name in work.columns and kind_of(work.schema[name]) not in op.accepts:
            # Numbers kept as text (the plan check allowed them), for a numeric operator.
            work = work.with_columns(work.get_column(name).cast(pl.Float64, strict=False))
        work = op.apply(work, name, context)
    qis, sensitive = checked.quasi_identifiers, checked.sensitive
    levels: dict[str, int] = {}
    search = None
    kept = np.ones(work.height, dtype=bool)
    suppressed = 0
    if privacy is not None:
        step("building the generalization lattice")
        lattice = Lattice(
            work,
            [checked.hierarchies[q] for q in qis],
            sensitive,
            Target(privacy.k, privacy.l, privacy.t, privacy.max_suppression, privacy.metric),
        )
        result, best = lattice.search(step)
        kept = lattice.rows_kept(best.node)
        levels, suppressed = result.levels, result.suppressed
        search = SearchReport(
            lattice_size=result.lattice_size,
            evaluated=result.evaluated,
            seconds=round(result.seconds, 4),
            metric=result.metric,
            loss=result.loss,
        )
    out = work.filter(pl.Series(kept)) if suppressed else work
    out = out.with_columns(
        [checked.hierarchies[c].expr(v).alias(c) for c, v in levels.items() if v > 0]
    )
    step("measuring risk and utility")
    risk_before = risk_after = None
    if qis:
        risk_before = assess_risk(original, qis, sensitive)
        risk_after = assess_risk(out, qis, sensitive)
    if privacy is not None:
        _verify(risk_after, privacy.k, privacy.l, privacy.t)
    loss = dm = nue = dm_before = None
    if levels:
        loss, dm, nue = information_loss(work, checked.hierarchies, levels, kept)
        unchanged = dict.fromkeys(levels, 0)
        all_rows = np.ones(work.height, dtype=bool)
        dm_before = information_loss(work, checked.hierarchies, unchanged, all_rows)[1]
    n2 = work.height**2
    utility = UtilityReport(
        generalization_loss=loss,
        discernibility=dm,
        discernibility_normalized=dm / n2 if dm is not None else None,
        discernibility_normalized_before=dm_before / n2 if dm_before is not None else None,
        non_uniform_entropy=nue,
    )
    if checked.target is not None:
        measured = ml_utility(original, out, checked.target)
        if isinstance(measured, str):
            utility.ml_note = measured
        else:
            utility.ml = measured
    report = ProtectReport(
        source=source,
        output=output,
        rows_in=frame.height,
        rows_out=out.height,
        suppressed=suppressed,
        quasi_identifiers=qis,
        sensitive=sensitive,
        privacy=privacy.model_dump() if privacy is not None else None,
        levels=levels,
        hierarchies={name: h.kind for name, h in checked.hierarchies.items()},
        operators={name: op.name for name, op in checked.operators.items()},
        search=search,
        risk_before=risk_before,
        risk_after=risk_after,
        utility=utility,
        notes=list(checked.notes),
    )
    del plan
    return Outcome(out.drop(ROW), report, out.get_column(ROW).to_numpy())


def _verify(after: RiskReport | None, k: int, l: int | None, t: float | None) -> None:  # noqa: E741
    """Refuse a result that misses its target when re-measured by the risk code."""
    if after is None:
        return
    if (
        after.k < k
        or (l is not None and (after.l or 0) < l)
        or (t is not None and (after.t is None or after.t > t + 1e-9))
    ):
        raise IntegrityError(
            "the protected table failed its independent k/ℓ/t check; nothing was stored"
        )


# -- stored datasets ------------------------------------------------------------------------


def _catalog_columns(core: Core, ref: str) -> tuple[list[Column], int, str | None, str]:
    with core.reading() as session:
        dataset, version = catalog.resolve(session, ref)
        info = catalog.version_info(dataset, version)
        subject = dataset.subject_id_column
    columns = [Column(c.name, c.dtype, c.role, c.category, c.meaning) for c in info.columns]
    return columns, info.rows, subject, info.ref


def dataset_columns(core: Core, ref: str) -> list[Column]:
    """The columns of a stored version with their catalog roles (no data is read)."""
    return _catalog_columns(core, ref)[0]


def protect(
    core: Core,
    ref: str,
    plan: Plan,
    *,
    name: str,
    actor: str,
    progress: Progress | None = None,
) -> ProtectReport:
    """Protect dataset ``ref`` by ``plan`` into dataset ``name`` (a new version of it)."""
    catalog.check_name(name)
    columns, rows, subject, exact_ref = _catalog_columns(core, ref)
    checked = check_plan(plan, columns, rows)
    step = progress or (lambda _stage: None)
    step("reading")
    release = policy.read(
        core, exact_ref, purpose=ASSESSMENT, actor=actor, channel=policy.DERIVE_CHANNEL
    )
    link = _subject_link(core, release.frame, subject)
    source = release.frame.drop(SUBJECT_LINK, strict=False)
    check_values(checked, source)
    context = _context(core, checked, subject)
    outcome = run_plan(source, checked, context, source=exact_ref, output=name, progress=step)
    report = outcome.report
    stored = outcome.frame
    if link is not None:
        # By row position, so the link follows its row through suppression; the plan's
        # operators, the search and the risk and utility measures never see it.
        stored = stored.with_columns(link.gather(outcome.rows).alias(SUBJECT_LINK))
    roles = {}
    for column, op in checked.operators.items():
        if op.output_role is not None and column in outcome.frame.columns:
            roles[column] = op.output_role
    facts: dict[str, Any] = {
        "operators": report.operators,
        "levels": report.levels,
        "suppressed": report.suppressed,
        "subject_link": link is not None,
    }
    if report.privacy is not None and report.risk_after is not None:
        facts.update(
            {
                "k": report.privacy["k"],
                "l": report.privacy["l"],
                "t": report.privacy["t"],
                "max_suppression": report.privacy["max_suppression"],
                "metric": report.privacy["metric"],
                "k_achieved": report.risk_after.k,
                "l_achieved": report.risk_after.l,
                "t_achieved": report.risk_after.t,
            }
        )
    version = catalog.derive(
        core,
        exact_ref,
        stored,
        name=name,
        kind="protected",
        actor=actor,
        facts=facts,
        columns=roles,
        progress=step,
    )
    report.output = version.ref
    return report


# Domain separation: the link never equals a `pseudonym` a plan puts in a served column.
LINK_DOMAIN = b"privet/subject-link/v1\x00"


def _subject_link(core: Core, frame: pl.DataFrame, subject: str | None) -> pl.Series | None:
    """Each row's link to its person: carried over from a derived source, else the keyed
    pseudonym of the source's subject id; None when the source has no subject id."""
    if SUBJECT_LINK in frame.columns:
        return frame.get_column(SUBJECT_LINK)
    if subject is None or subject not in frame.columns:
        return None
    with core.session() as session:
        prf = core.vault.keyed_prf(session)
        session.commit()  # the key is made on first use
    return unique_map(
        frame.get_column(subject), lambda v: prf.compute(LINK_DOMAIN + v.encode(), 16).hex()
    ).alias(SUBJECT_LINK)


# -- files ----------------------------------------------------------------------------------


def file_columns(frame: pl.DataFrame) -> list[Column]:
    """Columns of a file, with the roles discovery finds when ``privet.discover`` is there."""
    roles: dict[str, tuple[str, str | None]] = {}
    try:
        from privet.discover import scan_frame  # type: ignore[attr-defined]
    except ImportError:
        scan_frame = None
    if scan_frame is not None:
        for found in getattr(scan_frame(frame), "columns", []):
            name = getattr(found, "name", None)
            if name is not None:
                roles[name] = (
                    str(getattr(found, "role", "other")),
                    getattr(found, "category", None),
                )
    meanings = tables.text_meanings(frame)
    return [
        Column(name, str(dtype), *roles.get(name, ("other", None)), meanings.get(name))
        for name, dtype in frame.schema.items()
    ]


def protect_file(
    path: str | Path,
    plan: Plan,
    output: str | Path,
    *,
    core: Core | None = None,
    actor: str = "privet",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ProtectReport:
    """Protect a CSV, Parquet or JSON-lines file into another file (format from its name)."""
    path, output = Path(path), Path(output)
    tables.check_destination(output, overwrite=overwrite)
    source = tables.read_table(path)
    columns = file_columns(source.frame)
    checked = check_plan(plan, columns, source.frame.height)
    check_values(checked, source.frame)
    context = _context(core, checked, None)
    outcome = run_plan(
        source.frame, checked, context, source=str(path), output=str(output), progress=progress
    )
    journal = core.journal if core is not None else None
    tables.write_table(outcome.frame, output, overwrite=overwrite, journal=journal)
    if core is not None and checked.needs_keys:
        # The workspace's keys were used on data outside it: that use is on the record.
        with core.session() as session:
            auditlog.append(
                session,
                [
                    {
                        "event": "deid.protect_file",
                        "ts": core.now().isoformat(),
                        "actor": actor,
                        "source": f"file:sha256:{source.sha256}",
                        "rows": outcome.report.rows_out,
                        "operators": outcome.report.operators,
                    }
                ],
            )
            session.commit()
    return outcome.report


# -- risk -----------------------------------------------------------------------------------


def dataset_risk(
    core: Core,
    ref: str,
    *,
    actor: str,
    quasi_identifiers: Sequence[str] | None = None,
    sensitive: Sequence[str] | None = None,
    threshold: float = 0.2,
    population: pl.DataFrame | None = None,
    population_size: int | None = None,
) -> RiskReport:
    """Risk of a stored dataset; quasi-identifiers and sensitive default to the catalog's."""
    columns, _, _, exact_ref = _catalog_columns(core, ref)
    qis = list(quasi_identifiers or [c.name for c in columns if c.role == "quasi_identifier"])
    if not qis:
        raise InvalidInput(
            "no column of this dataset is marked quasi_identifier; name them with --qi"
        )
    sens = (
        list(sensitive)
        if sensitive is not None
        else [c.name for c in columns if c.role == "sensitive"]
    )
    names = {c.name for c in columns}
    for column in [*qis, *sens]:
        if column not in names:
            raise InvalidInput(f"dataset {ref!r} has no column {column!r}")
    release = policy.read(core, exact_ref, purpose=ASSESSMENT, actor=actor)
    return assess_risk(
        release.frame,
        qis,
        sens,
        threshold=threshold,
        population=population,
        population_size=population_size,
    )


def file_risk(
    path: str | Path,
    *,
    quasi_identifiers: Sequence[str] | None = None,
    sensitive: Sequence[str] = (),
    threshold: float = 0.2,
    population: pl.DataFrame | None = None,
    population_size: int | None = None,
) -> RiskReport:
    frame = tables.read_table(Path(path)).frame
    qis = list(quasi_identifiers or [])
    if not qis:
        qis = [c.name for c in file_columns(frame) if c.role == "quasi_identifier"]
    if not qis:
        raise InvalidInput("name the quasi-identifiers with --qi COL1,COL2,…")
    return assess_risk(
        frame,
        qis,
        sensitive,
        threshold=threshold,
        population=population,
        population_size=population_size,
    )


# -- detokenizing ---------------------------------------------------------------------------


def detokenize(
    core: Core,
    ref: str,
    column: str,
    *,
    purpose: str,
    actor: str,
    namespace: str = "",
) -> pl.DataFrame:
    """The rows of ``ref`` with the tokens of ``column`` turned back into values.

    A governed read for a declared purpose (refused and logged otherwise); the detokenizing
    itself is a second audit entry, committed before the values are returned.
    """
    if purpose in INTERNAL_PURPOSES:
        raise PolicyDenied(f"{purpose!r} is for privet's own processing, not for detokenizing")
    release = policy.read(core, ref, purpose=purpose, actor=actor, channel="detokenize")
    frame = release.frame
    if column not in frame.columns:
        raise InvalidInput(f"dataset {release.version.ref!r} has no column {column!r}")
    started = time.perf_counter()
    with core.session() as session:
        daead = core.vault.token_aead(session)
        restored = unique_map(
            frame.get_column(column), lambda token: open_token(daead, token, namespace)
        )
        auditlog.append(
            session,
            [
                {
                    "event": "deid.detokenize",
                    "ts": core.now().isoformat(),
                    "actor": actor,
                    "dataset": release.version.dataset,
                    "version": release.version.id,
                    "column": column,
                    "rows": frame.height,
                    "distinct_tokens": int(frame.get_column(column).drop_nulls().n_unique()),
                    "purpose": purpose,
                    "read_entry": release.log_index,
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                }
            ],
        )
        session.commit()
    return frame.with_columns(restored)
