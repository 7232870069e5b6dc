"""Security of the HTTP service, against a real `privet serve` on loopback (acceptance 1):
401 without valid credentials, 403 when policy or grant says no, self-approval refused,
injection in every parameter rejected, errors that leak nothing, logs that hold no token, key
or cell value, and per-token rate limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest

from privet import Workspace
from privet.policy import GrantRequest
from tests.server_support import Governed, ServerProcess, bearer, governed_workspace

ROWS = "/v1/datasets/people/rows"
# The governed-read refusals hold for every stream format (the Arrow IPC stream included).
FORMATS = pytest.mark.parametrize("fmt", ["csv", "arrow"])


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, people: pl.DataFrame):
    """One governed workspace and one server for the module (starting them takes seconds)."""
    root = tmp_path_factory.mktemp("security")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        patch.setenv("PRIVET_USER", "tester")
        csv = root / "people.csv"
        people.write_csv(csv)
        (root / "project").mkdir()
        governed = governed_workspace(root / "project", csv)
        server = ServerProcess(root / "project", "--rate-limit", "500", "--burst", "500").start()
        try:
            yield governed, server, root
        finally:
            server.stop()


@pytest.fixture(scope="module")
def http(env) -> httpx.Client:
    _, server, _ = env
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _ws(env) -> Workspace:
    governed, _, _ = env
    return Workspace.open(governed.path)


def _read(http: httpx.Client, token: str, **params: str) -> httpx.Response:
    params = {"purpose": "analytics", "format": "csv", **params}
    return http.get(ROWS, params=params, headers=bearer(token))


def _operations(http: httpx.Client) -> list[tuple[str, str]]:
    """Every operation of the service's own OpenAPI spec, with valid parameters filled in."""
    spec = http.get("/openapi.json").json()
    filled = {
        "{name}": "people",
        "{ref}": "people",
        "{grant_id}": "abc123",
        "{index}": "0",
    }
    found = []
    for path, methods in spec["paths"].items():
        for key, value in filled.items():
            path = path.replace(key, value)
        found += [(method.upper(), path) for method in methods]
    return found


def test_openapi_lists_every_endpoint(http: httpx.Client):
    paths = {path for _, path in _operations(http)}
    assert {"/v1/datasets", ROWS, "/v1/grants", "/v1/alerts", "/v1/log/checkpoint"} <= paths
    assert {"/v1/models", "/v1/models/people"} <= paths
    assert "/v1/datasets/people/query" in paths and "/v1/log/proofs/consistency" in paths


def test_no_token_is_401_on_every_operation(http: httpx.Client):
    operations = _operations(http)
    assert len(operations) >= 14
    for method, path in operations:
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic YTpi"}):
            response = http.request(method, path, headers=headers, params={"purpose": "analytics"})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "token",
    [
        "pvt_0123456789abcdef_" + "A" * 43,  # well-formed, unknown
        "not-a-token",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.",  # an unsigned JWT ("alg": "none")
        "x" * 9000,
    ],
    ids=["unknown", "garbage", "unsigned-jwt", "huge"],
)
@FORMATS
def test_invalid_token_is_401(http: httpx.Client, token: str, fmt: str):
    response = _read(http, token, format=fmt)
    assert response.status_code == 401
    assert set(response.json()) == {"error", "message", "request_id"}


