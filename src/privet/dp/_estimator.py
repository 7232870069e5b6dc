"""Private-PGM's estimator for OpenDP's AIM and MST, in NumPy: post-processing only.

OpenDP's ``Algorithm.estimator`` is a documented extension point ("any function matching
the signature of ``mirror_descent`` can be used"). It receives the noisy measurements
already released and returns a graphical model, which AIM uses to score the candidate
marginals, to judge whether a round improved the model, and to sample rows. So nothing here
touches the privacy analysis: the measurements, their noise, the selections (OpenDP's noisy
max over the scores), the rounds and the budget split stay OpenDP's own, and OpenDP's
privacy map gives the ε charged. Any function of the released measurements may be used
there (post-processing; Dwork and Roth 2014, Proposition 2.1).

The estimator is not changed either: :func:`mirror_descent` takes the same steps as
``mbi.estimation.mirror_descent`` (mbi 1.1.0, OpenDP's default, 1,000 iterations warm-started
from the last round as OpenDP does; its loss, gradient, Armijo line search, step-size rule
and Lipschitz estimate), and :class:`FastModel` answers ``project`` by mbi's variable
elimination in mbi's elimination order. ``tests/test_synth_estimator.py`` checks both
against mbi. What changes is where the time goes (measured on Adult, BENCHMARKS §7.5):
mbi runs in JAX, which compiled a new kernel for every round's model (3–20 s each, against
0.03–0.35 s for its 1,000 iterations) and for every new array shape met while scoring
candidates (about 2,000 compilations in three rounds). NumPy has nothing to compile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import chex  # type: ignore[import-untyped]
import jax.numpy as jnp
import numpy as np
from mbi import (  # type: ignore[import-untyped]
    CliqueVector,
    Domain,
    Factor,
    LinearMeasurement,
    MarkovRandomField,
    estimation,
    junction_tree,
)
from mbi.clique_utils import (  # type: ignore[import-untyped]
    clique_mapping,
    maximal_subset,
    reverse_clique_mapping,
)
from opendp.extras.mbi._utilities import SelectPrefixQuery

# mbi's and OpenDP's default number of mirror-descent iterations for each fit.
ITERS = 1000


def _aligned(attrs: tuple[str, ...], values: np.ndarray, target: tuple[str, ...]) -> np.ndarray:
    """``values`` (axes ``attrs``) laid out along ``target`` with size-1 axes for the rest."""
    order = [a for a in target if a in attrs]
    moved = np.transpose(values, [attrs.index(a) for a in order]) if order else values
    shape = [moved.shape[order.index(a)] if a in attrs else 1 for a in target]
    return moved.reshape(shape)


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    peak = np.max(values, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(values - peak), axis=axis, keepdims=True)) + peak
    return np.squeeze(out, axis=axis)


def _log_marginal(
    potentials: Sequence[tuple[tuple[str, ...], np.ndarray]],
    domain: Domain,
    attrs: tuple[str, ...],
) -> np.ndarray:
    """The unnormalized log-marginal over ``attrs`` (in that order) of a model given by its
    log-potentials, by variable elimination in mbi's greedy order."""
    factors = [(tuple(a), np.asarray(v, dtype=np.float64)) for a, v in potentials]
    active = {a for f, _ in factors for a in f}
    elim = [a for a in domain.attributes if a in active and a not in attrs]
    order, _ = junction_tree.greedy_order(domain, [f for f, _ in factors] + [attrs], elim=elim)
    for z in order:
        involved = [(f, v) for f, v in factors if z in f]
        factors = [(f, v) for f, v in factors if z not in f]
        union = tuple(dict.fromkeys(a for f, _ in involved for a in f))
        joint = sum((_aligned(f, v, union) for f, v in involved), np.zeros(()))
        joint = np.broadcast_to(joint, tuple(domain[a] for a in union))
        factors.append((tuple(a for a in union if a != z), _logsumexp(joint, union.index(z))))
    shape = tuple(domain[a] for a in attrs)
    result = np.zeros(shape)
    for f, v in factors:
        result = result + _aligned(f, v, attrs)
    return np.broadcast_to(result, shape)


