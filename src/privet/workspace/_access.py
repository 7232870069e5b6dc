"""``ws.access``: users, roles, tokens, grants, approvals, the policy, alerts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from privet import policy

if TYPE_CHECKING:
    from privet.core import Core
    from privet.policy import (
        AlertInfo,
        BatchStream,
        Containment,
        Decision,
        GrantInfo,
        GrantRequest,
        GrantStatus,
        Identity,
        IssuedToken,
        Policy,
        TokenInfo,
        UserInfo,
        View,
    )


class Access:
    """Who may read what: users and their roles, API tokens, the policy, grants and their
    approval (four eyes), and the alerts raised by unusual reads.

    Actions taken for someone name them either as a local ``actor`` (the CLI's ``--as``: whoever
    holds the workspace's master key, whose registered roles apply) or as an authenticated
    ``identity`` (what :meth:`authenticate` returns for a bearer credential). Every change is
    attested in the audit log.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def _who(self, actor: str | None, identity: Identity | None) -> Identity:
        return policy.acting(self._core, actor, identity)

    # -- users and roles ----------------------------------------------------------------------

    def add_user(self, name: str, *, roles: Sequence[str] = (), actor: str) -> UserInfo:
        """Register user ``name`` with ``roles``. Once any user exists the workspace is
        governed: reads then need a policy rule and a grant (owners and privet's own
        processing excepted)."""
        return policy.add_user(self._core, name, roles=list(roles), actor=actor)

    def set_roles(
        self,
        name: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        actor: str,
    ) -> UserInfo:
        """Give user ``name`` the roles in ``add`` and take away those in ``remove``."""
        return policy.set_roles(self._core, name, add=add, remove=remove, actor=actor)

    def set_disabled(self, name: str, *, disabled: bool = True, actor: str) -> None:
        """Disable (or, with ``disabled=False``, re-enable) a user: their tokens and grants stop
        working at once."""
        policy.set_disabled(self._core, name, disabled=disabled, actor=actor)

    def list_users(self) -> list[UserInfo]:
        """Every user, with their roles and whether they are disabled."""
        return policy.list_users(self._core)

    def local_identity(self, name: str) -> Identity:
        """The identity of local actor ``name``, with their registered roles."""
        return policy.local_identity(self._core, name)

    # -- tokens and authentication ------------------------------------------------------------

    def issue_token(self, user: str, *, expires_in: timedelta, actor: str) -> IssuedToken:
        """A new API token for ``user``, valid for ``expires_in`` (at most a year). Its secret is
        in the result and nowhere else: privet keeps only its hash."""
        return policy.issue_token(self._core, user, expires_in=expires_in, actor=actor)

    def revoke_token(self, token_id: str, *, actor: str) -> None:
        """Revoke token ``token_id``: the next request that presents it is refused."""
        policy.revoke_token(self._core, token_id, actor=actor)

    def list_tokens(self, *, user: str | None = None) -> list[TokenInfo]:
        """Tokens (never their secrets) with their status; only ``user``'s when given."""
        return policy.list_tokens(self._core, user=user)

    def authenticate(self, bearer: str) -> Identity:
        """Who presents ``bearer`` (an API token or a JWT of the policy's OIDC issuer).

        Raises ``Unauthenticated`` for anything unknown, malformed, forged or expired, and
        ``PolicyDenied`` for a genuine token that was revoked.
        """
        return policy.authenticate(self._core, bearer)

    # -- the policy ---------------------------------------------------------------------------

    def set_policy(self, source: str | Path, *, actor: str) -> tuple[int, Policy]:
        """Validate the policy (YAML ``source`` text, or a ``Path`` to a UTF-8 file) and put it
        in force; earlier ones are kept, numbered. Returns its number and the parsed policy."""
        return policy.set_policy(self._core, source, actor=actor)

    def show_policy(self) -> tuple[int, str]:
        """The number and YAML text of the policy in force (0 and "" when none was set)."""
        return policy.show_policy(self._core)

    def check(
        self,
        dataset: str,
        *,
        view: View,
        purpose: str,
        actor: str | None = None,
        identity: Identity | None = None,
        now: datetime | None = None,
    ) -> Decision:
        """Would ``identity`` (else local ``actor``) be allowed to read ``view`` of ``dataset``
        for ``purpose`` at ``now`` (default: the workspace clock)? Decides only: nothing is
        read or logged."""
        who = self._who(actor, identity)
        return policy.decide(self._core, who, dataset, view, purpose, now)

    # -- grants -------------------------------------------------------------------------------

    def request_grant(
        self, request: GrantRequest, *, actor: str | None = None, identity: Identity | None = None
    ) -> GrantInfo:
        """Ask, as ``identity`` (else local ``actor``), for what ``request`` says. Pending until
        the dataset's owner or an approver decides, unless the policy auto-approves (never for
        a restricted dataset); refused (and logged) when no policy rule allows it."""
        return policy.request_grant(self._core, self._who(actor, identity), request)

    def approve_grant(
        self, grant_id: str, *, actor: str | None = None, identity: Identity | None = None
    ) -> GrantInfo:
        """Approve a pending grant: by the dataset's owner or an approver, never the requester.
        It is active from now for the duration asked."""
        return policy.approve_grant(self._core, grant_id, identity=self._who(actor, identity))

    def deny_grant(
        self, grant_id: str, *, actor: str | None = None, identity: Identity | None = None
    ) -> GrantInfo:
        """Deny a pending grant (the dataset's owner or an approver)."""
        return policy.deny_grant(self._core, grant_id, identity=self._who(actor, identity))

    def revoke_grant(
        self, grant_id: str, *, actor: str | None = None, identity: Identity | None = None
    ) -> GrantInfo:
        """End a pending or active grant now (its dataset's owner, an approver, or the grantee
        giving it up); reads under it, even running streams, stop at once."""
        return policy.revoke_grant(self._core, grant_id, identity=self._who(actor, identity))

    def get_grant(self, grant_id: str) -> GrantInfo:
        """Grant ``grant_id`` with its effective status."""
        return policy.get_grant(self._core, grant_id)

    def list_grants(
        self, *, status: GrantStatus | None = None, user: str | None = None
    ) -> list[GrantInfo]:
        """Grants, newest request first; only those with effective ``status`` (an active grant
        past its expiry is ``expired``) and of ``user`` when given."""
        return policy.list_grants(self._core, status=status, user=user)

    def grants_visible_to(
        self, identity: Identity, *, status: GrantStatus | None = None
    ) -> list[GrantInfo]:
        """The grants ``identity`` may see: their own, and those of every dataset they may
        approve (as its owner, a named approver, or through an approver role)."""
        return policy.grants_visible_to(self._core, identity, status=status)

    def may_oversee(self, identity: Identity) -> bool:
        """May ``identity`` see alerts and others' grants (an approver, or a dataset's owner)?"""
        return policy.may_oversee(self._core, identity)

    # -- containment --------------------------------------------------------------------------

    def contain(
        self,
        user: str,
        *,
        reason: str,
        actor: str | None = None,
        identity: Identity | None = None,
    ) -> Containment:
        """Revoke, at once and in one transaction, every active API token and every active or
        pending grant of ``user``; one ``incident.contain`` log entry lists them. ``reason`` is
        a short word (``incident``, ``stolen-token``), never free text. Their next request is
        refused (401/403); the user stays registered and may be given new tokens later.

        Done by a local ``actor`` (the key holder) or an authenticated ``identity``, who must be
        one who may oversee access (an approver or a dataset owner; else ``PolicyDenied``) and
        is the actor logged."""
        who = policy.overseer(self._core, actor, identity, to="contain an account")
        return policy.contain(self._core, user, actor=who, reason=reason)

    # -- alerts and streamed reads ------------------------------------------------------------

    def list_alerts(
        self, *, since: int | None = None, identity: Identity | None = None
    ) -> list[AlertInfo]:
        """Alerts on unusual reads, newest first; only those with an id above ``since`` when
        given. A remote ``identity`` must be one who may oversee access (else
        ``PolicyDenied``); without it, the local key holder sees them all."""
        return policy.list_alerts(self._core, since=since, identity=identity)

    def stream(
        self,
        ref: str,
        *,
        identity: Identity,
        purpose: str,
        view: View = "raw",
        fmt: Literal["parquet", "csv", "arrow"] = "parquet",
        batch_rows: int = 10_000,
        channel: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Iterator[bytes]:
        """A governed read of ``ref`` as Parquet, CSV or Arrow IPC stream (``fmt``) bytes;
        with ``offset`` or ``limit``, only that page of the view's rows (logged with the page
        and its row count). The Arrow stream's record batches decode as they arrive (see
        :meth:`batches`).

        The decision and its log entry happen before this returns (a refusal raises
        ``PolicyDenied`` here); between chunks the grant is checked again, and an expired or
        revoked one stops the stream with ``PolicyDenied``. ``channel`` names the door in the
        log entry (default ``stream:<fmt>``).
        """
        return policy.stream(
            self._core,
            ref,
            identity=identity,
            purpose=purpose,
            view=view,
            fmt=fmt,
            batch_rows=batch_rows,
            channel=channel,
            offset=offset,
            limit=limit,
        )

    def batches(
        self,
        ref: str,
        *,
        identity: Identity,
        purpose: str,
        view: View = "raw",
        batch_rows: int = 65_536,
        channel: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> BatchStream:
        """A governed read of ``ref`` as Arrow record batches (what Arrow Flight serves).

        Decided and logged (one entry) before this returns, as :meth:`stream` is; the stored
        object is decrypted and its content hash checked before the first batch is made (an
        altered object raises ``IntegrityError`` here). Iterating gives the batches, with the
        grant checked again between two: an expired or revoked grant raises ``PolicyDenied``.
        ``close()`` stops it early.
        """
        return policy.stream_batches(
            self._core,
            ref,
            identity=identity,
            purpose=purpose,
            view=view,
            batch_rows=batch_rows,
            channel=channel,
            offset=offset,
            limit=limit,
        )
