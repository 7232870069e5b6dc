"""DP-SGD's randomness: the CSPRNG, the noise, the Poisson sampler and the training split.

The keystream is checked against RFC 8439's known answer; every distribution the privacy
analysis assumes (Gaussian noise, Binomial(n, q) batches, a per-row Bernoulli split) is
checked by a goodness-of-fit test from SciPy, independent of the code under test. Each
statistical check fails a correct implementation with probability at most ALPHA, and each
is shown to reject the wrong distribution it guards against (the fixed-size split it
replaced, noise 3% too small), so none of them passes by being unable to fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from scipy import stats

from privet.dp import TrainRequest
from privet.dp._rows import split_rows as _split
from privet.dp.randomness import SecureRandom
from privet.dp.sgd import PoissonSampler, _noise

ALPHA = 1e-4  # false-alarm rate of each statistical check


def binomial_fit(values: np.ndarray, n: int, p: float) -> float:
    """Chi-square goodness-of-fit p-value of ``values`` against Binomial(n, p); cells with
    fewer than 5 expected are pooled into the two tails."""
    k = np.arange(n + 1)
    expected = len(values) * stats.binom.pmf(k, n, p)
    observed = np.bincount(values, minlength=n + 1).astype(float)
    low = int(np.searchsorted(np.cumsum(expected), 5.0))
    high = n - int(np.searchsorted(np.cumsum(expected[::-1]), 5.0))
    cells_e = [expected[: low + 1].sum(), *expected[low + 1 : high], expected[high:].sum()]
    cells_o = [observed[: low + 1].sum(), *observed[low + 1 : high], observed[high:].sum()]
    cells_e = np.array(cells_e) * (sum(cells_o) / sum(cells_e))  # pmf tails beyond float
    return float(stats.chisquare(cells_o, cells_e).pvalue)


# -- the generator ---------------------------------------------------------------------------------


def test_the_keystream_is_rfc_8439_chacha20() -> None:
    # RFC 8439, appendix A.1, test vector 1: key 0, nonce 0, block counter 0.
    expected = bytes.fromhex(
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
        "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    )
    random = SecureRandom(seed=0)
    random._start(bytes(32))
    assert random.bytes(64) == expected


def test_the_key_is_replaced_from_the_keystream_without_a_seam() -> None:
    random = SecureRandom(seed=3)
    random.rekey_bytes = 100
    random._start(bytes(32))
    # Every 100 bytes, the next 32 bytes of the keystream become the key (nonce 0).
    expected, key = b"", bytes(32)
    while len(expected) < 250:
        block = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
        chunk = block.update(bytes(132))
        expected, key = expected + chunk[:100], chunk[100:]
    assert random.bytes(30) + random.bytes(120) + random.bytes(100) == expected[:250]


def test_a_seed_repeats_the_draws_and_the_default_never_does() -> None:
    assert SecureRandom(seed=5).bytes(64) == SecureRandom(seed=5).bytes(64)
    assert SecureRandom(seed=5).bytes(64) != SecureRandom(seed=6).bytes(64)
    assert SecureRandom().bytes(64) != SecureRandom().bytes(64)
    assert SecureRandom(seed=5).seeded and not SecureRandom().seeded


def test_uniforms_are_53_bit_and_uniform_on_the_unit_interval() -> None:
    u = SecureRandom().uniform(1_000_000)
    assert u.dtype == np.float64 and u.min() >= 0 and u.max() < 1
    assert np.all(u * 2.0**53 == np.floor(u * 2.0**53))  # multiples of 2^-53
    assert stats.kstest(u, "uniform").pvalue > ALPHA


def test_normals_are_standard_gaussian_tails_included() -> None:
    z = SecureRandom().normal(1_000_001).astype(np.float64)
    assert len(z) == 1_000_001 and np.isfinite(z).all()
    assert stats.kstest(z, "norm").pvalue > ALPHA
    # Beyond 3σ: 2,700 expected; a Binomial count, so 5 standard deviations is α ≈ 6e-7.
    beyond = int((np.abs(z) > 3).sum())
    p = 2 * stats.norm.sf(3)
    assert abs(beyond - len(z) * p) < 5 * np.sqrt(len(z) * p * (1 - p))


def test_dp_sgd_noise_has_the_stated_standard_deviation() -> None:
    std = 0.7
    noise = _noise(std, 500_000, SecureRandom())
    assert noise.dtype == torch.float32 and noise.shape == (500_000,)
    values = noise.double().numpy()
    assert stats.kstest(values, "norm", args=(0, std)).pvalue > ALPHA
    # The same check rejects noise 3% too small (a mechanism weaker than its claim).
    assert stats.kstest(values * 0.97, "norm", args=(0, std)).pvalue < ALPHA
    assert torch.equal(_noise(0.0, 7, SecureRandom()), torch.zeros(7))


# -- Poisson sampling ------------------------------------------------------------------------------


def test_poisson_batches_are_binomial_and_each_example_is_sampled_at_rate_q() -> None:
    n, rate, steps = 1000, 0.05, 4000
    sample = PoissonSampler(n, rate, SecureRandom())
    sizes, hits = [], np.zeros(n, dtype=np.int64)
    for _ in range(steps):
        batch = sample().numpy()
        assert np.all(np.diff(batch) > 0) and (len(batch) == 0 or 0 <= batch[0] <= batch[-1] < n)
        sizes.append(len(batch))
        hits[batch] += 1
    assert binomial_fit(np.array(sizes), n, rate) > ALPHA
    # Each example, over the steps, is a Binomial(steps, q) count: no position is favoured.
    assert binomial_fit(hits, steps, rate) > ALPHA


def test_a_rate_that_is_not_q_is_caught() -> None:
    """The batch-size check has the power to see a sampler 5% off its stated rate."""
    sample = PoissonSampler(1000, 0.0525, SecureRandom())
    sizes = np.array([len(sample()) for _ in range(4000)])
    assert binomial_fit(sizes, 1000, 0.05) < ALPHA


# -- the training / held-out split -----------------------------------------------------------------


def fixed_size_split(n: int, test_fraction: float, random: SecureRandom) -> np.ndarray:
    """The split privet used before: shuffle, hold out the first round(n·f) rows."""
    order = np.argsort(random.uniform(n))
    held = np.zeros(n, dtype=bool)
    held[order[: max(1, round(n * test_fraction))]] = True
    return held


def test_the_split_holds_out_each_row_by_its_own_coin() -> None:
    n, f, repeats = 200, 0.2, 5000
    random = SecureRandom()
    held = np.zeros((repeats, n), dtype=bool)
    for r in range(repeats):
        train, test = _split(n, rows=n, test_fraction=f, train_rows=None, random=random)
        assert len(np.intersect1d(train.numpy(), test.numpy())) == 0
        assert len(train) + len(test) == n  # without train_rows every row is used
        held[r, test.numpy()] = True
    # The held-out count is Binomial(n, f): the arrival of one row never displaces another.
    assert binomial_fit(held.sum(1), n, f) > ALPHA
    # Every position is held out at rate f (Binomial(repeats, f)), whatever its place.
    assert binomial_fit(held.sum(0), repeats, f) > ALPHA
    # Neighbouring rows' coins are independent (2×2 table of row i and row i + 1).
    a, b = held[:, :-1].ravel(), held[:, 1:].ravel()
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    assert stats.chi2_contingency(table).pvalue > ALPHA
    # The fixed-size split it replaced fails the count check: its count never varies.
    old = np.array([fixed_size_split(n, f, random).sum() for _ in range(repeats)])
    assert binomial_fit(old, n, f) < ALPHA


def test_train_rows_keeps_each_row_with_a_probability_from_the_catalog_count() -> None:
    # The catalog says 2,000 rows; the read returned 1,000 (say, one row per subject).
    n, rows, f, cap, repeats = 1000, 2000, 0.2, 400, 3000
    keep = cap / (rows * (1 - f))  # 0.25, from public numbers only
    random = SecureRandom()
    trained, held = [], []
    for _ in range(repeats):
        train, test = _split(n, rows=rows, test_fraction=f, train_rows=cap, random=random)
        assert len(np.intersect1d(train.numpy(), test.numpy())) == 0
        trained.append(len(train))
        held.append(len(test))
    assert binomial_fit(np.array(trained), n, (1 - f) * keep) > ALPHA
    assert binomial_fit(np.array(held), n, f) > ALPHA
    # Not a cap at the data's own count (which would keep 400 of these 1,000 rows).
    assert abs(np.mean(trained) - 200) < 2


def test_train_rows_above_the_expected_training_size_keeps_every_row() -> None:
    train, test = _split(500, rows=500, test_fraction=0.2, train_rows=10_000, random=SecureRandom())
    assert len(train) + len(test) == 500


# -- what training really ran, against the card and the ledger -------------------------------------


class Recorder:
    """Watches a training run's real OpenDP releases, sampler and noise (they still do the
    work): what ran, as opposed to what the card says."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from privet.dp import _opendp
        from privet.dp import sgd as _sgd

        self.releases: list[tuple[float, float]] = []
        self.samplers: list[tuple[int, float]] = []
        self.batches: list[int] = []
        self.noise: list[tuple[float, int]] = []
        recorder, real_noise, real_prepare = self, _sgd._noise, _opendp.prepare

        class Watched(_sgd.PoissonSampler):
            def __init__(self, n: int, rate: float, random: SecureRandom) -> None:
                assert type(random) is SecureRandom and not random.seeded
                recorder.samplers.append((n, rate))
                super().__init__(n, rate, random)

            def __call__(self) -> torch.Tensor:
                batch = super().__call__()
                recorder.batches.append(len(batch))
                return batch

        def noise(std: float, size: int, random: SecureRandom) -> torch.Tensor:
            assert type(random) is SecureRandom and not random.seeded
            recorder.noise.append((std, size))
            return real_noise(std, size, random)

        def prepare(*args: object, **kwargs: object) -> object:
            prepared = real_prepare(*args, **kwargs)
            # OpenDP's own privacy map of the measurement, not privet's share of ε.
            recorder.releases.append((prepared.epsilon, prepared.delta))
            return prepared

        monkeypatch.setattr(_sgd, "PoissonSampler", Watched)
        monkeypatch.setattr(_sgd, "_noise", noise)
        monkeypatch.setattr(_opendp, "prepare", prepare)


