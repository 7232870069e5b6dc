"""SISA ensembles: models that forget a person by retraining one shard from one slice.

Bourtoule et al., "Machine Unlearning" (IEEE S&P 2021): the training rows are split into S
isolated shards, each trained by its own model; a shard's rows are split into R slices and
trained incrementally (stage r trains on slices 0…r), with the model AND optimizer state
checkpointed after each stage. Erasing a person retrains only their shard, from the
checkpoint before the first slice holding them; the ensemble predicts by the mean of its
shards' probabilities.

What makes the retrained shard equal, bit for bit, to one trained from scratch without the
person:

- a row's shard, slice, held-out coin and train_rows coin are functions of its subject link
  alone (independent hashes of it), so removing a person moves nobody else;
- a shard's rows are ordered by (link, row position) before any shuffling;
- every random choice (the initial weights, each stage's batch order) comes from a generator
  seeded by (seed, shard, stage), so a stage resumed from a checkpoint draws exactly what
  it drew in the first run;
- preprocessing is learned once, frozen in the card, and never hinges on one person (see
  ``privet.dp._features.from_crowd``).

Which stages must be redone is found by fingerprints: each slice's rows (links and encoded
values) hashed at training time and kept in the encrypted object, never in the card. A
slice whose fingerprint changed, and every later one, is retrained; so unlearning is right
whether or not the data still holds the person, and doing it twice changes nothing.
"""

from __future__ import annotations

import copy
import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from privet.errors import IntegrityError

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch
    from torch import nn

PAYLOAD_FORMAT: Final = "privet/sisa/1"
# A category level or class held by fewer people than this is not learned: the frozen
# preprocessing must not record, or hinge on, any one person.
MIN_SUBJECTS: Final = 10

Checkpoint = dict[str, Any]  # {"model": state_dict, "optimizer": state_dict}


@dataclass(frozen=True)
class Recipe:
    """How every shard trains: the architecture, the schedule of each stage, the seed."""

    architecture: str
    task: str
    inputs: int
    outputs: int
    hidden_units: int
    epochs: int  # of each stage (slice): the paper's 2e/(R+1), see stage_epochs
    batch_size: int
    learning_rate: float
    seed: int
    shards: int
    slices: int


def stage_epochs(epochs: int, slices: int) -> int:
    """Epochs per stage so that the R stages together cost about ``epochs`` passes over the
    shard (stage r sees (r+1)/R of it): 2e/(R+1), as in Bourtoule et al. §V."""
    return max(1, round(2 * epochs / (slices + 1)))


# -- assignment by link ----------------------------------------------------------------------


# A link is 16 bytes of keyed PRF output (hex): its four 32-bit words are uniform and
# independent, one for each choice below, so no further hashing is needed per row.
_WORDS = {"shard": 0, "slice": 1, "test": 2, "keep": 3}


def _units(links: Sequence[str], word: str) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per link, from the link alone (its ``word``-th 32 bits)."""
    import polars as pl

    start = 8 * _WORDS[word]
    bits = pl.Series(links, dtype=pl.String).str.slice(start, 8).str.to_integer(base=16)
    return bits.cast(pl.Float64).to_numpy() / 2.0**32


@dataclass(frozen=True)
class Layout:
    """Where each row goes. ``train`` and ``test`` are row indices, ``train`` ordered by
    (link, row position): the order every shard sees its rows in."""

    shard: npt.NDArray[np.int64]
    slice: npt.NDArray[np.int64]
    train: npt.NDArray[np.int64]
    test: npt.NDArray[np.int64]

    def shard_rows(self, shard: int) -> npt.NDArray[np.int64]:
        return self.train[self.shard[self.train] == shard]


def layout(
    links: Sequence[str],
    *,
    shards: int,
    slices: int,
    test_fraction: float,
    keep: float,
    usable: npt.NDArray[np.bool_],
) -> Layout:
    """Each row's shard and slice, and which rows are trained on and held out.

    A person is held out with probability ``test_fraction``, else trained on with
    probability ``keep``; ``usable`` rows (a known label) are the only ones trained on.
    """
    import polars as pl

    if not pl.Series(links, dtype=pl.String).str.contains(r"^[0-9a-f]{32}$").fill_null(False).all():
        raise ValueError("a subject link is not 32 hexadecimal digits")
    shard = (_units(links, "shard") * shards).astype(np.int64)
    slice_ = (_units(links, "slice") * slices).astype(np.int64)
    held = _units(links, "test") < test_fraction
    kept = _units(links, "keep") < keep
    trained = np.flatnonzero(~held & kept & usable)
    # Stable sort by link: a person's rows keep their order in the read.
    chosen = pl.Series(links, dtype=pl.String).gather(trained)
    order = (
        chosen.to_frame("link")
        .with_row_index()
        .sort("link", maintain_order=True)["index"]
        .to_numpy()
    )
    return Layout(
        shard=shard, slice=slice_, train=trained[order].astype(np.int64), test=np.flatnonzero(held)
    )


# -- training ---------------------------------------------------------------------------------


def _seed(seed: int, *parts: object) -> int:
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def initial(recipe: Recipe, shard: int) -> tuple[nn.Module, torch.optim.Optimizer]:
    """Shard ``shard``'s untrained model (weights drawn from its own seeded stream) and Adam."""
    import torch

    from privet.dp import sgd

    with torch.random.fork_rng(devices=[]):  # the global stream is left as it was
        torch.manual_seed(_seed(recipe.seed, shard, "init"))
        module = sgd.build_model(
            recipe.architecture, recipe.inputs, recipe.outputs, recipe.hidden_units
        )
    return module, sgd.adam(module, recipe.learning_rate)


