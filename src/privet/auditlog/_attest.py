"""Governance attestations: the state that decides who may read what, proven by the log.

A dataset's purposes and owner, a version's column roles, the policy in force, a user's roles,
an API token, a grant and a DP ledger decide access. Every log entry that changes one carries
its new state: ``"governance": [{"kind", "key", "sha256", "state", "sig"}]``, where ``state``
is a canonical dict of the fields that decide access (ids, names, purposes, roles, statuses,
expiries, hashes; never a cell value, free text only as a hash), ``sha256`` its hash, and
``sig`` an Ed25519 signature by the workspace's log key. ``governance_heads`` points from each
object to its latest attestation, written in the same transaction as the entry.

Before a read, an authentication or a DP release relies on an object, :func:`check` recomputes
its state from the rows and compares it with that attestation, after checking the entry
against its leaf hash and the signature against the log key: a row edited, inserted or deleted
behind privet's back is refused with a sentence naming the object and the field. Without the
master key nobody can sign a new attestation; what a database writer can still do is roll a
row *and* its pointer back to an older genuine attestation, which only :class:`Replay` (run
by ``privet log verify`` over the whole log) detects.

The package that owns the rows registers each kind (:func:`register_kind`): its state function,
how to list its objects and how to name one. Nothing here knows a table of theirs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.orm import Session

from privet.auditlog import _log
from privet.auditlog import events as entries
from privet.auditlog._merkle import leaf_hash
from privet.auditlog.events import BASELINE_EVENT
from privet.auditlog.kinds import Kind, Reader, State, fetch, lookup, registered
from privet.errors import GovernanceMismatch, IntegrityError, PrivetError

Object = tuple[str, str]
# The key under which a workspace puts its Attestations in every session's ``info``.
SESSION_INFO = "privet.attestations"
# Signed text: a fixed prefix keeps a governance signature from ever being a checkpoint note.
_DOMAIN = b"privet governance attestation v1\n"
_MARK = b'"governance":['
_BASELINE_CHUNK = 16
_CACHE_LIMIT = 50_000
_MAX_PHRASES = 4

# The pointer query for N objects at once, made on first use.
_HEADS: dict[int, str] = {}
_ENTRY = "SELECT data FROM log_entries WHERE idx = :index"
_HEADS_OF_KIND = "SELECT object_id FROM governance_heads WHERE kind = :kind"
_ALL_HEADS = "SELECT kind, object_id, log_index FROM governance_heads"
_MOVE_HEAD = text(
    "UPDATE governance_heads SET log_index = :index WHERE kind = :kind AND object_id = :key"
)
_ADD_HEAD = text(
    "INSERT INTO governance_heads (kind, object_id, log_index) VALUES (:kind, :key, :index)"
)


def _kind(name: str) -> Kind:
    found = lookup(name)
    if found is None:
        raise IntegrityError(
            f"the log attests a {name[:20]!r} object, which this privet does not know"
        )
    return found


def digest(state: State) -> str:
    return hashlib.sha256(_log.canonical({"state": state})).hexdigest()


def _message(kind: str, key: str, sha256: str) -> bytes:
    return _DOMAIN + _log.canonical({"kind": kind, "key": key, "sha256": sha256})


def _genuine(item: Any, kind: str, key: str, public: Ed25519PublicKey) -> bool:
    """The item is well formed, its hash is its state's and the log key signed it."""
    if not isinstance(item, dict) or item.get("kind") != kind or item.get("key") != key:
        return False
    sha256 = item.get("sha256")
    if not isinstance(sha256, str) or digest(item.get("state")) != sha256:
        return False
    try:
        public.verify(base64.b64decode(item["sig"], validate=True), _message(kind, key, sha256))
    except (InvalidSignature, KeyError, TypeError, ValueError, binascii.Error):
        return False
    return True


