"""Parties for the federated tests: one governed workspace per party, Adult split among them.

Each party's workspace has its own policy: ``alice`` owns the dataset, ``bob`` (an analyst)
reads it for the federation's purpose under a grant ``alice`` approved, so a party's
steward can revoke it between rounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from privet import Workspace
from privet import policy as gov
from privet.datasets import adult
from privet.dp import BudgetRequest
from privet.federated import Party

PURPOSE = "federated-research"
FEATURES = [
    "age",
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "hours_per_week",
]
BOUNDS = {"age": (17.0, 90.0), "hours_per_week": (1.0, 99.0)}
POLICY = f"""
approver_roles: [steward]
rules:
  - description: the federation's analyst trains on the party's rows
    roles: [analyst]
    views: [raw, aggregate]
    purposes: [{PURPOSE}]
    max_days: 30
"""


def public_keys() -> dict[str, list[str]]:
    """Category levels of Adult's codebook (adult.names): public, shared by every party."""
    frame = adult("all")
    columns = [c for c in FEATURES if c not in BOUNDS] + ["income"]
    return {c: sorted(v for v in frame[c].unique().to_list() if v is not None) for c in columns}


def dirichlet_split(
    labels: np.ndarray, parties: int, alpha: float, seed: int, minimum: int = 300
) -> list[np.ndarray]:
    """Rows per party: each class's rows divided by proportions drawn from Dir(alpha)."""
    rng = np.random.default_rng(seed)
    while True:
        shares: list[list[int]] = [[] for _ in range(parties)]
        for label in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == label))
            cuts = (np.cumsum(rng.dirichlet([alpha] * parties))[:-1] * len(rows)).astype(int)
            for i, part in enumerate(np.split(rows, cuts)):
                shares[i].extend(part.tolist())
        if min(len(s) for s in shares) >= minimum:
            return [np.sort(np.array(s)) for s in shares]


@dataclass
class Federation:
    parties: list[Party]
    grants: list[list[str]]  # each party's grants of bob (raw, aggregate), by party
    frames: list[pl.DataFrame]  # what each party holds (the test's own copy)


def make_party(folder: Path, frame: pl.DataFrame, name: str) -> tuple[Party, list[str]]:
    ws = Workspace.init(folder, actor="alice")
    path = folder.parent / f"{name}.csv"
    frame.write_csv(path)
    ws.ingest(path, name="adult", owner="alice", purposes=[PURPOSE], actor="alice", scan=False)
    path.unlink()
    # The owner allows the federation's DP runs on this ledger (its default limit is ε = 1).
    ws.dp.budget("adult", BudgetRequest(epsilon=20.0), actor="alice")
    ws.access.set_policy(POLICY, actor="alice")
    ws.access.add_user("alice", roles=["owner"], actor="alice")
    ws.access.add_user("bob", roles=["analyst"], actor="alice")
    ws.access.add_user("carol", roles=["steward"], actor="alice")
    grants = []
    for view in ("raw", "aggregate"):  # plain training reads raw rows; DP-SGD the aggregate view
        request = gov.GrantRequest(
            dataset="adult",
            view=view,
            purpose=PURPOSE,
            duration_seconds=86_400,
            reason="federated training",
        )
        grant = ws.access.request_grant(request, actor="bob")
        ws.access.approve_grant(grant.id, actor="carol")
        grants.append(grant.id)
    ws.close()
    party = Party(name=name, workspace=folder, dataset="adult", actor="bob", purpose=PURPOSE)
    return party, grants


def federation(root: Path, frames: list[pl.DataFrame]) -> Federation:
    parties, grants = [], []
    for i, frame in enumerate(frames):
        party, grant = make_party(root / f"party-{i}", frame, f"party-{i}")
        parties.append(party)
        grants.append(grant)
    return Federation(parties, grants, frames)


def adult_non_iid(root: Path, parties: int = 10, alpha: float = 0.5, seed: int = 5) -> Federation:
    """Adult's training file split over ``parties`` by a Dirichlet split of the target."""
    train = adult("train")
    labels = (train["income"] == ">50K").to_numpy().astype(int)
    rows = dirichlet_split(labels, parties, alpha, seed)
    return federation(root, [train[r.tolist()] for r in rows])


def accuracy_on_adult_test(ws: Workspace, model: str, actor: str) -> float:
    """The test's own score: predictions on Adult's test file against its labels."""
    test = adult("test")
    truth = (test["income"] == ">50K").to_numpy()
    predicted = (ws.dp.load_model(model, actor=actor).predict(test) == ">50K").to_numpy()
    return float(np.mean(predicted == truth))
