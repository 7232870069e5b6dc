"""The guided tour behind ``privet demo``: every step runs the real library on real data."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from privet.auditlog import leaf_hash, verify_inclusion
from privet.datasets import raw_people
from privet.dp import KeyValue, QueryRequest, SynthRequest, TrainRequest
from privet.errors import InvalidInput, PolicyDenied
from privet.vault import create_local_master_key
from privet.workspace import Workspace

# What a data steward would declare for the generated raw table.
CATEGORIES = {
    "person_id": "user.unique_id",
    "full_name": "user.name",
    "email": "user.contact.email",
    "phone": "user.contact.phone_number",
    "ssn": "user.government_id.national_identification_number",
    "date_of_birth": "user.demographic.date_of_birth",
    "street_address": "user.contact.address.street",
    "city": "user.contact.address.city",
    "state": "user.contact.address.state",
    "zip": "user.contact.address.postal_code",
    "notes": "user.content.private",
    "age": "user.demographic.age_range",
    "sex": "user.demographic.gender",
    "race": "user.demographic.race_ethnicity",
    "marital_status": "user.demographic.marital_status",
    "native_country": "user.contact.address.country",
    "occupation": "user.professional_information.job_title",
    "income": "user.financial",
}


def run_demo(
    *,
    keep: Path | None = None,
    rows: int | None = None,
    actor: str = "demo",
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the lifecycle in a fresh workspace (temporary unless ``keep``); returns a summary."""
    say = echo or (lambda _line: None)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if any(keep.iterdir()):
            raise InvalidInput(f"{keep} is not empty; give a new or empty folder to --keep")
        return _run(keep, rows, actor, say)
    with tempfile.TemporaryDirectory(prefix="privet-demo-") as tmp:
        return _run(Path(tmp), rows, actor, say)


