"""Commands on the catalog: init, ingest, datasets, export, gc."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from privet.catalog import (
    LEGAL_BASES,
    SUBJECT_LINK,
    DatasetInfo,
    DatasetSummary,
    Level,
    Role,
)
from privet.cli._app import Options, PrivetGroup, cli, command, pairs, stdout
from privet.workspace import Workspace


@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--kms-uri",
    metavar="URI",
    help="Master key: aws-kms://ARN, or local-file:///PATH (default: a new key file under "
    "$PRIVET_KEY_DIR or ~/.config/privet/keys, outside the workspace).",
)
@click.option(
    "--database-url",
    metavar="URL",
    help="Catalog database, e.g. postgresql+psycopg://host/db (default: SQLite in the workspace).",
)
@command(name="init")
def init_command(opts: Options, path: Path, kms_uri: str | None, database_url: str | None) -> None:
    """Create a workspace in PATH (default: the current folder)."""
    ws = Workspace.init(path, kms_uri=kms_uri, database_url=database_url, actor=opts.actor)
    with ws:
        data = {
            "workspace": str(ws.folder),
            "id": ws.id,
            "kms_uri": ws.kms_uri,
            "database": "sqlite (in the workspace)" if not database_url else "external",
            "log_verifier_key": ws.log.verifier_key,
        }

    def human() -> None:
        stdout.print(Text(f"Created workspace {data['workspace']}"))
        stdout.print(Text(f"  master key:   {data['kms_uri']}  (keep it safe: no key, no data)"))
        stdout.print(Text(f"  log verifier: {data['log_verifier_key']}"))

    opts.emit(data, human)


@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Dataset name (letters, digits, _ . -).")
@click.option("--owner", help="Who answers for the dataset (required for a new dataset).")
@click.option(
    "--purpose",
    "purposes",
    multiple=True,
    help="A purpose the data was collected for; repeat for several. Reads need one of them.",
)
@click.option("--legal-basis", type=click.Choice(LEGAL_BASES), help="GDPR Art. 6 legal basis.")
@click.option("--retention", "retention_days", type=int, metavar="DAYS", help="Retention period.")
@click.option("--subject-id", metavar="COL", help="Column identifying the data subject.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    metavar="COL=KEY",
    help="Data category of a column (fideslang key such as user.contact.email).",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    metavar="COL=ROLE",
    help=f"Override a column's role ({', '.join(r.value for r in Role)}).",
)
@click.option(
    "--classification",
    type=click.Choice([lv.value for lv in Level]),
    help="Raise the classification above what the categories imply.",
)
@click.option("--new-version", is_flag=True, help="Add a version to an existing dataset.")
@click.option(
    "--no-scan",
    is_flag=True,
    help="Skip discovery: undeclared columns get no category (role other).",
)
@command(name="ingest")
def ingest_command(
    opts: Options,
    file: Path,
    name: str,
    owner: str | None,
    purposes: tuple[str, ...],
    legal_basis: str | None,
    retention_days: int | None,
    subject_id: str | None,
    categories: tuple[str, ...],
    roles: tuple[str, ...],
    classification: str | None,
    new_version: bool,
    no_scan: bool,
) -> None:
    """Encrypt FILE (CSV, Parquet or JSON lines) and register it as a dataset version.

    Columns without --category/--role are classified by discovery (see privet scan) unless
    --no-scan is given; declared flags win.
    """
    with opts.workspace() as ws, opts.progress(f"ingesting {file.name}") as step:
        version = ws.ingest(
            file,
            name=name,
            owner=owner or "",
            purposes=list(purposes),
            actor=opts.actor,
            legal_basis=legal_basis,
            retention_days=retention_days,
            subject_id=subject_id,
            categories=pairs(categories, "--category"),
            roles=pairs(roles, "--role"),
            classification=classification,
            new_version=new_version,
            scan=not no_scan,
            progress=step,
        )

    def human() -> None:
        stdout.print(
            Text(
                f"Ingested {version.ref}: {version.rows:,} rows, {len(version.columns)} columns, "
                f"classification {version.classification}, encrypted "
                f"({version.stored_bytes:,} bytes stored)"
            )
        )

    opts.emit(version, human)


class _DatasetsGroup(PrivetGroup):
    """``privet datasets [NAME]`` as before, plus subcommands (``annotate``).

    A first argument that is not a subcommand is a dataset name for ``show``.
    """

    _VALUED = frozenset({"-w", "--workspace", "--as"})

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not any(a in ("-h", "--help") for a in args[:1]):
            first, skip = None, False
            for arg in args:
                if skip:
                    skip = False
                elif arg in self._VALUED:
                    skip = True
                elif not arg.startswith("-"):
                    first = arg
                    break
            if first is None or first not in self.commands:
                args = ["show", *args]
        return super().parse_args(ctx, args)


@cli.group(name="datasets", cls=_DatasetsGroup)
def datasets_group() -> None:
    """List datasets, show one (privet datasets NAME), or correct a column's classification."""


@click.argument("name", required=False)
@command(group=datasets_group, name="show")
def datasets_command(opts: Options, name: str | None) -> None:
    """List datasets, or show one: versions, columns, classification, lineage."""
    with opts.workspace() as ws:
        if name is None:
            listing = ws.datasets()
            opts.emit(listing, lambda: print_list([d.summary() for d in listing]))
            return
        dataset, edges = ws.describe(name)
        data = {
            **dataset.model_dump(mode="json"),
            "lineage": [
                {"source": e.source, "target": e.target, "activity": e.activity, **e.facts}
                for e in edges
            ],
        }
        opts.emit(data, lambda: print_dataset(dataset, data["lineage"]))


