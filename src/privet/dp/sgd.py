"""The training loops: DP-SGD with Opacus per-sample gradients, and the plain loop.

DP-SGD here avoids the DataLoader (Python-level batching dominates the cost of small models):
the data are tensors made once, a Poisson sample is drawn as index gaps, one backward pass
gives each layer's output gradients for the whole batch, Opacus's norm sampler turns them
into per-example gradient norms without materializing per-example gradients, and each
example's gradient is clipped to ``clip``, summed, and noised with standard deviation
``noise_multiplier * clip`` before the update. The privacy analysis is the
standard one for this loop (Abadi et al. 2016): Poisson sampling with rate q, then the
Gaussian mechanism, ``steps`` times — exactly the ledger's event. Both the sample and the
noise come from :class:`~privet.dp.randomness.SecureRandom` (a ChaCha20 keystream): the analysis
assumes nobody can predict either.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from privet.dp.randomness import SecureRandom

HIDDEN_UNITS = 64


def build_model(kind: str, inputs: int, outputs: int, hidden: int = HIDDEN_UNITS) -> nn.Module:
    if kind == "logreg":
        return nn.Linear(inputs, outputs)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, outputs))
    raise ValueError(f"unknown model {kind!r}")


def loss_function(task: str, outputs: int) -> Callable[..., torch.Tensor]:
    """A per-example loss summed over the batch (DP-SGD clips each example's gradient)."""
    if task == "regression":
        return lambda out, y: nn.functional.mse_loss(out.squeeze(1), y, reduction="sum")
    if outputs == 1:
        return lambda out, y: nn.functional.binary_cross_entropy_with_logits(
            out.squeeze(1), y, reduction="sum"
        )
    return lambda out, y: nn.functional.cross_entropy(out, y, reduction="sum")


@contextmanager
def few_threads(model: nn.Module) -> Iterator[None]:
    """One intra-op thread for small models: their kernels are too short to split, and on a
    shared machine BLAS threads spin-waiting for each other made steps 4x slower."""
    small = sum(p.numel() for p in model.parameters()) < 1_000_000
    before = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


@dataclass(frozen=True)
class Schedule:
    epochs: int
    batch_size: int
    learning_rate: float


def torch_generator(seed: int | None = None) -> torch.Generator:
    """A torch generator (Mersenne Twister: predictable from its outputs, so never for
    privacy mechanisms) seeded from the OS, or from ``seed``. For what protects nobody:
    shuffling in plain (``no_dp``) training, an auditor's reference models."""
    generator = torch.Generator()
    generator.manual_seed(secrets.randbits(63) if seed is None else seed)
    return generator


class PoissonSampler:
    """Each of ``n`` examples joins a batch independently with probability ``rate``.

    Drawn as geometric gaps between chosen indices (the same distribution as one coin per
    example), so a step costs O(batch) instead of O(n). The gaps come from ``random``, a
    CSPRNG: amplification by subsampling assumes the adversary cannot know who was sampled.
    """

    def __init__(self, n: int, rate: float, random: SecureRandom) -> None:
        self.n, self.rate, self.random = n, rate, random
        self._log_miss = math.log1p(-rate) if rate < 1 else None
        self._draw = int(n * rate + 8 * math.sqrt(n * rate + 1) + 16)

    def __call__(self) -> torch.Tensor:
        if self._log_miss is None:
            return torch.arange(self.n)
        chunks, position = [], -1
        while True:
            # P(gap = k) = (1 − q)^(k−1)·q for u uniform on [0, 1): the inverse CDF.
            u = self.random.uniform(self._draw)
            gaps = np.floor(np.log1p(-u) / self._log_miss).astype(np.int64) + 1
            indices = position + np.cumsum(gaps)
            kept = indices[indices < self.n]
            chunks.append(kept)
            if len(kept) < len(indices):
                return torch.from_numpy(np.concatenate(chunks) if len(chunks) > 1 else kept)
            position = int(indices[-1])


def train_dp(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    task: str,
    outputs: int,
    schedule: Schedule,
    sample_rate: float,
    steps: int,
    noise_multiplier: float,
    clip: float,
    random: SecureRandom,
    progress: Callable[[str], None] = lambda _s: None,
    optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer] | None = None,
) -> None:
    """DP-SGD: Poisson sampling, per-sample clipping, Gaussian noise, ``steps`` updates.

    ``random`` draws the samples and the noise; the update is divided by the batch size
    ``schedule.batch_size`` (public), not by anything counted on ``x``, whose size differs
    between neighbouring datasets. ``optimizer`` makes the optimizer of the parameters
    (default: Adam at the schedule's rate); it only post-processes the noised gradients.
    """
    loss_fn = loss_function(task, outputs)
    layers = _linear_layers(model)
    params = [p for layer in layers for p in (layer.weight, layer.bias) if p is not None]
    sizes = [p.numel() for p in params]
    step_with: torch.optim.Optimizer = (
        torch.optim.Adam(params, lr=schedule.learning_rate)
        if optimizer is None
        else optimizer(params)
    )
    sample = PoissonSampler(len(x), sample_rate, random)
    expected = float(max(schedule.batch_size, 1))
    std = noise_multiplier * clip
    per_epoch = max(1, steps // schedule.epochs)
    with few_threads(model):
        for step in range(steps):
            index = sample()
            sums = clipped_sum(model, layers, loss_fn, x[index], y[index], clip)
            noise = _noise(std, sum(sizes), random).split(sizes)
            for p, total, z in zip(params, sums, noise, strict=True):
                p.grad = (total + z.view_as(total)) / expected
            step_with.step()
            if (step + 1) % per_epoch == 0:
                progress(f"epoch {(step + 1) // per_epoch}/{schedule.epochs}")


def _linear_layers(model: nn.Module) -> list[nn.Linear]:
    layers = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            layers.append(module)
        elif any(True for _ in module.parameters(recurse=False)):
            raise ValueError(f"DP-SGD here supports Linear layers only, not {type(module)}")
    return layers


def clipped_sum(
    model: nn.Module,
    layers: list[nn.Linear],
    loss_fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    clip: float,
) -> list[torch.Tensor]:
    """Σ_i min(1, C/‖g_i‖)·g_i over the batch, per parameter (weight, bias of each layer).

    Per-example gradient norms come from Opacus's norm sampler for ``nn.Linear`` ("ghost
    clipping", Li et al. 2022): ‖g_i‖² = ‖∂L/∂z_i‖²·‖a_i‖² (+ ‖∂L/∂z_i‖² for the bias), from
    each layer's input a and output gradient ∂L/∂z, without materializing a gradient per
    example. The clipped sum is then one product per layer: (c ⊙ ∂L/∂z)ᵀ a.
    """
    from opacus.grad_sample.linear import compute_linear_norm_sample

    if len(x) == 0:
        return [torch.zeros_like(p) for layer in layers for p in _own(layer)]
    inputs: list[torch.Tensor] = []
    outputs: list[torch.Tensor] = []

    def capture(layer: nn.Module, args: tuple, out: torch.Tensor) -> None:
        inputs.append(args[0].detach())
        outputs.append(out)

    handles = [layer.register_forward_hook(capture) for layer in layers]
    try:
        loss = loss_fn(model(x), y)
    finally:
        for handle in handles:
            handle.remove()
    backprops = torch.autograd.grad(loss, outputs)
    squared = torch.zeros(len(x))
    with torch.no_grad():
        for layer, a, g in zip(layers, inputs, backprops, strict=True):
            for norm in compute_linear_norm_sample(layer, [a], g).values():
                squared += norm**2
        factors = (clip / (squared.sqrt() + 1e-6)).clamp(max=1.0)
        sums = []
        for layer, a, g in zip(layers, inputs, backprops, strict=True):
            scaled = g * factors[:, None]
            sums.append(scaled.T @ a)
            if layer.bias is not None:
                sums.append(scaled.sum(0))
    return sums


def _own(layer: nn.Linear) -> list[torch.Tensor]:
    return [p for p in (layer.weight, layer.bias) if p is not None]


def _noise(std: float, size: int, random: SecureRandom) -> torch.Tensor:
    """``size`` draws of N(0, std²) noise, hardened against floating-point attacks
    (Holohan & Braghin 2021), from a CSPRNG.

    The sum of four independent N(0, 1) draws halved is N(0, 1), and its low bits no
    longer reveal the draw; this is the recipe of Opacus's ``secure_mode``.
    """
    if std == 0:
        return torch.zeros(size)
    draws = random.normal(4 * size).reshape(4, size)
    total = draws[0] + draws[1]
    total += draws[2]
    total += draws[3]
    total *= np.float32(std / 2)
    return torch.from_numpy(total)


def adam(model: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    # foreach=False: for a few small tensors the per-tensor loop is cheaper than grouping.
    return torch.optim.Adam(model.parameters(), lr=learning_rate, foreach=False)


def train_plain(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    task: str,
    outputs: int,
    schedule: Schedule,
    generator: torch.Generator,
    progress: Callable[[str], None] = lambda _s: None,
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Ordinary minibatch training by tensor slicing: no privacy at all.

    ``optimizer`` continues a checkpointed run (a SISA slice); by default a new Adam.
    """
    loss_fn = loss_function(task, outputs)
    if optimizer is None:
        optimizer = adam(model, schedule.learning_rate)
    size = schedule.batch_size
    with few_threads(model):
        for epoch in range(schedule.epochs):
            order = torch.randperm(len(x), generator=generator)
            xs, ys = x[order], y[order]
            for start in range(0, len(x), size):
                optimizer.zero_grad()
                batch = xs[start : start + size]
                (loss_fn(model(batch), ys[start : start + size]) / len(batch)).backward()
                optimizer.step()
            progress(f"epoch {epoch + 1}/{schedule.epochs}")
