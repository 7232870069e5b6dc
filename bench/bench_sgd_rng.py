"""The cost of DP-SGD's CSPRNG, against the Mersenne Twister it replaced (issue 13).

privet's DP-SGD draws its Poisson samples and its Gaussian noise (four draws per
coordinate, summed and halved: Opacus's secure_mode recipe) from ``SecureRandom``, a
ChaCha20 keystream (``cryptography``/OpenSSL) keyed from ``os.urandom``. Here the same loop
(``_sgd.train_dp``), the same model and the same data run with three sources of randomness
that differ in nothing else:

- ``torch MT19937``: the generator used before, ``torch.Generator`` (``torch.rand`` for
  the sampler's uniforms, ``torch.randn`` in float32 for the noise);
- ``ChaCha20``: ``SecureRandom`` as shipped (53-bit uniforms, Box–Muller in float32);
- ``os.urandom``: the same conversions over bytes read from the kernel on every call.

Logistic regression and a 64-unit MLP on Adult (``privet.datasets``; 39,073 training rows,
104 inputs, batch 256, Poisson rate 256/39,073, σ = 1, clipping norm 1). Two figures per
source: the whole step (one epoch of train_dp divided by its steps; sources alternate
epoch by epoch so load drift hits all of them; median over epochs, CPU and wall time) and
the randomness alone (one step's sample and noise, CPU time averaged over many repeats).
CPU time is the primary figure: on a shared machine, wall time mostly measures the other
sessions. One torch thread.

    .venv/bin/python bench/bench_sgd_rng.py            # about a minute and a half
    .venv/bin/python bench/bench_sgd_rng.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_dp import BATCH, adult_tensors, model_for  # noqa: E402
from privet.dp import sgd as _sgd  # noqa: E402
from privet.dp.randomness import SecureRandom  # noqa: E402

SIGMA = 1.0


class TorchRandom(SecureRandom):
    """The generator DP-SGD used before: a seeded torch.Generator (MT19937)."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = _sgd.torch_generator()

    def uniform(self, n: int) -> np.ndarray:
        return torch.rand(n, generator=self.generator, dtype=torch.float64).numpy()

    def normal(self, n: int) -> np.ndarray:
        return torch.randn(n, generator=self.generator).numpy()


class UrandomRandom(SecureRandom):
    """The same conversions over bytes from the kernel (getrandom) on every call."""

    def bytes(self, n: int) -> bytes:
        return os.urandom(n)


SOURCES = {"torch MT19937": TorchRandom, "ChaCha20": SecureRandom, "os.urandom": UrandomRandom}


def epoch(kind: str, x: torch.Tensor, y: torch.Tensor, random: SecureRandom) -> tuple[float, float]:
    """Wall and CPU seconds per step over one epoch of privet's DP-SGD loop."""
    model = model_for(kind, x.shape[1])
    steps = max(1, round(len(x) / BATCH))
    start, cpu = time.perf_counter(), time.process_time()
    _sgd.train_dp(
        model,
        x,
        y,
        task="classification",
        outputs=1,
        schedule=_sgd.Schedule(epochs=1, batch_size=BATCH, learning_rate=0.01),
        sample_rate=BATCH / len(x),
        steps=steps,
        noise_multiplier=SIGMA,
        clip=1.0,
        random=random,
    )
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def randomness(kind: str, x: torch.Tensor, random: SecureRandom, repeats: int) -> float:
    """CPU seconds for one step's randomness alone: a Poisson sample and the noise."""
    size = sum(p.numel() for p in model_for(kind, x.shape[1]).parameters())
    sample = _sgd.PoissonSampler(len(x), BATCH / len(x), random)
    cpu = time.process_time()
    for _ in range(repeats):
        sample()
        _sgd._noise(SIGMA, size, random)
    return (time.process_time() - cpu) / repeats


def bench(epochs: int, repeats: int) -> list[dict[str, Any]]:
    x, y = adult_tensors()
    rows = []
    for kind in ("logreg", "mlp"):
        wall: dict[str, list[float]] = {name: [] for name in SOURCES}
        cpu: dict[str, list[float]] = {name: [] for name in SOURCES}
        for i in range(epochs + 1):  # the first round warms up and is dropped
            for name, make in SOURCES.items():
                seconds, cpu_seconds = epoch(kind, x, y, make())
                if i:
                    wall[name].append(seconds)
                    cpu[name].append(cpu_seconds)
        alone = {name: randomness(kind, x, make(), repeats) for name, make in SOURCES.items()}
        base_wall = statistics.median(wall["torch MT19937"])
        base_cpu = statistics.median(cpu["torch MT19937"])
        parameters = sum(p.numel() for p in model_for(kind, x.shape[1]).parameters())
        for name in SOURCES:
            step_wall, step_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
            rows.append(
                {
                    "model": kind,
                    "source": name,
                    "parameters": parameters,
                    "step_wall_ms": 1000 * step_wall,
                    "step_cpu_ms": 1000 * step_cpu,
                    "randomness_cpu_ms": 1000 * alone[name],
                    "step_wall_over_mt": step_wall / base_wall - 1,
                    "step_cpu_over_mt": step_cpu / base_cpu - 1,
                    # The randomness's extra CPU time as a share of the MT19937 step's.
                    "randomness_extra_share": (alone[name] - alone["torch MT19937"]) / base_cpu,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    started = time.time()
    load = os.getloadavg()[0]
    rows = bench(epochs=2 if args.quick else 20, repeats=50 if args.quick else 2000)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_before": load,
            "load_after": os.getloadavg()[0],
        },
        "rows": rows,
        "seconds": round(time.time() - started, 1),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "results-sgd-rng.json").write_text(json.dumps(result, indent=2))
    print(
        "| model | source | step, CPU ms | vs MT19937 | step, wall ms | vs MT19937 | "
        "randomness alone, CPU ms | its extra cost, share of a step |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} ({r['parameters']:,} parameters) | {r['source']} | "
            f"{r['step_cpu_ms']:.3f} | {100 * r['step_cpu_over_mt']:+.1f}% | "
            f"{r['step_wall_ms']:.3f} | {100 * r['step_wall_over_mt']:+.1f}% | "
            f"{r['randomness_cpu_ms']:.3f} | {100 * r['randomness_extra_share']:+.1f}% |"
        )
    print(
        f"\nload average before/after: {load:.2f} / {os.getloadavg()[0]:.2f}; {result['seconds']} s"
    )


if __name__ == "__main__":
    main()