def _normalized(log_values: np.ndarray, total: float) -> np.ndarray:
    flat = log_values.reshape(-1)
    norm = _logsumexp(flat, 0) if flat.size else 0.0
    return np.exp(log_values - norm) * total


@chex.dataclass(frozen=True, kw_only=False)
class FastModel(MarkovRandomField):
    """mbi's ``MarkovRandomField`` whose marginals are computed in NumPy (same answers)."""

    def project(self, attrs: str | Sequence[str]) -> Factor:
        attrs = (attrs,) if isinstance(attrs, str) else tuple(attrs)
        domain = self.potentials.domain
        if self.marginals.supports(attrs):
            parent = self.marginals.parent(attrs)
            factor = self.marginals[parent]
            held = tuple(factor.domain.attributes)
            values = np.asarray(factor.values, dtype=np.float64)
            summed = values.sum(axis=tuple(i for i, a in enumerate(held) if a not in attrs))
            kept = tuple(a for a in held if a in attrs)
            values = np.transpose(summed, [kept.index(a) for a in attrs])
        else:
            potentials = [
                (tuple(f.domain.attributes), np.asarray(f.values))
                for f in self.potentials.arrays.values()
            ]
            values = _normalized(_log_marginal(potentials, domain, attrs), float(self.total))
        return Factor(domain.project(attrs), np.ascontiguousarray(values))


def _fast(model: MarkovRandomField) -> FastModel:
    return FastModel(potentials=model.potentials, marginals=model.marginals, total=model.total)


def _total(measurements: Sequence[LinearMeasurement]) -> float:
    """mbi's minimum-variance estimate of the number of records (its own formula, in NumPy)."""
    estimates, variances = [], []
    for m in measurements:
        if m.query == Factor.datavector:
            y = np.asarray(m.noisy_measurement, dtype=np.float64)
            estimates.append(y.sum())
            variances.append(m.stddev**2 * y.size)
    if not estimates:
        return 1.0
    variance = 1.0 / np.sum(1.0 / np.asarray(variances))
    return float(max(1.0, variance * np.sum(np.asarray(estimates) / np.asarray(variances))))


def _lipschitz(domain: Domain, measurements: Sequence[LinearMeasurement]) -> float:
    """mbi's estimate of the Lipschitz constant of the loss's gradient (``marginal_loss.
    calculate_l2_lipschitz``: 50 power-iteration steps from the all-ones vector over the
    maximal cliques), in NumPy. The loss is quadratic, so its gradient with the
    observations set to zero is the Hessian-vector product."""
    cliques = maximal_subset([tuple(m.clique) for m in measurements])
    hessian = _Loss(measurements, cliques, observed=False)
    v = {c: np.ones(domain.project(c).shape) for c in cliques}
    norm = np.sqrt(sum(float(np.vdot(x, x)) for x in v.values()))
    v = {c: x / norm for c, x in v.items()}
    estimate = 0.0
    for _ in range(50):
        _, hv = hessian.value_and_grad(v)
        estimate = np.sqrt(sum(float(np.vdot(x, x)) for x in hv.values()))
        v = {c: x / (estimate + 1e-12) for c, x in hv.items()}
    return float(estimate)


def _expanded(potentials: CliqueVector, cliques: list[tuple[str, ...]]) -> CliqueVector:
    """``potentials.expand(cliques)`` in NumPy: the same distribution over new cliques."""
    domain = potentials.domain
    mapping = reverse_clique_mapping(cliques, potentials.cliques, domain=domain)
    arrays = {}
    for clique in cliques:
        values = np.zeros(domain.project(clique).shape)
        for held in mapping[clique]:
            factor = potentials[held]
            values = values + _aligned(
                tuple(factor.domain.attributes), np.asarray(factor.values), clique
            )
        arrays[clique] = Factor(domain.project(clique), jnp.asarray(values))
    return CliqueVector(domain, cliques, arrays)


