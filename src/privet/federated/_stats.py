"""Secure joint statistics: a count, a sum or a histogram over several parties' rows, with
no party's rows, value or total ever leaving it in the clear.

How one query runs (``joint``):

1. The coordinator plans it: the statistic, the column, the public bounds or bins, and the
   noise. σ is the analytic Gaussian mechanism's (Balle & Wang 2018) for (ε, δ) and the
   statistic's sensitivity, raised if privet's PLD accountant (the ledgers') asks for a
   little more. The query is logged in the
   coordinator's own log (parties, statistic, column, ε, δ, σ — no value).
2. Every party (a Flower ClientApp next to its own workspace) reads its dataset through its
   own broker (view ``aggregate``, channel ``dp:federated-stats``: one log entry there),
   keeps at most one row per person (its subject id or subject link), clips each row (a
   count: 1; a sum: the value into [L, U]; a histogram: one bin), and computes its exact
   vector. It charges its OWN ledger (one release per query: a Gaussian event with noise
   multiplier σ / sensitivity, its ε computed at that ledger's δ; refused if it does not
   fit) before anything leaves, then adds its share of the noise, N(0, σ²/m), drawn from
   :class:`privet.dp.randomness.SecureRandom`.
3. The noisy vectors are summed by Flower's SecAgg+ (``SecAggPlusWorkflow`` on the server,
   ``secaggplus_mod`` on the parties): the coordinator receives only masked vectors, uniform
   modulo 2³², and key shares; it learns the sum and nothing else.

Noise. Continuous Gaussian shares, because a sum of independent Gaussians is exactly
Gaussian: m shares N(0, σ²/m) add up to N(0, σ²), so the answer's distribution is stated
exactly and accounted with dp-accounting's Gaussian event (tight PLD, composes with the
ledger's other releases). Discrete noise that sums exactly (Pólya shares of a discrete
Laplace) would avoid floating point, but pure-ε noise is wasteful for histograms of many
bins and the quantization below already rounds every share. Each share is added before the
party's value leaves, so no party — nor the coordinator — ever sees an exact total. The
shares are floating point; the attack on floating-point noise (Mironov 2012) needs the
exact noisy float, and here each share is rounded onto SecAgg+'s grid (by Flower's
non-cryptographic stochastic rounding, which moves it by less than one grid step) and
masked, and only the sum of all shares is ever seen.

Dropouts and trust. ``min_parties`` (m, default: every party) is the number of
contributions the guarantee is planned for: each party adds N(0, σ²/m). If k ≥ m parties
contribute, the answer carries N(0, kσ²/m) — at least σ², so every party's ε holds — and
the result states that σ·√(k/m). If fewer than m contribute, the coordinator refuses to
release (the ledgers stay charged: nothing is refunded for an answer the coordinator
computed). A party that drops out after SecAgg+ collected its masked vector still counts
(SecAgg+ recovers its mask); one that drops before is left out of the sum, and its pairwise
masks are removed with the other parties' key shares. The ledger's ε assumes an
honest-but-curious coordinator and parties that add their noise: against a coalition of the
coordinator and other parties, who can subtract their own shares, a party is protected by
the honest parties' shares only (its own alone is N(0, σ²/m)).

Quantization. SecAgg+ adds integers modulo ``modulus_range`` (2³²): every value is clipped to
[-C, C] (``clipping_range``), scaled to [0, Q] (``quantization_range``) and stochastically
rounded (unbiased), and the workflow returns the WEIGHTED AVERAGE of the parties' vectors
with weights ``num_examples / max_weight``. Each party reports weight 1 with ``max_weight``
1, so every weight is exactly Q/Q = 1 and the average times k (the number of vectors
aggregated, which the coordinator knows) is the sum. Q is the largest power of two with
n·Q < 2³² (so neither the sum of levels nor the weights wrap around), and C is the largest
exact contribution a party can make (``max_rows`` rows at the bound, clamped there) plus 12
standard deviations of its noise share, so clipping never bites in practice. The sum then
differs from the sum of the noisy shares by the rounding alone: at most k·2C/Q per entry,
zero on average, standard deviation at most √k·C/Q — reported as ``quantization_error``.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from privet.errors import InvalidInput, PrivetError

if TYPE_CHECKING:
    from privet.core import Core
    from privet.dp import Charge
    from privet.dp.randomness import SecureRandom
    from privet.federated._parties import Party

Statistic = Literal["count", "sum", "histogram"]
STATISTICS: tuple[str, ...] = ("count", "sum", "histogram")
# A party reads on a DP channel: the broker serves the aggregate view only to DP releases.
CHANNEL = "dp:federated-stats"
DEFAULT_MAX_ROWS = 1_000_000
MAX_BINS = 1000
MAX_EPSILON = 100.0  # as privet's DP queries: beyond it the guarantee says nothing
MAX_DELTA = 1e-3
MODULUS = 2**32
# Standard deviations of one party's noise share kept inside the clipping range.
MARGIN = 12.0
_MAX_LEVELS = 2**30  # Flower rounds levels in int32


class JointQuery(BaseModel):
    """What the coordinator asks every party: public parameters only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    statistic: Statistic
    column: str | None = None
    bounds: tuple[float, float] | None = None
    edges: list[float] | None = None
    epsilon: float = Field(description="ε the coordinator calibrated σ for, at `delta`")
    delta: float
    sigma: float = Field(description="standard deviation of the noise of the answer with m parties")
    parties: int = Field(description="n, the parties asked")
    min_parties: int = Field(description="m: each party adds N(0, σ²/m)")
    max_rows: int
    repetitions: int = 1
    seed: int | None = Field(None, description="reproducible noise for tests; never secure")

    @property
    def width(self) -> int:
        return len(self.edges) - 1 if self.edges else 1

    @property
    def size(self) -> int:
        return self.width * self.repetitions

    @property
    def sensitivity(self) -> float:
        """L2 sensitivity of one party's vector to adding or removing one person."""
        if self.statistic == "sum" and self.bounds is not None:
            return max(abs(self.bounds[0]), abs(self.bounds[1]))
        return 1.0

    @property
    def party_bound(self) -> float:
        """The largest exact entry a party sends (clamped there)."""
        return self.max_rows * self.sensitivity

    @property
    def party_sigma(self) -> float:
        return self.sigma / math.sqrt(self.min_parties)

    @property
    def clipping_range(self) -> float:
        return float(self.party_bound + MARGIN * self.party_sigma)

    @property
    def quantization_range(self) -> int:
        return quantization_levels(self.parties)

    def charge(self) -> Charge:
        """One party's ledger charge: the Gaussian mechanism, ``repetitions`` times."""
        from dp_accounting import dp_event as ev

        from privet.dp import Charge

        event: ev.DpEvent = ev.GaussianDpEvent(self.sigma / self.sensitivity)
        if self.repetitions > 1:
            event = ev.SelfComposedDpEvent(event, self.repetitions)
        return Charge(event)


