"""privet audit: membership inference, attribute inference and the empirical ε lower bound.

Every figure privet reports is recomputed here from the per-record scores (AUC by the rank
formula, TPR at 1% FPR by counting), and the ε bound is checked against a direct binomial
tail computed with exact integers.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from scipy import stats

from privet import InvalidInput, Workspace, attacks, policy
from privet.attacks import AttributeAuditRequest, EpsilonAuditRequest, MembershipAuditRequest
from privet.dp import TrainRequest, unpack_rows
from privet.policy import GrantRequest
from tests.conftest import invoke
from tests.test_train import FEATURES
from tests.test_train import make_ws as train_ws

PURPOSE = "training"


def make_ws(folder: Path, rows: int) -> Workspace:
    return train_ws(folder, rows, epsilon=50)  # room for the audits' own DP models


def train(ws: Workspace, name: str, **options: object) -> dict:
    settings = {
        "target": "income",
        "purpose": PURPOSE,
        "model": "mlp",
        "hidden_units": 256,
        "features": FEATURES,
        "batch_size": 64,
        "learning_rate": 0.003,
        **options,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ws.dp.train(
            "people", TrainRequest(name=name, **settings), actor="alice"
        ).card.stored()


OVERFIT = ("overfit", "overfit-2", "overfit-3")
# Acceptance 1 sizes: a small training subset of Adult, a wide MLP, many epochs.
SMALL = {"rows": 3000, "train_rows": 500, "epochs": 50}
LARGE = {"rows": 6000, "train_rows": 1000, "epochs": 100}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """One workspace: an overfit non-private model and a DP model (ε = 1) on the same data."""
    base = tmp_path_factory.mktemp("audit")
    os.environ["PRIVET_KEY_DIR"] = str(base / "keys")
    sizes = LARGE if os.environ.get("PRIVET_SLOW") else SMALL
    ws = make_ws(base / "project", sizes["rows"])
    common = {"train_rows": sizes["train_rows"], "epochs": sizes["epochs"], "seed": 1}
    train(ws, "overfit", no_dp=True, **common)
    for name, seed in zip(OVERFIT[1:], (2, 3), strict=True):  # more splits, same recipe
        train(ws, name, no_dp=True, **{**common, "seed": seed})
    train(ws, "private", epsilon=1.0, **common)
    KEYS["models"] = base / "keys"
    yield ws
    ws.close()


KEYS: dict[str, Path] = {}


def rank_auc(scores: np.ndarray, members: np.ndarray) -> float:
    """Mann-Whitney: P(score of a member > score of a non-member), ties count half."""
    pos, neg = scores[members], scores[~members]
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def tpr_at_fpr(scores: np.ndarray, members: np.ndarray, fpr: float) -> float:
    """Flag scores strictly above the (k+1)-th highest non-member, k = ⌊fpr·#non-members⌋."""
    neg = np.sort(scores[~members])[::-1]
    k = int(math.floor(fpr * len(neg)))
    return float((scores[members] > neg[k]).mean())


def chance_tpr_quantile(members: np.ndarray, fpr: float, level: float = 0.999) -> float:
    """ "Within noise of FPR": the ``level`` quantile of the TPR of an attack that cannot tell
    members from non-members. Its scores rank the two groups in a uniformly random order, so
    the members above the (k+1)-th highest non-member follow a negative hypergeometric law."""
    n, m = int(members.sum()), int((~members).sum())
    k = int(math.floor(fpr * m))
    return float(stats.nhypergeom(n + m, n, k + 1).ppf(level)) / n


def chance_auc_quantile(members: np.ndarray, level: float = 0.999) -> float:
    """ "Within noise of 0.5": the ``level`` quantile of the AUC of an attack that cannot tell
    members from non-members (Mann–Whitney's U under the null, whose normal approximation is
    close at the hundreds of records audited here)."""
    n, m = int(members.sum()), int((~members).sum())
    return 0.5 + float(stats.norm.ppf(level)) * math.sqrt((n + m + 1) / (12 * n * m))


