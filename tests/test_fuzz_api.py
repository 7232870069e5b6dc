"""The API fuzzed from its own OpenAPI spec with schemathesis: no request, valid or not,
makes the server answer 5xx, and every answer conforms to the document (status codes,
content types, headers, body schemas). The default run sends a few examples per operation;
PRIVET_SLOW=1 sends many more."""

from __future__ import annotations

from datetime import datetime

import httpx
import polars as pl
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS

from tests.server_support import ServerProcess, bearer, governed_root


@pytest.fixture(scope="module")
def fuzz_env(tmp_path_factory: pytest.TempPathFactory, people: pl.DataFrame):
    with (
        governed_root(tmp_path_factory, "fuzz", people) as (root, governed),
        ServerProcess(root / "project", "--rate-limit", "10000", "--burst", "10000") as server,
    ):
        yield governed, server


# The server must do what its OpenAPI document says: documented status codes, content types,
# headers and body schemas (timestamps with their offset included), and invalid input refused.
CONFORMANCE = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)


def _checks() -> list:
    # Looked up at call time: schemathesis registers its OpenAPI checks once a schema loads.
    checks = [c for c in CHECKS.get_all() if c.__name__ in CONFORMANCE]
    assert len(checks) == len(CONFORMANCE), [c.__name__ for c in checks]
    return checks


def _exercise(case, fuzz_env) -> None:
    governed, server = fuzz_env
    # carol is an approver: most operations get past authorization for her.
    response = case.call(base_url=server.url, headers=bearer(governed.tokens["carol"]), timeout=60)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:300]}"
    )
    case.validate_response(response, checks=_checks())
    if response.status_code >= 400:
        body = response.json()
        # "parameter" names the request field a 4xx is about, when there is one
        assert (
            {"error", "message", "request_id"}
            <= set(body)
            <= {"error", "message", "request_id", "parameter"}
        ), body


def _fuzz(fuzz_env, examples: int) -> dict[GenerationMode, int]:
    """Every operation of the served spec, in both generation modes (valid and invalid
    input); returns how many operations were fuzzed in each mode."""
    _, server = fuzz_env
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    # Valid credentials come from the test, so generated cases reach past the 401.
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = dict.fromkeys(GenerationMode, 0)
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
                derandomize=examples <= 20,
            )
            def run(case) -> None:
                _exercise(case, fuzz_env)

            try:
                run()
            except Unsatisfiable:
                # Nothing in the operation can be made invalid (no parameters, no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
                continue
            fuzzed[mode] += 1
    return fuzzed


def test_fuzzing_finds_no_server_error(fuzz_env):
    fuzzed = _fuzz(fuzz_env, examples=6)
    assert fuzzed[GenerationMode.POSITIVE] >= 14 and fuzzed[GenerationMode.NEGATIVE] >= 10


@pytest.mark.slow
def test_fuzzing_finds_no_server_error_long(fuzz_env):
    fuzzed = _fuzz(fuzz_env, examples=150)
    assert fuzzed[GenerationMode.POSITIVE] >= 14 and fuzzed[GenerationMode.NEGATIVE] >= 10


def test_fuzzed_server_still_serves_and_its_log_verifies(fuzz_env):
    """After the fuzzing (this runs after it, in file order) the service answers and the
    audit log, written to by every fuzzed request that got that far, still verifies."""
    governed, server = fuzz_env
    response = httpx.get(f"{server.url}/v1/datasets", headers=bearer(governed.tokens["bob"]))
    assert response.status_code == 200
    from privet import Workspace

    with Workspace.open(governed.path) as ws:
        assert ws.log.verify().size > 0
    assert "Traceback" not in server.log()


def test_served_timestamps_carry_their_offset(fuzz_env):
    # SQLite returns naive datetimes; served as they came they broke the declared date-time
    # format (RFC 3339 requires an offset).
    governed, server = fuzz_env
    stamps = []

    def collect(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key.endswith("_at") and isinstance(item, str):
                    stamps.append(item)
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    for path in ("/v1/grants", "/v1/datasets/people", "/v1/alerts"):
        answer = httpx.get(
            f"{server.url}{path}", headers=bearer(governed.tokens["carol"]), timeout=30
        )
        assert answer.status_code == 200, (path, answer.text)
        collect(answer.json())
    assert len(stamps) >= 3
    assert all(datetime.fromisoformat(v).utcoffset() is not None for v in stamps), stamps
