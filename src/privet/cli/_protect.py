"""Commands for de-identification: protect, risk, detokenize."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, command, engine_options, stderr, stdout

if TYPE_CHECKING:
    from privet.deid import (
        LinkageReport,
        Metric,
        ProtectReport,
        ProxyReport,
        ReleasesReport,
        RiskReport,
    )

# Kept in step with the registry by a test (the CLI starts without importing it).
OPERATORS = (
    "drop, keep, mask, redact, pseudonym, token, generalize, date_shift, top_bottom_code, "
    "suppress, suppress_records, microaggregate, redact_text"
)


def _columns(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise click.BadParameter("give column names separated by commas")
    return names


@click.argument("source", metavar="NAME[@VERSION]|FILE")
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="NEW|FILE",
    help="Name of the new dataset (for a dataset), or the file to write (for a file).",
)
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Protection plan (YAML): privacy model, hierarchies, operators per column.",
)
@click.option("--k", type=click.IntRange(min=1), help="k-anonymity: smallest class size.")
@click.option("--l", "l", type=click.IntRange(min=1), help="Distinct ℓ-diversity.")
@click.option("--t", "t", type=click.FloatRange(0, 1, min_open=True), help="t-closeness.")
@click.option(
    "--qi",
    "quasi_identifiers",
    metavar="C1,C2,…",
    help="Quasi-identifiers (default: the catalog's, or discovery's for a file).",
)
@click.option("--sensitive", metavar="C1,…", help="Sensitive columns for ℓ and t.")
@click.option(
    "--max-suppression",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.05,
    show_default=True,
    help="Largest share of records the search may remove.",
)
@click.option(
    "--metric",
    type=click.Choice(["loss", "entropy", "discernibility"]),
    default="loss",
    show_default=True,
    help="Information-loss metric to minimize.",
)
@click.option("--target", metavar="COL", help="Column to predict for the ML-utility check.")
@click.option("--force", "overwrite", is_flag=True, help="Replace the output file if it exists.")
@engine_options
@command(name="protect", epilog=f"Operators for plans: {OPERATORS}.")
def protect_command(
    opts: Options,
    source: str,
    output: str,
    plan_path: Path | None,
    k: int | None,
    l: int | None,  # noqa: E741 - the model's name
    t: float | None,
    quasi_identifiers: str | None,
    sensitive: str | None,
    max_suppression: float,
    metric: Metric,
    target: str | None,
    overwrite: bool,
    engine: str | None,
    spark_master: str | None,
) -> None:
    """De-identify a dataset into a new one (or a file into a file), with risk and utility.

    With --plan, the plan says everything; otherwise --k (and --l, --t) run the optimal
    generalization search, and direct identifiers are dropped.
    """
    from privet import deid

    shortcut = (k, l, t, quasi_identifiers, sensitive, target)
    if plan_path is not None and any(v is not None for v in shortcut):
        raise click.UsageError("give either --plan or --k/--l/--t/--qi/--sensitive, not both")
    if plan_path is not None:
        request = deid.ProtectRequest(plan=deid.load_plan(plan_path))
    else:
        request = deid.ProtectRequest(
            k=k,
            l=l,
            t=t,
            quasi_identifiers=_columns(quasi_identifiers),
            sensitive=_columns(sensitive),
            max_suppression=max_suppression,
            metric=metric,
            target=target,
        )
    with opts.maybe_workspace() as ws, opts.progress(f"protecting {source}") as step:
        if ws is None:  # a file, without a workspace
            report = deid.protect_file(
                source, request, output, actor=opts.actor, overwrite=overwrite, progress=step
            )
        else:
            report = ws.deid.protect(
                source,
                request,
                output=output,
                actor=opts.actor,
                overwrite=overwrite,
                progress=step,
                engine=engine,
                spark_master=spark_master,
            )
    for note in report.notes:
        stderr.print(Text(f"privet: {note}"))
    opts.emit(report, lambda: _print_protect(report))


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _print_protect(report: ProtectReport) -> None:
    share = report.suppressed / report.rows_in if report.rows_in else 0.0
    stdout.print(
        Text(
            f"Protected {report.source} into {report.output}: {report.rows_in:,} → "
            f"{report.rows_out:,} rows ({report.suppressed:,} suppressed, {share:.2%})"
        )
    )
    if report.levels:
        levels = ", ".join(
            f"{c} {v}/{report.hierarchies.get(c, '')}" for c, v in report.levels.items()
        )
        stdout.print(Text(f"  generalization levels: {levels}"))
    if report.search is not None:
        s = report.search
        stdout.print(
            Text(
                f"  search: {s.evaluated:,} of {s.lattice_size:,} lattice nodes evaluated in "
                f"{s.seconds:.2f} s; {s.metric} = {s.loss:.4f}"
            )
        )
    if report.operators:
        ops = ", ".join(f"{c}: {o}" for c, o in report.operators.items())
        stdout.print(Text(f"  operators: {ops}"))
    table = Table("", "before", "after", title="risk and utility")
    before, after = report.risk_before, report.risk_after
    if before is not None and after is not None:
        rows = [
            ("k", before.k, after.k),
            ("ℓ", before.l, after.l),
            ("t", before.t, after.t),
            ("prosecutor risk, max", before.prosecutor_risk_max, after.prosecutor_risk_max),
            ("prosecutor risk, mean", before.prosecutor_risk_avg, after.prosecutor_risk_avg),
            (
                f"records at risk (> {before.threshold:g})",
                before.records_at_risk,
                after.records_at_risk,
            ),
            ("sample uniques", before.sample_uniques, after.sample_uniques),
            ("marketer risk", before.marketer_risk, after.marketer_risk),
        ]
        for name, b, a in rows:
            table.add_row(name, _fmt(b), _fmt(a))
    u = report.utility
    if u.generalization_loss is not None:
        table.add_row("generalization loss", _fmt(0.0), _fmt(u.generalization_loss))
        table.add_row(
            "discernibility / n²",
            _fmt(u.discernibility_normalized_before),
            _fmt(u.discernibility_normalized),
        )
        table.add_row("non-uniform entropy", _fmt(0.0), _fmt(u.non_uniform_entropy))
    if u.ml is not None:
        table.add_row(
            f"ML accuracy ({u.ml.target})",
            _fmt(u.ml.accuracy_original),
            f"{u.ml.accuracy_protected:.4f} (×{u.ml.ratio:.3f})",
        )
    stdout.print(table)
    if u.ml is None and u.ml_note:
        stdout.print(Text(f"  ML utility not measured: {u.ml_note}"))


@click.argument("source", metavar="NAME[@VERSION]|FILE")
@click.option(
    "--qi",
    "quasi_identifiers",
    metavar="C1,C2,…",
    help="Quasi-identifiers (default: the catalog's).",
)
@click.option("--sensitive", metavar="C1,…", help="Sensitive columns for ℓ and t.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.2,
    show_default=True,
    help="Prosecutor risk above which a record counts as at risk.",
)
@click.option(
    "--population",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A population table with the same quasi-identifiers (for journalist risk).",
)
@click.option(
    "--population-size",
    type=click.IntRange(min=1),
    help="Size of the population the table was sampled from (estimates population uniques).",
)
@click.option(
    "--link",
    metavar="B|auto-releases",
    help="Linkage risk against B: a dataset, a version or a CSV/Parquet/JSONL file (e.g. a "
    "public register); auto-releases: against the source and every other release of the "
    "same people.",
)
@click.option(
    "--on",
    "link_on",
    default="auto",
    show_default=True,
    metavar="C1,C2,…|auto",
    help="With --link: the columns to link on; auto: the quasi-identifiers both sides hold "
    "whose values overlap.",
)
@click.option(
    "--precision",
    "precisions",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    multiple=True,
    help="With --link: a precision target of the probabilistic attacker (repeatable; "
    "default 0.5, 0.9, 0.99).",
)
@click.option(
    "--exact-only",
    is_flag=True,
    help="With --link: only the exact-match attacker (no Splink model).",
)
@click.option(
    "--proxies",
    is_flag=True,
    help="Instead: which features predict each --sensitive column, alone and together.",
)
@click.option(
    "--features", metavar="C1,…", help="With --proxies: the features to test (default: all)."
)
@click.option(
    "--proxy-threshold",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="With --proxies: accuracy points above the base rate that flag a proxy.",
)
@engine_options
@command(name="risk")
def risk_command(
    opts: Options,
    source: str,
    quasi_identifiers: str | None,
    sensitive: str | None,
    threshold: float,
    population: Path | None,
    population_size: int | None,
    link: str | None,
    link_on: str,
    precisions: tuple[float, ...],
    exact_only: bool,
    proxies: bool,
    features: str | None,
    proxy_threshold: float,
    engine: str | None,
    spark_master: str | None,
) -> None:
    """Re-identification risk of a dataset or file: k, ℓ, t, prosecutor/journalist/marketer.

    With --link B: how many records of the dataset can be linked to B on their shared
    quasi-identifiers, by exact matching and by a Fellegi–Sunter attacker (Splink; needs
    pip install 'privet[link]').

    With --proxies: which features predict each sensitive column (special categories by
    default), alone and together, against the base rate.
    """
    from privet import deid

    if link is not None:
        _linkage(opts, source, link, link_on, list(precisions), exact_only)
        return
    if link_on != "auto" or precisions or exact_only:
        raise click.UsageError("--on, --precision and --exact-only go with --link")
    if proxies:
        asked = deid.ProxyRequest(
            sensitive=_columns(sensitive),
            features=_columns(features),
            threshold=proxy_threshold,
        )
        with opts.maybe_workspace() as ws, opts.progress(f"testing {source}") as step:
            step("reading")
            found = (
                deid.file_proxies(source, asked)
                if ws is None
                else ws.deid.proxies(source, asked, actor=opts.actor)
            )
        opts.emit(found, lambda: _print_proxies(found))
        return
    request = deid.RiskRequest(
        quasi_identifiers=_columns(quasi_identifiers),
        sensitive=_columns(sensitive),
        threshold=threshold,
        population_size=population_size,
    )
    with opts.maybe_workspace() as ws, opts.progress(f"measuring {source}") as step:
        step("reading")
        if ws is None:  # a file, without a workspace
            report = deid.file_risk(source, request, population=population)
        else:
            report = ws.deid.risk(
                source,
                request,
                actor=opts.actor,
                population=population,
                engine=engine,
                spark_master=spark_master,
            )
    opts.emit(report, lambda: _print_risk(source, report))


def _linkage(
    opts: Options, source: str, link: str, on: str, precisions: list[float], exact_only: bool
) -> None:
    columns = None if on.strip() == "auto" else _columns(on)
    with opts.workspace() as ws, opts.progress(f"linking {source}") as step:
        step("reading")
        if link == "auto-releases":
            releases = ws.deid.release_linkage(
                source,
                actor=opts.actor,
                on=columns,
                precisions=precisions or None,
                probabilistic=not exact_only,
            )
            opts.emit(releases, lambda: _print_releases(releases))
            return
        report = ws.deid.linkage(
            source,
            link,
            actor=opts.actor,
            on=columns,
            precisions=precisions or None,
            probabilistic=not exact_only,
        )
    opts.emit(report, lambda: _print_linkage(report))


def _print_releases(r: ReleasesReport) -> None:
    stdout.print(
        Text(
            f"Linkage of {r.source} with {len(r.pairs)} other release(s) of the same people: "
            f"at most {r.reidentified_max:,} people re-identified by one pair"
        )
    )
    for pair in r.pairs:
        _print_linkage(pair)
    for name, why in r.skipped.items():
        stdout.print(Text(f"  {name} not linked: {why}"))


def _print_linkage(r: LinkageReport) -> None:
    stdout.print(
        Text(
            f"Linkage of {r.source} ({r.rows_source:,} records) to {r.target} "
            f"({r.rows_target:,}) on {', '.join(c.name for c in r.columns)}"
        )
    )
    for c in r.columns:
        stdout.print(Text(f"  {c.name}: {c.reason}"))
    table = Table("attacker", "records", "share of A")
    table.add_row(
        "exact: match exactly one record of B", f"{r.unique_matches:,}", _fmt(r.unique_match_share)
    )
    table.add_row(
        "exact: re-identified by the pair (unique on both sides)",
        f"{r.reidentified:,}",
        _fmt(r.reidentified_share),
    )
    m = r.probabilistic
    if m is not None:
        for point in m.at_precision:
            table.add_row(
                f"Fellegi–Sunter at precision {point.precision:g}: expected correct links "
                f"({point.accepted_pairs:,} pairs accepted)",
                f"{point.expected_correct:,.1f}",
                _fmt(point.expected_correct / r.rows_source),
            )
    stdout.print(table)
    if m is not None:
        stdout.print(Text(f"  {m.method}, {m.candidate_pairs:,} candidate pairs; {m.note}"))


def _print_proxies(r: ProxyReport) -> None:
    stdout.print(
        Text(
            f"Proxies in {r.source}: {r.rows:,} records; a feature set is flagged at "
            f"{r.threshold * 100:g} points of accuracy above the base rate"
        )
    )
    table = Table("sensitive", "predicted from", "accuracy (95% CI)", "base rate", "flagged")
    for f in sorted(r.findings, key=lambda f: (f.sensitive, -f.lift)):
        table.add_row(
            Text(f.sensitive),
            Text("all features together" if f.together else f.features[0]),
            f"{f.accuracy:.3f} ({f.ci_low:.3f}–{f.ci_high:.3f})",
            f"{f.base_rate:.3f}",
            "yes" if f.flagged else "",
        )
    stdout.print(table)
    if r.binned:
        stdout.print(Text(f"numeric columns cut into deciles: {', '.join(r.binned)}"))


def _print_risk(source: str, r: RiskReport) -> None:
    stdout.print(
        Text(
            f"Risk of {source}: {r.rows:,} records, {r.classes:,} classes over "
            f"{', '.join(r.quasi_identifiers)}"
        )
    )
    table = Table("measure", "value")
    rows = [
        ("k (smallest class)", r.k),
        (f"ℓ ({', '.join(r.sensitive)})" if r.sensitive else "ℓ", r.l),
        ("t", r.t),
        ("prosecutor risk, max", r.prosecutor_risk_max),
        ("prosecutor risk, mean", r.prosecutor_risk_avg),
        (f"records at risk (> {r.threshold:g})", r.records_at_risk),
        ("journalist risk, max", r.journalist_risk_max),
        ("marketer risk", r.marketer_risk),
        ("sample uniques", r.sample_uniques),
        ("population uniques (estimate)", r.population_uniques_estimate),
    ]
    for name, value in rows:
        table.add_row(name, _fmt(value))
    stdout.print(table)
    contribution = Table("quasi-identifier", "contribution", title="what each column adds")
    for column, value in sorted(r.qi_contribution.items(), key=lambda kv: -kv[1]):
        contribution.add_row(Text(column), f"{value:.3f}")
    stdout.print(contribution)


@click.argument("column")  # decorators apply bottom-up: REF comes first on the line
@click.argument("ref", metavar="NAME[@VERSION]")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .csv, .parquet or .jsonl.",
)
@click.option("--purpose", required=True, help="Why; must be a purpose the data was collected for.")
@click.option("--namespace", default="", help="The token namespace used when protecting.")
@click.option("--force", "overwrite", is_flag=True, help="Replace the output file if it exists.")
@command(name="detokenize")
def detokenize_command(
    opts: Options,
    ref: str,
    column: str,
    output: Path,
    purpose: str,
    namespace: str,
    overwrite: bool,
) -> None:
    """Turn the reversible tokens of COLUMN back into values (a governed, logged read)."""
    with opts.workspace() as ws:
        done = ws.deid.detokenize(
            ref,
            column,
            purpose=purpose,
            actor=opts.actor,
            namespace=namespace,
            output=output,
            overwrite=overwrite,
        )
    data = {"dataset": ref, "column": column, "rows": done.rows, "output": str(output),
            "purpose": purpose, "log_index": done.log_index}  # fmt: skip
    opts.emit(
        data,
        lambda: stdout.print(
            Text(
                f"Detokenized {column} of {ref} ({done.rows:,} rows) into {output} for "
                f"{purpose}; audit entry {done.log_index}"
            )
        ),
    )
