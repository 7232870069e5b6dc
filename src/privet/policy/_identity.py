"""Identities: users and their roles, API tokens, and OIDC JWTs from a configured issuer.

An API token is ``pvt_<id>_<secret>`` with a 256-bit secret from ``secrets``; only the
SHA-256 of the whole token is stored (a fast hash is enough for a 256-bit random secret:
there is nothing to guess), so a stolen catalog yields no usable token. The secret is
returned once, at issue. Authentication failures all give the same terse message: which
part was wrong (unknown id, bad secret, expired, revoked) would help an attacker.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from privet import auditlog
from privet.errors import AlreadyExists, InvalidInput, NotFound, PolicyDenied, Unauthenticated
from privet.policy._governance import IN_FORCE
from privet.policy._rules import Oidc, current_policy
from privet.schema import ApiToken, User, UserRole
from privet.timestamps import UtcDatetime, aware

if TYPE_CHECKING:
    from privet.core import Core

_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}$")
_ROLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TOKEN = re.compile(r"^pvt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_DENIED = "invalid or expired credentials"


@dataclass(frozen=True)
class Identity:
    """Who is acting. ``via`` is "local" (the CLI or library, trusted like the key holder),
    "token" (a privet API token) or "oidc" (a JWT of the configured issuer)."""

    name: str
    roles: frozenset[str] = frozenset()
    token_id: str | None = None
    via: str = "local"


class UserInfo(BaseModel):
    name: str
    roles: list[str]
    disabled: bool
    created_at: UtcDatetime
    created_by: str


class IssuedToken(BaseModel):
    """A new token. ``secret`` is the whole bearer string and is never shown again."""

    id: str
    user: str
    secret: str
    expires_at: UtcDatetime


class TokenInfo(BaseModel):
    id: str
    user: str
    created_at: UtcDatetime
    expires_at: UtcDatetime
    revoked_at: UtcDatetime | None
    status: str


def check_user_name(name: str) -> str:
    if not _USER.match(name or ""):
        raise InvalidInput(
            f"invalid user name {name[:60]!r}: use letters, digits and '_ . @ + -' (up to 128)",
            parameter="name",
        )
    return name


def check_role(role: str) -> str:
    if not _ROLE.match(role or ""):
        raise InvalidInput(
            f"invalid role {role[:60]!r}: use letters, digits, '_', '.', '-'", parameter="roles"
        )
    return role


# -- users ----------------------------------------------------------------------------------


def add_user(core: Core, name: str, *, roles: list[str], actor: str) -> UserInfo:
    """Register ``name`` with ``roles``. Once any user exists the workspace is governed."""
    check_user_name(name)
    wanted = sorted({check_role(r) for r in roles})
    with core.session() as session:
        if session.get(User, name) is not None:
            raise AlreadyExists(
                f"user {name!r} already exists; give them more roles instead", parameter="name"
            )
        now = core.now()
        session.add(User(name=name, created_at=now, created_by=actor, disabled=False))
        session.flush()
        session.add_all([UserRole(user=name, role=r) for r in wanted])
        attested = auditlog.attest(session, ("user", name))
        event = auditlog.events.user_add(
            ts=core.now(), actor=actor, user=name, roles=wanted, governance=attested
        )
        auditlog.append(session, [event])
        session.commit()
    return UserInfo(name=name, roles=wanted, disabled=False, created_at=now, created_by=actor)


def set_roles(
    core: Core,
    name: str,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    actor: str,
) -> UserInfo:
    """Give or take roles; the change is logged."""
    adding = {check_role(r) for r in add}
    removing = {check_role(r) for r in remove}
    with core.session() as session:
        user = _user(session, name)
        # A change made behind privet's back must not be attested with this one.
        auditlog.check(session, ("user", name))
        held = set(session.scalars(select(UserRole.role).where(UserRole.user == name)))
        for role in adding - held:
            session.add(UserRole(user=name, role=role))
        for role in removing & held:
            row = session.get(UserRole, (name, role))
            session.delete(row)
        roles = sorted((held | adding) - removing)
        auditlog.append(
            session,
            [
                auditlog.events.user_roles(
                    ts=core.now(),
                    actor=actor,
                    user=name,
                    added=sorted(adding),
                    removed=sorted(removing),
                    governance=auditlog.attest(session, ("user", name)),
                )
            ],
        )
        session.commit()
        return UserInfo(
            name=name,
            roles=roles,
            disabled=user.disabled,
            created_at=aware(user.created_at),
            created_by=user.created_by,
        )


def set_disabled(core: Core, name: str, *, disabled: bool, actor: str) -> None:
    """Disable (or re-enable) a user: their tokens stop working at once."""
    with core.session() as session:
        user = _user(session, name)
        auditlog.check(session, ("user", name))
        user.disabled = disabled
        attested = auditlog.attest(session, ("user", name))
        make = auditlog.events.user_disable if disabled else auditlog.events.user_enable
        auditlog.append(session, [make(ts=core.now(), actor=actor, user=name, governance=attested)])
        session.commit()


def list_users(core: Core) -> list[UserInfo]:
    with core.reading() as session:
        roles: dict[str, list[str]] = {}
        for user, role in session.execute(select(UserRole.user, UserRole.role)):
            roles.setdefault(user, []).append(role)
        return [
            UserInfo(
                name=u.name,
                roles=sorted(roles.get(u.name, [])),
                disabled=u.disabled,
                created_at=aware(u.created_at),
                created_by=u.created_by,
            )
            for u in session.scalars(select(User).order_by(User.name))
        ]


def _user(session: Session, name: str) -> User:
    user = session.get(User, name)
    if user is None:
        raise NotFound(f"no user {name[:60]!r}; register them first")
    return user


def roles_of(session: Session, name: str) -> frozenset[str]:
    """A registered, enabled user's roles (empty for anyone else)."""
    user = session.get(User, name)
    if user is None or user.disabled:
        return frozenset()
    return frozenset(session.scalars(select(UserRole.role).where(UserRole.user == name)))