def _logsumexp_to(values: np.ndarray, attrs: tuple[str, ...], keep: tuple[str, ...]) -> np.ndarray:
    """log Σ exp(values) over the axes of ``attrs`` not in ``keep``; axes in ``attrs`` order."""
    axes = tuple(i for i, a in enumerate(attrs) if a not in keep)
    if not axes:
        return values
    peak = np.max(values, axis=axes, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        summed = np.log(np.sum(np.exp(values - peak), axis=axes, keepdims=True)) + peak
    return np.squeeze(summed, axis=axes)


class _Tree:
    """mbi's junction tree for a set of potential cliques, and message passing over it in
    log space (``marginal_oracles.message_passing_fast``'s messages and beliefs)."""

    def __init__(self, domain: Domain, cliques: list[tuple[str, ...]]) -> None:
        active = domain.project(tuple(dict.fromkeys(a for c in cliques for a in c)))
        jtree, _ = junction_tree.make_junction_tree(active, cliques)
        self.order = junction_tree.message_passing_order(jtree)
        self.nodes = junction_tree.maximal_cliques(jtree)
        mapping = clique_mapping(self.nodes, cliques, domain=active)
        self.held = {node: [c for c in cliques if mapping[c] == node] for node in self.nodes}
        self.shape = {node: tuple(domain[a] for a in node) for node in self.nodes}
        self.cliques = cliques

    def marginals(self, theta: dict[Any, np.ndarray], total: float) -> dict[Any, np.ndarray]:
        base = {}
        for node in self.nodes:
            table = np.zeros(self.shape[node])
            for c in self.held[node]:
                table = table + _aligned(c, theta[c], node)
            base[node] = table
        messages: dict[tuple[Any, Any], np.ndarray] = {}
        for i, j in self.order:
            table = base[i]
            for (k, t), message in messages.items():
                if t == i and k != j:
                    table = table + _aligned(tuple(a for a in k if a in i), message, i)
            shared = tuple(a for a in i if a in j)
            messages[(i, j)] = _logsumexp_to(np.broadcast_to(table, self.shape[i]), i, shared)
        out = {}
        for node in self.nodes:
            table = base[node]
            for (k, t), message in messages.items():
                if t == node:
                    table = table + _aligned(tuple(a for a in k if a in node), message, node)
            table = np.broadcast_to(table, self.shape[node])
            for c in self.held[node]:
                belief = _logsumexp_to(table, node, c)
                kept = tuple(a for a in node if a in c)
                belief = np.transpose(belief, [kept.index(a) for a in c])
                out[c] = _normalized(belief, total)
        return out


class _Loss:
    """mbi's L2 loss ½ Σ ‖(Q μ_c − y) / σ‖² over the measurements, and its gradient in μ."""

    def __init__(
        self,
        measurements: Sequence[LinearMeasurement],
        cliques: list[tuple[str, ...]],
        observed: bool = True,
    ) -> None:
        self.terms = []
        for m in measurements:
            clique = tuple(m.clique)
            # The block μ is read from: mbi's CliqueVector.project picks the first that holds it.
            parent = (
                clique if clique in cliques else next(c for c in cliques if set(clique) <= set(c))
            )
            prefix = m.query.length if isinstance(m.query, SelectPrefixQuery) else None
            y = np.asarray(m.noisy_measurement, dtype=np.float64).reshape(-1)
            y = y if observed else np.zeros_like(y)
            sigma = max(float(m.stddev), 1e-12)
            self.terms.append((clique, parent, prefix, y, sigma))

    @staticmethod
    def supports(measurements: Sequence[LinearMeasurement]) -> bool:
        return all(
            m.query == Factor.datavector or isinstance(m.query, SelectPrefixQuery)
            for m in measurements
        )

    def value(self, mu: dict[Any, np.ndarray]) -> float:
        return sum(0.5 * float(d @ d) for d, *_ in self._residuals(mu))

    def _residuals(self, mu: dict[Any, np.ndarray]) -> list[Any]:
        out = []
        for clique, parent, prefix, y, sigma in self.terms:
            held = mu[parent]
            summed = held.sum(axis=tuple(i for i, a in enumerate(parent) if a not in clique))
            kept = tuple(a for a in parent if a in clique)
            marginal = np.transpose(summed, [kept.index(a) for a in clique]).reshape(-1)
            observed = marginal if prefix is None else marginal[:prefix]
            out.append(((observed - y) / sigma, clique, parent, sigma, marginal.size))
        return out

    def value_and_grad(self, mu: dict[Any, np.ndarray]) -> tuple[float, dict[Any, np.ndarray]]:
        loss = 0.0
        grad = {c: np.zeros_like(v) for c, v in mu.items()}
        for diff, clique, parent, sigma, size in self._residuals(mu):
            loss += 0.5 * float(diff @ diff)
            g = np.zeros(size)
            g[: diff.size] = diff / sigma
            shape = tuple(mu[parent].shape[parent.index(a)] for a in clique)
            grad[parent] = grad[parent] + _aligned(clique, g.reshape(shape), parent)
        return loss, grad


def _numpy_descent(
    domain: Domain,
    measurements: Sequence[LinearMeasurement],
    theta: dict[Any, np.ndarray],
    total: float,
    alpha: float,
    iters: int,
) -> tuple[dict[Any, np.ndarray], dict[Any, np.ndarray]]:
    """mbi's ``mirror_descent`` with its Armijo line search, step for step, in NumPy.

    The same loss, gradient, step, acceptance test and step-size rule as
    ``mbi.estimation.mirror_descent``; the marginals of an accepted step are carried to
    the next instead of being recomputed. NumPy has nothing to compile: on Adult one
    iteration is about a millisecond, while JAX spent 3–20 s compiling each round's kernel.
    """
    cliques = list(theta)
    tree = _Tree(domain, cliques)
    loss_fn = _Loss(measurements, cliques)
    mu = tree.marginals(theta, total)
    for _ in range(iters):
        loss, grad = loss_fn.value_and_grad(mu)
        theta2 = {c: theta[c] - alpha * grad[c] for c in cliques}
        mu2 = tree.marginals(theta2, total)
        loss2 = loss_fn.value(mu2)
        decrease = sum(float(np.vdot(grad[c], mu[c] - mu2[c])) for c in cliques)
        if loss - loss2 >= 0.5 * alpha * decrease:
            alpha, theta, mu = 1.01 * alpha, theta2, mu2
        else:
            alpha = 0.5 * alpha
    return theta, mu


def _vector(domain: Domain, arrays: dict[Any, np.ndarray]) -> CliqueVector:
    factors = {c: Factor(domain.project(c), jnp.asarray(v)) for c, v in arrays.items()}
    return CliqueVector(domain, list(arrays), factors)


def mirror_descent(
    domain: Domain,
    loss_fn: Any,
    *,
    potentials: Any = None,
    iters: int = ITERS,
) -> MarkovRandomField:
    """mbi's mirror descent (``iters`` iterations) computed in NumPy; the model it returns
    projects in NumPy too."""
    measurements = list(loss_fn) if isinstance(loss_fn, list) else None
    if not measurements or not _Loss.supports(measurements):
        # Anything but identity or prefix measurements (OpenDP makes no other): mbi's code.
        fitted = estimation.mirror_descent(domain, loss_fn, potentials=potentials, iters=iters)
        return _fast(fitted)
    total = _total(measurements)
    cliques = maximal_subset([tuple(m.clique) for m in measurements])
    if potentials is None:
        potentials = CliqueVector.zeros(domain, cliques)
    elif not all(potentials.supports(c) for c in cliques):
        potentials = _expanded(potentials, cliques)
    theta = {
        tuple(c): np.asarray(potentials[c].values, dtype=np.float64) for c in potentials.cliques
    }
    alpha = 2.0 / (_lipschitz(domain, measurements) * total)
    theta, mu = _numpy_descent(domain, measurements, theta, total, alpha, iters)
    return FastModel(potentials=_vector(domain, theta), marginals=_vector(domain, mu), total=total)


class Estimator:
    """An OpenDP ``Algorithm.estimator``: :func:`mirror_descent`, telling ``progress``
    about each fit (AIM fits once for the one-way marginals, then once a round; MST once
    for the one-way marginals and once for the tree)."""

    def __init__(self, progress: Callable[[str], None] | None = None, label: str = "") -> None:
        self.progress = progress
        self.label = label
        self.fits = 0

    def __call__(self, domain: Domain, loss_fn: Any, *, potentials: Any = None) -> Any:
        self.fits += 1
        if self.progress is not None:
            count = len(loss_fn) if isinstance(loss_fn, list) else 0
            self.progress(f"{self.label}model {self.fits} ({count} marginals measured)")
        return mirror_descent(domain, loss_fn, potentials=potentials)
