"""Synthetic-data evaluation of tables named by a user: datasets of a workspace, or files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from privet import tables
from privet.attacks._reference import ASSESSMENT
from privet.attacks._requests import SynthEvaluationRequest
from privet.attacks._synth_eval import SynthEvaluation, evaluate
from privet.errors import NotFound

if TYPE_CHECKING:
    import polars as pl

    from privet.core import Core


def evaluate_sources(
    request: SynthEvaluationRequest,
    *,
    core: Core | None = None,
    actor: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> SynthEvaluation:
    """Evaluate ``request.synthetic`` against ``request.real`` (and its holdout).

    Each is a file, or a dataset of ``core`` read through the broker by ``actor`` for
    privet's assessment purpose; without a workspace (``core`` None) only files can be named.
    """
    step = progress or (lambda _stage: None)
    step("reading")
    real = _load(core, request.real, actor)
    synthetic = _load(core, request.synthetic, actor)
    holdout = None if request.holdout is None else _load(core, request.holdout, actor)
    return evaluate(
        real,
        synthetic,
        holdout,
        names=(request.real, request.synthetic, request.holdout),
        columns=request.columns,
        target=request.target,
        n_attacks=request.n_attacks,
        seed=request.seed,
        progress=step,
    )


def _load(core: Core | None, source: str, actor: str | None) -> pl.DataFrame:
    if tables.names_file(source):
        return tables.read_table(Path(source)).frame
    if core is None or actor is None:
        raise NotFound(f"{source[:80]!r} is not a file, and there is no workspace to find it in")
    from privet import policy

    return policy.read(core, source, purpose=ASSESSMENT, actor=actor).frame