def acting(core: Core, actor: str | None, identity: Identity | None) -> Identity:
    """Who acts: an authenticated ``identity``, else the local ``actor`` with their roles."""
    if identity is not None:
        return identity
    if not actor:
        raise InvalidInput("say who is acting (actor or identity)", parameter="actor")
    return local_identity(core, actor)


def local_identity(core: Core, name: str) -> Identity:
    """The identity of a local actor (the library's ``actor=``) with their roles."""
    with core.reading() as session:
        return Identity(name=name, roles=roles_of(session, name))


# -- API tokens -----------------------------------------------------------------------------


def _hash(bearer: str) -> str:
    return hashlib.sha256(bearer.encode()).hexdigest()


def issue_token(core: Core, user: str, *, expires_in: timedelta, actor: str) -> IssuedToken:
    """A new API token for ``user``; its secret is in the result and nowhere else."""
    if expires_in <= timedelta(0) or expires_in > timedelta(days=366):
        raise InvalidInput(
            "a token must expire within a year (and not in the past)", parameter="expires_in"
        )
    token_id = secrets.token_hex(8)
    secret = f"pvt_{token_id}_{secrets.token_urlsafe(32)}"  # 32 bytes: 256 bits
    with core.session() as session:
        if _user(session, user).disabled:
            raise InvalidInput(f"user {user!r} is disabled")
        auditlog.check(session, ("user", user))
        now = core.now()
        expires = now + expires_in
        session.add(
            ApiToken(
                id=token_id,
                user=user,
                secret_sha256=_hash(secret),
                created_at=now,
                created_by=actor,
                expires_at=expires,
            )
        )
        auditlog.append(
            session,
            [
                auditlog.events.token_issue(
                    ts=core.now(),
                    actor=actor,
                    user=user,
                    token=token_id,
                    expires=expires,
                    governance=auditlog.attest(session, ("token", token_id)),
                )
            ],
        )
        session.commit()
    return IssuedToken(id=token_id, user=user, secret=secret, expires_at=expires)


def revoke_token(core: Core, token_id: str, *, actor: str) -> None:
    """Revoke a token: the next request that presents it is refused."""
    with core.session() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise NotFound(f"no token {token_id[:40]!r}")
        if row.revoked_at is None:
            auditlog.append(session, [revoke_token_row(core, session, row, actor=actor)])
            session.commit()


def revoke_token_row(
    core: Core, session: Session, row: ApiToken, *, actor: str
) -> auditlog.events.Entry:
    """Mark ``row`` revoked in ``session`` and return its log entry (for the caller to append
    and commit: containment revokes several in one transaction)."""
    auditlog.check(session, ("token", row.id))
    row.revoked_at, row.revoked_by = core.now(), actor
    attested = auditlog.attest(session, ("token", row.id))
    return auditlog.events.token_revoke(
        ts=core.now(), actor=actor, user=row.user, token=row.id, governance=attested
    )


def list_tokens(core: Core, *, user: str | None = None) -> list[TokenInfo]:
    now = core.now()
    query = select(ApiToken).order_by(ApiToken.created_at)
    if user is not None:
        query = query.where(ApiToken.user == user)
    with core.reading() as session:
        result = []
        for row in session.scalars(query):
            expires = aware(row.expires_at)
            revoked = aware(row.revoked_at) if row.revoked_at else None
            status = "revoked" if revoked else ("expired" if expires <= now else "active")
            result.append(
                TokenInfo(
                    id=row.id,
                    user=row.user,
                    created_at=aware(row.created_at),
                    expires_at=expires,
                    revoked_at=revoked,
                    status=status,
                )
            )
        return result


