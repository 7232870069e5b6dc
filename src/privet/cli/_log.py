"""Commands on the audit log and on keys."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, cli, command, stdout
from privet.errors import InvalidInput
from privet.tables import file_errors


@cli.group(name="log")
def log_group() -> None:
    """The tamper-evident audit log: show, verify, checkpoint, prove."""


@click.option("--start", default=0, type=click.IntRange(min=0), help="First index to show.")
@click.option("--limit", default=50, type=click.IntRange(min=1), help="How many entries.")
@command(log_group, name="show")
def log_show(opts: Options, start: int, limit: int) -> None:
    """Show log entries (ids, hashes and counts; never data values)."""
    with opts.workspace() as ws:
        size, records = ws.log.page(start, limit)
    data = {
        "size": size,
        "entries": [{"index": r.index, "leaf_hash": r.leaf_hash.hex(), **r.event} for r in records],
    }

    def human() -> None:
        table = Table("#", "time", "actor", "event", "details", title=f"audit log ({size} entries)")
        for r in records:
            rest = {k: v for k, v in r.event.items() if k not in ("ts", "actor", "event")}
            details = " ".join(f"{k}={str(v)[:16]}" for k, v in sorted(rest.items()))
            table.add_row(
                str(r.index),
                r.event.get("ts", "")[:19],
                Text(r.event.get("actor", "")),
                r.event.get("event", ""),
                Text(details),
            )
        stdout.print(table)

    opts.emit(data, human)


@click.option(
    "--verifier-key", metavar="VKEY", help="Pin the checkpoint key (else the stored one)."
)
@command(log_group, name="verify")
def log_verify(opts: Options, verifier_key: str | None) -> None:
    """Recompute every entry hash and the Merkle tree; check every signed checkpoint and
    every governance row against its latest attestation."""
    with opts.workspace() as ws:
        report = ws.log.verify(verifier_key)
    data = {
        "ok": True,
        "size": report.size,
        "root": report.root.hex(),
        "checkpoints": report.checkpoints,
        "governance": report.governance,
    }
    opts.emit(
        data,
        lambda: stdout.print(
            f"Log verified: {report.size} entries, root {report.root.hex()[:16]}…, "
            f"{report.checkpoints} signed checkpoint(s) match, {report.governance} governance "
            "object(s) match their attestations."
        ),
    )


@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the signed note to this file.",
)
@command(log_group, name="checkpoint")
def log_checkpoint(opts: Options, output: Path | None) -> None:
    """Sign a checkpoint of the whole log (C2SP signed note, Ed25519) and print it."""
    with opts.workspace() as ws:
        row = ws.log.checkpoint()
        vkey = ws.log.verifier_key
    if output is not None:
        from privet.auditlog import write_note

        write_note(output, row.note)
    data = {"size": row.size, "root": bytes(row.root).hex(), "note": row.note, "verifier_key": vkey}
    opts.emit(data, lambda: click.echo(row.note, nl=False))


@click.argument("index", type=int, required=False)
@click.option(
    "--since",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="CHECKPOINT_FILE",
    help="Prove the latest checkpoint extends this older one (consistency proof).",
)
@command(log_group, name="prove")
def log_prove(opts: Options, index: int | None, since: Path | None) -> None:
    """An inclusion proof for entry INDEX, or a consistency proof --since an old checkpoint."""
    if (index is None) == (since is None):
        raise click.UsageError("give either INDEX or --since CHECKPOINT_FILE")
    proof: Mapping[str, object]
    with opts.workspace() as ws:
        if index is not None:
            proof = ws.log.prove_inclusion(index)
        elif since is not None:
            with file_errors(since):
                data = since.read_bytes()
            try:
                note = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{since} is not a readable checkpoint file") from None
            proof = ws.log.prove_consistency(note)
    opts.emit(proof)


@cli.group(name="keys")
def keys_group() -> None:
    """Encryption keys of the workspace."""


@click.option(
    "--reencrypt", is_flag=True, help="Also rewrite every stored version under the new key."
)
@command(keys_group, name="rotate")
def keys_rotate(opts: Options, reencrypt: bool) -> None:
    """Add a new primary key; older versions stay readable."""
    with opts.workspace() as ws, opts.progress("rotating keys") as step:
        step("re-encrypting" if reencrypt else "rotating")
        result = ws.rotate_keys(actor=opts.actor, reencrypt=reencrypt)
    opts.emit(
        result,
        lambda: stdout.print(
            f"New primary key {result['workspace_key_id']} ({result['workspace_keys']} keys in the "
            f"workspace keyset, {result['dataset_keysets']} dataset keyset(s) rotated, "
            f"{result['reencrypted_versions']} version(s) re-encrypted)."
        ),
    )
