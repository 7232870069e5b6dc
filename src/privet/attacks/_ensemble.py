"""Several non-private reference models trained at once, as one batched model.

Reference models of a non-private recipe are independent runs of the same plain loop
(``_sgd.train_plain``): the same architecture, Adam, batch size, epochs and learning rate,
each on its own rows in its own random order. Stacking their weights and using batched
matrix products runs all of them in one Python loop: with models this small the loop's
overhead, not arithmetic, is what costs. Adam is elementwise and the summed loss separates
per model, so each model's updates are exactly those it would get alone.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from privet.dp import sgd as _sgd


def supported(card: dict[str, Any]) -> bool:
    return not card["privacy"].get("differentially_private") and card["architecture"] in (
        "logreg",
        "mlp",
    )


def _uniform(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    # nn.Linear's default initialization: U(−1/√fan_in, 1/√fan_in) for weights and biases.
    bound = 1 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=generator) * 2 - 1) * bound


def train(
    card: dict[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    rows: list[torch.Tensor],
    generator: torch.Generator,
) -> list[nn.Module]:
    """One model per entry of ``rows`` (equal lengths), trained by the card's plain recipe."""
    training = card["training"]
    k, n = len(rows), len(rows[0])
    inputs, outputs = card["inputs"], card["outputs"]
    sizes = [inputs]
    if card["architecture"] == "mlp":
        sizes.append(training.get("hidden_units", _sgd.HIDDEN_UNITS))
    sizes.append(outputs)
    weights = [
        _uniform((k, a, b), a, generator).requires_grad_()
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]
    biases = [
        _uniform((k, 1, b), a, generator).requires_grad_()
        for a, b in zip(sizes, sizes[1:], strict=False)
    ]
    params = [p for pair in zip(weights, biases, strict=True) for p in pair]
    optimizer = torch.optim.Adam(params, lr=training["learning_rate"], foreach=False)
    index = torch.stack(rows)  # k × n row positions
    task, batch = card["task"], training["batch_size"]
    per_model = _sgd.loss_function(task, outputs)

    def forward(xb: torch.Tensor) -> torch.Tensor:
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            xb = torch.baddbmm(b, xb, w)
            if i < len(weights) - 1:
                xb = torch.relu(xb)
        return xb

    probe = nn.Linear(1, 1)  # only to size the thread pool like the single-model loop
    with _sgd.few_threads(probe):
        for _ in range(training["epochs"]):
            order = torch.argsort(torch.rand(k, n, generator=generator), dim=1)
            shuffled = torch.gather(index, 1, order)
            for start in range(0, n, batch):
                chosen = shuffled[:, start : start + batch]
                out = forward(x[chosen])
                target = y[chosen]
                size = chosen.shape[1]
                loss = per_model(out.reshape(-1, outputs), target.reshape(-1)) / size
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    models = []
    for m in range(k):
        module = _sgd.build_model(card["architecture"], inputs, outputs, sizes[1])
        layers = [layer for layer in module.modules() if isinstance(layer, nn.Linear)]
        with torch.no_grad():
            for layer, w, b in zip(layers, weights, biases, strict=True):
                layer.weight.copy_(w[m].T)
                layer.bias.copy_(b[m, 0])
        module.eval()
        models.append(module)
    return models