# -- authentication -------------------------------------------------------------------------


def authenticate(core: Core, bearer: str) -> Identity:
    """The identity behind a bearer credential (API token or OIDC JWT).

    Raises ``Unauthenticated`` for anything unknown, malformed, forged or expired, and
    ``PolicyDenied`` for a genuine token that was revoked.
    """
    if not isinstance(bearer, str) or not bearer or len(bearer) > 8192:
        raise Unauthenticated(_DENIED)
    with core.reading() as session:
        if bearer.count(".") == 2:
            return _from_jwt(core, session, bearer)
        match = _TOKEN.match(bearer)
        if match is None:
            raise Unauthenticated(_DENIED)
        row = session.get(ApiToken, match.group(1))
        if row is None or not hmac.compare_digest(row.secret_sha256, _hash(bearer)):
            raise Unauthenticated(_DENIED)
        # Before trusting its expiry, revocation and user: a token inserted, un-revoked or
        # extended in the database is refused, naming what changed.
        auditlog.check(session, ("token", row.id), ("user", row.user))
        dead = None
        if row.revoked_at is not None:
            dead = "revoked_token"
        elif aware(row.expires_at) <= core.now():
            dead = "expired_token"
        else:
            user = session.get(User, row.user)
            if user is None or user.disabled:
                raise Unauthenticated(_DENIED)
            return Identity(
                name=row.user, roles=roles_of(session, row.user), token_id=row.id, via="token"
            )
        token_id, owner = row.id, row.user
    # Whoever holds the whole secret of a dead token may have stolen it: an alert (after the
    # read-only transaction; imported here, alerts build on identities).
    from privet.policy._alerts import token_presented

    token_presented(core, user=owner, token=token_id, kind=dead)
    if dead == "revoked_token":
        # The caller proved possession of the whole secret: saying "revoked" (403) tells
        # nothing to anyone without it, and tells its holder why access ended.
        raise PolicyDenied("this token was revoked")
    raise Unauthenticated(_DENIED)


def _from_jwt(core: Core, session: Session, bearer: str) -> Identity:
    import jwt  # PyJWT: imported here, most commands never see a JWT

    _, policy = current_policy(session)
    oidc = policy.oidc
    if oidc is None:
        raise Unauthenticated(_DENIED)
    auditlog.check(session, ("policy", IN_FORCE))  # the issuer and its key are in it
    try:
        key = _verification_key(oidc, jwt.get_unverified_header(bearer))
        # Expiry is checked below against the workspace clock (injectable), not PyJWT's.
        claims = jwt.decode(
            bearer,
            key,
            algorithms=oidc.algorithms,
            audience=oidc.audience,
            issuer=oidc.issuer,
            options={"verify_exp": False, "verify_nbf": False, "require": ["exp", "iss", "aud"]},
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise Unauthenticated(_DENIED) from None
    now = core.now().timestamp()
    leeway = 30  # seconds of clock skew between the issuer and this host
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int | float) or exp + leeway <= now:
        raise Unauthenticated(_DENIED)
    if not isinstance(nbf, int | float) or nbf - leeway > now:
        raise Unauthenticated(_DENIED)
    name = claims.get(oidc.username_claim)
    if not isinstance(name, str) or not _USER.match(name):
        raise Unauthenticated(_DENIED)
    auditlog.check(session, ("user", name))
    user = session.get(User, name)
    if user is not None and user.disabled:
        raise Unauthenticated(_DENIED)
    claimed = claims.get(oidc.roles_claim, [])
    if isinstance(claimed, str):
        claimed = claimed.split()
    roles = (
        {r for r in claimed if isinstance(r, str) and _ROLE.match(r)}
        if isinstance(claimed, list)
        else set()
    )
    return Identity(name=name, roles=frozenset(roles) | roles_of(session, name), via="oidc")


def _verification_key(oidc: Oidc, header: dict[str, Any]) -> Any:
    from jwt import PyJWKSet
    from jwt.algorithms import get_default_algorithms

    if header.get("alg") not in oidc.algorithms:
        raise ValueError("algorithm not accepted")
    if oidc.public_key is not None:
        algorithm = get_default_algorithms()[header["alg"]]
        return algorithm.prepare_key(oidc.public_key.encode())
    keys = PyJWKSet.from_dict(oidc.jwks).keys  # type: ignore[arg-type]
    kid = header.get("kid")
    chosen = [k for k in keys if kid is None or k.key_id == kid]
    if len(chosen) != 1:
        raise ValueError("no single key matches the token's key id")
    return chosen[0].key
