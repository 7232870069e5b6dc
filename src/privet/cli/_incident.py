"""``privet incident``: scope what an actor or API token did; contain; seal the people for
the DPO. Subject ids are never printed: they leave only sealed (``--seal-to``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from privet.cli._app import Options, cli, command, stdout
from privet.errors import InvalidInput

_TIME_HELP = "ISO 8601 time (UTC unless it has an offset), e.g. 2026-12-01T08:00"


def _time(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{flag} is not an ISO 8601 time ({value[:40]!r}); write e.g. 2026-12-01T08:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cli.group(name="incident", invoke_without_command=True)
@click.option("--actor", metavar="USER", help="The user (or logged actor) to scope.")
@click.option("--token", metavar="ID", help="Scope one API token's use only (its id).")
@click.option("--since", metavar="TIME", help=f"Start of the window; {_TIME_HELP}.")
@click.option("--until", metavar="TIME", help=f"End of the window (default now); {_TIME_HELP}.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write an HTML report.")
@click.option("--contain", is_flag=True, help="First revoke the actor's tokens and grants.")
@click.option(
    "--seal-to",
    type=click.Path(path_type=Path),
    metavar="PUBLIC_KEYSET",
    help="The DPO's public Tink keyset: seal the subject ids to it (with --sealed-out).",
)
@click.option(
    "--sealed-out", type=click.Path(path_type=Path), metavar="FILE", help="The sealed file."
)
@click.option("-w", "--workspace", "workspace", metavar="PATH", help="Workspace folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--as", "as_actor", metavar="USER", help="Who is investigating.")
@click.pass_context
def incident(
    ctx: click.Context,
    actor: str | None,
    token: str | None,
    since: str | None,
    until: str | None,
    output: Path | None,
    contain: bool,
    seal_to: Path | None,
    sealed_out: Path | None,
    workspace: str | None,
    as_json: bool,
    as_actor: str | None,
) -> None:
    """Scope an incident: what --actor U (or one --token ID) read, exported and made in a
    window — datasets, versions, views, columns, records, distinct people, purposes,
    releases and models, exports, alerts — with the GDPR Art. 33(3) fields prefilled.

    The people themselves are never printed: --seal-to KEYSET --sealed-out FILE writes
    their ids encrypted for the DPO (make a key pair with `privet incident dpo-key`).
    """
    if ctx.invoked_subcommand is not None:
        return
    opts = Options(workspace, as_json, as_actor)
    if (actor is None) == (token is None):
        raise InvalidInput("give exactly one of --actor or --token")
    if (seal_to is None) != (sealed_out is None):
        raise InvalidInput("--seal-to and --sealed-out go together")
    start, end = _time(since, "--since"), _time(until, "--until")
    # Refused before anything is done (a containment is not undone by a bad file name).
    from privet import account  # loaded when used: it is heavy for every other command

    for path in (output, sealed_out):
        if path is not None:
            account.check_new(path)
    with opts.workspace() as ws:
        found = ws.incidents.investigate(
            actor=actor, token=token, since=start, until=end, by=opts.actor, contain=contain
        )
        sealed = None
        if seal_to is not None and sealed_out is not None:
            sealed = ws.incidents.seal(found, seal_to, sealed_out, by=opts.actor)
        if output is not None:
            ws.incidents.html(found, output)

    def human() -> None:
        n = found.notification
        who = f"{found.actor} (token {found.token})" if found.token else found.actor
        stdout.print(f"Incident scope of {who}: log entry {found.log_index}.", markup=False)
        stdout.print(
            f"  {found.reads} reads ({found.refused} refused) of {len(found.datasets)} "
            f"dataset(s); {found.rows} records disclosed; {found.subjects.total} people "
            f"({found.subjects.method}).",
            markup=False,
        )
        for v in found.versions:
            shown = "" if v.disclosed else " (processed only)"
            stdout.print(
                f"  {v.dataset}@{v.version}{shown}: views {', '.join(v.views)}; "
                f"{v.rows} records; people {v.subjects if v.subjects is not None else '-'}; "
                f"purposes {', '.join(v.purposes)}",
                markup=False,
            )
        for e in found.exports:
            stdout.print(f"  export: {e.dataset}@{e.version} → {e.channel}", markup=False)
        for m in found.made:
            stdout.print(f"  made: {m.kind} {m.name or m.id} by {m.made_by}", markup=False)
        stdout.print(f"  alerts: {len(found.alerts)}; severity {n.severity}.", markup=False)
        if found.containment:
            c = found.containment
            stdout.print(
                f"  contained: {len(c.tokens_revoked)} token(s), {len(c.grants_revoked)} "
                f"grant(s) revoked (log entry {c.log_index}).",
                markup=False,
            )
        if output is not None:
            stdout.print(f"  report: {output}", markup=False)
        if sealed is not None:
            stdout.print(
                f"  sealed {sealed.subjects} subject id(s) to {sealed.path} "
                f"(log entry {sealed.log_index}).",
                markup=False,
            )

    data = found.model_dump(mode="json")
    if sealed is not None:
        data["sealed"] = sealed.model_dump(mode="json")
    if output is not None:
        data["report"] = str(output)
    opts.emit(data, human)


@click.argument("sealed", metavar="FILE", type=click.Path(path_type=Path))
@click.option(
    "--private-keyset",
    required=True,
    type=click.Path(path_type=Path),
    metavar="KEYSET",
    help="The DPO's private Tink keyset.",
)
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write the list here.")
@command(incident, name="unseal")
def incident_unseal(opts: Options, sealed: Path, private_keyset: Path, output: Path | None) -> None:
    """For the DPO: open a sealed subject list (prints it, or writes it with -o)."""
    from privet import account

    # No workspace: the DPO opens the file wherever the private key is kept.
    opened = account.unseal(sealed, private_keyset)
    if output is not None:
        account.write_new(output, json.dumps(opened, indent=2, ensure_ascii=False))
        stdout.print(f"Wrote the subject list to {output}.", markup=False)
        return

    def human() -> None:
        for dataset, ids in sorted(opened["subjects"].items()):
            stdout.print(f"{dataset}: {len(ids)} subject(s)", markup=False)
            for value in ids:
                stdout.print(f"  {value}", markup=False)

    opts.emit(opened, human)


@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), help="Folder for the keys."
)
@command(incident, name="dpo-key")
def incident_dpo_key(opts: Options, output: Path) -> None:
    """Make the DPO's key pair (Tink HPKE, X25519): dpo-private.json (keep it offline) and
    dpo-public.json (for --seal-to)."""
    from privet import account

    private, public = account.make_dpo_key(output)
    opts.emit(
        {"private_keyset": str(private), "public_keyset": str(public)},
        lambda: stdout.print(
            f"Private keyset: {private} (keep it offline)\nPublic keyset: {public}", markup=False
        ),
    )
