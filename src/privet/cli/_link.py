"""``privet link --psi``: private set intersection with a peer workspace's server."""

from __future__ import annotations

import dataclasses
import os

import click
from rich.text import Text

from privet.cli._app import Options, command, stdout
from privet.errors import InvalidInput


@click.argument("dataset")
@click.option(
    "--buckets",
    type=click.IntRange(1, 256),
    help="Hash buckets run in parallel (default: 4 per CPU core; 1 for small sets).",
)
@click.option(
    "--token",
    metavar="TOKEN",
    help="API token on the peer's server ($PRIVET_TOKEN; the variable keeps it out of `ps`).",
)
@click.option(
    "--name",
    metavar="NAME",
    help="Derived dataset for the matching rows (default: DATASET-psi).",
)
@click.option(
    "--size-only", is_flag=True, help="Learn only the size of the intersection, not its values."
)
@click.option("--peer-column", metavar="COL", help="The peer's column (default: --on).")
@click.option("--peer-dataset", metavar="NAME", help="The peer's dataset (default: DATASET).")
@click.option(
    "--purpose",
    required=True,
    help="Why both sides read the column (a declared purpose, with a grant where needed).",
)
@click.option("--on", "column", required=True, metavar="COL", help="The column to intersect.")
@click.option(
    "--peer",
    required=True,
    metavar="URL",
    help="The peer workspace's privet server (https://HOST:PORT; plain http on loopback only).",
)
@click.option("--psi", is_flag=True, help="Link by private set intersection (openmined-psi).")
@command(name="link")
def link_command(
    opts: Options,
    dataset: str,
    psi: bool,
    peer: str,
    column: str,
    purpose: str,
    peer_dataset: str | None,
    peer_column: str | None,
    size_only: bool,
    name: str | None,
    token: str | None,
    buckets: int | None,
) -> None:
    """Find the values of a column that a peer workspace also has, and nothing else.

    Private set intersection (openmined-psi, ECDH): each side reads its own column through
    its own broker for --purpose (policy, grant, log entry). You learn which of your values
    the peer has; the matching rows of DATASET become a derived dataset (encrypted, in
    lineage; default name DATASET-psi) and are never printed. With --size-only you learn
    only how many. The peer learns how many values you sent (padded), never the
    intersection or its size. Both logs record the run with counts only, never a value.
    """
    from privet.server import Client

    if not psi:
        raise click.UsageError("give --psi (private set intersection is the linking method)")
    if size_only and name:
        raise click.UsageError("--name applies without --size-only (no rows are stored)")
    token = token or os.environ.get("PRIVET_TOKEN")
    if not token:
        raise InvalidInput("the peer needs a token: --token T or $PRIVET_TOKEN")
    remote_dataset, remote_column = peer_dataset or dataset.split("@")[0], peer_column or column
    with Client(peer, token) as client, opts.workspace() as ws, opts.progress("linking") as step:

        def send(message: bytes) -> bytes:
            return client.psi(remote_dataset, message, column=remote_column, purpose=purpose)

        result = ws.federated.link_psi(
            dataset,
            column,
            peer=send,
            peer_label=peer,
            purpose=purpose,
            actor=opts.actor,
            reveal=not size_only,
            name=name,
            buckets=buckets,
            progress=step,
        )
    data = dataclasses.asdict(result)

    def human() -> None:
        stdout.print(
            Text(
                f"{result.intersection:,} of the {result.ids:,} values of {result.column} in "
                f"{result.dataset} are in the peer's set ({result.peer_ids:,} values with "
                f"padding); {result.seconds:.1f} s, {result.bytes_sent:,} bytes sent, "
                f"{result.bytes_received:,} received."
            )
        )
        if result.output:
            stdout.print(Text(f"The matching rows are dataset {result.output} (run {result.run})."))
        else:
            stdout.print(Text(f"Only the size was learnt (run {result.run})."))

    opts.emit(data, human)