def quantization_levels(parties: int) -> int:
    """Q: the largest power of two with n·Q < 2³² (levels and weights never wrap)."""
    levels = 1 << ((MODULUS - 1) // parties).bit_length() - 1
    return min(levels, _MAX_LEVELS)


class PartyShare(BaseModel):
    """A party that took part, and the ε its own ledger recorded (at that ledger's δ)."""

    party: str
    epsilon: float


class JointResult(BaseModel):
    """A joint statistic: the noisy answer and how it was made noisy."""

    query: str = Field(description="the query's id (in every party's ledger entry)")
    statistic: str
    column: str | None
    bounds: tuple[float, float] | None
    edges: list[float] | None = Field(description="histogram bin edges (bins [e_i, e_i+1))")
    answer: list[float] = Field(description="the noisy answer (one entry; a bin count each)")
    repetitions: list[list[float]] = Field(
        default_factory=list, description="independent answers, when several were asked"
    )
    noise: str = Field(description="the noise distribution of each entry of the answer")
    sigma: float = Field(description="its standard deviation, for the parties that took part")
    sigma_planned: float = Field(description="σ with exactly min_parties parties")
    sigma_per_party: float
    epsilon: float = Field(description="ε σ was calibrated for, at delta")
    delta: float
    sensitivity: float
    quantization_error: float = Field(
        description="bound on the SecAgg+ rounding error of each entry (zero on average)"
    )
    clipping_range: float
    quantization_range: int
    parties: list[str]
    took_part: list[PartyShare]
    dropped: list[str]
    min_parties: int
    num_shares: int
    reconstruction_threshold: int
    log_index: int = Field(description="the coordinator's log entry of the query")
    seconds: float


# -- planning (coordinator) -------------------------------------------------------------------


def plan(
    parties: int,
    statistic: str,
    column: str | None,
    *,
    epsilon: float,
    delta: float,
    bounds: Sequence[float] | None = None,
    bins: Sequence[float] | None = None,
    min_parties: int | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    repetitions: int = 1,
    seed: int | None = None,
) -> JointQuery:
    """Validate a query and calibrate its σ; nothing is read."""
    if statistic not in STATISTICS:
        raise InvalidInput(
            f"unknown statistic {statistic[:40]!r} (use: {', '.join(STATISTICS)})",
            parameter="statistic",
        )
    if statistic != "count" and not column:
        raise InvalidInput(f"a {statistic} needs a column", parameter="column")
    if not (isinstance(epsilon, int | float) and 0 < epsilon <= MAX_EPSILON):
        raise InvalidInput(f"epsilon must be a number in (0, {MAX_EPSILON:g}]", parameter="epsilon")
    if not (isinstance(delta, int | float) and 0 < delta < MAX_DELTA):
        raise InvalidInput(
            f"the Gaussian noise of a joint statistic needs 0 < delta < {MAX_DELTA:g} (e.g. 1e-6)",
            parameter="delta",
        )
    checked_delta = float(delta)
    pair: tuple[float, float] | None = None
    if statistic == "sum":
        if bounds is None or len(bounds) != 2:
            raise InvalidInput(
                "a sum needs declared bounds LOW HIGH for each row", parameter="bounds"
            )
        low, high = float(bounds[0]), float(bounds[1])
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise InvalidInput("the bounds must be finite with LOW < HIGH", parameter="bounds")
        if max(abs(low), abs(high)) == 0:
            raise InvalidInput("the bounds must not both be 0", parameter="bounds")
        pair = (low, high)
    elif bounds is not None:
        raise InvalidInput(f"a {statistic} takes no bounds (only a sum does)", parameter="bounds")
    edges: list[float] | None = None
    if statistic == "histogram":
        edges = [float(b) for b in bins or []]
        if not 2 <= len(edges) <= MAX_BINS + 1:
            raise InvalidInput(f"a histogram needs 2 to {MAX_BINS + 1} bin edges", parameter="bins")
        if not all(math.isfinite(e) for e in edges) or any(
            b <= a for a, b in zip(edges, edges[1:], strict=False)
        ):
            raise InvalidInput("the bin edges must be finite and increasing", parameter="bins")
    elif bins:
        raise InvalidInput(f"a {statistic} takes no bins (only a histogram does)", parameter="bins")
    if parties < 2:
        raise InvalidInput("a joint statistic needs at least 2 parties", parameter="parties")
    wanted = parties if min_parties is None else int(min_parties)
    if not 2 <= wanted <= parties:
        raise InvalidInput(
            f"min_parties must be between 2 and the {parties} parties", parameter="min_parties"
        )
    if not 1 <= max_rows <= 10**12:
        raise InvalidInput("max_rows must be between 1 and 10^12", parameter="max_rows")
    if not 1 <= repetitions <= 100_000:
        raise InvalidInput("repetitions must be between 1 and 100000", parameter="repetitions")
    multiplier = gaussian_multiplier(float(epsilon), checked_delta)
    sensitivity = max(abs(pair[0]), abs(pair[1])) if pair else 1.0
    return JointQuery(
        id=uuid.uuid4().hex,
        statistic=statistic,  # type: ignore[arg-type]
        column=column or None,
        bounds=pair,
        edges=edges,
        epsilon=float(epsilon),
        delta=checked_delta,
        sigma=multiplier * sensitivity,
        parties=parties,
        min_parties=wanted,
        max_rows=int(max_rows),
        repetitions=int(repetitions),
        seed=seed,
    )


def _analytic_delta(epsilon: float, multiplier: float) -> float:
    """δ(ε) of the Gaussian mechanism with σ/Δ = ``multiplier`` (Balle & Wang 2018, Thm. 8)."""

    def phi(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2))

    a, b = 1 / (2 * multiplier), epsilon * multiplier
    return phi(a - b) - math.exp(epsilon) * phi(-a - b)