def check_figures(result: attacks.MembershipAudit) -> tuple[float, float]:
    """The reported AUC / TPR recomputed independently; returns them."""
    scores, members = result.scores, result.is_member
    auc = rank_auc(scores, members)
    assert result.auc == pytest.approx(auc, abs=1e-9)
    tpr = tpr_at_fpr(scores, members, 0.01)
    # privet takes the best threshold with FPR ≤ 1%; counting gives the same (or, with ties
    # at the cut, a lower) figure.
    assert result.tpr_at_fpr["0.01"] >= tpr - 1e-9
    assert result.tpr_at_fpr["0.01"] <= tpr + 1 / members.sum() + 1e-9 or tpr == 0
    return auc, tpr


def test_members_and_non_members_come_from_the_recorded_split(models: Workspace) -> None:
    card = models.dp.model("overfit", actor="alice").card.stored()
    split = card["split"]
    train_rows = unpack_rows(split["train"], split["rows"])
    test_rows = unpack_rows(split["test"], split["rows"])
    sizes = LARGE if os.environ.get("PRIVET_SLOW") else SMALL
    # Each row is trained on by its own coin, with probability train_rows / rows overall:
    # a Binomial count (5 standard deviations).
    p = sizes["train_rows"] / sizes["rows"]
    assert len(train_rows) == split["train_count"]
    assert abs(len(train_rows) - sizes["train_rows"]) < 5 * math.sqrt(sizes["rows"] * p * (1 - p))
    assert not set(train_rows) & set(test_rows)
    assert card["training"]["hidden_units"] == 256
    result = models.audit.membership(
        "overfit", MembershipAuditRequest(attack="loss", seed=3), actor="alice"
    )
    audited_members = set(result.rows[result.is_member].tolist())
    audited_others = set(result.rows[~result.is_member].tolist())
    assert audited_members <= set(train_rows.tolist())
    assert audited_others <= set(test_rows.tolist())
    # The audited members are rows the model fits (it overfits), the others are held out.
    model = models.dp.load_model("overfit", actor="alice")
    frame = policy.read(models.hazmat, "people", purpose=PURPOSE, actor="alice").frame
    member_rows = frame[sorted(audited_members)]
    other_rows = frame[sorted(audited_others)]
    fit = (model.predict(member_rows) == member_rows["income"]).mean()
    held = (model.predict(other_rows) == other_rows["income"]).mean()
    assert fit > held + 0.05


def chance_mean_tpr_quantile(members: list[np.ndarray], fpr: float, level: float) -> float:
    """The ``level`` quantile of the mean TPR of chance attacks on several targets.

    Each target's chance TPR is its negative hypergeometric count (see above) over its
    number of members; the laws are put on a grid of 1e-4 (values rounded up, so the
    quantile can only err high) and convolved.
    """
    grid = 10_000
    total = np.array([1.0])
    for m in members:
        n, others = int(m.sum()), int((~m).sum())
        k = int(math.floor(fpr * others))
        counts = np.arange(n + 1)
        law = np.zeros(grid + 1)
        np.add.at(
            law,
            np.ceil(counts / n * grid).astype(int),
            stats.nhypergeom(n + others, n, k + 1).pmf(counts),
        )
        total = np.convolve(total, law)
    cumulative = np.cumsum(total)
    return float(np.searchsorted(cumulative / cumulative[-1], level)) / grid / len(members)


def test_rmia_exposes_an_overfit_model_but_not_a_dp_one(models: Workspace) -> None:
    """Acceptance 1. TPR at 1% FPR rests on a handful of non-members (1% of about 600), so
    one target's figure is a lottery of its split: the claim is checked on three overfit
    targets (three independent splits), their mean against the chance law of a mean."""
    leaky = [
        models.audit.membership(
            name, MembershipAuditRequest(attack="rmia", reference_models=2, seed=5), actor="alice"
        )
        for name in OVERFIT
    ]
    tprs = []
    for result in leaky:
        auc, tpr = check_figures(result)
        assert auc >= 0.6
        tprs.append(tpr)
        assert result.exposed_rows and set(result.exposed_rows) <= set(
            result.rows[result.is_member].tolist()
        )
    chance = chance_mean_tpr_quantile([r.is_member for r in leaky], 0.01, 0.999)
    assert sum(tprs) / len(tprs) > chance  # beyond what chance reaches, on average

    private = models.audit.membership(
        "private", MembershipAuditRequest(attack="rmia", reference_models=1, seed=5), actor="alice"
    )
    auc, tpr = check_figures(private)
    assert auc <= chance_auc_quantile(private.is_member)
    assert tpr <= chance_tpr_quantile(private.is_member, 0.01)
    # The results are stored on the card.
    audits = models.dp.model("private").card.stored()["audits"]
    assert audits[-1]["attack"] == "rmia" and audits[-1]["auc"] == pytest.approx(private.auc)


