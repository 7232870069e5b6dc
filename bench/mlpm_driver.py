"""Runs ML Privacy Meter's RMIA (its own run_mia.py) on Adult encoded by privet.

Executed by bench_audit.py with bench/.venv-mlpm/bin/python, never imported by privet:

    python mlpm_driver.py MLPM_SOURCE WORKDIR CONFIG.yaml

WORKDIR holds data.npz (X, y of the audited dataset and of the population, made by
bench_audit.py); this script turns them into Privacy Meter's own TabularDataset pickles (it
runs offline only from local pickles) and calls its entry point unchanged. Two adaptations,
both from outside its code: Privacy Meter knows tabular shapes only for purchase100/texas100,
so "adult" is added to its shape table and its MLP is given the benchmark's architecture
(one hidden layer of 256 ReLU units, privet's "mlp"); and torchvision, which it imports for
image datasets only, is stubbed (the CPU torch build here has no matching torchvision).
"""

from __future__ import annotations

import importlib.machinery
import os
import pickle
import sys
import types

import numpy as np


def stub(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    sys.modules[name] = module
    return module


def main() -> None:
    source, work, config = sys.argv[1:4]
    import torch
    import transformers  # noqa: F401 - decides before the stub that torchvision is absent
    from torch import nn

    tv = stub("torchvision")
    for sub in ("datasets", "transforms", "models"):
        setattr(tv, sub, stub(f"torchvision.{sub}"))
    sys.path.insert(0, source)
    os.chdir(work)
    from dataset import TabularDataset

    arrays = np.load("data.npz")
    os.makedirs("data", exist_ok=True)
    for name, x, y in (
        ("adult", arrays["x"], arrays["y"]),
        ("adult_population", arrays["pop_x"], arrays["pop_y"]),
    ):
        with open(f"data/{name}.pkl", "wb") as file:
            pickle.dump(TabularDataset(x.astype(np.float32), y.astype(np.int64)), file)

    import models.utils as mu

    class MLP(nn.Module):
        def __init__(self, in_shape: int, num_classes: int = 2) -> None:
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(in_shape, 256), nn.ReLU(), nn.Linear(256, num_classes)
            )

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.net(inputs.flatten(1))

    mu.INPUT_OUTPUT_SHAPE["adult"] = [int(arrays["x"].shape[1]), 2]
    mu.MLP = MLP
    import run_mia

    sys.argv = ["run_mia.py", "--cf", config]
    run_mia.main()


if __name__ == "__main__":
    main()