def _run(base: Path, rows: int | None, actor: str, say: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    project, keys = base / "project", base / "keys"
    project.mkdir()
    say("== 1. A raw table full of personal data ==")
    raw = raw_people(rows)
    source = base / "people.csv"
    raw.write_csv(source)
    say(
        f"UCI Adult census rows joined with generated names, e-mails, phones, SSNs, addresses "
        f"and notes: {raw.height:,} rows x {raw.width} columns in {source.name}."
    )

    say("\n== 2. A workspace; its master key lives outside it ==")
    kms_uri = create_local_master_key(keys / "demo-master-key.json")
    ws = Workspace.init(project, kms_uri=kms_uri, actor=actor)
    say(f"workspace {ws.folder}\nmaster key {kms_uri}")

    with ws:
        say("\n== 3. Ingest: classify, encrypt (Tink streaming AEAD), register ==")
        version = ws.ingest(
            source,
            name="people",
            owner="data-protection@example.org",
            purposes=["model-training", "fraud-analytics"],
            legal_basis="legitimate_interests",
            retention_days=365,
            subject_id="person_id",
            categories=CATEGORIES,
            actor=actor,
        )
        info = ws.dataset("people")
        say(
            f"{version.ref}: {version.rows:,} rows, classification {info.classification}, "
            f"purposes {', '.join(info.purposes)}, {version.stored_bytes:,} bytes encrypted"
        )
        direct = [c.name for c in version.columns if c.role == "direct_identifier"]
        quasi = [c.name for c in version.columns if c.role == "quasi_identifier"]
        say(f"direct identifiers: {', '.join(direct)}")
        say(f"quasi-identifiers:  {', '.join(quasi)}")

        say("\n== 4. A governed export for a declared purpose ==")
        out = base / "training-extract.parquet"
        release = ws.export("people", out, purpose="model-training", actor=actor)
        say(f"{release.frame.height:,} rows written to {out.name}; audit entry {release.log_index}")

        say("\n== 5. An export for an undeclared purpose is refused, and logged ==")
        refused = ""
        try:
            ws.export("people", base / "mailing.csv", purpose="marketing", actor=actor)
        except PolicyDenied as err:
            refused = str(err)
        say(f"refused: {refused}")

        say("\n== 6. The audit log: a signed checkpoint, verified ==")
        checkpoint = ws.log.checkpoint()
        say(checkpoint.note.rstrip())
        report = ws.log.verify()
        say(f"verified {report.size} entries and {report.checkpoints} checkpoint(s)")
        last = report.size - 1
        proof = ws.log.prove_inclusion(last)
        included = verify_inclusion(
            last,
            proof["tree_size"],
            leaf_hash(proof["entry"].encode()),
            [bytes.fromhex(h) for h in proof["proof"]],
            bytes.fromhex(proof["root"]),
        )
        say(f"entry {last} (the refusal) is provably in the signed tree: {included}")
        dp_summary = _differential_privacy(ws, actor, say)
        deid_summary = _deidentification(ws, actor, say)
        minimize_summary = _minimization(ws, base, say)
        audit_summary = _model_audit(ws, say)
        synth_summary = _synthetic(ws, actor, say)
        access_summary = _access_governance(ws, actor, say)
        forget_summary = _forgetting(ws, actor, say)
        account_summary = _accountability(ws, base, actor, say)
        federated_summary = _federated(raw, base, actor, say)
        summary = {
            "workspace": str(ws.folder),
            "dataset": version.ref,
            "rows": version.rows,
            "classification": info.classification,
            "exported_rows": release.frame.height,
            "refused": bool(refused),
            "log_size": report.size,
            "checkpoint_size": checkpoint.size,
            "refusal_included": included,
            **dp_summary,
            **deid_summary,
            **minimize_summary,
            **audit_summary,
            **synth_summary,
            **access_summary,
            **forget_summary,
            **account_summary,
            **federated_summary,
            "seconds": round(time.perf_counter() - started, 2),
        }
    say(f"\nDone in {summary['seconds']} s.")
    return summary


# Public facts the data steward declares for DP work: what anyone may know about the columns.
DP_BOUNDS = {"age": (17, 90), "hours_per_week": (1, 99), "capital_gain": (0, 100_000)}
DP_KEYS = {"sex": ["Female", "Male"], "income": ["<=50K", ">50K"]}
DP_FEATURES = [
    "age", "education", "marital_status", "occupation", "relationship", "sex",
    "hours_per_week", "capital_gain",
]  # fmt: skip


def _differential_privacy(ws: Workspace, actor: str, say: Callable[[str], None]) -> dict[str, Any]:
    """Steps 7–9: a DP count by group, a DP-SGD model on the raw table, the ledger."""
    owner = ws.dataset("people").owner
    say("\n== 7. Differential privacy: the owner sets the budget, a DP count by group ==")
    ws.dp.declare("people", actor=owner, bounds=DP_BOUNDS, keys=DP_KEYS)
    ws.dp.set_budget("people", actor=owner, epsilon=3.0)
    answer = ws.dp.query(
        "people",
        QueryRequest(
            sql="SELECT sex, COUNT(*) AS people, AVG(age) AS mean_age FROM people GROUP BY sex",
            epsilon=0.5,
            purpose="fraud-analytics",
        ),
        actor=actor,
    )
    for row in answer.rows:
        say(
            f"{row['sex']:>6}: {row['people']:>7,} people (95%: {row['people_low']:,.0f}–"
            f"{row['people_high']:,.0f}), mean age {row['mean_age']:.1f} "
            f"({row['mean_age_low']:.1f}–{row['mean_age_high']:.1f})"
        )
    say(f"spent ε = {answer.epsilon:.3g} through OpenDP; the SQL is logged only as a hash")

    say("\n== 8. A DP-SGD model on the raw table (Opacus) ==")
    model = ws.dp.train(
        "people",
        TrainRequest(
            target="income",
            name="income-model",
            purpose="model-training",
            epsilon=2.0,
            epochs=3,
            features=DP_FEATURES,
        ),
        actor=actor,
    )
    card = model.card
    evaluation = card.evaluation
    assert evaluation.accuracy is not None and evaluation.accuracy_interval_95 is not None
    low, high = evaluation.accuracy_interval_95
    learned = [f.name for f in card.features if f.source == "dp"]
    say(card.summary)
    say(
        f"noise multiplier {card.privacy.noise_multiplier:.3g}, "
        f"{card.privacy.steps} steps; category levels of {', '.join(learned)} were "
        "learned with DP; direct identifiers were never features"
    )
    say(f"held-out accuracy {evaluation.accuracy:.3f} (95%: {low:.3f}–{high:.3f}, itself DP)")

    say("\n== 9. The ledger: one budget for every release on these people ==")
    budget = ws.dp.budget("people")
    for r in budget.releases:
        say(f"{r.kind:>9} by {r.actor} for {r.purpose}: ε = {r.epsilon:.3g} ({r.mechanism})")
    say(
        f"spent ε = {budget.epsilon_spent:.3g} of {budget.epsilon_limit:g} at δ = "
        f"{budget.delta:.1g} (PLD accountant; RDP says {budget.epsilon_spent_rdp:.3g})"
    )
    return {
        "dp_query_epsilon": answer.epsilon,
        "model": model.name,
        "model_accuracy": evaluation.accuracy,
        "epsilon_spent": budget.epsilon_spent,
        "epsilon_limit": budget.epsilon_limit,
    }


def _deidentification(ws: Workspace, actor: str, say: Callable[[str], None]) -> dict[str, Any]:
    from privet import deid

    say("\n== 10. De-identification: k-anonymity and l-diversity, risk before and after ==")
    request = deid.ProtectRequest(
        k=5,
        l=2,
        quasi_identifiers=["age", "sex", "race", "marital_status", "native_country"],
        sensitive=["income"],
        target="income",
    )
    report = ws.deid.protect("people", request, output="people-k5", actor=actor)
    before, after = report.risk_before, report.risk_after
    assert before is not None and after is not None
    say(
        f"{report.output}: {report.rows_out:,} rows ({report.suppressed:,} suppressed), "
        f"direct identifiers {', '.join(c for c, op in report.operators.items() if op == 'drop')} "
        "dropped"
    )
    say(
        f"k {before.k} -> {after.k}, l {before.l} -> {after.l}, records at risk "
        f"{before.records_at_risk:.1%} -> {after.records_at_risk:.1%}"
    )
    ml = report.utility.ml
    if ml is not None:
        say(
            f"income classifier accuracy {ml.accuracy_original:.3f} on the original rows, "
            f"{ml.accuracy_protected:.3f} on the protected ones"
        )
    return {
        "protected": report.output,
        "k_after": after.k,
        "l_after": after.l,
        "same_on_spark": _same_on_spark(ws, actor, say),
    }


def _minimization(ws: Workspace, base: Path, say: Callable[[str], None]) -> dict[str, Any]:
    from privet import deid

    say("\n== 10b. Data minimization: which columns a model of income needs ==")
    owner = ws.dataset("people").owner
    plan = base / "income-minimal.yaml"
    report = ws.deid.minimize(
        "people", deid.MinimizeRequest(target="income"), actor=owner, plan=plan
    )
    full, kept = report.full, report.recommended
    say(
        f"{len(kept.columns)} of {len(full.columns)} columns keep {kept.utility:.3f} of "
        f"{full.utility:.3f} held-out accuracy (floor {report.utility_floor:g}): "
        f"{', '.join(kept.columns)}"
    )
    say(
        f"records unique on the quasi-identifiers {full.sample_uniques:.1%} -> "
        f"{kept.sample_uniques:.1%}; membership AUC of the reference model "
        f"{full.membership_auc:.3f} -> {kept.membership_auc:.3f}"
    )
    say(f"plan for protect --plan and train --plan: {plan.name}")
    return {"minimized_columns": kept.columns, "minimize_dropped": report.dropped}


def _same_on_spark(ws: Workspace, actor: str, say: Callable[[str], None]) -> bool | None:
    """The risk of the raw rows again on Spark, whose executors decrypt the version."""
    from privet import deid, engine
    from privet.errors import InvalidInput

    try:
        engine.require_spark()
    except InvalidInput as err:
        say(f"(the Spark engine is not installed here: {err})")
        return None
    request = deid.RiskRequest(
        quasi_identifiers=["age", "sex", "race", "marital_status", "native_country"],
        sensitive=["income"],
    )
    on_polars = ws.deid.risk("people", request, actor=actor, engine="polars")
    on_spark = ws.deid.risk("people", request, actor=actor, engine="spark", spark_master="local[2]")
    engine.stop_spark()
    same = on_spark == on_polars
    say(
        f"the same risk on Spark local[2] (one logged read, decrypted in the executors): "
        f"k {on_spark.k}, l {on_spark.l}, t {on_spark.t:.3f}, "
        f"{'identical to' if same else 'DIFFERENT from'} Polars"
    )
    return same


def _model_audit(ws: Workspace, say: Callable[[str], None]) -> dict[str, Any]:
    """The DP model attacked with its own members and held-out rows (RMIA, one reference
    model trained, as an insider would, on its training rows minus the audited ones)."""
    from privet.attacks import MembershipAuditRequest

    say("\n== 11. A privacy audit of the model: membership inference (RMIA) ==")
    owner = ws.dataset("people").owner
    request = MembershipAuditRequest(attack="rmia", reference_models=1, reference_data="training")
    result = ws.audit.membership("income-model", request, actor=owner)
    say(
        "RMIA with 1 reference model trained by the model's own recipe on its training rows "
        f"minus the audited ones: AUC {result.auc:.3f}, "
        f"TPR {result.tpr_at_fpr['0.01']:.3f} at 1% FPR on {result.members:,} members and "
        f"{result.non_members:,} held-out rows (chance: AUC 0.5, TPR 0.01); stored on its card"
    )
    return {"audit_auc": result.auc, "audit_tpr_at_1pct_fpr": result.tpr_at_fpr["0.01"]}


DEMO_POLICY = """
erasure_roles: [dpo]
rules:
  - description: analysts see masked rows, for fraud analytics, for at most 30 days
    roles: [analyst]
    views: [masked]
    purposes: [fraud-analytics]
    max_days: 30
"""


def _access_governance(ws: Workspace, actor: str, say: Callable[[str], None]) -> dict[str, Any]:
    """Step 13: a policy and users make the workspace governed; a grant, approved by the
    owner (never by the requester), lets an analyst read the masked view."""
    from privet import policy

    owner = ws.dataset("people").owner
    say("\n== 13. Access governance: a grant request, four eyes, a masked read ==")
    ws.access.set_policy(DEMO_POLICY, actor=actor)
    ws.access.add_user("analyst@example.org", roles=["analyst"], actor=actor)
    analyst = ws.access.local_identity("analyst@example.org")
    ask = policy.GrantRequest(
        dataset="people",
        view="masked",
        purpose="fraud-analytics",
        duration_seconds=7 * 86_400,
        reason="chargeback model features",
    )
    grant = ws.access.request_grant(ask, identity=analyst)
    say(f"analyst@example.org asks for the masked view: grant {grant.id} is {grant.status}")
    self_refused = False
    try:
        ws.access.approve_grant(grant.id, identity=analyst)
    except PolicyDenied as err:
        self_refused = True
        say(f"self-approval refused: {err}")
    approved = ws.access.approve_grant(grant.id, actor=owner)
    say(f"the owner approves: {approved.status} until {str(approved.expires_at)[:16]} UTC")
    release = ws.release("people", identity=analyst, view="masked", purpose="fraud-analytics")
    shown = release.frame.select("full_name", "email", "age", "sex").head(2)
    say(f"the analyst's read (audit entry {release.log_index}):\n{shown}")
    return {
        "grant_status": approved.status,
        "self_approval_refused": self_refused,
        "masked_rows": release.frame.height,
    }


def _forgetting(ws: Workspace, actor: str, say: Callable[[str], None]) -> dict[str, Any]:
    """Step 14: a subject's erasure reaches every version, copy and model, with a signed
    receipt; retention shows what is due."""
    from privet.forget import EraseRequest

    say("\n== 14. Forgetting: one subject erased everywhere, with a signed receipt ==")
    ws.access.add_user("dpo@example.org", roles=["dpo"], actor=actor)
    request = EraseRequest(subjects=["P000007"], reason="Art. 17 request received by e-mail")
    result = ws.forget.erase(request, actor="dpo@example.org")
    for store in result.receipt["stores"]:
        removed = f", {store['rows_removed']} row(s) removed" if "rows_removed" in store else ""
        say(f"  {store['dataset']}@{store['version']}: {store['action']}{removed}")
    for model in result.receipt["models"]:
        say(f"  model {model['model']}: {model['action']}")
    verified = ws.forget.verify_receipt(result.note)
    commitment, nonce = verified["commitments"][0][:16], result.nonces["P000007"][:16]
    say(
        "the receipt, signed by the log's key, verifies; it names the subject only by "
        f"HMAC(nonce, id) = {commitment}…, the nonce {nonce}… going to the subject alone"
    )
    ws.log.verify()
    due = ws.forget.due(within_days=400)
    say(f"retention: {len(due)} version(s) expire within 400 days (365-day retention)")
    return {
        "erased_versions": sum(1 for s in result.receipt["stores"] if s["action"] == "rewritten"),
        "erasure_receipt_verified": bool(verified),
        "blocked_models": [
            m["model"] for m in result.receipt["models"] if m["action"] == "blocked"
        ],
    }


def _accountability(
    ws: Workspace, base: Path, actor: str, say: Callable[[str], None]
) -> dict[str, Any]:
    """Step 15: what a data-protection lead hands over — an incident's scope, the privacy
    KPIs, the lineage as OpenLineage events, a privacy impact assessment."""
    say("\n== 15. Accountability: an incident scoped, KPIs, lineage, an impact assessment ==")
    incident = ws.incidents.investigate(actor="analyst@example.org", by="dpo@example.org")
    note = incident.notification
    say(
        f"the analyst's scope: {len(incident.datasets)} dataset(s), {incident.rows:,} rows, "
        f"{incident.subjects.total:,} distinct people (the list is sealed for the DPO, never "
        f"printed); Art. 33(3) severity {note.severity}, to fill by a person: "
        f"{', '.join(note.to_fill)}"
    )
    kpis = ws.kpis()
    spent = ", ".join(f"{b.dataset} ε={b.epsilon_spent:.2f}" for b in kpis.budgets)
    say(
        f"KPIs: {kpis.retention.versions_compliance:.0%} of versions within retention; "
        f"{kpis.grants.active} active grant(s); {kpis.alerts.total} alert(s); {spent}"
    )
    events = ws.openlineage.export(actor=actor, path=base / "lineage.ndjson")
    say(f"OpenLineage: {events.runs} runs ({events.events} events) in lineage.ndjson")
    assessment = ws.report.assess("people", actor=actor)
    page = ws.report.write(assessment, base / "people-assessment.html")
    facts = assessment.facts()
    say(
        f"privacy impact assessment (Art. 35(7)) in {page.name}: {len(facts)} facts, each "
        "naming the command that reproduces it; what no measurement can say is left to a person"
    )
    return {
        "incident_rows": incident.rows,
        "incident_subjects": incident.subjects.total,
        "lineage_runs": events.runs,
        "assessment_facts": len(facts),
    }


FEDERATED_FEATURES = ["age", "marital_status", "relationship", "sex", "hours_per_week"]


def _federated(raw: Any, base: Path, actor: str, say: Callable[[str], None]) -> dict[str, Any]:
    """Step 16: three workspaces train one model without pooling their rows (Flower FedAvg,
    SecAgg+, DP-SGD at each party, each charged to its own ledger)."""
    say("\n== 16. Learning without pooling: three parties, SecAgg+, DP at each party ==")
    from privet import federated

    parties = []
    third = raw.height // 3
    for i in range(3):
        folder = base / "parties" / f"party-{i}"
        kms = create_local_master_key(base / "keys" / f"party-{i}-master-key.json")
        with Workspace.init(folder, kms_uri=kms, actor=actor) as party:
            rows = base / f"party-{i}.csv"
            raw.slice(i * third, third).write_csv(rows)
            party.ingest(
                rows,
                name="people",
                owner=actor,
                purposes=["model-training"],
                actor=actor,
                scan=False,
            )
            rows.unlink()
        parties.append(
            federated.Party(
                name=f"party-{i}",
                workspace=folder,
                dataset="people",
                actor=actor,
                purpose="model-training",
            )
        )
    coordinator = base / "coordinator"
    kms = create_local_master_key(base / "keys" / "coordinator-master-key.json")
    with Workspace.init(coordinator, kms_uri=kms, actor=actor) as ws:
        request = federated.federate_request(
            name="income-federated",
            target="income",
            purpose="model-training",
            keys={**SYNTH_KEYS, **DP_KEYS},
            bounds={k: v for k, v in DP_BOUNDS.items() if k in FEDERATED_FEATURES},
            features=FEDERATED_FEATURES,
            rounds=3,
            epsilon=1.0,  # each party's ledger allows ε = 1 by default
            secagg=federated.secagg_settings(3, 3, 2),
        )
        result = ws.federated.train(parties, request, actor=actor)
    rounds = ", ".join(f"{r.seconds:.1f} s" for r in result.rounds)
    say(
        f"{result.model.name}: {len(result.rounds)} rounds ({rounds}); the coordinator saw only "
        f"SecAgg+-masked updates; each party's ledger holds its own ε = "
        f"{result.epsilon_per_party:g} (DP-SGD on its rows)"
    )
    return {"federated_model": result.model.name, "federated_rounds": len(result.rounds)}


# Adult's codebook (adult.names) lists these categories: public, so no budget discovers them.
SYNTH_COLUMNS = ["education_num", "marital_status", "relationship", "sex", "income"]
SYNTH_KEYS: dict[str, list[KeyValue]] = {
    "marital_status": [
        "Divorced", "Married-AF-spouse", "Married-civ-spouse", "Married-spouse-absent",
        "Never-married", "Separated", "Widowed",
    ],
    "relationship": [
        "Husband", "Not-in-family", "Other-relative", "Own-child", "Unmarried", "Wife",
    ],
}  # fmt: skip


def _synthetic(ws: Workspace, actor: str, say: Callable[[str], None]) -> dict[str, Any]:
    """Step 12: a DP synthetic table (MST) beside the no-guarantee baseline, evaluated."""
    from privet.attacks import evaluate_synthetic as evaluate

    say("\n== 12. DP synthetic data (OpenDP's MST), evaluated against the real rows ==")
    started = time.perf_counter()
    owner = ws.dataset("people").owner
    remaining = ws.dp.budget("people").epsilon_remaining
    epsilon = round(min(0.4, 0.9 * remaining), 3)
    report = ws.dp.synthesize(
        "people",
        SynthRequest(
            name="people-synthetic",
            method="mst",
            epsilon=epsilon,
            columns=SYNTH_COLUMNS,
            keys=SYNTH_KEYS,
            bounds={"education_num": (1, 16)},
        ),
        actor=owner,
    )
    say(report.summary)
    say(f"{report.output}: {report.rows:,} rows in {time.perf_counter() - started:.1f} s")
    baseline = ws.dp.synthesize(
        "people",
        SynthRequest(name="people-independent", method="independent", columns=SYNTH_COLUMNS),
        actor=owner,
    )
    say(f"baseline {baseline.output}: {baseline.summary}")
    real = ws.read("people", purpose="privet:assessment", actor=actor)
    results = {}
    for label, ref in (("MST", report.output), ("independent", baseline.output)):
        synth = ws.read(ref, purpose="privet:assessment", actor=actor)
        result = evaluate(real.select(SYNTH_COLUMNS), synth, target="income", seed=0)
        results[label] = result
        utility = result.utility
        assert utility is not None
        say(
            f"{label:>11}: 2-way TVD mean {result.fidelity.two_way.mean_tvd:.3f} (worst "
            f"{result.fidelity.two_way.max_tvd:.3f}); income model trained on it: accuracy "
            f"{utility.accuracy_synthetic:.3f} vs {utility.accuracy_real:.3f} on real rows"
        )
    say(
        "privacy risk (singling out, linkability, inference, distance to closest record, "
        "membership) needs rows the synthesizer never saw: privet synth evaluate REAL SYNTH "
        "--holdout HOLDOUT"
    )
    return {
        "synthetic": report.output,
        "synthetic_epsilon": report.epsilon,
        "synthetic_tvd2": results["MST"].fidelity.two_way.mean_tvd,
        "independent_tvd2": results["independent"].fidelity.two_way.mean_tvd,
    }