def test_reference_models_on_training_rows_meet_acceptance_1(models: Workspace) -> None:
    """Insider reference models (the training rows minus what each scores): acceptance 1 holds,
    and on a DP model the attack stays at chance, so leaving records out leaks no label."""
    options = {"attack": "rmia", "reference_models": 2, "reference_data": "training", "seed": 5}
    leaky = models.audit.membership("overfit", MembershipAuditRequest(**options), actor="alice")
    auc, tpr = check_figures(leaky)
    assert leaky.reference_data == "training"
    assert auc >= 0.6 and tpr > chance_tpr_quantile(leaky.is_member, 0.01)
    private = models.audit.membership("private", MembershipAuditRequest(**options), actor="alice")
    auc, tpr = check_figures(private)
    assert auc <= chance_auc_quantile(private.is_member)
    assert tpr <= chance_tpr_quantile(private.is_member, 0.01)


@pytest.mark.parametrize("references", [1, 2, 3, 4])
def test_training_reference_rows_leave_out_what_they_score(references: int) -> None:
    from privet.attacks._reference import reference_rows

    rng = np.random.default_rng(references)
    train_rows = np.arange(0, 300)  # the target trained on rows 0-299
    audited = np.r_[np.arange(0, 200), np.arange(300, 500)]  # 200 members, 200 others
    member = audited < 300
    pool = np.r_[np.arange(200, 300), np.arange(500, 1500)]  # never audited
    samples, out = reference_rows(
        reference_data="training",
        references=references,
        train_rows=train_rows,
        audited=audited,
        pool=pool,
        per_model=300,
        rng=rng,
    )
    assert len(samples) == references and out.shape == (references, 400)
    for rows, left_out in zip(samples, out, strict=True):
        assert len(rows) == 300 and len(set(rows.tolist())) == 300
        chosen = set(rows.tolist())
        # Never trained on a record it scores; trained on every other member it may.
        assert not chosen & set(audited[left_out].tolist())
        assert set(audited[~left_out & member].tolist()) <= chosen
        assert set(range(200, 300)) <= chosen  # the members nobody audits
        assert not chosen & set(audited[~member].tolist())  # held-out rows stay held out
    # Every record has the same number of reference models to be scored with, member or not.
    assert (out.sum(0) == references // 2 + references % 2).all()


def test_the_audit_command_prints_the_json_contract(
    models: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PRIVET_KEY_DIR", str(KEYS["models"]))
    plot = tmp_path / "roc.png"
    argv = ["audit", "overfit", "--attack", "loss", "--as", "alice", "--plot", plot]
    result = invoke(*argv, "--json", workspace=models.folder)
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["attack"] == "loss" and 0.5 < found["auc"] <= 1
    assert set(found["tpr_at_fpr"]) == {"0.01", "0.001"}
    assert found["members"] == found["non_members"] > 0
    assert (
        found["advantage"]["ci_low"] <= found["advantage"]["value"] <= found["advantage"]["ci_high"]
    )
    assert all(isinstance(i, int) for i in found["exposed_rows"])
    assert "scores" not in found
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    human = invoke(*argv, workspace=models.folder)
    assert "AUC" in human.output and "TPR" in human.output
    insider = ["audit", "overfit", "--reference-data", "training", "--as", "alice"]
    found = json.loads(invoke(*insider, "--seed", "4", "--json", workspace=models.folder).output)
    assert found["attack"] == "rmia" and found["reference_data"] == "training"
    assert found["reference_models"] == 1 and found["parameters"]["a"] is not None
    # Someone other than the dataset's owner may not audit (it reads raw training data).
    refused = invoke("audit", "overfit", "--as", "mallory", workspace=models.folder)
    assert refused.exit_code == 1 and "owner" in refused.output
    assert "--purpose" in refused.output  # the library's parameter, as the command's flag


AUDITOR_POLICY = """
rules:
  - description: privacy engineers audit models on the raw rows they were trained on
    roles: [privacy-engineer]
    views: [raw]
    purposes: [training]
"""


def test_someone_granted_the_raw_rows_may_audit(tmp_path: Path) -> None:
    """Not only the owner: an approved raw grant (checked and logged by the broker) lets a
    privacy engineer audit a non-private model; without one, or without naming its purpose,
    the audit is refused before any row or weight is decrypted."""
    from privet import PolicyDenied

    os.environ["PRIVET_KEY_DIR"] = str(tmp_path / "keys")
    ws = make_ws(tmp_path / "governed", 800)
    train(ws, "plain", no_dp=True, epochs=5, hidden_units=16, train_rows=300, seed=3)
    ws.access.add_user("erin", roles=["privacy-engineer"], actor="alice")
    ws.access.set_policy(AUDITOR_POLICY, actor="alice")
    with pytest.raises(PolicyDenied, match="grant's purpose") as refusal:
        ws.audit.membership("plain", MembershipAuditRequest(attack="loss"), actor="erin")
    assert refusal.value.parameter == "purpose"
    with pytest.raises(PolicyDenied):
        ws.audit.membership(
            "plain", MembershipAuditRequest(attack="loss"), actor="erin", purpose=PURPOSE
        )
    before = ws.log.size()
    refused = invoke(
        "audit", "plain", "--purpose", PURPOSE, "--as", "erin", workspace=tmp_path / "governed"
    )
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    # The same for records given as files: the non-private model is not theirs to load.
    split = ws.dp.model("plain", actor="alice").card.stored()["split"]
    frame = policy.read(ws.hazmat, "people", purpose=PURPOSE, actor="alice").frame
    frame[unpack_rows(split["train"], split["rows"])[:30]].write_csv(tmp_path / "in.csv")
    frame[unpack_rows(split["test"], split["rows"])[:30]].write_csv(tmp_path / "out.csv")
    files = ["--members", tmp_path / "in.csv", "--non-members", tmp_path / "out.csv"]
    by_files = ["audit", "plain", *files, "--attack", "loss", "--as", "erin", "--json"]
    refused = invoke(*by_files, "--purpose", PURPOSE, workspace=tmp_path / "governed")
    assert refused.exit_code == 1 and "raw rows" in refused.output
    assert not [r for r in ws.log.records(before) if r.event.get("event") == "model.read"]
    erin = ws.access.local_identity("erin")
    grant = ws.access.request_grant(
        GrantRequest(
            dataset="people",
            view="raw",
            purpose=PURPOSE,
            duration_seconds=86_400,
            reason="pre-release privacy audit",
        ),
        identity=erin,
    )
    ws.access.approve_grant(grant.id, identity=ws.access.local_identity("alice"))
    result = ws.audit.membership(
        "plain",
        MembershipAuditRequest(attack="rmia", reference_models=1, seed=2),
        actor="erin",
        purpose=PURPOSE,
    )
    check_figures(result)
    assert ws.dp.model("plain").card.stored()["audits"][-1]["by"] == "erin"
    allowed = invoke(*by_files, "--purpose", PURPOSE, workspace=tmp_path / "governed")
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.output)["members"] == 30
    events = [r.event for r in ws.log.records()]
    reads = [e for e in events if e.get("actor") == "erin" and e.get("grant") == grant.id]
    assert reads, "the audit's read is logged against erin's grant"
    ws.close()


def test_lira_runs_on_the_same_lineage(models: Workspace) -> None:
    result = models.audit.membership(
        "overfit", MembershipAuditRequest(attack="lira", reference_models=2, seed=7), actor="alice"
    )
    auc, _ = check_figures(result)
    assert auc > 0.55


def planted_leak(members: torch.Tensor) -> torch.export.ExportedProgram:
    """A model that memorized its training rows: certain of their label, unsure elsewhere."""

    class Lookup(torch.nn.Module):
        def __init__(self, rows: torch.Tensor) -> None:
            super().__init__()
            self.rows = rows

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen = (x[:, None, :] == self.rows[None, :, :]).all(2).any(1)
            return torch.where(seen, 9.0, 0.0)[:, None]

    return torch.export.export(
        Lookup(members), (members[:2],), dynamic_shapes=({0: torch.export.Dim.AUTO},)
    )


def test_a_planted_leak_is_detected(tmp_path: Path) -> None:
    """Acceptance 2, through the explicit-files path for a model privet did not train."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    frame = pl.DataFrame(x, schema=[f"f{i}" for i in range(6)]).with_columns(
        label=pl.lit(1, dtype=pl.Int64)
    )
    frame[:200].write_csv(tmp_path / "members.csv")
    frame[200:].write_csv(tmp_path / "others.csv")
    model = planted_leak(torch.from_numpy(x[:200]))
    torch.export.save(model, str(tmp_path / "leak.pt2"))
    result = invoke(
        "audit",
        tmp_path / "leak.pt2",
        "--members",
        tmp_path / "members.csv",
        "--non-members",
        tmp_path / "others.csv",
        "--attack",
        "loss",
        "--json",
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["auc"] >= 0.95
    assert found["members"] == 200 and found["non_members"] == 200
    # Independently: the leak model's own outputs separate the two files completely.
    leak = model.module(check_guards=False)
    with torch.no_grad():
        inside = leak(torch.from_numpy(x[:200]))[:, 0]
        outside = leak(torch.from_numpy(x[200:]))[:, 0]
    scores = torch.cat([inside, outside]).numpy()
    truth = np.r_[np.ones(200, bool), np.zeros(200, bool)]
    assert rank_auc(scores, truth) == pytest.approx(found["auc"])


def test_a_model_without_lineage_needs_member_files(
    tmp_path: Path, ws: Workspace, project: Path
) -> None:
    """Acceptance 4 (first half)."""
    model = torch.export.export(torch.nn.Linear(3, 1), (torch.zeros(2, 3),))
    torch.export.save(model, str(tmp_path / "foreign.pt2"))
    result = invoke("audit", tmp_path / "foreign.pt2", workspace=project)
    assert result.exit_code == 1
    assert "privet did not train" in result.output and "--members" in result.output


def test_a_dataset_too_small_for_reference_models_is_refused(tmp_path: Path) -> None:
    """Acceptance 4 (second half): the loss attack still runs, reference models are refused."""
    os.environ["PRIVET_KEY_DIR"] = str(tmp_path / "keys")
    ws = make_ws(tmp_path / "small", 36)
    # Seed 16: the split's coins (one per row) hold out exactly 18 of the 36 rows.
    train(ws, "tiny", no_dp=True, epochs=3, test_fraction=0.5, seed=16, hidden_units=8)
    assert (
        ws.audit.membership("tiny", MembershipAuditRequest(attack="loss"), actor="alice").members
        == 18
    )
    # 18 members and 18 held-out rows: after setting aside rows for reference models, fewer
    # than 10 of each are left to audit.
    with pytest.raises(InvalidInput, match="too small to audit.*reference models"):
        ws.audit.membership(
            "tiny", MembershipAuditRequest(attack="rmia", reference_models=1), actor="alice"
        )
    # Auditing 12 of each leaves 12 rows, too few for models like one trained on 18.
    with pytest.raises(InvalidInput, match="too small for 4 reference model"):
        ws.audit.membership(
            "tiny",
            MembershipAuditRequest(attack="rmia", reference_models=4, audit_size=12),
            actor="alice",
        )
    result = invoke(
        "audit",
        "tiny",
        "--reference-models",
        "4",
        "--audit-size",
        "12",
        "--as",
        "alice",
        workspace=tmp_path / "small",
    )
    assert result.exit_code == 1 and "too small" in result.output
    # Reference models on the training rows replace the 12 members they leave out with rows
    # neither trained on nor audited: 36 - 18 - 12 = 6 are too few.
    with pytest.raises(InvalidInput, match="too small for reference models on the training"):
        ws.audit.membership(
            "tiny",
            MembershipAuditRequest(
                attack="rmia", reference_models=2, reference_data="training", audit_size=12
            ),
            actor="alice",
        )
    ws.close()


# -- the ε lower bound --------------------------------------------------------------------------


def exact_tail(r: int, v: int, epsilon: float) -> float:
    """P[Binomial(r, q) ≥ v], q = e^ε/(1+e^ε), summed term by term with exact binomials."""
    q = Fraction(math.exp(epsilon) / (1 + math.exp(epsilon)))
    return float(sum(math.comb(r, k) * q**k * (1 - q) ** (r - k) for k in range(v, r + 1)))


@pytest.mark.parametrize(
    ("r", "v"),
    [
        (20, 20),  # every guess right
        (100, 80),
        (200, 150),
        (50, 30),
        (100, 55),  # barely better than chance: the bound is 0
    ],
)
def test_epsilon_bound_matches_a_direct_binomial_tail(r: int, v: int) -> None:
    bound = attacks.epsilon_lower_bound(1000, r, v, delta=0.0, confidence=0.95)
    if bound == 0:
        assert exact_tail(r, v, 0.0) >= 0.05
        return
    # At the bound, v correct guesses are just barely unlikely (tail ≈ 5%); above, likely.
    assert exact_tail(r, v, bound) <= 0.05 + 1e-9
    assert exact_tail(r, v, bound + 1e-3) > 0.05


def test_epsilon_bound_with_delta_is_weaker() -> None:
    assert attacks.epsilon_lower_bound(1000, 200, 180, delta=1e-5) < attacks.epsilon_lower_bound(
        1000, 200, 180, delta=0.0
    )


def test_epsilon_bound_holds_for_randomized_response() -> None:
    """A mechanism that is exactly ε-DP: the bound exceeds ε in at most ~5% of runs."""
    rng = np.random.default_rng(11)
    epsilon, runs, over = 1.0, 300, 0
    q = math.exp(epsilon) / (1 + math.exp(epsilon))
    for _ in range(runs):
        correct = int((rng.random(100) < q).sum())
        over += attacks.epsilon_lower_bound(100, 100, correct, delta=0.0) > epsilon
    assert over / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)


def test_epsilon_audit_never_exceeds_the_claim_of_a_dp_model(models: Workspace) -> None:
    """Acceptance 3; the same audit does find a positive bound on a model without DP."""
    claimed = models.dp.model("private").card.stored()["privacy"]["epsilon"]
    result = models.audit.epsilon(
        "private", EpsilonAuditRequest(canaries=400, seed=1), actor="alice"
    )
    assert result.claimed_epsilon == pytest.approx(claimed)
    assert result.epsilon_lower_bound <= claimed and not result.defect
    # Its own figure recomputed from the guesses it reports.
    assert result.epsilon_lower_bound == pytest.approx(
        attacks.epsilon_lower_bound(
            result.canaries, result.guesses, result.correct, delta=result.delta
        )
    )
    leaky = models.audit.epsilon(
        "overfit", EpsilonAuditRequest(canaries=400, seed=1), actor="alice"
    )
    assert leaky.claimed_epsilon is None
    assert leaky.epsilon_lower_bound > 0.5


def test_attribute_inference_reports_both_attackers(models: Workspace) -> None:
    result = models.audit.attribute(
        "overfit", AttributeAuditRequest(attribute="marital_status", seed=1), actor="alice"
    )
    for group in ("members", "non_members"):
        assert 0 <= result.baseline_accuracy[group] <= 1
        assert 0 <= result.model_accuracy[group] <= 1
    g = result.advantage
    assert g["ci_low"] <= g["value"] <= g["ci_high"]
    with pytest.raises(InvalidInput, match="not a feature"):
        models.audit.attribute("overfit", AttributeAuditRequest(attribute="nope"), actor="alice")
    with pytest.raises(InvalidInput, match="categorical"):
        models.audit.attribute("overfit", AttributeAuditRequest(attribute="age"), actor="alice")


@pytest.mark.slow
def test_more_reference_models_on_a_larger_model(models: Workspace) -> None:
    """Acceptance 1 at a larger size (6,000 rows, 1,000 trained on), 4 reference models."""
    for attack, data in itertools.product(("rmia", "lira"), ("population", "training")):
        options = {"attack": attack, "reference_models": 4, "reference_data": data, "seed": 9}
        leaky = models.audit.membership("overfit", MembershipAuditRequest(**options), actor="alice")
        auc, tpr = check_figures(leaky)
        if attack == "rmia":
            assert auc >= 0.6 and tpr > chance_tpr_quantile(leaky.is_member, 0.01)
        else:  # offline LiRA with few reference models is weak at low FPR (Carlini et al.)
            assert auc > 0.55
        private = models.audit.membership(
            "private", MembershipAuditRequest(**options), actor="alice"
        )
        auc, tpr = check_figures(private)
        # With more records the estimate is tight enough to meet ε = 1's own limit: an ε-DP
        # training lets no attack exceed TPR = e^ε·FPR + δ (here: chance at FPR e·1%).
        limit = chance_tpr_quantile(private.is_member, math.e * 0.01)
        assert auc <= 0.55 and tpr <= limit
    bound = models.audit.epsilon(
        "private", EpsilonAuditRequest(canaries=1000, seed=2), actor="alice"
    )
    assert bound.epsilon_lower_bound <= bound.claimed_epsilon


def test_bad_files_are_refused_in_one_sentence(tmp_path: Path) -> None:
    records = pl.DataFrame({"f0": [0.1] * 20, "label": [1] * 20})
    records.write_csv(tmp_path / "m.csv")
    records.write_csv(tmp_path / "n.csv")
    (tmp_path / "junk.pt2").write_bytes(b"not a model")
    files = ["--members", tmp_path / "m.csv", "--non-members", tmp_path / "n.csv"]
    result = invoke("audit", tmp_path / "junk.pt2", *files, "--attack", "loss")
    assert result.exit_code == 1 and "not a model saved by torch.export.save" in result.output
    model = torch.export.export(torch.nn.Linear(1, 1), (torch.zeros(2, 1),))
    torch.export.save(model, str(tmp_path / "ok.pt2"))
    result = invoke("audit", tmp_path / "ok.pt2", *files, "--attack", "rmia")
    assert result.exit_code == 1 and "--attack loss" in result.output
    result = invoke("audit", tmp_path / "ok.pt2", *files, "--label", "nope", "--attack", "loss")
    assert result.exit_code == 1 and "no column 'nope'" in result.output
    # The flag replaces the parameter's name, never a value that happens to be spelt the same.
    records.rename({"label": "cls"}).write_csv(tmp_path / "c.csv")
    unlabelled = ["--members", tmp_path / "c.csv", "--non-members", tmp_path / "c.csv"]
    result = invoke("audit", tmp_path / "ok.pt2", *unlabelled, "--attack", "loss")
    assert "no column 'label' (name the class column with --label)" in result.output
    result = invoke("audit", tmp_path / "ok.pt2", "--members", tmp_path / "m.csv")
    assert result.exit_code == 2


def test_reference_models_trained_together_learn_like_one_trained_alone() -> None:
    """The batched trainer gives each model its own rows: it fits them as the plain loop does."""
    from privet.attacks import _ensemble
    from privet.attacks._reference import train_like

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1200, 20, generator=gen)
    y = ((x[:, 0] + 0.5 * torch.rand(1200, generator=gen)) > 0.8).float()
    flip = torch.rand(1200, generator=gen) < 0.2
    y[flip] = 1 - y[flip]
    card = {
        "architecture": "mlp",
        "inputs": 20,
        "outputs": 1,
        "task": "classification",
        "privacy": {"differentially_private": False},
        "training": {"epochs": 100, "batch_size": 32, "learning_rate": 3e-3, "hidden_units": 64},
    }
    rows = [torch.randperm(1200, generator=gen)[:300] for _ in range(3)]
    together = _ensemble.train(card, x, y, rows, torch.Generator().manual_seed(1))
    alone = train_like(card, x[rows[0]], y[rows[0]], torch.Generator().manual_seed(1))

    def fit(model: torch.nn.Module, r: torch.Tensor) -> float:
        with torch.no_grad():
            return float(((model(x[r]).squeeze(1) > 0).float() == y[r]).float().mean())

    def held_out(r: torch.Tensor) -> torch.Tensor:
        others = torch.ones(1200, dtype=torch.bool)
        others[r] = False
        return torch.nonzero(others).squeeze(1)

    # Each model memorizes its own rows (label noise makes that visible) …
    for model, r in zip(together, rows, strict=True):
        assert fit(model, r) > fit(model, held_out(r)) + 0.05
    # … about as well as the same recipe run alone.
    assert abs(fit(together[0], rows[0]) - fit(alone, rows[0])) < 0.08
