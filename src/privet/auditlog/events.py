"""Every kind of audit-log entry, one typed constructor each.

The log is canonical JSON and hashed entry by entry, so an entry's keys and values are a
format: what a constructor returns is exactly what ``privet.auditlog.append`` stores, and
changing one changes what new entries look like (old entries keep verifying).

The rule for what goes in: ids, hashes, counts, timings, names of columns, operators and
purposes, statuses and reasons from a fixed vocabulary — never a cell value, and never free
text a person typed (a grant's reason stays out; a policy appears only as its hash). Times
are ``datetime`` values, written with ``isoformat()``. An optional field that is not given
is absent from the entry, never ``null``.

Imports nothing of privet (like :mod:`privet.auditlog.kinds`), so any package may build
entries while ``privet.auditlog`` is still being imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Entry = dict[str, object]
# What ``privet.auditlog.attest`` returns: the signed new state of each governance object.
Governance = Sequence[Mapping[str, object]]
# A kind-specific fact (a count, a flag, a name, a measure).
Fact = str | int | float | bool

BASELINE_EVENT = "governance.baseline"


def _entry(event: str, ts: datetime, actor: str, /, **fields: object) -> Entry:
    return {"event": event, "ts": ts.isoformat(), "actor": actor, **fields}


def _present(**fields: object) -> Entry:
    """The fields that were given (not None)."""
    return {k: v for k, v in fields.items() if v is not None}


# -- workspace and keys -------------------------------------------------------------------------


def workspace_init(*, ts: datetime, actor: str, workspace: str) -> Entry:
    """A workspace was created (its id)."""
    return _entry("workspace.init", ts, actor, workspace=workspace)


def keys_create(*, ts: datetime, actor: str, kms: str, keys: Sequence[str]) -> Entry:
    """The workspace's keys were made, wrapped by the KMS of scheme ``kms``."""
    return _entry("keys.create", ts, actor, kms=kms, keys=list(keys))


def keys_rotate(
    *,
    ts: datetime,
    actor: str,
    rotated: Mapping[str, int],
) -> Entry:
    """New primary keys everywhere; ``rotated`` is the vault's count of what changed (key
    ids and numbers of keys and keysets)."""
    return {**_entry("keys.rotate", ts, actor), **rotated}


def keys_reencrypt(
    *,
    ts: datetime,
    actor: str,
    dataset: str,
    key_id: int,
    version: str | None = None,
    model: str | None = None,
) -> Entry:
    """A stored object (a dataset's ``version`` or a ``model``) was re-encrypted under key
    ``key_id``."""
    if (version is None) == (model is None):
        raise ValueError("give the version or the model that was re-encrypted")
    return _entry(
        "keys.reencrypt",
        ts,
        actor,
        dataset=dataset,
        key_id=key_id,
        **_present(version=version, model=model),
    )


def governance_baseline(*, ts: datetime, actor: str, governance: Governance) -> Entry:
    """Existing governance objects attested once, for a catalog that predates attestations."""
    return _entry(BASELINE_EVENT, ts, actor, governance=governance)


# -- catalog ------------------------------------------------------------------------------------


def dataset_version(
    *,
    kind: str,
    ts: datetime,
    actor: str,
    dataset: str,
    version: str,
    number: int,
    rows: int,
    columns: int,
    content_sha256: str,
    classification: str,
    source: str,
    governance: Governance,
    source_sha256: str | None = None,
) -> Entry:
    """A new version of a dataset: ``dataset.ingest`` when ``kind`` is ``"ingest"``, else
    ``dataset.derive`` (``kind`` says how it was derived). ``source`` is its lineage ref;
    ``source_sha256`` the hash of an ingested file."""
    return _entry(
        "dataset.ingest" if kind == "ingest" else "dataset.derive",
        ts,
        actor,
        kind=kind,
        dataset=dataset,
        version=version,
        number=number,
        rows=rows,
        columns=columns,
        content_sha256=content_sha256,
        classification=classification,
        source=source,
        **_present(source_sha256=source_sha256),
        governance=governance,
    )