class Attestations:
    """A workspace's signer and checker of attestations.

    The workspace puts one in the ``info`` of every session it opens (``SESSION_INFO``), so
    that code holding only a session can attest and check. Attestations already verified
    are remembered with their entry's leaf hash: a server checks each signature once.
    """

    def __init__(self, signing_key: Callable[[], Ed25519PrivateKey]) -> None:
        self._signing_key = signing_key
        self._private: Ed25519PrivateKey | None = None
        self._public: Ed25519PublicKey | None = None
        self._verified: dict[tuple[int, str, str], tuple[bytes, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def _key(self) -> Ed25519PrivateKey:
        # The public key is derived from the private key the master key unwraps, not read
        # from the catalog's settings, which a database writer could replace.
        if self._private is None:
            private = self._signing_key()
            with self._lock:
                self._private, self._public = private, private.public_key()
        return self._private

    def public(self) -> Ed25519PublicKey:
        if self._public is None:
            self._key()
        assert self._public is not None
        return self._public

    def sign(self, kind: str, key: str, sha256: str) -> str:
        return base64.b64encode(self._key().sign(_message(kind, key, sha256))).decode()

    def attested(
        self, rows: Reader, index: int, stored: bytes, kind: str, key: str
    ) -> dict[str, Any]:
        """The attestation of (kind, key) in entry ``index`` (whose stored leaf hash is
        ``stored``); raises ``_Forged`` when the entry holds no genuine one.

        An attestation verified before is remembered with its leaf hash, so a decision
        reads 32 bytes of the entry, not the entry (a baseline entry attests hundreds of
        objects). The entry's bytes cannot change under a remembered leaf hash without
        ``log verify`` seeing it, and what is remembered is what the log key signed.
        """
        cached = self._verified.get((index, kind, key))
        if cached is not None and cached[0] == stored:
            return cached[1]
        data = bytes(rows(_ENTRY, index=index)[0][0])
        if leaf_hash(data) != stored:
            raise IntegrityError(f"log entry {index} does not match its stored hash", index=index)
        try:
            event = json.loads(data)
        except ValueError:
            raise IntegrityError(f"log entry {index} is not valid JSON", index=index) from None
        items = event.get("governance") if isinstance(event, dict) else None
        found = next((i for i in items or [] if _names(i, kind, key)), None)
        if found is None or not _genuine(found, kind, key, self.public()):
            raise _Forged(index)
        with self._lock:
            if len(self._verified) >= _CACHE_LIMIT:
                self._verified.clear()
            self._verified[(index, kind, key)] = (stored, found)
        return found


def _names(item: Any, kind: str, key: str) -> bool:
    return isinstance(item, dict) and item.get("kind") == kind and item.get("key") == key


class _Forged(Exception):
    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _attestations(session: Session) -> Attestations:
    found = session.info.get(SESSION_INFO)
    if not isinstance(found, Attestations):
        raise PrivetError("internal error: a catalog session was opened outside the workspace")
    return found


# -- writing ------------------------------------------------------------------------------------


def attest(session: Session, *objects: Object) -> list[dict[str, Any]]:
    """Attestations of ``objects`` as they stand in ``session`` (pending changes flushed),
    for the ``"governance"`` list of the log entry that records the change.

    :func:`privet.auditlog.append` then points each object at that entry.
    """
    signer = _attestations(session)
    session.flush()
    rows = Reader(session)
    items = []
    for kind, key in dict.fromkeys(objects):
        state = _kind(kind).state(rows, key)
        sha256 = digest(state)
        items.append(
            {
                "kind": kind,
                "key": key,
                "sha256": sha256,
                "state": state,
                "sig": signer.sign(kind, key, sha256),
            }
        )
    return items


def point(session: Session, events: Iterable[Mapping[str, object]], start: int) -> None:
    """Point every object attested in ``events`` (appended from index ``start``) at its entry."""
    heads: dict[Object, int] = {}
    for offset, event in enumerate(events):
        items = event.get("governance")
        for item in items if isinstance(items, list) else ():
            heads[(item["kind"], item["key"])] = start + offset
    for (kind, key), index in heads.items():
        params = {"kind": kind, "key": key, "index": index}
        if not session.execute(_MOVE_HEAD, params).rowcount:  # type: ignore[attr-defined]
            session.execute(_ADD_HEAD, params)


def baseline(session: Session, *, ts: datetime, actor: str = "privet") -> list[int]:
    """Attest every existing object once (trust on first use), in ``governance.baseline``
    entries: for a catalog that predates attestations."""
    rows = Reader(session)
    objects = [(n, key) for n, kind in registered().items() for key in sorted(kind.keys(rows))]
    parts = [objects[i : i + _BASELINE_CHUNK] for i in range(0, len(objects), _BASELINE_CHUNK)] or [
        []
    ]
    events = [
        entries.governance_baseline(ts=ts, actor=actor, governance=attest(session, *part))
        for part in parts
    ]
    return _log.append(session, events)


# -- checking -----------------------------------------------------------------------------------


def check(session: Session, *objects: Object) -> dict[Object, State]:
    """Refuse (``GovernanceMismatch``) unless each object's rows match its latest attestation;
    returns their states (checked), so a caller need not read them again.

    An object with no attestation must not exist (a row inserted behind privet's back is
    refused); one whose attestation says it was deleted must not exist either. The pointers
    of all ``objects`` are read in one query.
    """
    wanted = list(dict.fromkeys(objects))
    if not wanted:
        return {}
    attestations = _attestations(session)
    rows = Reader(session)
    heads = _heads(rows, wanted)
    states: dict[Object, State] = {}
    for kind, key in wanted:
        spec = _kind(kind)
        current = spec.state(rows, key)
        problem = _compare(rows, attestations, spec, key, heads.get((kind, key)), current)
        if problem is not None:
            # Once more: on PostgreSQL (read committed) a change committed between reading
            # the pointer and the rows looks like a mismatch; a real one stays.
            again = _heads(rows, [(kind, key)]).get((kind, key))
            current = spec.state(rows, key)
            problem = _compare(rows, attestations, spec, key, again, current)
        if problem is not None:
            raise problem
        states[(kind, key)] = current
    return states


def _heads(rows: Reader, objects: list[Object]) -> dict[Object, tuple[int, bytes | None]]:
    """(kind, key) → (index of its latest attestation, that entry's stored leaf hash)."""
    sql = _HEADS.get(len(objects))
    if sql is None:
        where = " OR ".join(
            f"(h.kind = :k{i} AND h.object_id = :o{i})" for i in range(len(objects))
        )
        sql = _HEADS[len(objects)] = (
            "SELECT h.kind, h.object_id, h.log_index, e.leaf_hash FROM governance_heads h "
            f"LEFT JOIN log_entries e ON e.idx = h.log_index WHERE {where}"
        )
    params = {f"k{i}": kind for i, (kind, _) in enumerate(objects)}
    params.update({f"o{i}": key for i, (_, key) in enumerate(objects)})
    return {(kind, key): (index, leaf) for kind, key, index, leaf in rows(sql, **params)}


def _compare(
    rows: Reader,
    attestations: Attestations,
    spec: Kind,
    key: str,
    head: tuple[int, bytes | None] | None,
    current: State,
) -> GovernanceMismatch | None:
    # The pointer was read before the rows: a change committed in between makes the rows
    # newer than the attestation, never older (and the retry above then sees both).
    if head is None:
        return None if current is None else _added(rows, spec, key, current)
    index, stored = head
    if stored is None:
        return GovernanceMismatch(
            f"{spec.label(rows, key, current)}: its attestation (log entry {index}) is "
            "missing from the log"
        )
    try:
        item = attestations.attested(rows, index, bytes(stored), spec.name, key)
    except _Forged:
        return _forged(rows, spec, key, current, index)
    # Equal JSON-native values first (the states are built from plain values, bools as
    # bools): the hash is computed only when they differ.
    if item["state"] != current and item["sha256"] != digest(current):
        return mismatch(rows, spec.name, key, item["state"], current)
    return None


def check_every(session: Session, kind: str) -> None:
    """Check every object of ``kind`` the log attests (e.g. that none was deleted)."""
    keys = [row[0] for row in fetch(session, _HEADS_OF_KIND, kind=kind)]
    check(session, *[(kind, key) for key in keys])


# -- sentences ----------------------------------------------------------------------------------


def _added(rows: Reader, spec: Kind, key: str, current: State) -> GovernanceMismatch:
    return GovernanceMismatch(
        f"{spec.label(rows, key, current)}: added outside privet (no audit-log entry records it)"
    )


def _forged(rows: Reader, spec: Kind, key: str, current: State, index: int) -> GovernanceMismatch:
    return GovernanceMismatch(
        f"{spec.label(rows, key, current)}: its attestation (log entry {index}) is not "
        "signed by this workspace's log key"
    )


def mismatch(
    rows: Reader, kind: str, key: str, attested: State, current: State, where: str = ""
) -> GovernanceMismatch:
    """The sentence for an object whose rows differ from its attested state."""
    spec = _kind(kind)
    label = spec.label(rows, key, attested if attested is not None else current)
    if current is None:
        return GovernanceMismatch(f"{label}: deleted outside privet{where}")
    if attested is None:
        return GovernanceMismatch(f"{label}: re-created outside privet{where}")
    phrases = _differences(attested, current)
    shown = [f"{what} outside privet" + (f" ({why})" if why else "") for what, why in phrases]
    if len(shown) > _MAX_PHRASES:
        shown = shown[:_MAX_PHRASES] + [f"and {len(shown) - _MAX_PHRASES} more changes"]
    return GovernanceMismatch(f"{label}: {'; '.join(shown) or 'changed outside privet'}{where}")


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for field in [*old, *(f for f in new if f not in old)]:
        if old.get(field) != new.get(field):
            out.extend(_difference(field, old.get(field), new.get(field)))
    return out


def _difference(field: str, old: Any, new: Any) -> list[tuple[str, str]]:
    if field.endswith("_sha256"):  # a hash stands for text that stays out of messages
        return [(f"{_words(field.removesuffix('_sha256'))} changed", "")]
    if isinstance(old, dict) or isinstance(new, dict):
        old, new = old or {}, new or {}
        singular = _words(field.removesuffix("s"))
        out: list[tuple[str, str]] = []
        for name in [*old, *(n for n in new if n not in old)]:
            if name not in old:
                out.append((f"{singular} {_show(name)} added", ""))
            elif name not in new:
                out.append((f"{singular} {_show(name)} removed", ""))
            elif isinstance(old[name], dict) and isinstance(new[name], dict):
                out.extend(
                    (f"{singular} {_show(name)} {what}", detail)
                    for what, detail in _differences(old[name], new[name])
                )
            elif old[name] != new[name]:
                out.append((f"{singular} {_show(name)} changed", _was(old[name], new[name])))
        return out
    if isinstance(old, list) and isinstance(new, list):
        added = [v for v in new if v not in old]
        removed = [v for v in old if v not in new]
        parts = [f"added {_shows(added)}"] if added else []
        parts += [f"removed {_shows(removed)}"] if removed else []
        return [(f"{_words(field)} changed", "; ".join(parts) or "reordered")]
    return [(f"{_words(field)} changed", _was(old, new))]


def _words(field: str) -> str:
    return field.replace("_", " ")


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "…"


def _shows(values: list[Any]) -> str:
    return ", ".join(_show(v) for v in values[:5]) + (", …" if len(values) > 5 else "")


def _was(old: Any, new: Any) -> str:
    return f"was {_show(old)}, now {_show(new)}"


# -- the whole log ------------------------------------------------------------------------------


@dataclass
class _Latest:
    index: int
    sha256: str
    state: State


class Replay:
    """The attestations of the whole log, replayed in order (``privet log verify``).

    :meth:`feed` takes every entry; :meth:`finish` then checks that each object's rows match
    its *latest* attestation and that the pointer table points there. This is what catches
    a row rolled back together with its pointer to an older genuine attestation, which a
    read cannot tell from the truth. A ``governance.baseline`` entry that attests an object
    differently from an earlier attestation re-trusted a change made while attestations
    were off, and is reported too.
    """

    def __init__(self, public: Callable[[], Ed25519PublicKey]) -> None:
        self._public = public
        self._key: Ed25519PublicKey | None = None
        self.latest: dict[Object, _Latest] = {}
        self._problems: list[tuple[str, int, str, str, State, State]] = []

    def feed(self, index: int, data: bytes) -> None:
        if _MARK not in data:
            return
        event = json.loads(data)
        items = event.get("governance") if isinstance(event, dict) else None
        if not isinstance(items, list):
            return
        baseline = event.get("event") == BASELINE_EVENT
        for item in items:
            kind = str(item.get("kind")) if isinstance(item, dict) else "?"
            key = str(item.get("key")) if isinstance(item, dict) else "?"
            if self._key is None:
                self._key = self._public()
            if not _genuine(item, kind, key, self._key):
                self._problems.append(("forged", index, kind, key, None, None))
                continue
            previous = self.latest.get((kind, key))
            if baseline and previous is not None and previous.sha256 != item["sha256"]:
                self._problems.append(("baseline", index, kind, key, previous.state, item["state"]))
            self.latest[(kind, key)] = _Latest(index, item["sha256"], item["state"])

    def finish(self, session: Session) -> int:
        """Compare the latest attestations with the rows; returns how many objects matched."""
        rows = Reader(session)
        for problem, index, kind, key, old, new in self._problems:
            spec = _kind(kind)
            if problem == "forged":
                raise _forged(rows, spec, key, spec.state(rows, key), index)
            where = f" before the governance baseline at log entry {index}"
            raise mismatch(rows, kind, key, old, new, where)
        heads = {(k, o): i for k, o, i in rows(_ALL_HEADS)}
        for (kind, key), latest in self.latest.items():
            spec = _kind(kind)
            pointer = heads.pop((kind, key), None)
            if pointer != latest.index:
                where = f"log entry {pointer}" if pointer is not None else "nothing"
                raise GovernanceMismatch(
                    f"{spec.label(rows, key, latest.state)}: its attestation pointer was "
                    f"changed outside privet (it points at {where}, the latest attestation is "
                    f"log entry {latest.index})"
                )
            current = spec.state(rows, key)
            if digest(current) != latest.sha256:
                raise mismatch(rows, kind, key, latest.state, current)
        if heads:
            (kind, key), index = next(iter(heads.items()))
            raise GovernanceMismatch(
                f"{_kind(kind).label(rows, key, None)}: its attestation pointer was added "
                f"outside privet (log entry {index} does not attest it)"
            )
        for name, spec in registered().items():
            for key in spec.keys(rows):
                if (name, key) not in self.latest:
                    raise _added(rows, spec, key, spec.state(rows, key))
        return len(self.latest)
