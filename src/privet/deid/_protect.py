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

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from pydantic import BaseModel, Field

from privet import auditlog, catalog, policy, tables
from privet.catalog import SUBJECT_LINK, subject_links
from privet.deid._assess import RiskReport, assess_risk
from privet.deid._columns import ASSESSMENT, file_columns, stored_columns
from privet.deid._plan import Checked, check_plan, check_values
from privet.deid._request import ProtectRequest
from privet.deid._search import Lattice, Target
from privet.deid._utility import ROW, UtilityReport, information_loss, ml_utility
from privet.engine import FrameRows, Rows, choose_engine, open_rows, use_streaming
from privet.errors import IntegrityError, InvalidInput, NotFound
from privet.operators import Context, kind_of, text_scanner

if TYPE_CHECKING:
    from privet.core import Core

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
                "pseudonyms, tokens and date shifts use the workspace's keys; protect the file "
                "with a workspace"
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
    privacy = checked.plan.privacy
    original = frame.with_row_index(ROW)
    work = original
    for name, op in checked.operators.items():
        step(f"applying {op.name} to {name}")
        if name in work.columns and kind_of(work.schema[name]) not in op.accepts:
            # Numbers kept as text (the plan check allowed them), for a numeric operator.
            work = work.with_columns(work.get_column(name).cast(pl.Float64, strict=False))
        work = op.apply(work, name, context)
    levels: dict[str, int] = {}
    search = None
    kept = np.ones(work.height, dtype=bool)
    suppressed = 0
    if privacy is not None:
        step("building the generalization lattice")
        found = search_plan(work, checked, step)
        levels, suppressed, kept, search = found.levels, found.suppressed, found.kept, found.report
    out = work.filter(pl.Series(kept)) if suppressed else work
    out = out.with_columns(
        [checked.hierarchies[c].expr(v).alias(c) for c, v in levels.items() if v > 0]
    )
    step("measuring risk and utility")
    risk = measure_risk(checked, original, out)
    utility = utility_of(work, checked, levels, kept, work.height)
    if checked.target is not None:
        measured = ml_utility(original, out, checked.target)
        if isinstance(measured, str):
            utility.ml_note = measured
        else:
            utility.ml = measured
    report = report_of(
        checked,
        source=source,
        output=output,
        rows_in=frame.height,
        rows_out=out.height,
        suppressed=suppressed,
        levels=levels,
        search=search,
        risk=risk,
        utility=utility,
    )
    return Outcome(out.drop(ROW), report, out.get_column(ROW).to_numpy())


# -- the parts of a run that every engine shares -------------------------------------------


@dataclass
class Searched:
    """The search's choice: levels, suppressed records, the rows kept (per row searched)."""

    levels: dict[str, int]
    suppressed: int
    kept: np.ndarray
    report: SearchReport


def search_plan(
    frame: pl.DataFrame, checked: Checked, step: Progress, weight: str | None = None
) -> Searched:
    """The optimal generalization of ``frame`` (rows, or group counts in column ``weight``)
    for the plan's privacy model."""
    privacy = checked.plan.privacy
    assert privacy is not None
    lattice = Lattice(
        frame,
        [checked.hierarchies[q] for q in checked.quasi_identifiers],
        checked.sensitive,
        Target(privacy.k, privacy.l, privacy.t, privacy.max_suppression, privacy.metric),
        weight=weight,
    )
    result, best = lattice.search(step)
    report = SearchReport(
        lattice_size=result.lattice_size,
        evaluated=result.evaluated,
        seconds=round(result.seconds, 4),
        metric=result.metric,
        loss=result.loss,
    )
    return Searched(result.levels, result.suppressed, lattice.rows_kept(best.node), report)


def measure_risk(
    checked: Checked, before: pl.DataFrame | Rows, after: pl.DataFrame | Rows
) -> tuple[RiskReport | None, RiskReport | None]:
    """Risk before and after, re-measured by the risk code; a missed target refuses all."""
    qis, sensitive, privacy = checked.quasi_identifiers, checked.sensitive, checked.plan.privacy
    if not qis:
        return None, None
    risk_before = assess_risk(before, qis, sensitive)
    risk_after = assess_risk(after, qis, sensitive)
    if privacy is not None:
        _verify(risk_after, privacy.k, privacy.l, privacy.t)
    return risk_before, risk_after


