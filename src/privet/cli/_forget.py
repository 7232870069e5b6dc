"""Commands that forget: erase, erasure, retention."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, cli, command, stdout
from privet.errors import InvalidInput
from privet.forget import EraseRequest, ErasureResult


@click.option(
    "--subject",
    "subjects",
    multiple=True,
    metavar="ID",
    help="A subject's id, as stored; repeat for several.",
)
@click.option(
    "--subjects-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A file of subject ids, one per line (a batch erasure in one request).",
)
@click.option("--dataset", metavar="NAME", help="Only this dataset and what was derived from it.")
@click.option("--reason", required=True, help="Why (kept in the catalog, never in the log).")
@click.option(
    "--receipt",
    "receipt_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the signed receipt to this file.",
)
@command(name="erase")
def erase_command(
    opts: Options,
    subjects: tuple[str, ...],
    subjects_file: Path | None,
    dataset: str | None,
    reason: str,
    receipt_path: Path | None,
) -> None:
    """Erase subjects from every version, derived dataset, synthetic dataset and model.

    Needs a role the policy lists in erasure_roles. Prints the signed receipt and each
    subject's nonce (shown once, kept nowhere: with it the subject checks the receipt).
    """
    ids = list(subjects)
    if subjects_file is not None:
        ids += [
            line.strip() for line in subjects_file.read_text("utf-8").splitlines() if line.strip()
        ]
    if not ids:
        raise InvalidInput("give the subject to erase", parameter="subject")
    request = EraseRequest(subjects=ids, dataset=dataset, reason=reason)
    with opts.workspace() as ws, opts.progress("erasing") as step:
        result = ws.forget.erase(request, actor=opts.actor, progress=step)
    if receipt_path is not None:
        receipt_path.write_text(result.note, encoding="utf-8")
    opts.emit(result, lambda: _print_result(result))


def _print_result(result: ErasureResult) -> None:
    receipt = result.receipt
    stdout.print(Text(f"Erasure {result.id}: {result.status}", style="bold"))
    for store in receipt["stores"]:
        removed = f", {store['rows_removed']} row(s) removed" if "rows_removed" in store else ""
        stdout.print(Text(f"  {store['dataset']}@{store['version']}: {store['action']}{removed}"))
    for model in receipt["models"]:
        stdout.print(Text(f"  model {model['model']}: {model['action']}"))
    if receipt["exports"]:
        stdout.print(Text(f"  {len(receipt['exports'])} earlier export(s) to follow up:"))
        for export in receipt["exports"]:
            stdout.print(
                Text(
                    f"    {export['ts']} {export['actor']} via {export['channel']} "
                    f"for {export['purpose']}"
                )  # fmt: skip
            )
    stdout.print(Text("  each subject's nonce (give it to them; shown once, kept nowhere):"))
    for subject, nonce in result.nonces.items():
        stdout.print(Text(f"    {subject}: {nonce}"))
    stdout.print(Text("Receipt (a C2SP signed note):"))
    stdout.print(Text(result.note.rstrip("\n")))


@cli.group(name="erasure")
def erasure_group() -> None:
    """Erasure requests: list them, finish pending ones, show and verify receipts."""


@command(erasure_group, name="list")
def erasure_list(opts: Options) -> None:
    """Every erasure request with its status and deadline (30 days)."""
    with opts.workspace() as ws:
        rows = ws.forget.requests()

    def human() -> None:
        table = Table("id", "status", "requested", "by", "due", "overdue")
        for r in rows:
            table.add_row(r.id, r.status, f"{r.requested_at:%Y-%m-%d}", r.requested_by,
                          f"{r.due_at:%Y-%m-%d}", "yes" if r.overdue else "")  # fmt: skip
        stdout.print(table)

    opts.emit(rows, human)


@command(erasure_group, name="run")
def erasure_run(opts: Options) -> None:
    """Finish erasures left pending (after a crash): each step is done once."""
    with opts.workspace() as ws, opts.progress("erasing") as step:
        results = ws.forget.run_pending(actor=opts.actor, progress=step)
    opts.emit(results, lambda: stdout.print(Text(f"{len(results)} pending erasure(s) finished")))


@click.argument("request_id")
@command(erasure_group, name="receipt")
def erasure_receipt(opts: Options, request_id: str) -> None:
    """The signed receipt of a finished erasure."""
    with opts.workspace() as ws:
        note = ws.forget.receipt(request_id)
    opts.emit({"note": note}, lambda: click.echo(note, nl=False))


@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "verifier_key", help="Verifier key (default: this workspace's).")
@click.option("--subject", metavar="ID", help="With --nonce: check the receipt is about ID.")
@click.option("--nonce", metavar="HEX", help="The nonce handed out with the receipt.")
@command(erasure_group, name="verify")
def erasure_verify(
    opts: Options, file: Path, verifier_key: str | None, subject: str | None, nonce: str | None
) -> None:
    """Verify a receipt's signature (and, with --subject and --nonce, whose it is)."""
    from privet.forget import check_subject

    if (subject is None) != (nonce is None):
        raise InvalidInput("give both the subject and the nonce, or neither", parameter="nonce")
    note = file.read_text(encoding="utf-8")
    if verifier_key is None:
        with opts.workspace() as ws:
            receipt = ws.forget.verify_receipt(note)
    else:
        from privet.forget import verify_receipt

        receipt = verify_receipt(note, verifier_key)
    data = {"valid": True, "receipt": receipt}
    if subject is not None and nonce is not None:
        data["subject_matches"] = check_subject(receipt, subject, nonce)
    opts.emit(data, lambda: stdout.print(Text(_verdict(data))))


