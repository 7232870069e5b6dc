"""Auditing with member and non-member files given explicitly.

Needed for a model privet did not train (no lineage says who was in its training set) and for
a model whose card predates recorded splits. Without a recipe no reference model can be
trained, so the attack is the loss attack.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from privet import tables
from privet.attacks import _membership, _report
from privet.attacks._audit import MembershipAudit, record
from privet.attacks._requests import MembershipAuditRequest, ModelAuditRequest
from privet.errors import InvalidInput

if TYPE_CHECKING:
    from privet.core import Core


def load_model_file(path: Path) -> Any:
    """A model saved with torch.export.save (.pt2): a graph and weights, no pickled code."""
    import torch

    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - whatever the file holds, it is not a model
        reason = "no such file" if not path.exists() else "not a model saved by torch.export.save"
        raise InvalidInput(f"{path.name}: {reason}") from exc
    # The exported graph's input guards fail on some valid programs in torch 2.13 (a guard
    # function reads a missing shape); a record that does not fit fails in scoring instead.
    return program.module(check_guards=False)


def numeric_records(path: Path, label: str) -> tuple[Any, Any]:
    """Numeric input columns and an integer class column ``label`` (for an external model)."""
    import torch

    frame = tables.read_table(path).frame
    if label not in frame.columns:
        raise InvalidInput(
            f"{path.name} has no column {label[:80]!r} (name the class column with label)",
            parameter="label",
        )
    inputs = [c for c in frame.columns if c != label]
    bad = [c for c in inputs if not frame[c].dtype.is_numeric()]
    if bad:
        raise InvalidInput(
            f"{path.name}: column {bad[0][:80]!r} is not numeric; for a model privet did not "
            "train, give the model's numeric inputs and the label"
        )
    try:
        y = frame[label].cast(pl.Int64, strict=True)
    except pl.exceptions.InvalidOperationError:
        raise InvalidInput(
            f"{path.name}: {label[:80]!r} must hold integer class numbers", parameter="label"
        ) from None
    if y.null_count():
        raise InvalidInput(f"{path.name}: {label[:80]!r} has empty cells", parameter="label")
    x = frame.select(inputs).cast(pl.Float32).fill_null(0.0).to_numpy()
    return torch.from_numpy(x.copy()), torch.from_numpy(y.to_numpy().copy())


def margins_external(module: Any, x: Any, y: Any, name: str) -> np.ndarray:
    import torch

    try:
        with torch.no_grad():
            out = module(x)
    except Exception as exc:  # noqa: BLE001 - any failure of foreign code is bad input
        raise InvalidInput(
            f"the model could not score the records of {name} (inputs do not fit it)"
        ) from exc
    if out.ndim != 2:
        raise InvalidInput("the model must return one row of class scores per record")
    classes = max(out.shape[1], 2)
    if int(y.min()) < 0 or int(y.max()) >= classes:
        raise InvalidInput(f"{name}: labels must be class numbers 0…{classes - 1}")
    labels = y.float() if out.shape[1] == 1 else y
    return _membership.margins(lambda _x: out, x, labels, "classification")


def membership_from_files(
    core: Core,
    name: str,
    request: MembershipAuditRequest,
    *,
    actor: str,
    purpose: str | None = None,
) -> MembershipAudit:
    """The loss attack on workspace model ``name`` with the records of ``request``'s files,
    read in the model's schema; stored on its card with an audit-log entry.

    A non-private model loads for its dataset's owner, or a grantee of its raw rows for
    ``purpose``.
    """
    from privet.attacks._reference import encode
    from privet.dp import load_model

    started = time.perf_counter()
    members, non_members = _files(request)
    model = load_model(core, name, actor=actor, purpose=purpose)
    phis = []
    for path in (members, non_members):
        x, y, valid = encode(model, tables.read_table(path).frame)
        if not valid.all():
            raise InvalidInput(f"{path.name}: some rows have a target the model does not know")
        phis.append(_membership.margins(model.module, x, y, model.card.task))
    result = _result(phis, request, title=name, started=started)
    record(core, name, actor=actor, kind="membership-files", result=result.model_dump())
    return result


def audit_model_file(model_file: Path, request: ModelAuditRequest) -> MembershipAudit:
    """The loss attack on a model privet did not train, saved with ``torch.export.save``.

    No lineage says who was in its training set, so ``request`` names the ``members`` and
    ``non_members`` files (numeric inputs and an integer ``label``); without its recipe no
    reference model can be trained. Needs no workspace, and records nothing.
    """
    if not isinstance(request, MembershipAuditRequest):
        raise InvalidInput(
            f"{model_file} is a model privet did not train: only membership inference with "
            "member and non-member record files can audit it"
        )
    if not request.from_files:
        raise InvalidInput(
            f"{model_file} is a model privet did not train: no lineage says who was in its "
            "training set; give files of its members and non-members (and the loss attack)",
            parameter="members",
        )
    if request.attack != "loss":
        raise InvalidInput(
            f"{request.attack} trains reference models by the model's recipe, which privet "
            "knows only for models it trained; use attack loss for a model file",
            parameter="attack",
        )
    started = time.perf_counter()
    members, non_members = _files(request)
    module = load_model_file(model_file)
    phis = []
    for path in (members, non_members):
        x, y = numeric_records(path, request.label)
        phis.append(margins_external(module, x, y, path.name))
    return _result(phis, request, title=model_file.name, started=started)


def _files(request: MembershipAuditRequest) -> tuple[Path, Path]:
    assert request.members is not None and request.non_members is not None  # validated
    return request.members, request.non_members


def _result(
    phis: list[np.ndarray], request: MembershipAuditRequest, *, title: str, started: float
) -> MembershipAudit:
    members, non_members = _files(request)
    for phi, path in zip(phis, (members, non_members), strict=True):
        if len(phi) < 10:
            raise InvalidInput(f"{path.name}: at least 10 records are needed to audit")
    scores = np.r_[phis[0], phis[1]]
    is_member = np.r_[np.ones(len(phis[0]), dtype=bool), np.zeros(len(phis[1]), dtype=bool)]
    summary = _report.summarize(scores, is_member)
    plot = request.plot
    picture = str(_report.plot(scores, is_member, plot, title)) if plot else None
    negatives = np.sort(phis[1])[::-1]
    cut = negatives[max(0, int(np.floor(0.01 * len(negatives))) - 1)]
    exposed = np.flatnonzero(phis[0] > cut)
    exposed = exposed[np.argsort(-phis[0][exposed], kind="stable")][:10]
    return MembershipAudit(
        model=title,
        attack="loss",
        **summary,
        reference_models=0,
        reference_data=None,
        # Row numbers (from 0) in the members file.
        exposed_rows=[int(i) for i in exposed],
        plot=picture,
        seconds=time.perf_counter() - started,
        parameters={"source": "files"},
        scores=scores,
        is_member=is_member,
    )