def test_valid_grant_reads_and_the_read_is_logged(env, http: httpx.Client, people):
    governed, _, _ = env
    response = _read(http, governed.tokens["bob"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.count("\n") == people.height + 1
    request_id = response.headers["x-request-id"]
    with _ws(env) as ws:
        events = [r.event for r in ws.log.records(0)]
    reads = [e for e in events if e.get("channel") == f"http:{request_id}"]
    assert [e["event"] for e in reads] == ["read"] and reads[0]["actor"] == "bob"


@FORMATS
def test_wrong_role_is_403(env, http: httpx.Client, fmt: str):
    governed, _, _ = env
    response = _read(http, governed.tokens["mallory"], format=fmt)  # no rule names its role
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    query = http.post(
        "/v1/datasets/people/query",
        json={"sql": "SELECT COUNT(*) FROM people", "epsilon": 0.1, "purpose": "analytics"},
        headers=bearer(governed.tokens["mallory"]),
    )
    assert query.status_code == 403


@pytest.mark.parametrize("purpose", ["training", "marketing"], ids=["not-in-rule", "undeclared"])
@FORMATS
def test_wrong_purpose_is_403(env, http: httpx.Client, purpose: str, fmt: str):
    governed, _, _ = env
    assert _read(http, governed.tokens["bob"], purpose=purpose, format=fmt).status_code == 403


def test_internal_purpose_is_refused_over_http(env, http: httpx.Client):
    governed, _, _ = env
    response = _read(http, governed.tokens["alice"], purpose="privet:assessment")
    assert response.status_code == 422


@FORMATS
def test_expired_grant_is_403(env, http: httpx.Client, fmt: str):
    governed, _, _ = env
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    user = f"erin-{fmt}"
    with Workspace.open(governed.path, clock=lambda: two_hours_ago) as past:
        past.access.add_user(user, roles=["analyst"], actor="alice")
        erin = past.access.local_identity(user)
        old = past.access.request_grant(
            GrantRequest(
                dataset="people",
                view="masked",
                purpose="analytics",
                duration_seconds=3600,
                reason="last quarter",
            ),
            identity=erin,
        )
        past.access.approve_grant(old.id, identity=past.access.local_identity("carol"))
    with _ws(env) as ws:
        token = ws.access.issue_token(user, expires_in=timedelta(hours=1), actor="alice").secret
        assert ws.access.get_grant(old.id).status == "expired"
    assert _read(http, token, view="masked", format=fmt).status_code == 403
    # The same request under a grant that is still running is served: expiry made the 403.
    with _ws(env) as ws:
        fresh = ws.access.request_grant(
            GrantRequest(
                dataset="people",
                view="masked",
                purpose="analytics",
                duration_seconds=3600,
                reason="this quarter",
            ),
            identity=ws.access.local_identity(user),
        )
        ws.access.approve_grant(fresh.id, identity=ws.access.local_identity("carol"))
    assert _read(http, token, view="masked", format=fmt).status_code == 200


def test_revoked_token_is_refused(env, http: httpx.Client):
    governed, _, _ = env
    with _ws(env) as ws:
        issued = ws.access.issue_token("bob", expires_in=timedelta(hours=1), actor="alice")
    assert _read(http, issued.secret).status_code == 200
    with _ws(env) as ws:
        ws.access.revoke_token(issued.id, actor="alice")
    response = _read(http, issued.secret)
    assert response.status_code == 403, response.text
    assert http.get("/v1/me", headers=bearer(issued.secret)).status_code == 403


def test_self_approval_is_refused(env, http: httpx.Client):
    governed, _, _ = env
    asked = http.post(
        "/v1/grants",
        json={
            "dataset": "people",
            "view": "aggregate",
            "purpose": "analytics",
            "duration_seconds": 3600,
            "reason": "counts by state",
        },
        headers=bearer(governed.tokens["bob"]),
    )
    assert asked.status_code == 201, asked.text
    grant = asked.json()
    assert grant["status"] == "pending"  # restricted data: a person must approve
    own = http.post(f"/v1/grants/{grant['id']}/approve", headers=bearer(governed.tokens["bob"]))
    assert own.status_code == 403
    with _ws(env) as ws:
        assert ws.access.get_grant(grant["id"]).status == "pending"
    other = http.post(f"/v1/grants/{grant['id']}/approve", headers=bearer(governed.tokens["carol"]))
    assert other.status_code == 200 and other.json()["status"] == "active"


# -- injection ---------------------------------------------------------------------------------

PAYLOADS = [
    "people' OR '1'='1",
    "people; DROP TABLE datasets; --",
    'people" UNION SELECT secret_sha256 FROM api_tokens --',
    "../../../../etc/passwd",
    "..",
    "people/../../keys",
    "people%00",
    "people\x00",
    "%2e%2e%2fkeys",
    "people@1 OR 1=1",
    "$(id)",
    "${jndi:ldap://x}",
    "people\r\nX-Injected: 1",
    "/etc/passwd",
    "C:\\Windows\\win.ini",
    "a" * 5000,
]


def _injections(governed: Governed) -> list[tuple[str, str, dict, dict | None]]:
    """(method, path, query params, json body) with a payload in each parameter in turn."""
    from urllib.parse import quote

    cases = []
    for payload in PAYLOADS:
        seg = quote(payload, safe="")
        cases += [
            ("GET", f"/v1/datasets/{seg}", {}, None),
            ("GET", f"/v1/datasets/{seg}/rows", {"purpose": "analytics"}, None),
            ("GET", f"/v1/datasets/{seg}/budget", {}, None),
            ("POST", f"/v1/datasets/{seg}/query", {}, _query_body()),
            ("GET", ROWS, {"purpose": payload}, None),
            ("GET", ROWS, {"purpose": "analytics", "view": payload}, None),
            ("GET", ROWS, {"purpose": "analytics", "format": payload}, None),
            ("GET", "/v1/grants", {"status": payload}, None),
            ("GET", "/v1/alerts", {"since": payload}, None),
            ("POST", f"/v1/grants/{seg}/approve", {}, None),
            ("POST", f"/v1/grants/{seg}/deny", {}, None),
            ("POST", f"/v1/grants/{seg}/revoke", {}, None),
            ("GET", f"/v1/log/proofs/inclusion/{seg}", {}, None),
            ("GET", f"/v1/models/{seg}", {}, None),
            ("GET", "/v1/models/people", {"purpose": payload}, None),
            ("POST", "/v1/log/proofs/consistency", {}, {"checkpoint": payload}),
            ("POST", "/v1/datasets/people/query", {}, _query_body(purpose=payload)),
            ("POST", "/v1/datasets/people/query", {}, _query_body(sql=_sql_injection(payload))),
            ("POST", "/v1/datasets/people/query", {}, _query_body(bounds={payload: [0, 1]})),
            ("POST", "/v1/grants", {}, _grant_body(dataset=payload)),
            ("POST", "/v1/grants", {}, _grant_body(purpose=payload)),
            ("POST", "/v1/grants", {}, _grant_body(view=payload)),
        ]
    return cases


def _query_body(**fields) -> dict:
    return {"sql": "SELECT COUNT(*) FROM people", "epsilon": 0.01, "purpose": "analytics", **fields}


def _sql_injection(payload: str) -> str:
    return f"SELECT COUNT(*) FROM people WHERE state = '{payload}'; DROP TABLE datasets"


def _grant_body(**fields) -> dict:
    body = {
        "dataset": "people",
        "view": "masked",
        "purpose": "analytics",
        "duration_seconds": 3600,
        "reason": "x",
    }
    return {**body, **fields}


def test_injection_in_every_parameter_is_rejected(env, http: httpx.Client):
    governed, _, _ = env
    with _ws(env) as ws:
        before = (ws.log.size(), [d.name for d in ws.datasets()])
    headers = bearer(governed.tokens["carol"])
    for method, path, params, body in _injections(governed):
        try:
            response = http.request(method, path, params=params, json=body, headers=headers)
        except httpx.InvalidURL:
            continue  # the client itself refuses to send it (control characters)
        assert 400 <= response.status_code < 500, (method, path, params, body, response.text)
        assert response.json()["error"] != "internal"
    with _ws(env) as ws:
        datasets = [d.name for d in ws.datasets()]
        assert datasets == before[1]  # nothing dropped or created
        assert ws.log.verify().size >= before[0]


def test_free_text_reason_is_stored_verbatim_not_executed(env, http: httpx.Client):
    """The one free-text field: a SQL payload is data, bound as a parameter, never run."""
    governed, _, _ = env
    reason = "'); DELETE FROM grants; --"
    asked = http.post(
        "/v1/grants", json=_grant_body(reason=reason), headers=bearer(governed.tokens["bob"])
    )
    assert asked.status_code == 201
    with _ws(env) as ws:
        assert ws.access.get_grant(asked.json()["id"]).reason == reason
        assert ws.access.get_grant(governed.grants["bob-raw"]).status == "active"


# -- what errors and logs may say ---------------------------------------------------------------


def test_errors_leak_no_internals(env, http: httpx.Client):
    governed, _, root = env
    headers = bearer(governed.tokens["bob"])
    answers = [
        http.get("/v1/datasets/nosuch", headers=headers),
        http.get("/v1/datasets/nosuch/rows", params={"purpose": "x"}, headers=headers),
        http.get(
            ROWS, params={"purpose": "analytics", "view": "raw", "format": "xml"}, headers=headers
        ),
        http.get("/v1/log/proofs/inclusion/999999999", headers=headers),
        http.post("/v1/log/proofs/consistency", json={"checkpoint": "junk"}, headers=headers),
        http.post("/v1/datasets/people/query", content=b"{not json", headers=headers),
        http.get("/nothing/here", headers=headers),
        http.delete("/v1/datasets", headers=headers),
    ]
    for response in answers:
        assert 400 <= response.status_code < 500, response.text
        payload = response.json()
        assert set(payload) == {"error", "message", "request_id"}
        text = response.text
        assert "Traceback" not in text and 'File "' not in text
        assert str(root) not in text and "/tmp" not in text and ".privet" not in text
        assert "xml" not in text and "junk" not in text  # input is named, never echoed
        assert response.headers["cache-control"] == "no-store"


def test_oversized_bodies_are_refused(env, http: httpx.Client):
    governed, _, _ = env
    headers = {**bearer(governed.tokens["bob"]), "Content-Type": "application/json"}
    big = b'{"sql": "' + b"x" * 300_000 + b'"}'
    declared = http.post("/v1/datasets/people/query", content=big, headers=headers)
    assert declared.status_code == 413 and declared.json()["error"] == "too_large"
    chunked = http.post(
        "/v1/datasets/people/query", content=iter([big[:100_000]] * 3), headers=headers
    )
    assert chunked.status_code == 413


def test_rate_limit_per_token_is_429(tmp_path: Path, people_csv: Path, project: Path):
    governed = governed_workspace(project, people_csv)
    with ServerProcess(project, "--rate-limit", "1", "--burst", "3") as server:
        bob, carol = bearer(governed.tokens["bob"]), bearer(governed.tokens["carol"])
        with httpx.Client(base_url=server.url) as client:
            codes = [client.get("/v1/me", headers=bob).status_code for _ in range(8)]
            other = client.get("/v1/me", headers=carol)
            limited = client.get("/v1/me", headers=bob)
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert other.status_code == 200  # the limit is per token


JWTS: list[str] = []  # every JWT this module sends: the log test checks none was logged


def test_oidc_jwt_of_the_configured_issuer_is_accepted(env, http: httpx.Client):
    """A JWT signed by the issuer the policy names authenticates like a token; its roles
    claim goes through the same policy and grant checks."""
    import time

    import jwt
    import yaml
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.server_support import POLICY

    governed, _, _ = env
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    policy = yaml.safe_load(POLICY)
    policy["oidc"] = {
        "issuer": "https://id.test",
        "audience": "privet",
        "public_key": public.decode(),
    }
    with _ws(env) as ws:
        ws.access.set_policy(yaml.safe_dump(policy), actor="alice")

    def token(**claims) -> str:
        now = int(time.time())
        base = {"sub": "olivia", "roles": ["analyst"], "iss": "https://id.test", "aud": "privet"}
        signed = jwt.encode({**base, "exp": now + 600, **claims}, key, algorithm="ES256")
        JWTS.append(signed)
        return signed

    good = token()
    me = http.get("/v1/me", headers=bearer(good))
    assert me.status_code == 200 and me.json() == {
        "name": "olivia",
        "roles": ["analyst"],
        "via": "oidc",
    }
    assert _read(http, good).status_code == 403  # authenticated, but no grant yet
    asked = http.post("/v1/grants", json=_grant_body(view="raw"), headers=bearer(good))
    assert asked.status_code == 201, asked.text
    approved = http.post(
        f"/v1/grants/{asked.json()['id']}/approve", headers=bearer(governed.tokens["carol"])
    )
    assert approved.status_code == 200
    assert _read(http, good).status_code == 200
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    other_key = ec.generate_private_key(ec.SECP256R1())
    for bad in (
        forged,
        token(exp=int(time.time()) - 3600),  # expired
        token(aud="someone-else"),
        token(iss="https://evil.test"),
        jwt.encode({"sub": "olivia", "iss": "https://id.test", "aud": "privet",
                    "exp": int(time.time()) + 600}, other_key, algorithm="ES256"),
    ):  # fmt: skip
        assert http.get("/v1/me", headers=bearer(bad)).status_code == 401


def test_server_log_holds_no_token_key_or_cell_value(env, http: httpx.Client, people):
    """Runs last in this module: the log then covers every request above. A client that puts
    its token in the query string does not get it logged either."""
    governed, server, root = env
    secret = governed.tokens["bob"]
    http.get("/v1/me", params={"token": secret, "access_token": secret})
    http.get(ROWS, params={"purpose": "analytics", "token": secret}, headers=bearer(secret))
    asked = http.post(
        "/v1/datasets/people/query",
        json=_query_body(sql=_sql_injection("Jane Doe")),
        headers=bearer(secret),
    )
    assert asked.status_code in (400, 403) and "Jane Doe" not in asked.text
    log = server.log()
    assert "GET /v1/datasets/people/rows" in log  # the access log is there, and complete
    for token in governed.tokens.values():
        assert token not in log and token[21:] not in log  # pvt_<16 hex id>_<secret>
    for signed in JWTS:
        assert signed not in log and signed.split(".")[2] not in log
    for key_file in (root / "keys").glob("*"):
        for value in _strings(json.loads(key_file.read_text())):
            if len(value) >= 16:
                assert value not in log
    for column in ("full_name", "email", "ssn", "phone", "street_address", "notes"):
        for value in people[column].drop_nulls().unique().to_list():
            if len(str(value)) >= 6:
                assert str(value) not in log, column
    assert "Traceback" not in log and "Jane Doe" not in log  # query text is never logged


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []
