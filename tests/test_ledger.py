"""The budget ledger: totals checked against dp-accounting directly, limits, ownership."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from dp_accounting import dp_event as ev
from dp_accounting import get_epsilon_gaussian
from dp_accounting.pld import pld_privacy_accountant
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from privet import InvalidInput, PolicyDenied, Workspace
from privet.catalog import derive
from privet.dp import DEFAULT_EPSILON, Charge, QueryRequest, default_delta, pure
from privet.dp._accounting import from_json, to_json
from privet.errors import BudgetExhausted, IntegrityError
from privet.schema import DpRelease
from tests.conftest import ingest_people, invoke


def independent_epsilon(events: list[ev.DpEvent], delta: float) -> float:
    """ε of the composition, computed with dp-accounting's PLD accountant directly."""
    if not events:
        return 0.0
    accountant = pld_privacy_accountant.PLDAccountant()
    for event in events:
        accountant.compose(event)
    return accountant.get_epsilon(delta)


def releases(ws: Workspace) -> int:
    with ws.hazmat.reading() as session:
        return session.scalar(select(func.count()).select_from(DpRelease))


# Release kinds a ledger receives, as (kind, dp-accounting event) strategies.
laplace = st.floats(0.5, 20).map(lambda b: ev.LaplaceDpEvent(noise_multiplier=b))
discrete_laplace = st.tuples(st.floats(0.02, 1.0), st.integers(1, 3)).map(
    lambda p: ev.DiscreteLaplaceDpEvent(noise_parameter=p[0], sensitivity=p[1])
)
gaussian = st.floats(1.0, 30).map(lambda s: ev.GaussianDpEvent(noise_multiplier=s))
subsampled_gaussian = st.tuples(
    st.floats(1.0, 3.0), st.floats(0.001, 0.01), st.integers(1, 100)
).map(
    lambda p: ev.SelfComposedDpEvent(ev.PoissonSampledDpEvent(p[1], ev.GaussianDpEvent(p[0])), p[2])
)
release_event = st.one_of(laplace, discrete_laplace, gaussian, subsampled_gaussian)


@pytest.fixture
def ledger_ws(ws: Workspace, people_csv: Path) -> Workspace:
    ingest_people(ws, people_csv)
    return ws


def check_ledger_against_dp_accounting(
    ws: Workspace, events: list[ev.DpEvent], limit: float
) -> None:
    # A fresh ledger for each example: a new source dataset.
    source = f"src{len(ws.datasets())}"
    path = ws.folder.parent / "people.csv"
    if not path.exists():
        ws.read("people", purpose="training", actor="alice").write_csv(path)
    ingest_people(ws, path, name=source)
    delta = 1e-6
    ws.dp.set_budget(source, actor="alice", epsilon=limit, delta=delta)
    accepted: list[ev.DpEvent] = []
    for event in events:
        would_be = independent_epsilon([*accepted, event], delta)
        if would_be <= limit:
            ws.dp.charge(source, Charge(event), kind="test", purpose="training", actor="bob")
            accepted.append(event)
        else:
            with pytest.raises(BudgetExhausted):
                ws.dp.charge(source, Charge(event), kind="test", purpose="training", actor="bob")
        budget = ws.dp.budget(source)
        assert budget.epsilon_spent == pytest.approx(independent_epsilon(accepted, delta), abs=1e-9)
        assert budget.epsilon_spent <= limit
        assert len(budget.releases) == len(accepted)
        if budget.epsilon_spent_rdp is not None:
            # RDP is the looser accountant: it never claims less than PLD (up to PLD's grid).
            assert budget.epsilon_spent_rdp >= budget.epsilon_spent - 1e-3


SEQUENCES = {
    "events": st.lists(release_event, min_size=1, max_size=5),
    "limit": st.floats(0.5, 6.0),
}
UNCHECKED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=6, deadline=None, suppress_health_check=UNCHECKED)
@given(**SEQUENCES)
def test_ledger_total_equals_dp_accounting_and_never_exceeds_the_limit(
    ledger_ws: Workspace, events: list[ev.DpEvent], limit: float
) -> None:
    """Acceptance 1: mixed Laplace / Gaussian / subsampled-Gaussian releases (small run)."""
    check_ledger_against_dp_accounting(ledger_ws, events, limit)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=UNCHECKED)
@given(**SEQUENCES)
def test_ledger_total_equals_dp_accounting_over_many_sequences(
    ledger_ws: Workspace, events: list[ev.DpEvent], limit: float
) -> None:
    """Acceptance 1, the full run."""
    check_ledger_against_dp_accounting(ledger_ws, events, limit)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        # k Gaussian releases with σ compose to one with σ/√k: the analytic Gaussian mechanism
        # (Balle & Wang 2018) gives the exact ε.
        ([ev.GaussianDpEvent(4.0)] * 4, get_epsilon_gaussian(2.0, 1e-6)),
        ([ev.GaussianDpEvent(3.0)], get_epsilon_gaussian(3.0, 1e-6)),
        # Discrete Laplace with sensitivity 1 is randomized response with ε: ε at any δ ≤ ε.
        ([ev.DiscreteLaplaceDpEvent(0.5, 1)], 0.5),
    ],
)
def test_known_answers(ledger_ws: Workspace, events: list[ev.DpEvent], expected: float) -> None:
    ledger_ws.dp.set_budget("people", actor="alice", epsilon=50, delta=1e-6)
    for event in events:
        ledger_ws.dp.charge("people", Charge(event), kind="test", purpose="training", actor="b")
    assert ledger_ws.dp.budget("people").epsilon_spent == pytest.approx(expected, rel=2e-3)


def test_a_new_ledger_has_the_documented_default(ledger_ws: Workspace) -> None:
    budget = ledger_ws.dp.budget("people")
    assert budget.epsilon_limit == DEFAULT_EPSILON == 1.0
    assert budget.delta == default_delta(300) == min(1e-6, 1 / 300**2)
    assert budget.unit == "subject"
    assert budget.default_limit and budget.epsilon_spent == 0 and budget.releases == []


def test_a_release_over_the_limit_is_refused_logged_and_spends_nothing(
    ledger_ws: Workspace,
) -> None:
    ws = ledger_ws
    ws.dp.charge("people", Charge(pure(0.6)), kind="test", purpose="training", actor="bob")
    size = ws.log.size()
    with pytest.raises(BudgetExhausted, match="left of 1") as refused:
        ws.dp.charge("people", Charge(pure(0.6)), kind="test", purpose="training", actor="bob")
    # The refusal carries its facts, so a caller need not parse the message.
    facts = refused.value
    assert facts.dataset == "people" and facts.parameter == "epsilon"
    assert facts.asked_epsilon == pytest.approx(0.6, abs=1e-5)
    assert facts.remaining_epsilon == pytest.approx(0.4, abs=1e-5)
    assert facts.epsilon_limit == 1.0 and "privet budget" not in str(facts)
    assert ws.dp.budget("people").epsilon_spent == pytest.approx(0.6, abs=1e-5)
    assert releases(ws) == 1
    (entry,) = [r.event for r in ws.log.records(size)]
    assert entry["event"] == "dp.refused" and entry["reason"] == "budget"


def test_releases_on_a_derived_version_are_charged_to_the_source(
    ledger_ws: Workspace,
) -> None:
    """Acceptance 2, through a real DP query on the derived dataset."""
    ws = ledger_ws
    frame = ws.read("people", purpose="training", actor="alice")
    derive(
        ws.hazmat, "people", frame.head(200), name="people-subset", kind="filtered", actor="alice"
    )
    derive(
        ws.hazmat, "people-subset", frame.head(100), name="people-tiny", kind="filtered", actor="a"
    )
    ws.dp.query(
        "people-tiny",
        QueryRequest(sql='SELECT COUNT(*) FROM "people-tiny"', epsilon=0.25, purpose="training"),
        actor="bob",
    )
    ws.dp.query(
        "people-subset",
        QueryRequest(sql='SELECT COUNT(*) FROM "people-subset"', epsilon=0.25, purpose="training"),
        actor="bob",
    )
    source = ws.dp.budget("people")
    assert [r.dataset for r in source.releases] == ["people-tiny@1", "people-subset@1"]
    assert source.epsilon_spent == pytest.approx(0.5, abs=1e-5)
    # Asking the derived dataset for its budget shows the source's ledger.
    derived = ws.dp.budget("people-tiny")
    assert derived.dataset == "people" and derived.epsilon_spent == source.epsilon_spent


def test_only_the_owner_sets_the_limit(ledger_ws: Workspace) -> None:
    with pytest.raises(PolicyDenied, match="only the owner"):
        ledger_ws.dp.set_budget("people", actor="mallory", epsilon=100)
    with pytest.raises(PolicyDenied, match="only the owner"):
        ledger_ws.dp.declare("people", actor="mallory", bounds={"age": (0, 120)})
    info = ledger_ws.dp.set_budget("people", actor="alice", epsilon=3, delta=1e-7)
    assert (info.epsilon_limit, info.delta, info.default_limit) == (3, 1e-7, False)


@pytest.mark.parametrize(
    ("epsilon", "delta", "message"),
    [
        (0.0, None, "greater than 0"),  # ε ≤ 0
        (-1.0, None, "greater than 0"),
        (math.inf, None, "finite"),
        (None, 1 / 300, "not below 1/n"),  # δ ≥ 1/n
        (None, 0.0, "greater than 0"),  # a ledger needs δ > 0
        (None, None, "give a new limit"),
    ],
)
def test_bad_limits_are_refused(
    ledger_ws: Workspace, epsilon: float | None, delta: float | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        ledger_ws.dp.set_budget("people", actor="alice", epsilon=epsilon, delta=delta)


def test_a_limit_below_what_was_spent_is_refused(ledger_ws: Workspace) -> None:
    ws = ledger_ws
    ws.dp.charge("people", Charge(pure(0.5)), kind="test", purpose="training", actor="bob")
    with pytest.raises(InvalidInput, match="already spent"):
        ws.dp.set_budget("people", actor="alice", epsilon=0.4)
    assert ws.dp.set_budget("people", actor="alice", epsilon=0.5).epsilon_remaining < 1e-5


def test_two_concurrent_releases_cannot_both_take_the_last_budget(
    ledger_ws: Workspace,
) -> None:
    results: list[str] = []

    def spend() -> None:
        with Workspace.open(ledger_ws.folder) as other:
            try:
                other.dp.charge(
                    "people", Charge(pure(0.7)), kind="test", purpose="training", actor="bob"
                )
                results.append("spent")
            except BudgetExhausted:
                results.append("refused")

    threads = [threading.Thread(target=spend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["refused", "spent"]
    assert ledger_ws.dp.budget("people").epsilon_spent <= 1.0


def test_stored_events_round_trip_and_malformed_ones_are_rejected() -> None:
    event = ev.ComposedDpEvent(
        [
            ev.LaplaceDpEvent(2.0),
            ev.DiscreteLaplaceDpEvent(0.3, 2),
            ev.SelfComposedDpEvent(ev.PoissonSampledDpEvent(0.01, ev.GaussianDpEvent(1.1)), 99),
        ]
    )
    charge = Charge(event, 1e-9)
    assert from_json(to_json(charge)) == charge
    bad = [
        {"format": 2, "event": {"type": "noop"}, "delta": 0},
        {"format": 1, "event": {"type": "gaussian", "noise_multiplier": -1}, "delta": 0},
        {"format": 1, "event": {"type": "gaussian", "noise_multiplier": 1}, "delta": 2},
        {"format": 1, "event": {"type": "exec", "code": "x"}, "delta": 0},
        {"format": 1, "event": {"type": "self_composed", "count": 1.5, "event": {}}, "delta": 0},
    ]
    for data in bad:
        with pytest.raises(IntegrityError):
            from_json(data)


def test_budget_command_prints_the_ledger_as_one_json_document(
    ledger_ws: Workspace,
) -> None:
    import json

    ledger_ws.dp.charge("people", Charge(pure(0.2)), kind="test", purpose="training", actor="b")
    result = invoke("budget", "people", "--json", workspace=ledger_ws.folder)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("epsilon_limit", "delta", "epsilon_spent", "epsilon_remaining", "releases"):
        assert key in data
    assert data["epsilon_spent"] == pytest.approx(0.2, abs=1e-5)
    assert data["releases"][0]["kind"] == "test"


def test_budget_command_sets_limits_for_the_owner_only(ledger_ws: Workspace) -> None:
    folder = ledger_ws.folder
    refused = invoke("budget", "people", "--set-epsilon", "5", "--as", "bob", workspace=folder)
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1 and "only the owner" in refused.stderr
    done = invoke(
        "budget",
        "people",
        "--set-epsilon",
        "5",
        "--set-delta",
        "1e-7",
        "--bound",
        "age=0:120",
        "--keys",
        "sex=Female,Male",
        "--as",
        "alice",
        "--json",
        workspace=folder,
    )
    assert done.exit_code == 0, done.output
    assert '"epsilon_limit": 5.0' in done.stdout
    assert ledger_ws.dp.domains("people")["age"].bounds == (0.0, 120.0)