def column_annotate(
    *,
    ts: datetime,
    actor: str,
    dataset: str,
    version: str,
    column: str,
    old_category: str | None,
    old_role: str,
    category: str | None,
    role: str,
    classification: str,
    governance: Governance,
) -> Entry:
    """An owner corrected a column's data category and role (categories may be None)."""
    return _entry(
        "column.annotate",
        ts,
        actor,
        dataset=dataset,
        version=version,
        column=column,
        old_category=old_category,
        old_role=old_role,
        category=category,
        role=role,
        classification=classification,
        governance=governance,
    )


# -- reads --------------------------------------------------------------------------------------


@dataclass
class ReadFacts:
    """What every entry about one read says: who read which version, how and why.

    Mutable: the broker learns ``served`` (and the served ``version``) while it decides.
    ``token`` is the id of the API token used (never its secret).
    """

    ts: datetime
    actor: str
    dataset: str
    version: str
    purpose: str
    view: str
    channel: str
    token: str | None = None
    served: str | None = None  # the derived dataset served instead of ``dataset``

    def fields(self) -> Entry:
        return {
            "ts": self.ts.isoformat(),
            "actor": self.actor,
            "dataset": self.dataset,
            "version": self.version,
            "purpose": self.purpose,
            "view": self.view,
            "channel": self.channel,
            **_present(token=self.token, served=self.served),
        }