def train_shard(
    recipe: Recipe,
    shard: int,
    x: torch.Tensor,
    y: torch.Tensor,
    slice_of: npt.NDArray[np.int64],
    *,
    start: int = 0,
    resume: Checkpoint | None = None,
) -> list[Checkpoint]:
    """Stages ``start``…R-1 of one shard, each on slices ≤ its own; their checkpoints.

    ``x``/``y`` are the shard's rows in link order and ``slice_of`` their slices. From
    ``start`` > 0, ``resume`` is the checkpoint of stage ``start`` - 1.
    """
    import torch

    from privet.dp import sgd

    module, optimizer = initial(recipe, shard)
    if start > 0:
        if resume is None:
            raise ValueError("resuming a shard needs the checkpoint before its first stage")
        module.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
    schedule = sgd.Schedule(
        epochs=recipe.epochs, batch_size=recipe.batch_size, learning_rate=recipe.learning_rate
    )
    out = []
    for stage in range(start, recipe.slices):
        rows = torch.from_numpy(np.flatnonzero(slice_of <= stage))
        sgd.train_plain(
            module,
            x[rows],
            y[rows],
            task=recipe.task,
            outputs=recipe.outputs,
            schedule=schedule,
            generator=sgd.torch_generator(_seed(recipe.seed, shard, stage)),
            optimizer=optimizer,
        )
        out.append(
            {
                "model": copy.deepcopy(module.state_dict()),
                "optimizer": copy.deepcopy(optimizer.state_dict()),
            }
        )
    return out


def fingerprints(
    links: Sequence[str], x: torch.Tensor, y: torch.Tensor, slice_of: npt.NDArray[np.int64], R: int
) -> list[str]:
    """One hash per slice of a shard's rows (their links, inputs and labels, in order)."""
    out = []
    for r in range(R):
        rows = np.flatnonzero(slice_of == r)
        digest = hashlib.sha256(str(len(rows)).encode())
        digest.update("".join(links[int(i)] + "\x00" for i in rows).encode())
        digest.update(x[rows].numpy().tobytes())
        digest.update(y[rows].numpy().tobytes())
        out.append(digest.hexdigest())
    return out