def utility_of(
    frame: pl.DataFrame,
    checked: Checked,
    levels: dict[str, int],
    kept: np.ndarray,
    rows: int,
    weight: np.ndarray | None = None,
) -> UtilityReport:
    """The information loss of generalizing ``frame`` (of ``rows`` records; each row counts
    ``weight`` times, if given) to ``levels`` and keeping ``kept``."""
    loss = dm = nue = dm_before = None
    if levels:
        loss, dm, nue = information_loss(frame, checked.hierarchies, levels, kept, weight)
        unchanged = dict.fromkeys(levels, 0)
        every = np.ones(frame.height, dtype=bool)
        dm_before = information_loss(frame, checked.hierarchies, unchanged, every, weight)[1]
    n2 = rows**2
    return UtilityReport(
        generalization_loss=loss,
        discernibility=dm,
        discernibility_normalized=dm / n2 if dm is not None else None,
        discernibility_normalized_before=dm_before / n2 if dm_before is not None else None,
        non_uniform_entropy=nue,
    )


def report_of(
    checked: Checked,
    *,
    source: str,
    output: str,
    rows_in: int,
    rows_out: int,
    suppressed: int,
    levels: dict[str, int],
    search: SearchReport | None,
    risk: tuple[RiskReport | None, RiskReport | None],
    utility: UtilityReport,
) -> ProtectReport:
    privacy = checked.plan.privacy
    return ProtectReport(
        source=source,
        output=output,
        rows_in=rows_in,
        rows_out=rows_out,
        suppressed=suppressed,
        quasi_identifiers=checked.quasi_identifiers,
        sensitive=checked.sensitive,
        privacy=privacy.model_dump() if privacy is not None else None,
        levels=levels,
        hierarchies={name: h.kind for name, h in checked.hierarchies.items()},
        operators={name: op.name for name, op in checked.operators.items()},
        search=search,
        risk_before=risk[0],
        risk_after=risk[1],
        utility=utility,
        notes=list(checked.notes),
    )


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


def protect(
    core: Core,
    ref: str,
    request: ProtectRequest,
    *,
    name: str,
    actor: str,
    progress: Progress | None = None,
    engine: str | None = None,
    spark_master: str | None = None,
) -> ProtectReport:
    """Protect dataset ``ref`` as ``request`` says into dataset ``name`` (a new version).

    ``engine`` (``polars`` or ``spark``, default ``$PRIVET_ENGINE`` or ``polars``) holds the
    rows; in memory the plan runs as :func:`run_plan`, elsewhere as ``run_plan_rows``.
    """
    from privet.deid import _protect_rows as on_engine

    catalog.check_name(name)
    stored_as = stored_columns(core, ref)
    subject, exact_ref = stored_as.subject, stored_as.ref
    checked = check_plan(request.to_plan(), stored_as.columns, stored_as.rows)
    chosen = choose_engine(engine)
    streamed = chosen == "polars" and use_streaming(core, exact_ref)
    if chosen != "polars" or streamed:
        on_engine.check_engine_plan(checked, streamed=streamed)
    step = progress or (lambda _stage: None)
    step("reading")
    stored: pl.DataFrame | catalog.ParquetFile
    with ExitStack() as stack:
        rows = stack.enter_context(
            open_rows(
                core,
                exact_ref,
                purpose=ASSESSMENT,
                actor=actor,
                channel=policy.DERIVE_CHANNEL,
                engine=chosen,
                spark_master=spark_master,
            )
        )
        if isinstance(rows, FrameRows):
            link = _subject_link(core, rows.frame, subject)
            source = rows.frame.drop(SUBJECT_LINK, strict=False)
            check_values(checked, source)
            context = _context(core, checked, subject)
            outcome = run_plan(
                source, checked, context, source=exact_ref, output=name, progress=step
            )
            report, stored = outcome.report, outcome.frame
            if link is not None:
                # By row position, so the link follows its row through suppression; the
                # plan's operators, the search and the risk and utility measures never see it.
                stored = stored.with_columns(link.gather(outcome.rows).alias(SUBJECT_LINK))
        else:
            # Written to a private file (deleted when the version is stored), never collected.
            check_values(checked, on_engine.distinct_values(rows, checked))
            context = _context(core, checked, subject)
            written = on_engine.run_plan_rows(
                rows,
                checked,
                context,
                source=exact_ref,
                output=name,
                subject=subject,
                destination=stack.enter_context(core.private_file("protect")).path,
                links=partial(subject_links, core),
                progress=step,
            )
            report, stored = written.report, written.file
        version = _store(
            core, exact_ref, checked, report, stored, name=name, actor=actor, step=step
        )
    report.output = version.ref
    return report


