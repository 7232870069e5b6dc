"""``ws.federated``: learning and counting with other workspaces without pooling their rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privet.core import Core
    from privet.federated import FederatedModel, FederateRequest, JointResult, Party

Progress = Callable[[str], None]


class Federation:
    """This workspace as a party or a coordinator of a federation.

    Each party reads its own dataset through its own broker (purpose, grant, log entry);
    the coordinator sees only what SecAgg+ lets through (the sum of masked updates), and
    private set intersection reveals the intersection and nothing else. Flower and
    openmined-psi come with the ``federated`` extra.
    """

    def __init__(self, core: Core) -> None:
        self._core = core

    def train(
        self,
        parties: str | Path | Sequence[Party],
        request: FederateRequest,
        *,
        actor: str,
        progress: Progress | None = None,
    ) -> FederatedModel:
        """Train ``request`` across ``parties`` (a parties file or a list) with FedAvg.

        Each party reads its own dataset for its own purpose and trains locally; with
        ``request.epsilon`` every party runs DP-SGD at that ε, recorded in its own ledger
        before its first update leaves; with ``request.secagg`` the coordinator receives
        only masked updates (Flower's SecAgg+). The global model is stored here, with a
        card naming the parties, rounds, SecAgg+ settings and ε per party, and a copy in
        each party's model store bound to its rows (so each owner can audit it).
        """
        from privet import federated

        listed = (
            federated.load_parties(parties) if isinstance(parties, str | Path) else list(parties)
        )
        return federated.federate(self._core, listed, request, actor=actor, progress=progress)

    def joint(
        self,
        parties_file: str | Path,
        statistic: str,
        column: str | None = None,
        *,
        epsilon: float,
        delta: float,
        actor: str,
        bounds: Sequence[float] | None = None,
        bins: Sequence[float] | None = None,
        min_parties: int | None = None,
        max_rows: int | None = None,
        num_shares: int | None = None,
        reconstruction_threshold: int | None = None,
        progress: Progress | None = None,
    ) -> JointResult:
        """A ``count``, ``sum`` (per-row ``bounds`` [L, U]) or ``histogram`` (bin edges
        ``bins``) of ``column`` over the parties of ``parties_file``, through SecAgg+.

        Each party reads through its own broker, charges its own ledger and adds its share
        of Gaussian noise before its masked vector leaves; this workspace, the coordinator,
        logs the query and learns only the noisy sum. ``min_parties`` (default: all) is the
        number of contributions the noise is planned for; fewer and nothing is released.
        """
        from privet import federated

        return federated.joint(
            self._core,
            federated.load_parties(parties_file),
            statistic,
            column,
            epsilon=epsilon,
            delta=delta,
            actor=actor,
            bounds=bounds,
            bins=bins,
            min_parties=min_parties,
            max_rows=federated.DEFAULT_MAX_ROWS if max_rows is None else max_rows,
            num_shares=num_shares,
            reconstruction_threshold=reconstruction_threshold,
            progress=progress,
        )