def print_list(listing: list[DatasetSummary]) -> None:
    """The dataset table, local or from a server (both list :class:`DatasetSummary`)."""
    if not listing:
        stdout.print(
            "No datasets yet. Add one with: privet ingest FILE --name N --owner O --purpose P"
        )
        return
    table = Table("name", "owner", "classification", "purposes", "versions", "rows (latest)")
    for d in listing:
        table.add_row(
            Text(d.name),
            Text(d.owner),
            d.classification,
            Text(", ".join(d.purposes)),
            str(d.versions),
            f"{d.rows:,}" if d.rows is not None else "-",
        )
    stdout.print(table)


def print_dataset(d: DatasetInfo, lineage: list[dict]) -> None:
    stdout.print(Text(f"{d.name}  ({d.classification})", style="bold"))
    stdout.print(Text(f"  owner: {d.owner}   purposes: {', '.join(d.purposes)}"))
    subject = d.subject_id_column or "none"
    if subject == SUBJECT_LINK:
        subject = "linked to the source's people (a keyed pseudonym only DP releases see)"
    stdout.print(
        Text(
            f"  legal basis: {d.legal_basis or 'not declared'}   retention: "
            f"{f'{d.retention_days} days' if d.retention_days else 'not set'}   subject id: "
            f"{subject}"
        )
    )
    versions = Table("version", "rows", "columns", "created", "by", "content sha256")
    for v in d.versions:
        gone = f"destroyed {v.shredded_at:%Y-%m-%d} ({v.shred_reason})" if v.shredded_at else ""
        versions.add_row(
            v.ref,
            gone or f"{v.rows:,}",
            str(len(v.columns)),
            v.created_at.strftime("%Y-%m-%d %H:%M"),
            Text(v.created_by),
            v.content_sha256[:16] + "…",
        )
    stdout.print(versions)
    if d.versions:
        columns = Table(
            "column",
            "type",
            "holds",
            "category",
            "role",
            "source",
            title=f"columns of {d.versions[-1].ref}",
        )
        for c in d.versions[-1].columns:
            how = c.source if c.confidence is None else f"{c.source} ({c.confidence:.2f})"
            holds = f"{c.meaning}s as text" if c.meaning else "-"
            columns.add_row(Text(c.name), c.dtype, holds, c.category or "-", c.role, how)
        stdout.print(columns)
    for edge in lineage:
        stdout.print(Text(f"  lineage: {edge['source']} --{edge['activity']}--> {edge['target']}"))


@click.argument("column")
@click.argument("name")
@click.option(
    "--category",
    metavar="KEY",
    help="The column's data category (fideslang key such as user.contact.email).",
)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    help="The column's role (default: the category's usual role).",
)
@command(group=datasets_group, name="annotate")
def annotate_command(
    opts: Options, name: str, column: str, category: str | None, role: str | None
) -> None:
    """Correct the classification of COLUMN in the latest version of dataset NAME.

    The correction is logged, wins over later scans, and recomputes the dataset's level.
    """
    with opts.workspace() as ws:
        result = ws.scan.annotate(name, column, category=category, role=role, actor=opts.actor)

    def human() -> None:
        stdout.print(
            Text(
                f"{result.dataset}@{result.version} column {result.column}: "
                f"{result.old_category or '-'} ({result.old_role}) -> {result.category or '-'} "
                f"({result.role}); classification {result.classification}; audit entry "
                f"{result.log_index}"
            )
        )

    opts.emit(result, human)


@click.argument("ref", metavar="NAME[@VERSION]")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file: .csv, .parquet or .jsonl.",
)
@click.option("--purpose", required=True, help="Why you read it; must be a declared purpose.")
@click.option("--force", "overwrite", is_flag=True, help="Replace the output file if it exists.")
@click.option(
    "--view",
    default="raw",
    show_default=True,
    type=click.Choice(["raw", "masked", "pseudonymized", "protected", "synthetic"]),
    help="Which view (others than the owner need a grant for it).",
)
@command(name="export")
def export_command(
    opts: Options, ref: str, output: Path, purpose: str, overwrite: bool, view: str
) -> None:
    """Read a dataset through the broker (policy and grant, decryption, audit) into a file."""
    with opts.workspace() as ws, opts.progress(f"exporting {ref}") as step:
        step("decrypting")
        release = ws.export(
            ref, output, purpose=purpose, actor=opts.actor, overwrite=overwrite, view=view
        )
    data = {
        "dataset": release.version.ref,
        "view": view,
        "rows": release.frame.height,
        "columns": len(release.version.columns),
        "output": str(output),
        "purpose": purpose,
        "log_index": release.log_index,
    }
    opts.emit(
        data,
        lambda: stdout.print(
            Text(
                f"Exported {data['dataset']} ({data['rows']:,} rows) to {output} "
                f"for {purpose}; audit entry {release.log_index}"
            )
        ),
    )


@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@command(name="gc")
def gc_command(opts: Options, dry_run: bool) -> None:
    """Remove stored objects that no version refers to (left by interrupted writes)."""
    with opts.workspace() as ws:
        removed = ws.garbage() if dry_run else ws.collect_garbage()
    verb = "Would remove" if dry_run else "Removed"
    opts.emit(
        {"removed": removed, "dry_run": dry_run},
        lambda: stdout.print(f"{verb} {len(removed)} unreferenced object(s)."),
    )
