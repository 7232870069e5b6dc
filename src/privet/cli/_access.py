"""Access governance commands: users, roles, tokens, the policy, grants, alerts.

Local commands act as ``--as USER`` (default $PRIVET_USER, else the OS user): whoever runs
them holds the workspace's master key, so this names the person for the log and for the
four-eyes rule of approvals; it is not a login (the server authenticates with tokens).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import get_args

import click
from rich.table import Table
from rich.text import Text

from privet.cli._app import Options, cli, command, stdout
from privet.errors import InvalidInput
from privet.policy import VIEWS, GrantInfo, GrantRequest, GrantStatus, View
from privet.text import escape_controls

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d`` or ``2w``."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise InvalidInput(f"invalid duration {text[:20]!r}: use e.g. 30m, 12h, 7d or 2w")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def grant_request_of(
    dataset: str, view: View, purpose: str, duration: str, reason: str
) -> GrantRequest:
    """The request the options of ``grant request`` describe (here and in client mode)."""
    seconds = int(parse_duration(duration).total_seconds())
    return GrantRequest(
        dataset=dataset, view=view, purpose=purpose, duration_seconds=seconds, reason=reason
    )


def _when(value: object) -> str:
    return str(value)[:19].replace("T", " ") if value else "-"


# -- users and roles --------------------------------------------------------------------------


@cli.group(name="user")
def user_group() -> None:
    """People (and services) privet knows, with their roles."""


@click.argument("name")
@click.option("--role", "roles", multiple=True, metavar="ROLE", help="A role (repeatable).")
@command(user_group, name="add")
def user_add(opts: Options, name: str, roles: tuple[str, ...]) -> None:
    """Register a user. Once any user exists, reads need a policy rule and a grant."""
    with opts.workspace() as ws:
        info = ws.access.add_user(name, roles=roles, actor=opts.actor)
    opts.emit(
        info, lambda: stdout.print(f"Added user {name} (roles: {', '.join(info.roles) or '-'}).")
    )


@command(user_group, name="list")
def user_list(opts: Options) -> None:
    """Users, their roles, and whether they are disabled."""
    with opts.workspace() as ws:
        users = ws.access.list_users()

    def human() -> None:
        table = Table("user", "roles", "status", "added", "by", title="users")
        for u in users:
            status = "disabled" if u.disabled else "active"
            table.add_row(
                Text(u.name), ", ".join(u.roles), status, _when(u.created_at), u.created_by
            )
        stdout.print(table)

    opts.emit(users, human)


@click.argument("name")
@command(user_group, name="disable")
def user_disable(opts: Options, name: str) -> None:
    """Disable a user: their tokens and grants stop working at once."""
    with opts.workspace() as ws:
        ws.access.set_disabled(name, disabled=True, actor=opts.actor)
    opts.emit({"user": name, "disabled": True}, lambda: stdout.print(f"Disabled {name}."))


@cli.group(name="role")
def role_group() -> None:
    """Give users roles or take them away."""


@click.argument("roles", nargs=-1, required=True)
@click.argument("user")
@command(role_group, name="add")
def role_add(opts: Options, user: str, roles: tuple[str, ...]) -> None:
    """Give USER one or more ROLES."""
    with opts.workspace() as ws:
        info = ws.access.set_roles(user, add=roles, actor=opts.actor)
    opts.emit(info, lambda: stdout.print(f"{user}: {', '.join(info.roles) or '-'}"))


@click.argument("roles", nargs=-1, required=True)
@click.argument("user")
@command(role_group, name="remove")
def role_remove(opts: Options, user: str, roles: tuple[str, ...]) -> None:
    """Take ROLES away from USER."""
    with opts.workspace() as ws:
        info = ws.access.set_roles(user, remove=roles, actor=opts.actor)
    opts.emit(info, lambda: stdout.print(f"{user}: {', '.join(info.roles) or '-'}"))


# -- tokens -----------------------------------------------------------------------------------


@cli.group(name="token")
def token_group() -> None:
    """API tokens for the HTTP service (stored only as a hash)."""


@click.argument("user")
@click.option(  # named after issue_token's parameter: its errors then name --expires
    "--expires", "expires_in", default="30d", show_default=True, help="Lifetime, e.g. 12h or 30d."
)
@command(token_group, name="issue")
def token_issue(opts: Options, user: str, expires_in: str) -> None:
    """Issue a token for USER. The secret is printed once; privet keeps only its hash."""
    lifetime = parse_duration(expires_in)
    with opts.workspace() as ws:
        token = ws.access.issue_token(user, expires_in=lifetime, actor=opts.actor)

    def human() -> None:
        stdout.print(f"Token {token.id} for {user}, valid until {_when(token.expires_at)} UTC.")
        stdout.print("Copy it now, it is not shown again:")
        click.echo(token.secret)

    opts.emit(token, human)


@click.argument("token_id")
@command(token_group, name="revoke")
def token_revoke(opts: Options, token_id: str) -> None:
    """Revoke a token (by id): the next request that presents it is refused."""
    with opts.workspace() as ws:
        ws.access.revoke_token(token_id, actor=opts.actor)
    opts.emit({"id": token_id, "revoked": True}, lambda: stdout.print(f"Revoked {token_id}."))


@click.option("--user", metavar="USER", help="Only this user's tokens.")
@command(token_group, name="list")
def token_list(opts: Options, user: str | None) -> None:
    """Tokens by id, owner and status (never their secrets)."""
    with opts.workspace() as ws:
        tokens = ws.access.list_tokens(user=user)

    def human() -> None:
        table = Table("id", "user", "status", "issued", "expires", title="API tokens")
        for t in tokens:
            table.add_row(t.id, Text(t.user), t.status, _when(t.created_at), _when(t.expires_at))
        stdout.print(table)

    opts.emit(tokens, human)


# -- policy -----------------------------------------------------------------------------------


@cli.group(name="policy")
def policy_group() -> None:
    """The access policy (YAML): which roles may request which views, for which purposes."""


@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@command(policy_group, name="set")
def policy_set(opts: Options, file: Path) -> None:
    """Validate FILE and make it the policy in force (earlier ones are kept, numbered)."""
    with opts.workspace() as ws:
        number, parsed = ws.access.set_policy(file, actor=opts.actor)
    data = {"number": number, "rules": len(parsed.rules), "oidc": parsed.oidc is not None}
    opts.emit(data, lambda: stdout.print(f"Policy {number} in force ({len(parsed.rules)} rules)."))


@command(policy_group, name="show")
def policy_show(opts: Options) -> None:
    """Print the policy in force."""
    with opts.workspace() as ws:
        number, text = ws.access.show_policy()
    if not number:
        raise InvalidInput("no policy set yet; write one and run privet policy set FILE")
    opts.emit(
        {"number": number, "text": text},
        lambda: click.echo(escape_controls(text, keep_lines=True), nl=False),
    )


@click.argument("dataset")
@click.option("--user", "user", metavar="USER", help="Whose access (default: --as).")
@click.option("--view", default="raw", show_default=True, type=click.Choice(VIEWS))
@click.option("--purpose", required=True, help="The purpose of the read.")
@command(policy_group, name="check")
def policy_check(opts: Options, dataset: str, user: str | None, view: View, purpose: str) -> None:
    """Would USER be allowed to read DATASET now? (Decides only: nothing is read or logged.)"""
    with opts.workspace() as ws:
        decision = ws.access.check(dataset, view=view, purpose=purpose, actor=user or opts.actor)
    data = {
        "allowed": decision.allowed,
        "reason": decision.reason,
        "grant": decision.grant_id,
        "rule": decision.rule,
    }
    verdict = "allowed" if decision.allowed else "denied"
    opts.emit(data, lambda: stdout.print(f"{verdict} ({decision.reason})"))


# -- grants -----------------------------------------------------------------------------------


@cli.group(name="grant")
def grant_group() -> None:
    """Time-bound, purpose-bound access: request, approve or deny, revoke, list."""


@click.argument("dataset")
@click.option("--view", required=True, type=click.Choice(VIEWS), help="The view wanted.")
@click.option("--purpose", required=True, help="What the data is for.")
@click.option(  # named after GrantRequest's field: its errors then name --duration
    "--duration",
    "duration_seconds",
    default="7d",
    show_default=True,
    help="How long, e.g. 12h or 7d.",
)
@click.option("--reason", required=True, help="Why (shown to the approver; kept out of the log).")
@command(grant_group, name="request")
def grant_request(
    opts: Options, dataset: str, view: View, purpose: str, duration_seconds: str, reason: str
) -> None:
    """Ask for access to a view of DATASET; the owner or an approver decides."""
    request = grant_request_of(dataset, view, purpose, duration_seconds, reason)
    with opts.workspace() as ws:
        grant = ws.access.request_grant(request, actor=opts.actor)
    opts.emit(grant, lambda: stdout.print(f"Grant {grant.id}: {grant.status}."))


def _decided(opts: Options, grant: GrantInfo) -> None:
    until = f" until {_when(grant.expires_at)} UTC" if grant.status == "active" else ""
    opts.emit(grant, lambda: stdout.print(f"Grant {grant.id}: {grant.status}{until}."))


@click.argument("grant_id")
@command(grant_group, name="approve")
def grant_approve(opts: Options, grant_id: str) -> None:
    """Approve a pending grant (the dataset owner or an approver; never the requester)."""
    with opts.workspace() as ws:
        grant = ws.access.approve_grant(grant_id, actor=opts.actor)
    _decided(opts, grant)


@click.argument("grant_id")
@command(grant_group, name="deny")
def grant_deny(opts: Options, grant_id: str) -> None:
    """Deny a pending grant."""
    with opts.workspace() as ws:
        grant = ws.access.deny_grant(grant_id, actor=opts.actor)
    _decided(opts, grant)


@click.argument("grant_id")
@command(grant_group, name="revoke")
def grant_revoke(opts: Options, grant_id: str) -> None:
    """End a grant now; reads under it (even running streams) stop at once."""
    with opts.workspace() as ws:
        grant = ws.access.revoke_grant(grant_id, actor=opts.actor)
    _decided(opts, grant)


@click.option("--status", type=click.Choice(get_args(GrantStatus)))
@click.option("--user", metavar="USER", help="Only this user's grants.")
@command(grant_group, name="list")
def grant_list(opts: Options, status: GrantStatus | None, user: str | None) -> None:
    """Grants, newest first, with their effective status."""
    with opts.workspace() as ws:
        grants = ws.access.list_grants(status=status, user=user)

    def human() -> None:
        table = Table(
            "id", "user", "dataset", "view", "purpose", "status", "expires", title="grants"
        )
        for g in grants:
            table.add_row(
                g.id,
                Text(g.user),
                g.dataset,
                g.view,
                Text(g.purpose),
                g.status,
                _when(g.expires_at),
            )
        stdout.print(table)

    opts.emit(grants, human)


# -- alerts -----------------------------------------------------------------------------------


@click.option("--since", type=click.IntRange(min=0), help="Only alerts with a larger id.")
@command(cli, name="alerts")
def alerts(opts: Options, since: int | None) -> None:
    """Anomalous reads: far above a user's usual volume, a first restricted dataset, off-hours
    bulk reads, slow scraping, purpose hopping; a revoked or expired token presented again."""
    with opts.workspace() as ws:
        found = ws.access.list_alerts(since=since)

    def human() -> None:
        if not found:
            stdout.print("No alerts.")
            return
        table = Table("#", "time", "user", "dataset", "kind", "severity", "log", title="alerts")
        for a in found:
            table.add_row(
                str(a.id),
                _when(a.created_at),
                Text(a.user),
                a.dataset or "-",
                a.kind,
                a.severity,
                str(a.log_index),
            )
        stdout.print(table)

    opts.emit(found, human)
