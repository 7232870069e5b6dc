"""Client mode: ``--server URL --token T`` (or $PRIVET_SERVER / $PRIVET_TOKEN) on the commands
that make sense against a remote privet service: datasets, export, query, grant …, alerts,
kpis.

The same command then talks to the server through :class:`privet.server.Client` instead of
opening a local workspace; the server authenticates the token and enforces policy and grants,
so the remote result is exactly what the HTTP API allows. ``install(cli)`` adds the two
options to each command listed in ``REMOTE`` and dispatches on them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, stdout
from privet.policy import View

if TYPE_CHECKING:
    from privet.server import Client

Handler = Callable[..., None]


def _client(server: str, token: str) -> Client:
    from privet.server import Client

    return Client(server, token)


# -- handlers: (client, opts, **the command's own parameters) ----------------------------------


def _datasets(client: Client, opts: Options, name: str | None) -> None:
    from privet.catalog import DatasetInfo, DatasetSummary
    from privet.cli._catalog import print_dataset, print_list

    if name is not None:
        data = client.dataset(name)
        opts.emit(data, lambda: print_dataset(DatasetInfo.model_validate(data), []))
        return
    listing = client.datasets()
    opts.emit(listing, lambda: print_list([DatasetSummary.model_validate(d) for d in listing]))


def _export(
    client: Client, opts: Options, ref: str, output: Path, purpose: str, overwrite: bool, view: str
) -> None:
    data = client.export(ref, output, purpose=purpose, view=view, overwrite=overwrite)
    data.update(dataset=ref, view=view, purpose=purpose)
    opts.emit(
        data,
        lambda: stdout.print(
            Text(f"Exported {ref} ({data['bytes']:,} bytes) to {output} for {purpose} via server")
        ),
    )


def _query(
    client: Client,
    opts: Options,
    ref: str,
    sql: str,
    epsilon: float,
    delta: float | None,
    purpose: str,
    bounds: tuple[str, ...],
    keys: tuple[str, ...],
    max_rows_per_subject: int,
    engine: str | None = None,
    spark_master: str | None = None,
) -> None:
    from privet.cli._dp import query_request

    if engine is not None or spark_master is not None:
        raise click.UsageError(
            "--engine and --spark-master choose where a local command runs; with --server, "
            "the server decides"
        )
    request = query_request(sql, epsilon, delta, purpose, bounds, keys, max_rows_per_subject)
    # The same body the server's route validates as a QueryRequest.
    body = request.model_dump(mode="json", exclude_none=True, exclude={"sql"})
    result = client.query(ref, request.sql, **body)

    def human() -> None:
        rows = result["rows"]
        columns = list(rows[0]) if rows else []
        table = Table(*columns, title=f"DP answer on {result['dataset']}")
        for row in rows:
            table.add_row(*(Text(str(row[c])) for c in columns))
        stdout.print(table)
        stdout.print(
            f"Spent ε = {result['epsilon']:.4g}; ledger: ε {result['epsilon_spent']:.4g} spent, "
            f"{result['epsilon_remaining']:.4g} left."
        )

    opts.emit(result, human)


def _grant_line(grant: dict[str, Any]) -> str:
    until = f" until {str(grant['expires_at'])[:19]} UTC" if grant["status"] == "active" else ""
    return f"Grant {grant['id']}: {grant['status']}{until}."


def _grant_request(
    client: Client,
    opts: Options,
    dataset: str,
    view: View,
    purpose: str,
    duration_seconds: str,
    reason: str,
) -> None:
    from privet.cli._access import grant_request_of

    request = grant_request_of(dataset, view, purpose, duration_seconds, reason)
    grant = client.request_grant(request)
    opts.emit(grant, lambda: stdout.print(Text(_grant_line(grant))))


def _grant_action(verb: str) -> Handler:
    def handler(client: Client, opts: Options, grant_id: str) -> None:
        grant = client.decide_grant(grant_id, verb)
        opts.emit(grant, lambda: stdout.print(Text(_grant_line(grant))))

    return handler


def _grant_list(client: Client, opts: Options, status: str | None, user: str | None) -> None:
    grants = [g for g in client.grants(status) if user is None or g["user"] == user]

    def human() -> None:
        table = Table("id", "user", "dataset", "view", "purpose", "status", "expires")
        for g in grants:
            table.add_row(
                g["id"],
                Text(g["user"]),
                Text(g["dataset"]),
                g["view"],
                Text(g["purpose"]),
                g["status"],
                str(g["expires_at"] or "-")[:19],
            )
        stdout.print(table)

    opts.emit(grants, human)


def _alerts(client: Client, opts: Options, since: int | None) -> None:
    found = client.alerts(since)

    def human() -> None:
        table = Table("#", "time", "user", "dataset", "kind", "severity")
        for a in found:
            table.add_row(
                str(a["id"]),
                str(a["created_at"])[:19],
                Text(a["user"]),
                Text(a["dataset"]),
                a["kind"],
                a["severity"],
            )
        stdout.print(table if found else "No alerts.")

    opts.emit(found, human)


def _kpis(client: Client, opts: Options, since: str | None, bucket: str) -> None:
    from privet.account import Kpis
    from privet.cli._kpis import parse_since, print_kpis

    start = parse_since(since)
    data = client.kpis(start.isoformat() if start else None, bucket)
    opts.emit(data, lambda: print_kpis(Kpis.model_validate(data)))


REMOTE: dict[tuple[str, ...], Handler] = {
    ("datasets", "show"): _datasets,
    ("export",): _export,
    ("query",): _query,
    ("grant", "request"): _grant_request,
    ("grant", "approve"): _grant_action("approve"),
    ("grant", "deny"): _grant_action("deny"),
    ("grant", "revoke"): _grant_action("revoke"),
    ("grant", "list"): _grant_list,
    ("alerts",): _alerts,
    ("kpis",): _kpis,
}


# -- wiring ------------------------------------------------------------------------------------


def install(group: click.Group) -> None:
    """Give every command of ``REMOTE`` that exists in ``group`` its client mode."""
    for path, handler in REMOTE.items():
        command: Any = group
        for part in path:
            command = command.commands.get(part) if isinstance(command, click.Group) else None
        if isinstance(command, click.Command) and command.callback is not None:
            _wrap(command, handler)


def _wrap(command: click.Command, handler: Handler) -> None:
    command.params += [
        click.Option(
            ["--server"],
            metavar="URL",
            help="Talk to a privet server instead of a local workspace ($PRIVET_SERVER).",
        ),
        click.Option(
            ["--token"],
            metavar="TOKEN",
            help="API token for --server ($PRIVET_TOKEN; the variable keeps it out of `ps`).",
        ),
    ]
    local = command.callback
    assert local is not None

    def callback(*, server: str | None, token: str | None, **kwargs: Any) -> Any:
        server = server or os.environ.get("PRIVET_SERVER")
        if not server:
            if token:
                raise click.UsageError("--token needs --server URL (or $PRIVET_SERVER)")
            return local(**kwargs)
        if kwargs.get("workspace"):
            raise click.UsageError("give either --server or -w/--workspace, not both")
        if kwargs.get("actor"):
            raise click.UsageError("--as does not apply with --server: the token says who you are")
        token = token or os.environ.get("PRIVET_TOKEN")
        if not token:
            raise click.UsageError("--server needs a token: --token T or $PRIVET_TOKEN")
        opts = Options(None, kwargs.pop("as_json"), None)
        del kwargs["workspace"], kwargs["actor"]
        client = _client(server, token)
        try:
            return handler(client, opts, **kwargs)
        finally:
            client.close()

    command.callback = callback