def gaussian_multiplier(epsilon: float, delta: float) -> float:
    """The smallest noise multiplier σ/Δ (to 0.1%) whose Gaussian mechanism is (ε, δ)-DP,
    as privet's PLD accountant (the one every ledger composes with) counts it.

    The analytic Gaussian mechanism gives it exactly; the PLD's pessimistic grid may then
    ask for a little more, added in 0.1% steps.
    """
    from dp_accounting import dp_event as ev

    from privet.dp import Charge, epsilon_spent

    low, high = 1e-3, 1.0
    while _analytic_delta(epsilon, high) > delta:
        low, high = high, high * 2
        if high > 1e7:
            raise InvalidInput("no noise level meets this epsilon and delta", parameter="epsilon")
    while high - low > 1e-4 * high:
        middle = (low + high) / 2
        low, high = (low, middle) if _analytic_delta(epsilon, middle) <= delta else (middle, high)
    for _ in range(100):
        if epsilon_spent([Charge(ev.GaussianDpEvent(high))], delta) <= epsilon:
            return high
        high *= 1.001
    raise InvalidInput("no noise level meets this epsilon and delta", parameter="epsilon")


# -- a party's contribution ---------------------------------------------------------------------


def exact_vector(frame: pl.DataFrame, query: JointQuery, subject: str | None) -> np.ndarray:
    """A party's exact statistic: one row per person, each row clipped, the total clamped."""
    if subject is not None and subject in frame.columns:
        # At most one row per person (the first): adding or removing a person then moves
        # the count by 1, the sum by max(|L|, |U|), one bin by 1.
        frame = frame.unique(subset=[subject], keep="first", maintain_order=True)
    column = query.column
    if column is not None and column not in frame.columns:
        raise InvalidInput(f"the dataset has no column named {column[:80]!r}", parameter="column")
    if query.statistic == "count":
        value = frame.height if column is None else frame.height - frame[column].null_count()
        vector = np.array([float(value)])
    else:
        assert column is not None
        values = frame[column].cast(pl.Float64, strict=False).drop_nulls().drop_nans().to_numpy()
        if query.statistic == "sum":
            assert query.bounds is not None
            vector = np.array([float(np.clip(values, *query.bounds).sum())])
        else:
            assert query.edges is not None
            vector = np.histogram(values, bins=np.asarray(query.edges))[0].astype(np.float64)
    # A party holding more than max_rows rows is clamped, never sent beyond the clip range.
    return np.clip(vector, -query.party_bound, query.party_bound)