def state_hash(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict's names, dtypes, shapes and exact bytes."""
    digest = hashlib.sha256()
    for name, tensor in state.items():
        t = tensor.detach().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


@dataclass
class Shards:
    """Every shard's checkpoints (S × R) and its slices' fingerprints: the stored object."""

    checkpoints: list[list[Checkpoint]]
    fingerprints: list[list[str]]

    def final(self, shard: int) -> Mapping[str, torch.Tensor]:
        state: Mapping[str, torch.Tensor] = self.checkpoints[shard][-1]["model"]
        return state

    def hashes(self) -> list[str]:
        return [state_hash(self.final(s)) for s in range(len(self.checkpoints))]

    def dump(self) -> bytes:
        import torch

        buffer = io.BytesIO()
        torch.save(
            {
                "format": PAYLOAD_FORMAT,
                "checkpoints": self.checkpoints,
                "fingerprints": self.fingerprints,
            },
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, data: bytes, *, shards: int, slices: int) -> Shards:
        """A stored object, checked against the card's S and R."""
        import torch

        payload = torch.load(io.BytesIO(data), weights_only=True)
        checkpoints = payload.get("checkpoints") if isinstance(payload, dict) else None
        prints = payload.get("fingerprints") if isinstance(payload, dict) else None
        if (
            payload.get("format") != PAYLOAD_FORMAT
            or not isinstance(checkpoints, list)
            or not isinstance(prints, list)
            or len(checkpoints) != shards
            or len(prints) != shards
            or any(len(c) != slices for c in checkpoints)
            or any(len(p) != slices for p in prints)
        ):
            raise IntegrityError("a stored unlearnable model has an unknown format")
        return cls(checkpoints=checkpoints, fingerprints=prints)


@dataclass(frozen=True)
class ShardData:
    """One shard's training rows in link order."""

    links: list[str]
    x: torch.Tensor
    y: torch.Tensor
    slice_of: npt.NDArray[np.int64]


def shard_data(
    links: Sequence[str], x: torch.Tensor, y: torch.Tensor, where: Layout, shard: int
) -> ShardData:
    import torch

    rows = where.shard_rows(shard)
    index = torch.from_numpy(rows)
    return ShardData(
        links=[links[i] for i in rows], x=x[index], y=y[index], slice_of=where.slice[rows]
    )


def fit(
    recipe: Recipe,
    data: Sequence[ShardData],
    *,
    previous: Shards | None = None,
    progress: Callable[[str], None] = lambda _s: None,
) -> tuple[Shards, dict[int, int]]:
    """Train every shard, or with ``previous`` only what changed: each shard from its first
    slice whose fingerprint differs. Returns the shards and {shard: first stage retrained}."""
    checkpoints, prints, retrained = [], [], {}
    for s, rows in enumerate(data):
        now = fingerprints(rows.links, rows.x, rows.y, rows.slice_of, recipe.slices)
        start = 0
        if previous is not None:
            before = previous.fingerprints[s]
            start = next((r for r in range(recipe.slices) if now[r] != before[r]), recipe.slices)
        if start == recipe.slices:
            assert previous is not None
            checkpoints.append(previous.checkpoints[s])
        else:
            resume = previous.checkpoints[s][start - 1] if previous and start > 0 else None
            redone = train_shard(
                recipe, s, rows.x, rows.y, rows.slice_of, start=start, resume=resume
            )
            kept = previous.checkpoints[s][:start] if previous is not None else []
            checkpoints.append([*kept, *redone])
            retrained[s] = start
            progress(f"shard {s + 1}/{recipe.shards}")
        prints.append(now)
    return Shards(checkpoints=checkpoints, fingerprints=prints), retrained


# -- prediction -------------------------------------------------------------------------------


def ensemble(recipe: Recipe, shards: Shards) -> nn.Module:
    """The shards' final models as one module whose output the single-model code reads."""
    from privet.dp import sgd

    members = []
    for s in range(recipe.shards):
        module = sgd.build_model(
            recipe.architecture, recipe.inputs, recipe.outputs, recipe.hidden_units
        )
        module.load_state_dict(shards.final(s))
        members.append(module)
    return _ensemble_class()(members, task=recipe.task, outputs=recipe.outputs).eval()


def _ensemble_class() -> Any:
    import torch
    from torch import nn

    class Ensemble(nn.Module):
        """Mean of the shards' probabilities (or values), given back as logits / log-probs
        so that thresholds, argmax and losses work as for one model."""

        def __init__(self, members: list[nn.Module], *, task: str, outputs: int) -> None:
            super().__init__()
            self.members = nn.ModuleList(members)
            self.task, self.outputs = task, outputs

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            outs = torch.stack([m(x) for m in self.members])
            if self.task == "regression":
                return outs.mean(0)
            if self.outputs == 1:
                return torch.logit(torch.sigmoid(outs).mean(0), eps=1e-7)
            return torch.softmax(outs, -1).mean(0).clamp_min(1e-12).log()

    return Ensemble