def _verdict(data: dict[str, object]) -> str:
    line = "receipt verifies"
    if "subject_matches" in data:
        line += (
            "; it is about this subject"
            if data["subject_matches"]
            else ("; it is NOT about this subject")
        )
    return line


@cli.group(name="retention")
def retention_group() -> None:
    """Retention: destroy what expired (crypto-shredding); keep decisions."""


@click.option("--dry-run", is_flag=True, help="List what would be destroyed; change nothing.")
@command(retention_group, name="run")
def retention_run(opts: Options, dry_run: bool) -> None:
    """Destroy expired versions, what was made from them and models trained on them."""
    with opts.workspace() as ws, opts.progress("retention") as step:
        report = ws.forget.retention(actor=opts.actor, dry_run=dry_run, progress=step)

    def human() -> None:
        verb = "would destroy" if report.dry_run else "destroyed"
        stdout.print(Text(f"retention {verb} {len(report.destroyed)} object(s)"))
        for item in report.destroyed:
            stdout.print(
                Text(f"  {item.kind} {item.name}: {item.reason} (due {item.due_at:%Y-%m-%d})")
            )

    opts.emit(report, human)


@click.option("--days", default=30.0, show_default=True, help="Look this many days ahead.")
@command(retention_group, name="due")
def retention_due(opts: Options, days: float) -> None:
    """Versions that expire within --days days (or are overdue)."""
    with opts.workspace() as ws:
        rows = ws.forget.due(within_days=days)

    def human() -> None:
        for row in rows:
            stdout.print(Text(f"{row.dataset}@{row.version}: due {row.due_at:%Y-%m-%d}"))

    opts.emit(rows, human)


@click.argument("name")
@click.option("--reason", required=True, help="Why it no longer singles anyone out.")
@command(retention_group, name="keep")
def retention_keep(opts: Options, name: str, reason: str) -> None:
    """Keep a derived dataset or model beyond its source and its erased subjects (owner)."""
    with opts.workspace() as ws:
        info = ws.forget.keep(name, reason=reason, actor=opts.actor)
    opts.emit(info, lambda: stdout.print(Text(f"{name} is kept: {info.reason}")))


@click.argument("name")
@command(retention_group, name="unkeep")
def retention_unkeep(opts: Options, name: str) -> None:
    """Withdraw a keep decision: NAME follows its source again."""
    with opts.workspace() as ws:
        ws.forget.unkeep(name, actor=opts.actor)
    opts.emit(
        {"name": name, "kept": False}, lambda: stdout.print(Text(f"{name} follows its source"))
    )
