"""privet's NumPy estimator for AIM takes mbi's own steps (checked against mbi's JAX code)."""

from __future__ import annotations

import numpy as np
import pytest
from mbi import (  # type: ignore[import-untyped]
    CliqueVector,
    Domain,
    LinearMeasurement,
    MarkovRandomField,
    estimation,
    marginal_oracles,
)
from opendp.extras.mbi._utilities import SelectPrefixQuery

from privet.dp import _estimator

DOMAIN = Domain.fromdict({"a": 3, "b": 4, "c": 2, "d": 5, "e": 3, "f": 2})


def _measure(rng: np.random.Generator, clique: tuple[str, ...], stddev: float, prefix: int = 0):
    size = int(np.prod([DOMAIN[a] for a in clique]))
    noisy = rng.poisson(200, size).astype(float) + rng.normal(0, stddev, size)
    if prefix:  # OpenDP's release of a marginal without its last (unkeyed) cell
        return LinearMeasurement(noisy[:prefix], clique, stddev, SelectPrefixQuery(prefix))
    return LinearMeasurement(noisy, clique, stddev)


def _measurements(seed: int) -> list[LinearMeasurement]:
    rng = np.random.default_rng(seed)
    return [
        *[_measure(rng, (a,), 3.0) for a in "abcef"],
        _measure(rng, ("d",), 3.0, prefix=4),
        _measure(rng, ("a", "b"), 5.0),
        _measure(rng, ("c", "d", "e"), 8.0),
        _measure(rng, ("e", "a"), 5.0),
        _measure(rng, ("b",), 2.0),  # a second measurement of a marginal, inside a larger one
    ]


def _largest_gap(ours: CliqueVector, theirs: CliqueVector) -> float:
    assert set(ours.cliques) == set(theirs.cliques)
    return max(
        float(np.max(np.abs(np.asarray(ours[c].values) - np.asarray(theirs[c].values))))
        for c in theirs.cliques
    )


def test_mirror_descent_takes_mbis_steps() -> None:
    iters = 40
    measurements = _measurements(0)
    theirs = estimation.mirror_descent(DOMAIN, measurements, iters=iters)
    ours = _estimator.mirror_descent(DOMAIN, measurements, iters=iters)
    # Counts of about 200 per cell: equal up to floating-point rounding.
    assert _largest_gap(ours.marginals, theirs.marginals) < 1e-8
    assert _largest_gap(ours.potentials, theirs.potentials) < 1e-10
    assert float(ours.total) == pytest.approx(float(theirs.total), rel=1e-12)

    # A warm start from those potentials, with new cliques that need the model expanded.
    rng = np.random.default_rng(1)
    more = [*measurements, _measure(rng, ("b", "d"), 4.0), _measure(rng, ("f", "a", "c"), 4.0)]
    theirs2 = estimation.mirror_descent(DOMAIN, more, potentials=theirs.potentials, iters=iters)
    ours2 = _estimator.mirror_descent(DOMAIN, more, potentials=theirs.potentials, iters=iters)
    assert _largest_gap(ours2.marginals, theirs2.marginals) < 1e-8


def test_fitted_model_is_an_mbi_model_whose_marginals_match() -> None:
    cliques = [("a", "b"), ("b", "c"), ("c", "d", "e"), ("a", "e"), ("f",)]
    potentials = CliqueVector.random(DOMAIN, cliques) * 3
    marginals = marginal_oracles.message_passing_stable(potentials, 1000.0)
    theirs = MarkovRandomField(potentials=potentials, marginals=marginals, total=1000.0)
    ours = _estimator.FastModel(potentials=potentials, marginals=marginals, total=1000.0)
    assert isinstance(ours, MarkovRandomField)  # what OpenDP's ContingencyTable requires
    # Held by the model (read from its marginals) and not (variable elimination), in any
    # axis order. mbi compiles each of its answers, so a few.
    queries = [("e", "c"), ("e", "d", "c"), ("a", "d"), ("d", "b", "a")]
    for query in queries:
        expected = np.asarray(theirs.project(query).values)
        got = ours.project(query)
        assert got.domain.attributes == query
        np.testing.assert_allclose(np.asarray(got.values), expected, rtol=1e-9, atol=1e-9)


def test_unsupported_measurements_fall_back_to_mbi() -> None:
    measurements = _measurements(3)
    odd = LinearMeasurement(np.ones(1), ("a",), 1.0, lambda f: f.datavector()[:1])
    model = _estimator.mirror_descent(DOMAIN, [*measurements, odd], iters=5)
    theirs = estimation.mirror_descent(DOMAIN, [*measurements, odd], iters=5)
    assert _largest_gap(model.marginals, theirs.marginals) < 1e-8


def test_estimator_reports_each_fit() -> None:
    stages: list[str] = []
    fit = _estimator.Estimator(stages.append, label="fitting AIM: ")
    model = fit(DOMAIN, _measurements(4))
    fit(DOMAIN, _measurements(5), potentials=model.potentials)
    assert stages == [
        "fitting AIM: model 1 (10 marginals measured)",
        "fitting AIM: model 2 (10 marginals measured)",
    ]
