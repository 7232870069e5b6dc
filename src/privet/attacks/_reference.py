"""The audited model's lineage (members, non-members, population) and its reference models.

Members and non-members are the model's own training split and held-out rows, rebuilt from
the split recorded on its card; reference models are trained with the card's recipe
(architecture, epochs, batch, learning rate, and DP-SGD's noise and clipping when the model
is private) on one of two kinds of rows (``REFERENCE_DATA``):

- ``population``: rows of the same dataset version that are never audited: what an outsider
  with data from the same population can do;
- ``training``: the model's own training rows, each reference model leaving out a random half
  of the audited records (complementary halves in pairs) and making up the size with
  population rows. This is DP's adversary, who knows the rest of the training set. A
  reference model that shares most of the target's data predicts what the target would have
  said without a record far better than one trained on other rows, so the attack is
  stronger. Every record is scored only with the reference models that left it out, and
  which ones do is decided before and independently of whether it is a member.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from sqlalchemy import select

from privet import policy
from privet.errors import IntegrityError, InvalidInput, NotFound, PolicyDenied
from privet.schema import Dataset, DpModel

if TYPE_CHECKING:
    import torch

    from privet.core import Core
    from privet.dp import TrainedModel

ASSESSMENT = "privet:assessment"
REFERENCE_DATA = ("population", "training")


@dataclass
class Target:
    """A decrypted model and its dataset version, encoded the way the model sees it."""

    name: str
    model: TrainedModel
    x: torch.Tensor
    y: torch.Tensor
    valid: np.ndarray  # rows whose target the model can score
    train: np.ndarray  # row positions trained on
    test: np.ndarray  # row positions held out
    frame: pl.DataFrame

    @property
    def card(self) -> dict[str, Any]:
        return self.model.card.stored()

    @property
    def scorable_train(self) -> np.ndarray:
        """Training rows whose label the model can score."""
        return self.train[self.valid[self.train]]

    @property
    def scorable_test(self) -> np.ndarray:
        """Held-out rows whose label the model can score."""
        return self.test[self.valid[self.test]]


def load(core: Core, name: str, *, actor: str, purpose: str | None = None) -> Target:
    """The model ``name`` with the raw rows of its dataset version.

    Auditing reads the training data and trains models without privacy. The dataset's owner
    may do it (privet's internal assessment purpose); anyone else needs an active grant of
    the raw view for ``purpose``, checked and logged by the broker like any read.
    """
    from privet.dp import load_model, unpack_rows

    with core.reading() as session:
        row = session.scalars(select(DpModel).where(DpModel.name == name)).first()
        if row is None:
            raise NotFound(
                f"no model named {name[:80]!r} in this workspace; a model privet did not "
                "train is audited from its file, with files of its members and non-members"
            )
        dataset = session.get(Dataset, row.dataset_id)
        owner = dataset.owner if dataset else None
        split = row.card.get("split")
        version = row.card["dataset"]
    if actor != owner and purpose is None:
        raise PolicyDenied(
            f"auditing {name!r} reads its training data and trains models without privacy: "
            f"only the dataset's owner ({owner}) may do it, or someone holding an approved "
            "grant of its raw rows, who names that grant's purpose",
            parameter="purpose",
        )
    if split is None:
        raise InvalidInput(
            f"model {name!r} has no recorded training split (trained before privet recorded "
            "one); give files of its members and non-members",
            parameter="members",
        )
    # The rows first: for a grantee, the broker's decision (logged) comes before any weight.
    read_for = purpose if purpose is not None else ASSESSMENT  # no purpose: the owner (above)
    frame = policy.read(core, version, purpose=read_for, actor=actor, channel="attacks:audit").frame
    model = load_model(core, name, actor=actor, purpose=None if actor == owner else purpose)
    if frame.height != split["rows"]:
        raise IntegrityError("the model's recorded split does not match its dataset version")
    x, y, valid = encode(model, frame)
    return Target(
        name=name,
        model=model,
        x=x,
        y=y,
        valid=valid,
        train=unpack_rows(split["train"], split["rows"]),
        test=unpack_rows(split["test"], split["rows"]),
        frame=frame,
    )


def encode(model: TrainedModel, frame: pl.DataFrame) -> tuple[Any, Any, np.ndarray]:
    """Inputs, labels (as the model was trained on them) and which rows have a usable label."""
    import torch

    card = model.card.stored()
    target = card["target"]
    if target not in frame.columns:
        raise InvalidInput(f"the records have no column {target[:80]!r} (the model's target)")
    x = model.encode(frame)
    column = frame[target]
    if card["task"] == "regression":
        low, high = card["target_bounds"]
        values = column.cast(pl.Float64, strict=False)
        valid = values.is_not_null().to_numpy() & ~values.is_nan().fill_null(True).to_numpy()
        scaled = ((values.clip(low, high) - low) / (high - low)).fill_null(0.5).fill_nan(0.5)
        return x, torch.tensor(scaled.to_numpy(), dtype=torch.float32), valid
    classes = [str(c) for c in card["classes"]]
    lookup = {c: i for i, c in enumerate(classes)}
    codes = np.array([lookup.get(v, -1) for v in column.cast(pl.String).to_list()])
    valid = codes >= 0
    codes = np.maximum(codes, 0)
    if card["outputs"] == 1:
        return x, torch.tensor(codes, dtype=torch.float32), valid
    return x, torch.tensor(codes, dtype=torch.int64), valid


def train_like(
    card: dict[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator,
) -> torch.nn.Module:
    """A model trained on (x, y) by the card's recipe: same architecture, schedule, DP noise."""
    from privet.dp import sgd as _sgd

    training = card["training"]
    module = _sgd.build_model(
        card["architecture"],
        card["inputs"],
        card["outputs"],
        training.get("hidden_units", _sgd.HIDDEN_UNITS),
    )
    schedule = _sgd.Schedule(
        epochs=training["epochs"],
        batch_size=training["batch_size"],
        learning_rate=training["learning_rate"],
    )
    privacy = card["privacy"]
    common = {"task": card["task"], "outputs": card["outputs"], "schedule": schedule}
    if privacy.get("differentially_private"):
        import torch

        from privet.dp.randomness import SecureRandom

        # The auditor's own simulation of the recipe, reproducible from the audit's seed:
        # it releases nothing, so a seeded (not secure) stream is what it needs.
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        rate = min(1.0, schedule.batch_size / max(len(x), 1))
        _sgd.train_dp(
            module,
            x,
            y,
            **common,
            sample_rate=rate,
            steps=schedule.epochs * max(1, math.ceil(len(x) / schedule.batch_size)),
            noise_multiplier=privacy["noise_multiplier"],
            clip=privacy["clipping_norm"],
            random=SecureRandom(seed),
        )
    else:
        _sgd.train_plain(module, x, y, **common, generator=generator)
    module.eval()
    return module


def plan_sizes(
    *,
    valid_train: int,
    valid_test: int,
    usable: int,
    references: int,
    audit_size: int | None,
    reference_data: str = "population",
) -> tuple[int, int]:
    """How many members (= non-members) to audit, and each reference model's training size.

    ``population`` reference models draw a random subset of the target's training size from
    the rows outside the audited ones, or of half of those rows when that is smaller (so that
    reference models differ); below half the target's size they would not resemble the
    target, and the audit is refused. ``training`` reference models have exactly the target's
    training size and replace the audited members they leave out by population rows, so
    those rows must number at least the audited members.
    """
    n_train = valid_train
    if audit_size is None:
        size = min(5000, valid_train, valid_test)
        if references:
            size = min(size, max(0, (usable - n_train) // 2))
    else:
        size = audit_size
        if size > min(valid_train, valid_test):
            raise InvalidInput(
                f"cannot audit {size} members and {size} non-members: the model has "
                f"{valid_train} training and {valid_test} held-out rows",
                parameter="audit_size",
            )
    if size < 10:
        raise InvalidInput(
            "the dataset is too small to audit: fewer than 10 members or non-members remain"
            + (" once reference models get their rows (try attack loss)" if references else ""),
            parameter="attack" if references else None,
        )
    if not references:
        return size, 0
    if reference_data == "training":
        outside = usable - n_train - size  # neither trained on nor audited
        if outside < size:
            raise InvalidInput(
                f"the dataset is too small for reference models on the training rows: "
                f"{outside} rows are neither trained on nor audited, and the reference models "
                f"need {size} (as many as the audited members they leave out); audit fewer "
                "records (a smaller audit_size) or use the loss attack",
                parameter="audit_size",
            )
        return size, n_train
    pool = usable - 2 * size
    per_model = min(n_train, pool // 2 if references > 1 else pool)
    if per_model < max(1, n_train // 2):
        raise InvalidInput(
            f"the dataset is too small for {references} reference model(s): {pool} rows remain "
            f"outside the {2 * size} audited ones, and each reference model needs at least "
            f"{max(1, n_train // 2)} (half the target's training rows); audit fewer records "
            "(a smaller audit_size) or use the loss attack",
            parameter="audit_size",
        )
    return size, per_model


def reference_rows(
    *,
    reference_data: str,
    references: int,
    train_rows: np.ndarray,
    audited: np.ndarray,
    pool: np.ndarray,
    per_model: int,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Each reference model's training rows, and which audited records it left out (k × n).

    ``pool`` holds the rows that are not audited; ``train_rows`` the target's. Whether a
    reference model leaves an audited record out never depends on the record's membership.
    """
    if reference_data == "population":
        samples = [rng.choice(pool, per_model, replace=False) for _ in range(references)]
        return samples, np.ones((references, len(audited)), dtype=bool)
    left_out = []
    for _ in range(references // 2):
        half = rng.permutation(len(audited)) < len(audited) // 2
        left_out += [half, ~half]
    if references % 2:
        left_out.append(np.ones(len(audited), dtype=bool))
    outside = np.setdiff1d(pool, train_rows)
    samples = []
    for out in left_out:
        kept = np.setdiff1d(train_rows, audited[out])
        fill = rng.choice(outside, len(train_rows) - len(kept), replace=False)
        samples.append(np.r_[kept, fill])
    return samples, np.stack(left_out)
