"""``ws.federated``: learning and counting with other workspaces without pooling their rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from privet import policy

if TYPE_CHECKING:
    from privet.core import Core
    from privet.federated import FederatedModel, FederateRequest, JointResult, Party, PsiResult

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

    # -- private set intersection ---------------------------------------------------------------

    def link_psi(
        self,
        ref: str,
        column: str,
        *,
        peer: Callable[[bytes], bytes],
        peer_label: str,
        purpose: str,
        actor: str | None = None,
        identity: policy.Identity | None = None,
        reveal: bool = True,
        name: str | None = None,
        buckets: int | None = None,
        workers: int | None = None,
        progress: Progress | None = None,
    ) -> PsiResult:
        """Intersect the values of ``column`` of ``ref`` with a peer workspace's, by private
        set intersection (openmined-psi): neither side sees the other's other values.

        ``peer`` carries one request message to the peer's :meth:`psi_answer` and returns its
        answer (the CLI posts it to the peer's server). This side reads through its broker
        for ``purpose``; with ``reveal`` the matching rows become a new version of derived
        dataset ``name`` (default ``<dataset>-psi``), else only the size is learnt. The result
        and the log entry hold counts, the run id and the SHA-256 of ``peer_label``.
        """
        from privet import federated

        who = policy.acting(self._core, actor, identity)
        return federated.psi_link(
            self._core,
            ref,
            column,
            peer=peer,
            peer_label=peer_label,
            purpose=purpose,
            identity=who,
            reveal=reveal,
            name=name,
            buckets=buckets,
            workers=workers,
            progress=progress,
        )

    def psi_answer(
        self,
        name: str,
        message: bytes,
        *,
        column: str,
        purpose: str,
        actor: str | None = None,
        identity: policy.Identity | None = None,
        channel: str = "psi",
        workers: int | None = None,
    ) -> bytes:
        """The peer's side of :meth:`link_psi`: the answer to one request ``message`` on
        ``column`` of dataset ``name``, read through this workspace's broker for ``purpose``.
        The peer learns the size of the requester's (padded) set, not the intersection."""
        from privet import federated

        who = policy.acting(self._core, actor, identity)
        return federated.psi_answer(
            self._core,
            name,
            message,
            column=column,
            purpose=purpose,
            identity=who,
            channel=channel,
            workers=workers,
        )
