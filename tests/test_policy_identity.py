"""Identities: API tokens (hash-only, shown once, revocable, expiring), OIDC JWTs from a
configured issuer (signed here with locally generated keys), and the policy document."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from privet import InvalidInput, PolicyDenied, Unauthenticated, Workspace
from privet import policy as gov
from privet.schema import ApiToken
from tests.conftest import invoke

ISSUER, AUDIENCE = "https://id.example.test", "privet"


def secret_part(bearer: str) -> str:
    """The random part of ``pvt_<16 hex id>_<secret>`` (the secret may itself hold '_')."""
    return bearer[len("pvt_") + 17 :]


@pytest.fixture
def users(ws: Workspace) -> Workspace:
    ws.access.add_user("bob", roles=["analyst"], actor="tester")
    return ws


# -- API tokens ---------------------------------------------------------------------------


def test_a_token_authenticates_its_user_and_only_its_hash_is_stored(users: Workspace) -> None:
    token = users.access.issue_token("bob", expires_in=timedelta(hours=1), actor="tester")
    identity = users.access.authenticate(token.secret)
    assert (identity.name, identity.roles, identity.token_id, identity.via) == (
        "bob",
        frozenset({"analyst"}),
        token.id,
        "token",
    )
    with users.hazmat.reading() as session:
        stored = session.scalars(select(ApiToken)).one()
    import hashlib

    assert stored.secret_sha256 == hashlib.sha256(token.secret.encode()).hexdigest()
    dump = b"".join(p.read_bytes() for p in users.folder.glob("catalog.db*"))
    assert len(dump) > 10_000
    assert token.secret.encode() not in dump
    assert secret_part(token.secret).encode() not in dump
    # 256 random bits: 43 URL-safe base64 characters.
    assert len(secret_part(token.secret)) == 43
    assert all(t.status == "active" for t in users.access.list_tokens())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # wrong secret, right id
        lambda s: "pvt_0000000000000000_" + secret_part(s),  # unknown id
        lambda s: "",  # nothing
        lambda s: "Bearer " + s,  # malformed
        lambda s: s + "' OR 1=1 --",  # injection attempt
    ],
)
def test_bad_tokens_are_refused_tersely(users: Workspace, tamper) -> None:
    token = users.access.issue_token("bob", expires_in=timedelta(hours=1), actor="tester")
    with pytest.raises(Unauthenticated, match="^invalid or expired credentials$"):
        users.access.authenticate(tamper(token.secret))


def test_revoked_expired_and_disabled_tokens_are_refused(users: Workspace) -> None:
    revoked = users.access.issue_token("bob", expires_in=timedelta(hours=1), actor="tester")
    users.access.revoke_token(revoked.id, actor="tester")
    with pytest.raises(PolicyDenied, match="revoked"):  # the genuine holder learns why (403)
        users.access.authenticate(revoked.secret)
    with pytest.raises(Unauthenticated):  # a guess at a revoked token's id learns nothing
        users.access.authenticate(revoked.secret[:-1] + ("A" if revoked.secret[-1] != "A" else "B"))
    short = users.access.issue_token("bob", expires_in=timedelta(seconds=1), actor="tester")
    time.sleep(1.1)
    with pytest.raises(Unauthenticated):
        users.access.authenticate(short.secret)
    live = users.access.issue_token("bob", expires_in=timedelta(hours=1), actor="tester")
    users.access.set_disabled("bob", disabled=True, actor="tester")
    with pytest.raises(Unauthenticated):
        users.access.authenticate(live.secret)
    assert {t.status for t in users.access.list_tokens()} == {"revoked", "expired", "active"}


def test_token_cli_shows_the_secret_once_and_never_lists_it(
    users: Workspace, project: Path
) -> None:
    out = invoke("token", "issue", "bob", "--expires", "2h", "--json", workspace=project)
    assert out.exit_code == 0, out.output
    secret = json.loads(out.output)["secret"]
    assert users.access.authenticate(secret).name == "bob"
    listed = invoke("token", "list", "--json", workspace=project).output
    assert secret not in listed and json.loads(listed)[0]["status"] == "active"
    token_id = json.loads(listed)[0]["id"]
    assert invoke("token", "revoke", token_id, workspace=project).exit_code == 0
    with pytest.raises(PolicyDenied):
        users.access.authenticate(secret)
    log = invoke("log", "show", "--json", workspace=project).output
    assert secret_part(secret) not in log
    bad = invoke("token", "issue", "bob", "--expires", "forever", workspace=project)
    assert bad.exit_code == 1 and "invalid duration" in bad.output


def test_user_and_role_cli(ws: Workspace, project: Path) -> None:
    assert invoke("user", "add", "erin", "--role", "analyst", workspace=project).exit_code == 0
    assert invoke("role", "add", "erin", "steward", workspace=project).exit_code == 0
    assert invoke("role", "remove", "erin", "analyst", workspace=project).exit_code == 0
    users = json.loads(invoke("user", "list", "--json", workspace=project).output)
    assert [(u["name"], u["roles"]) for u in users] == [("erin", ["steward"])]
    dup = invoke("user", "add", "erin", workspace=project)
    assert dup.exit_code == 1 and "already exists" in dup.output
    assert invoke("user", "disable", "erin", workspace=project).exit_code == 0
    bad = invoke("user", "add", "../etc", workspace=project)
    assert bad.exit_code == 1 and "invalid user name" in bad.output


# -- OIDC JWTs ----------------------------------------------------------------------------


def _pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _policy(public_key: str | None = None, jwks: dict | None = None) -> str:
    oidc: dict = {"issuer": ISSUER, "audience": AUDIENCE}
    if public_key:
        oidc["public_key"] = public_key
    if jwks:
        oidc["jwks"] = jwks
    return json.dumps({"oidc": oidc, "rules": []})  # JSON is YAML


def _claims(**over: object) -> dict:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "frank",
        "roles": ["analyst"],
        "iat": now,
        "exp": now + 300,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_jwt_signed_by_the_configured_issuer_authenticates(ws: Workspace, rsa_key) -> None:
    ws.access.set_policy(_policy(public_key=_pem(rsa_key)), actor="tester")
    identity = ws.access.authenticate(jwt.encode(_claims(), rsa_key, algorithm="RS256"))
    assert (identity.name, identity.roles, identity.via) == ("frank", {"analyst"}, "oidc")


def test_an_ec_key_from_a_jwks_with_key_ids(ws: Workspace) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())), "kid": kid}
            for k, kid in ((key, "k1"), (other, "k2"))
        ]
    }
    ws.access.set_policy(_policy(jwks=jwks), actor="tester")
    token = jwt.encode(_claims(), key, algorithm="ES256", headers={"kid": "k1"})
    assert ws.access.authenticate(token).name == "frank"
    wrong_kid = jwt.encode(_claims(), key, algorithm="ES256", headers={"kid": "k2"})
    with pytest.raises(Unauthenticated):
        ws.access.authenticate(wrong_kid)


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (_claims(iss="https://evil.test"), "another issuer"),
        (_claims(aud="someone-else"), "another audience"),
        (_claims(exp=int(time.time()) - 120), "expired"),
        (_claims(nbf=int(time.time()) + 600), "not yet valid"),
        (_claims(exp=None), "no expiry"),
        (_claims(sub="../../root"), "a bad subject"),
    ],
)
def test_bad_jwts_are_refused(ws: Workspace, rsa_key, claims: dict, why: str) -> None:
    ws.access.set_policy(_policy(public_key=_pem(rsa_key)), actor="tester")
    with pytest.raises(Unauthenticated):
        ws.access.authenticate(jwt.encode(claims, rsa_key, algorithm="RS256"))


def test_forged_jwts_are_refused(ws: Workspace, rsa_key) -> None:
    ws.access.set_policy(_policy(public_key=_pem(rsa_key)), actor="tester")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Unauthenticated):  # signed by someone else
        ws.access.authenticate(jwt.encode(_claims(), stranger, algorithm="RS256"))
    with pytest.raises(Unauthenticated):  # alg "none"
        ws.access.authenticate(jwt.encode(_claims(), None, algorithm="none"))
    # HS256 keyed with the issuer's *public* key: the classic algorithm-confusion forgery.
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(json.dumps(_claims()).encode())
    import hashlib
    import hmac

    signing_input = header + b"." + body
    mac = hmac.new(_pem(rsa_key).encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + jwt.utils.base64url_encode(mac)).decode()
    with pytest.raises(Unauthenticated):
        ws.access.authenticate(forged)


def test_jwts_are_refused_when_no_issuer_is_configured(ws: Workspace, rsa_key) -> None:
    with pytest.raises(Unauthenticated):
        ws.access.authenticate(jwt.encode(_claims(), rsa_key, algorithm="RS256"))


def test_a_disabled_user_cannot_log_in_by_jwt(ws: Workspace, rsa_key) -> None:
    ws.access.set_policy(_policy(public_key=_pem(rsa_key)), actor="tester")
    ws.access.add_user("frank", roles=["steward"], actor="tester")
    token = jwt.encode(_claims(), rsa_key, algorithm="RS256")
    assert ws.access.authenticate(token).roles == {"analyst", "steward"}
    ws.access.set_disabled("frank", disabled=True, actor="tester")
    with pytest.raises(Unauthenticated):
        ws.access.authenticate(token)


# -- the policy document -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [", "not valid YAML"),
        ("- a list", "YAML mapping"),
        ("rules: [{roles: [a], views: [everything]}]", "rules.0.views.0"),
        ("rules: [{roles: [], views: [raw]}]", "rules.0.roles"),
        ("rules: [{roles: [a], views: [raw], row_filter: 'age >>= ('}]", "row_filter"),
        ("rules: [{roles: [a], views: [raw], colour: red}]", "rules.0.colour"),
        ("oidc: {issuer: x, audience: y, public_key: k, algorithms: [HS256]}", "asymmetric"),
        ("oidc: {issuer: x, audience: y}", "exactly one"),
    ],
)
def test_bad_policies_are_refused_with_the_place(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        gov.parse_policy(text)


def test_policy_cli_set_show_and_bad_file(ws: Workspace, project: Path, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  - roles: [analyst]\n    views: [masked]\n")
    out = invoke("policy", "set", path, workspace=project)
    assert out.exit_code == 0 and "Policy 1 in force (1 rules)" in out.output
    assert invoke("policy", "show", workspace=project).output == path.read_text()
    path.write_text("rules:\n  - roles: [analyst]\n    views: [all]\n")
    bad = invoke("policy", "set", path, workspace=project)
    assert bad.exit_code == 1 and "rules.0.views.0" in bad.output
    assert ws.access.show_policy()[0] == 1  # the bad one was not stored
    missing = invoke("policy", "set", tmp_path / "nope.yaml", workspace=project)
    assert missing.exit_code == 1 and "does not exist" in missing.output