@dataclass
class Contribution:
    vector: np.ndarray
    epsilon: float


def contribute(
    party: Party, query: JointQuery, *, noise: SecureRandom | None = None
) -> Contribution:
    """Run by a party next to its own workspace: read, clip, charge its ledger, add noise.

    Raises ``PolicyDenied`` (its broker refused; logged there) or ``BudgetExhausted``
    (its ledger refused; logged there): the party then drops out of the aggregation.
    """
    from privet import dp, policy
    from privet.catalog import SUBJECT_LINK, resolve
    from privet.core import open_folder
    from privet.dp.randomness import SecureRandom

    charge = query.charge()
    core = open_folder(party.workspace)
    try:
        with core.reading() as session:
            dataset, version = resolve(session, party.dataset)
            held = {c.name for c in version.columns}
            subject = next(
                (s for s in (dataset.subject_id_column, SUBJECT_LINK) if s and s in held), None
            )
            name = dataset.name
            ref = f"{name}@{version.number}"
        # The read is decided and logged by the party's own broker (a refusal raises here).
        release = policy.read(
            core,
            ref,
            purpose=party.purpose,
            actor=party.actor,
            view="aggregate",
            channel=CHANNEL,
        )
        exact = exact_vector(release.frame, query, subject)
        # Charged before anything leaves; a ledger that cannot afford it refuses (logged).
        dp.charge(
            core,
            ref,
            charge,
            kind=f"joint-{query.statistic}",
            purpose=party.purpose,
            actor=party.actor,
            facts={
                "query": query.id,
                "parties": query.parties,
                "min_parties": query.min_parties,
                "sigma": query.sigma,
                "repetitions": query.repetitions,
            },
        )
        epsilon = dp.epsilon_spent([charge], dp.budget(core, name).delta)
    finally:
        core.close()
    rng = noise if noise is not None else SecureRandom()
    shares = rng.normal(query.size).astype(np.float64) * query.party_sigma
    return Contribution(np.tile(exact, query.repetitions) + shares, epsilon)


# -- the coordinator ----------------------------------------------------------------------------


Progress = Callable[[str], None]