def _store(
    core: Core,
    source: str,
    checked: Checked,
    report: ProtectReport,
    stored: pl.DataFrame | catalog.ParquetFile,
    *,
    name: str,
    actor: str,
    step: Progress,
) -> catalog.VersionInfo:
    """Store a protected result as the next version of ``name``, with the facts lineage and
    erasure need."""
    columns = (
        stored.columns if isinstance(stored, pl.DataFrame) else pl.read_parquet_schema(stored.path)
    )
    roles = {}
    for column, op in checked.operators.items():
        if op.output_role is not None and column in columns:
            roles[column] = op.output_role
    facts: dict[str, Any] = {
        "operators": report.operators,
        "levels": report.levels,
        "suppressed": report.suppressed,
        "subject_link": SUBJECT_LINK in columns,
    }
    if report.privacy is not None and report.risk_after is not None:
        facts.update(
            {
                "k": report.privacy["k"],
                # What an erasure needs to keep k and ℓ over the same columns (privet.forget).
                "sensitive": list(checked.sensitive),
                "l": report.privacy["l"],
                "t": report.privacy["t"],
                "max_suppression": report.privacy["max_suppression"],
                "metric": report.privacy["metric"],
                "k_achieved": report.risk_after.k,
                "l_achieved": report.risk_after.l,
                "t_achieved": report.risk_after.t,
            }
        )
    return catalog.derive(
        core,
        source,
        stored,
        name=name,
        kind="protected",
        actor=actor,
        facts=facts,
        columns=roles,
        progress=step,
    )


def _subject_link(core: Core, frame: pl.DataFrame, subject: str | None) -> pl.Series | None:
    """Each row's link to its person: carried over from a derived source, else the keyed
    pseudonym of the source's subject id; None when the source has no subject id."""
    if SUBJECT_LINK in frame.columns:
        return frame.get_column(SUBJECT_LINK)
    if subject is None or subject not in frame.columns:
        return None
    return subject_links(core, frame.get_column(subject))


# -- files ----------------------------------------------------------------------------------


def protect_file(
    path: str | Path,
    request: ProtectRequest,
    output: str | Path,
    *,
    core: Core | None = None,
    actor: str = "privet",
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ProtectReport:
    """Protect a CSV, Parquet or JSON-lines file into another file (format from its name).

    Without ``core`` no workspace is needed, unless the plan uses keys (pseudonyms, tokens,
    date shifts); with it, that use of the workspace's keys is recorded in its audit log.
    """
    if not tables.names_file(str(path)):
        where = "" if core is not None else ", and there is no workspace to find a dataset in"
        raise NotFound(f"{str(path)!r} is not a file{where}")
    path, output = Path(path), Path(output)
    tables.check_destination(output, overwrite=overwrite)
    source = tables.read_table(path)
    columns = file_columns(source.frame)
    checked = check_plan(request.to_plan(), columns, source.frame.height)
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
                    auditlog.events.deid_protect_file(
                        ts=core.now(),
                        actor=actor,
                        source_sha256=source.sha256,
                        rows=outcome.report.rows_out,
                        operators=outcome.report.operators,
                    )
                ],
            )
            session.commit()
    return outcome.report