def test_the_card_and_ledger_epsilon_is_that_of_the_releases_that_ran(
    project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dp_accounting import dp_event as ev
    from dp_accounting.pld import pld_privacy_accountant

    from privet import Workspace
    from privet.datasets import raw_people
    from privet.dp import unpack_rows

    ws = Workspace.init(project, actor="alice")
    path = project.parent / "people.csv"
    raw_people(2000).write_csv(path)
    ws.ingest(
        path, name="people", owner="alice", purposes=["training"], actor="alice",
        subject_id="person_id",
    )  # fmt: skip
    ws.dp.set_budget("people", actor="alice", epsilon=10, delta=1e-7)
    seen = Recorder(monkeypatch)
    # Nothing declared: the bounds of age and the levels of sex, race and the classes are
    # learned with DP before training, and the held-out score is a DP release after it.
    info = ws.dp.train(
        "people",
        TrainRequest(
            target="income",
            name="m",
            purpose="training",
            epsilon=3.0,
            epochs=2,
            features=["age", "sex", "race"],
        ),
        actor="bob",
    )
    # bob trained it; the full card (with the split) is for those allowed the raw rows.
    assert "split" not in info.card.stored()
    card = ws.dp.model("m", actor="alice").card.stored()
    privacy = card["privacy"]
    assert len(seen.releases) == 5  # 4 discoveries and the score
    (n, rate), steps = seen.samplers[0], len(seen.batches)
    stds = {std for std, _ in seen.noise}
    assert len(seen.samplers) == 1 and len(seen.noise) == steps and len(stds) == 1
    sigma = stds.pop() / privacy["clipping_norm"]
    # The run as it happened: q, σ and the number of steps the card states...
    assert rate == privacy["sample_rate"] and steps == privacy["steps"]
    assert sigma == pytest.approx(privacy["noise_multiplier"], rel=1e-12)
    # ...on the rows the card says were trained on, each sampled at rate q.
    split = card["split"]
    assert n == split["train_count"] == len(unpack_rows(split["train"], split["rows"]))
    assert binomial_fit(np.array(seen.batches), n, rate) > ALPHA
    # The held-out count is Binomial(rows, 0.2) (5 standard deviations: α ≈ 6e-7).
    assert abs(split["test_count"] - 0.2 * 2000) < 5 * np.sqrt(2000 * 0.2 * 0.8)
    # dp-accounting's PLD over the recorded releases, in the order they ran; each ε-DP
    # release is dominated by randomized response with ε, whose PLD is the discrete
    # Laplace event's; key discovery's δ is set aside from the ledger's δ.
    events: list[ev.DpEvent] = [ev.DiscreteLaplaceDpEvent(e, 1) for e, _ in seen.releases]
    events.append(
        ev.SelfComposedDpEvent(ev.PoissonSampledDpEvent(rate, ev.GaussianDpEvent(sigma)), steps)
    )
    accountant = pld_privacy_accountant.PLDAccountant()
    accountant.compose(ev.ComposedDpEvent(events))
    independent = accountant.get_epsilon(privacy["delta"] - sum(d for _, d in seen.releases))
    assert privacy["epsilon"] == pytest.approx(independent, abs=1e-9)
    assert ws.dp.budget("people").epsilon_spent == pytest.approx(independent, abs=1e-9)
    assert 2.9 < independent <= 3.0
    ws.close()