def read(
    *,
    facts: ReadFacts,
    basis: str | None,
    rows: int,
    columns: int,
    grant: str | None = None,
    consent_excluded: int | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Entry:
    """A release of ``rows`` × ``columns``, on ``basis`` (and ``grant``, when one allowed it);
    ``basis`` is written even when None. ``consent_excluded`` (rows of people who withdrew
    consent for the purpose, left out) is given exactly when the dataset rests on consent.
    ``offset`` and ``limit`` are given for a page: the rows from ``offset`` (at most
    ``limit``) of the view as released, in stored order."""
    return {
        **facts.fields(),
        "event": "read",
        **_present(grant=grant),
        "basis": basis,
        "rows": rows,
        "columns": columns,
        **_present(consent_excluded=consent_excluded, offset=offset, limit=limit),
    }


def read_refused(*, facts: ReadFacts, reason: str) -> Entry:
    """A read refused for ``reason`` (a fixed word such as ``purpose_not_declared``)."""
    return {**facts.fields(), "event": "read.refused", "reason": reason}


def read_stopped(*, ts: datetime, actor: str, grant: str, read: int, reason: str) -> Entry:
    """A streamed read (log entry ``read``) cut off because its grant ended."""
    return _entry("read.stopped", ts, actor, grant=grant, read=read, reason=reason)


def alert(
    *,
    ts: datetime,
    user: str,
    dataset: str | None,
    kind: str,
    severity: str,
    read: int | None,
    facts: Mapping[str, Fact],
) -> Entry:
    """privet saw an unusual read (log entry ``read``) or credential (a revoked or expired
    token presented: no dataset, no read); ``facts`` are the kind's counts and ids."""
    return {
        **_entry("alert", ts, "privet", user=user, **_present(dataset=dataset)),
        "kind": kind,
        "severity": severity,
        **_present(read=read),
        **facts,
    }


# -- users and tokens ---------------------------------------------------------------------------


def user_add(
    *, ts: datetime, actor: str, user: str, roles: Sequence[str], governance: Governance
) -> Entry:
    return _entry("user.add", ts, actor, user=user, roles=list(roles), governance=governance)


def user_roles(
    *,
    ts: datetime,
    actor: str,
    user: str,
    added: Sequence[str],
    removed: Sequence[str],
    governance: Governance,
) -> Entry:
    return _entry(
        "user.roles",
        ts,
        actor,
        user=user,
        added=list(added),
        removed=list(removed),
        governance=governance,
    )


def user_disable(*, ts: datetime, actor: str, user: str, governance: Governance) -> Entry:
    return _entry("user.disable", ts, actor, user=user, governance=governance)


def user_enable(*, ts: datetime, actor: str, user: str, governance: Governance) -> Entry:
    return _entry("user.enable", ts, actor, user=user, governance=governance)


def token_issue(
    *,
    ts: datetime,
    actor: str,
    user: str,
    token: str,
    expires: datetime,
    governance: Governance,
) -> Entry:
    """An API token ``token`` (its id) issued to ``user``."""
    return _entry(
        "token.issue",
        ts,
        actor,
        user=user,
        token=token,
        expires=expires.isoformat(),
        governance=governance,
    )


def token_revoke(
    *, ts: datetime, actor: str, user: str, token: str, governance: Governance
) -> Entry:
    return _entry("token.revoke", ts, actor, user=user, token=token, governance=governance)


# -- policy and grants --------------------------------------------------------------------------


def policy_set(
    *, ts: datetime, actor: str, number: int, sha256: str, rules: int, governance: Governance
) -> Entry:
    """Policy document ``number`` put in force (its hash and number of rules, not its text)."""
    return _entry(
        "policy.set", ts, actor, number=number, sha256=sha256, rules=rules, governance=governance
    )


@dataclass(frozen=True)
class GrantFacts:
    """What every entry about one grant says (never its free-text reason)."""

    grant: str
    user: str
    dataset: str
    view: str
    purpose: str

    def fields(self) -> Entry:
        return {
            "grant": self.grant,
            "user": self.user,
            "dataset": self.dataset,
            "view": self.view,
            "purpose": self.purpose,
        }


def _grant(event: str, ts: datetime, actor: str, grant: GrantFacts, /, **fields: object) -> Entry:
    return _entry(event, ts, actor, **grant.fields(), **fields)


def grant_request(
    *,
    ts: datetime,
    actor: str,
    grant: GrantFacts,
    seconds: int,
    rule: int,
    governance: Governance | None = None,
) -> Entry:
    """A grant asked for ``seconds`` under policy rule ``rule`` (attested unless an
    approval follows in the same append)."""
    return _grant(
        "grant.request",
        ts,
        actor,
        grant,
        seconds=seconds,
        rule=rule,
        **_present(governance=governance),
    )


def grant_approve(
    *,
    ts: datetime,
    actor: str,
    grant: GrantFacts,
    expires: datetime,
    governance: Governance | None = None,
) -> Entry:
    return _grant(
        "grant.approve",
        ts,
        actor,
        grant,
        expires=expires.isoformat(),
        **_present(governance=governance),
    )


def grant_deny(*, ts: datetime, actor: str, grant: GrantFacts, governance: Governance) -> Entry:
    return _grant("grant.deny", ts, actor, grant, governance=governance)


def grant_revoke(*, ts: datetime, actor: str, grant: GrantFacts, governance: Governance) -> Entry:
    return _grant("grant.revoke", ts, actor, grant, governance=governance)


def grant_expire(*, ts: datetime, grant: GrantFacts, governance: Governance) -> Entry:
    """An active grant passed its expiry (noticed by privet)."""
    return _grant("grant.expire", ts, "privet", grant, governance=governance)


def grant_refused(
    *,
    ts: datetime,
    actor: str,
    grant: GrantFacts,
    action: Literal["request", "approve", "deny", "revoke"],
    reason: str,
) -> Entry:
    """A grant's ``action`` refused for ``reason`` (a fixed word): ``grant.refused`` for a
    request, else ``grant.<action>.refused``."""
    event = "grant.refused" if action == "request" else f"grant.{action}.refused"
    return _grant(event, ts, actor, grant, reason=reason)


# -- differential privacy and models ------------------------------------------------------------


def dp_release(
    *,
    ts: datetime,
    actor: str,
    purpose: str,
    kind: str,
    ledger: str,
    dataset: str,
    version: str,
    release: str,
    epsilon: float,
    delta: float,
    epsilon_spent: float,
    mechanism: str,
    governance: Governance,
    query_sha256: str | None = None,
    model: str | None = None,
    facts: Mapping[str, Fact] | None = None,
) -> Entry:
    """A DP release charged to ``ledger`` (ε values rounded to 6 places); ``facts`` are the
    kind's counts and names."""
    return {
        **_entry(
            "dp.release",
            ts,
            actor,
            purpose=purpose,
            kind=kind,
            ledger=ledger,
            dataset=dataset,
            version=version,
            release=release,
            epsilon=round(epsilon, 6),
            delta=delta,
            epsilon_spent=round(epsilon_spent, 6),
            mechanism=mechanism,
            **({"query_sha256": query_sha256} if query_sha256 else {}),
            **({"model": model} if model else {}),
        ),
        **dict(facts or {}),
        "governance": governance,
    }


def dp_refused(
    *,
    ts: datetime,
    actor: str,
    purpose: str,
    kind: str,
    ledger: str,
    dataset: str,
    version: str,
) -> Entry:
    """A DP release refused: its ledger's budget does not cover it."""
    return _entry(
        "dp.refused",
        ts,
        actor,
        reason="budget",
        purpose=purpose,
        kind=kind,
        ledger=ledger,
        dataset=dataset,
        version=version,
    )


def dp_budget_set(
    *,
    ts: datetime,
    actor: str,
    ledger: str,
    epsilon_limit: float,
    delta: float,
    governance: Governance,
) -> Entry:
    return _entry(
        "dp.budget.set",
        ts,
        actor,
        ledger=ledger,
        epsilon_limit=epsilon_limit,
        delta=delta,
        governance=governance,
    )


def dp_domain_declare(
    *, ts: datetime, actor: str, dataset: str, bounds: Iterable[str], keys: Iterable[str]
) -> Entry:
    """The owner declared public bounds and keys of these columns (their names, sorted; the
    declared values are public but stay in the catalog)."""
    return _entry(
        "dp.domain.declare", ts, actor, dataset=dataset, bounds=sorted(bounds), keys=sorted(keys)
    )


def model_train(
    *, ts: datetime, actor: str, purpose: str, dataset: str, version: str, model: str
) -> Entry:
    """A model trained without DP (a DP-trained model's entry is its ``dp.release``)."""
    return _entry(
        "model.train",
        ts,
        actor,
        purpose=purpose,
        dataset=dataset,
        version=version,
        model=model,
        private=False,
    )


def model_unlearned(
    *,
    ts: datetime,
    actor: str,
    model: str,
    version: str,
    shards: Mapping[int, int],
    hashes_before: Sequence[str],
    hashes_after: Sequence[str],
    subjects: int,
    seconds: float,
) -> Entry:
    """Subjects were unlearned from a SISA model: ``shards`` maps each retrained shard to
    the first slice retrained; each shard's parameter hash before and after. ``subjects``
    counts the links asked for (never the links themselves)."""
    return _entry(
        "model.unlearned",
        ts,
        actor,
        model=model,
        version=version,
        shards={str(s): r for s, r in sorted(shards.items())},
        hashes_before=list(hashes_before),
        hashes_after=list(hashes_after),
        subjects=subjects,
        seconds=round(seconds, 3),
    )


def model_retrained(
    *, ts: datetime, actor: str, model: str, version: str, sha256_before: str, sha256_after: str
) -> Entry:
    """A model was retrained on its (rewritten) version; new weights replaced the old."""
    return _entry(
        "model.retrained",
        ts,
        actor,
        model=model,
        version=version,
        sha256_before=sha256_before,
        sha256_after=sha256_after,
    )


def model_card(
    *,
    ts: datetime,
    actor: str,
    model: str,
    basis: str | None,
    grant: str | None = None,
    purpose: str | None = None,
) -> Entry:
    """A model's full card was shown, on ``basis`` (written even when None; and ``grant``)."""
    return _entry(
        "model.card",
        ts,
        actor,
        model=model,
        basis=basis,
        **({"grant": grant} if grant else {}),
        **({"purpose": purpose} if purpose else {}),
    )


def model_read(
    *, ts: datetime, actor: str, model: str, private: bool, card: Literal["full", "public"]
) -> Entry:
    """A model's weights were decrypted, with its full or public card."""
    return _entry("model.read", ts, actor, model=model, private=private, card=card)


def model_audit(
    *, ts: datetime, actor: str, model: str, kind: str, measures: Mapping[str, object]
) -> Entry:
    """A privacy audit of a model; of ``measures`` only numbers and strings are logged."""
    return {
        **_entry("model.audit", ts, actor, model=model, kind=kind),
        **{k: v for k, v in measures.items() if isinstance(v, int | float | str)},
    }


# -- de-identification --------------------------------------------------------------------------


def deid_detokenize(
    *,
    ts: datetime,
    actor: str,
    dataset: str,
    version: str,
    column: str,
    rows: int,
    distinct_tokens: int,
    purpose: str,
    read_entry: int,
    ms: float,
) -> Entry:
    """Tokens of ``column`` turned back into values, after the read at log entry
    ``read_entry``."""
    return _entry(
        "deid.detokenize",
        ts,
        actor,
        dataset=dataset,
        version=version,
        column=column,
        rows=rows,
        distinct_tokens=distinct_tokens,
        purpose=purpose,
        read_entry=read_entry,
        ms=ms,
    )


def deid_protect_file(
    *, ts: datetime, actor: str, source_sha256: str, rows: int, operators: Mapping[str, str]
) -> Entry:
    """The workspace's keys were used to protect a file outside it (its hash, not its name)."""
    return _entry(
        "deid.protect_file",
        ts,
        actor,
        source=f"file:sha256:{source_sha256}",
        rows=rows,
        operators=dict(operators),
    )


# -- consent ------------------------------------------------------------------------------------


def consent_import(
    *,
    ts: datetime,
    actor: str,
    source_sha256: str,
    lines: int,
    written: Mapping[str, Mapping[str, int]],
    superseded: int,
    governance: Governance,
) -> Entry:
    """Consent records imported from a file (its hash, not its name): of ``lines`` records,
    ``written`` counts those stored per purpose and status, ``superseded`` those a later
    decision (in the file or already stored) overrides. Never a subject id nor its link."""
    return _entry(
        "consent.import",
        ts,
        actor,
        source=f"file:sha256:{source_sha256}",
        lines=lines,
        written={p: dict(counts) for p, counts in written.items()},
        superseded=superseded,
        governance=governance,
    )


def consent_record(
    *,
    ts: datetime,
    actor: str,
    purpose: str,
    status: Literal["granted", "withdrawn"],
    changed: bool,
    governance: Governance,
) -> Entry:
    """One subject's consent for ``purpose`` recorded as ``status`` (``consent.withdrawn`` or
    ``consent.granted``); ``changed`` is false when it already was. Never the subject."""
    return _entry(
        f"consent.{status}", ts, actor, purpose=purpose, changed=changed, governance=governance
    )


def consent_refused(
    *, ts: datetime, actor: str, action: Literal["import", "withdraw", "grant"], reason: str
) -> Entry:
    """Recording consent (``action``) refused for ``reason`` (a fixed word)."""
    return _entry("consent.refused", ts, actor, action=action, reason=reason)


# -- forgetting: retention and erasure ----------------------------------------------------------


@dataclass(frozen=True)
class Destruction:
    """Evidence that a stored object was destroyed: which, under which key, its hash."""

    object_key: str
    key_id: int
    object_sha256: str | None
    key_destroyed: bool

    def fields(self) -> Entry:
        return {
            "object": self.object_key,
            "key_id": self.key_id,
            "key_destroyed": self.key_destroyed,
            **_present(object_sha256=self.object_sha256),
        }


def retention_shred(
    *,
    ts: datetime,
    actor: str,
    dataset: str,
    reason: Literal["expired", "source_expired"],
    evidence: Destruction,
    version: str | None = None,
    model: str | None = None,
    governance: Governance | None = None,
) -> Entry:
    """Retention destroyed a ``version`` or a ``model`` (its key, then its object)."""
    if (version is None) == (model is None):
        raise ValueError("give the version or the model that was destroyed")
    return _entry(
        "retention.shred",
        ts,
        actor,
        dataset=dataset,
        reason=reason,
        **_present(version=version, model=model),
        **evidence.fields(),
        **_present(governance=governance),
    )


def keep_decision(
    *, ts: datetime, actor: str, kind: Literal["dataset", "model"], target: str, keep: bool
) -> Entry:
    """The owner decided that a derived dataset or model outlives its source and its erased
    subjects (``keep``), or no longer does. The reason stays in the catalog (free text)."""
    return _entry("retention.keep", ts, actor, kind=kind, target=target, keep=keep)


def erasure_request(
    *,
    ts: datetime,
    actor: str,
    request: str,
    commitments: Sequence[str],
    scope: str | None,
    versions: int,
) -> Entry:
    """A subject erasure was requested. Each of ``commitments`` is HMAC(nonce, subject id):
    a subject checks theirs with the nonce handed to them; without it, it reveals nothing."""
    return _entry(
        "erasure.request",
        ts,
        actor,
        request=request,
        commitments=list(commitments),
        versions=versions,
        **_present(scope=scope),
    )


def erasure_rewrite(
    *,
    ts: datetime,
    actor: str,
    request: str,
    dataset: str,
    version: str,
    rows_removed: int,
    suppressed: int,
    content_sha256: str,
    new_key_id: int,
    evidence: Destruction,
    governance: Governance,
) -> Entry:
    """A version was rewritten without an erased subject's rows (and ``suppressed`` other rows
    whose class fell below the version's k); its old key and object were destroyed."""
    return _entry(
        "erasure.rewrite",
        ts,
        actor,
        request=request,
        dataset=dataset,
        version=version,
        rows_removed=rows_removed,
        suppressed=suppressed,
        content_sha256=content_sha256,
        new_key_id=new_key_id,
        **evidence.fields(),
        governance=governance,
    )


def erasure_shred(
    *,
    ts: datetime,
    actor: str,
    request: str,
    dataset: str,
    version: str,
    evidence: Destruction,
    governance: Governance,
) -> Entry:
    """A synthetic version made from the erased subject's data was destroyed whole."""
    return _entry(
        "erasure.shred",
        ts,
        actor,
        request=request,
        dataset=dataset,
        version=version,
        **evidence.fields(),
        governance=governance,
    )


def erasure_model(
    *,
    ts: datetime,
    actor: str,
    request: str,
    model: str,
    action: Literal["blocked", "kept", "unlearned"],
    epsilon: float | None = None,
) -> Entry:
    """What an erasure did to a model trained on the subject: ``blocked`` until retrained,
    ``kept`` by the owner's decision (DP, ``epsilon`` bounds the subject's influence) or
    ``unlearned`` (SISA: the affected shards retrained)."""
    return _entry(
        "erasure.model", ts, actor, request=request, model=model, action=action,
        **_present(epsilon=epsilon),
    )  # fmt: skip


def erasure_done(
    *, ts: datetime, actor: str, request: str, commitment: str, receipt_sha256: str
) -> Entry:
    """An erasure finished; its signed receipt has this hash."""
    return _entry(
        "erasure.done",
        ts,
        actor,
        request=request,
        commitment=commitment,
        receipt_sha256=receipt_sha256,
    )


# -- accountability: OpenLineage export ---------------------------------------------------------


def lineage_export(
    *, ts: datetime, actor: str, destination: str, events: int, runs: int, sha256: str
) -> Entry:
    """The workspace's lineage was exported as OpenLineage events: ``destination`` is
    ``file:NAME``, ``stream`` or ``http:SCHEME://HOST[:PORT]`` (never a path or credentials);
    ``sha256`` is the hash of the JSON lines sent, so a copy can be matched to this entry."""
    return _entry(
        "lineage.export",
        ts,
        actor,
        destination=destination,
        events=events,
        runs=runs,
        sha256=sha256,
    )


# -- accountability: incident scoping -------------------------------------------------------------


def incident_scope(
    *,
    ts: datetime,
    actor: str,
    subject_actor: str,
    token: str | None,
    since: datetime | None,
    until: datetime,
    entries: int,
    reads: int,
    datasets: int,
    rows: int,
    subjects: int,
) -> Entry:
    """An incident scope of what ``subject_actor`` (or only their API ``token``) did in the
    window, computed by ``actor``: counts only (the people themselves are never logged)."""
    return _entry(
        "incident.scope",
        ts,
        actor,
        subject_actor=subject_actor,
        **_present(token=token, since=since.isoformat() if since else None),
        until=until.isoformat(),
        entries=entries,
        reads=reads,
        datasets=datasets,
        rows=rows,
        subjects=subjects,
    )


def incident_seal(
    *, ts: datetime, actor: str, scope: int, subjects: int, recipient_key: int, sha256: str
) -> Entry:
    """The subject list of the incident scope at log entry ``scope`` was sealed to the DPO's
    public key (Tink key id ``recipient_key``); ``sha256`` is the sealed file's hash."""
    return _entry(
        "incident.seal",
        ts,
        actor,
        scope=scope,
        subjects=subjects,
        recipient_key=recipient_key,
        sha256=sha256,
    )


# -- incidents: containment ---------------------------------------------------------------------


def incident_contain(
    *,
    ts: datetime,
    actor: str,
    user: str,
    tokens: Sequence[str],
    grants: Sequence[str],
    reason: str,
    alert: int | None = None,
) -> Entry:
    """``user``'s API tokens and grants (their ids) revoked at once, for ``reason`` (a fixed
    word such as ``scraping`` or ``incident``); ``alert`` is the alert's log entry when an
    alert contained them automatically."""
    return _entry(
        "incident.contain", ts, actor, user=user, tokens=list(tokens), grants=list(grants),
        reason=reason, **_present(alert=alert),
    )  # fmt: skip


def baseline_seed(
    *, ts: datetime, actor: str, user: str, reads: int, rows: int, hours: Sequence[int]
) -> Entry:
    """A reading history given to a user who had none (a breach drill's disposable user):
    ``reads`` reads, ``rows`` rows in all, at these UTC ``hours``."""
    return _entry("baseline.seed", ts, actor, user=user, reads=reads, rows=rows, hours=list(hours))


# -- federated: secure joint statistics ----------------------------------------------------------


def federated_joint(
    *,
    ts: datetime,
    actor: str,
    query: str,
    statistic: str,
    column: str | None,
    parties: Sequence[str],
    epsilon: float,
    delta: float,
    sigma: float,
    min_parties: int,
    repetitions: int = 1,
) -> Entry:
    """The coordinator asked ``parties`` (their names) for a joint ``statistic`` of ``column``
    through SecAgg+, with Gaussian noise of standard deviation ``sigma`` calibrated for
    (``epsilon``, ``delta``); each party's ledger entry names the same ``query`` id. No
    value: the answer is never logged."""
    return _entry(
        "federated.joint", ts, actor, query=query, statistic=statistic,
        **_present(column=column), parties=list(parties), epsilon=epsilon, delta=delta,
        sigma=sigma, min_parties=min_parties, repetitions=repetitions,
    )  # fmt: skip


# -- private set intersection (privet.federated) ------------------------------------------------


def psi_link(
    *,
    ts: datetime,
    actor: str,
    dataset: str,
    version: str,
    column: str,
    purpose: str,
    run: str,
    peer_sha256: str,
    revealed: bool,
    ids: int,
    peer_ids: int,
    intersection: int,
    buckets: int,
    bytes_sent: int,
    bytes_received: int,
    read_entry: int,
    ms: float,
    output: str | None = None,
) -> Entry:
    """This workspace intersected ``column`` of a version with a peer's (the peer's URL as
    its SHA-256; ``run`` is in the peer's log too), after the read at ``read_entry``:
    counts only; ``output`` is the version holding the matching rows, if any."""
    return _entry(
        "psi.link",
        ts,
        actor,
        dataset=dataset,
        version=version,
        column=column,
        purpose=purpose,
        run=run,
        peer=f"sha256:{peer_sha256}",
        revealed=revealed,
        ids=ids,
        peer_ids=peer_ids,
        intersection=intersection,
        buckets=buckets,
        bytes_sent=bytes_sent,
        bytes_received=bytes_received,
        read_entry=read_entry,
        ms=ms,
        **_present(output=output),
    )


def psi_answer(
    *,
    ts: datetime,
    actor: str,
    dataset: str,
    version: str,
    column: str,
    purpose: str,
    run: str,
    revealed: bool,
    ids: int,
    peer_ids: int,
    buckets: int,
    bytes_received: int,
    bytes_sent: int,
    read_entry: int,
    ms: float,
) -> Entry:
    """This workspace answered a peer's private set intersection request (run ``run``) on
    ``column`` of a version, after the read at ``read_entry``; it does not learn the
    intersection, so the entry has the set sizes only."""
    return _entry(
        "psi.answer",
        ts,
        actor,
        dataset=dataset,
        version=version,
        column=column,
        purpose=purpose,
        run=run,
        revealed=revealed,
        ids=ids,
        peer_ids=peer_ids,
        buckets=buckets,
        bytes_received=bytes_received,
        bytes_sent=bytes_sent,
        read_entry=read_entry,
        ms=ms,
    )