def _shares(n: int, num_shares: int | None, threshold: int | None) -> tuple[int, int]:
    shares = n if num_shares is None else int(num_shares)
    if not 3 <= shares <= n:
        raise InvalidInput(
            f"num_shares must be between 3 and the {n} parties", parameter="num_shares"
        )
    wanted = shares // 2 + 1 if threshold is None else int(threshold)
    if not 2 <= wanted < shares:
        raise InvalidInput(
            f"reconstruction_threshold must be between 2 and num_shares - 1 ({shares - 1})",
            parameter="reconstruction_threshold",
        )
    return shares, wanted


def joint(
    core: Core,
    parties: Sequence[Party],
    statistic: str,
    column: str | None = None,
    *,
    epsilon: float,
    delta: float,
    actor: str,
    bounds: Sequence[float] | None = None,
    bins: Sequence[float] | None = None,
    min_parties: int | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    num_shares: int | None = None,
    reconstruction_threshold: int | None = None,
    repetitions: int = 1,
    seed: int | None = None,
    progress: Progress | None = None,
    grid_wrapper: Callable[[Any], Any] | None = None,
) -> JointResult:
    """Ask ``parties`` for a joint statistic through SecAgg+ (Flower simulation, one actor
    process per CPU) and return the noisy answer; see the module's docstring."""
    from privet import auditlog
    from privet.federated._extra import require_flower

    require_flower()
    step = progress or (lambda _stage: None)
    started = time.perf_counter()
    n = len(parties)
    step("calibrating the noise")
    query = plan(
        n,
        statistic,
        column,
        epsilon=epsilon,
        delta=delta,
        bounds=bounds,
        bins=bins,
        min_parties=min_parties,
        max_rows=max_rows,
        repetitions=repetitions,
        seed=seed,
    )
    shares, threshold = _shares(n, num_shares, reconstruction_threshold)
    names = [p.name for p in parties]
    with core.session() as session:
        entry = auditlog.events.federated_joint(
            ts=core.now(),
            actor=actor,
            query=query.id,
            statistic=query.statistic,
            column=query.column,
            parties=names,
            epsilon=query.epsilon,
            delta=query.delta,
            sigma=query.sigma,
            min_parties=query.min_parties,
            repetitions=query.repetitions,
        )
        (log_index,) = auditlog.append(session, [entry])
        session.commit()

    from privet.federated._simulation import simulate
    from privet.federated._stats_apps import Outcome, client_app, server_app

    outcome = Outcome()
    step(f"secure aggregation with {n} parties")
    simulate(
        server_app(
            query,
            outcome,
            num_shares=shares,
            threshold=threshold,
            progress=step,
            grid_wrapper=grid_wrapper,
        ),
        client_app(list(parties)),
        n,
    )
    took_part = [PartyShare(party=name, epsilon=eps) for name, eps in outcome.parties]
    k = len(took_part)
    if outcome.average is None or k < query.min_parties:
        raise PrivetError(
            f"only {k} of {n} parties contributed and the noise was planned for at least "
            f"{query.min_parties}, so nothing is released (lower min_parties to tolerate "
            "dropouts; each refusing party's reason is in its own log)",
            parameter="min_parties",
        )
    step("unmasked the sum")
    total = np.asarray(outcome.average, dtype=np.float64) * k
    rows = total.reshape(query.repetitions, query.width)
    levels = query.quantization_range
    sigma = query.sigma * math.sqrt(k / query.min_parties)
    contributed = {name for name, _ in outcome.parties}
    return JointResult(
        query=query.id,
        statistic=query.statistic,
        column=query.column,
        bounds=query.bounds,
        edges=query.edges,
        answer=[float(v) for v in rows[0]],
        repetitions=[[float(v) for v in row] for row in rows] if query.repetitions > 1 else [],
        noise=f"Gaussian N(0, {sigma:.6g}²) per entry, summed from {k} shares",
        sigma=sigma,
        sigma_planned=query.sigma,
        sigma_per_party=query.party_sigma,
        epsilon=query.epsilon,
        delta=query.delta,
        sensitivity=query.sensitivity,
        quantization_error=k * 2 * query.clipping_range / levels,
        clipping_range=query.clipping_range,
        quantization_range=levels,
        parties=names,
        took_part=sorted(took_part, key=lambda s: names.index(s.party)),
        dropped=[name for name in names if name not in contributed],
        min_parties=query.min_parties,
        num_shares=shares,
        reconstruction_threshold=threshold,
        log_index=log_index,
        seconds=time.perf_counter() - started,
    )
