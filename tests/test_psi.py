"""Private set intersection (``privet link --psi``) between two workspaces, with openmined-psi.

The expected intersections are the test's own Python set intersections of the values it
ingested; the peer is a real ``privet serve`` on loopback where it matters (the CLI, the
message capture, the refusals), an in-process call of the peer workspace's door elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privet import InvalidInput, PolicyDenied, Workspace
from privet.policy import GrantRequest
from privet.server import Client
from tests.conftest import invoke
from tests.server_support import ServerProcess, bearer

PEER_POLICY = """
version: 1
approver_roles: [approver]
rules:
  - description: linkers read ids for record linkage, once a grant is approved
    roles: [linker]
    views: [raw]
    purposes: [linking]
"""


def _write(path: Path, values: list[str | None]) -> Path:
    # Parquet keeps every string as given (a CSV would turn "007" into 7). A dataset has at
    # least one row: an empty side is a row without a value.
    values = values or [None]
    pl.DataFrame(
        {"pid": pl.Series(values, dtype=pl.String), "row": list(range(len(values)))}
    ).write_parquet(path)
    return path


def _ingest(ws: Workspace, path: Path, name: str, *, owner: str, new: bool = False) -> str:
    info = ws.ingest(
        path,
        name=name,
        owner=owner,
        purposes=["linking", "marketing"],
        actor=owner,
        categories={"pid": "user.unique_id"},
        scan=False,
        new_version=new,
    )
    return info.ref


def _ids(prefix: str, start: int, stop: int) -> list[str]:
    # Long random ids: a chance match of one in random protocol bytes is impossible.
    return [f"{prefix}-{i:07d}-{secrets.token_hex(6)}" for i in range(start, stop)]


@dataclass
class Peer:
    """The peer workspace (``ids``: alice owns it; bob links under an approved grant,
    mallory is a linker without a grant) served by ``privet serve`` on loopback."""

    path: Path
    server: ServerProcess
    values: list[str]
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, user: str = "bob") -> Client:
        return Client(self.server.url, self.tokens[user])


SHARED = _ids("shared", 0, 300)
PEER_ONLY = _ids("peer", 0, 2700) + ["ünïcødé-ä☃-" + secrets.token_hex(6)]
MINE_ONLY = _ids("mine", 0, 2700) + ["ünïcødé-ö☃-" + secrets.token_hex(6)]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    root = tmp_path_factory.mktemp("psi-peer")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        (root / "project").mkdir()
        values = SHARED + PEER_ONLY
        tokens = {}
        with Workspace.init(root / "project", actor="alice") as ws:
            _ingest(
                ws, _write(root / "ids.parquet", [*values, None, values[0]]), "ids", owner="alice"
            )
            for user, roles in {
                "bob": ["linker"],
                "carol": ["approver"],
                "mallory": ["linker"],
            }.items():
                ws.access.add_user(user, roles=roles, actor="alice")
                tokens[user] = ws.access.issue_token(
                    user, expires_in=timedelta(hours=2), actor="alice"
                ).secret
            ws.access.set_policy(PEER_POLICY, actor="alice")
            grant = ws.access.request_grant(
                GrantRequest(
                    dataset="ids", view="raw", purpose="linking", duration_seconds=7200,
                    reason="record linkage",
                ),
                identity=ws.access.local_identity("bob"),
            )  # fmt: skip
            ws.access.approve_grant(grant.id, identity=ws.access.local_identity("carol"))
        with ServerProcess(root / "project") as server:
            yield Peer(root / "project", server, values, tokens)


@pytest.fixture
def mine(ws: Workspace, tmp_path: Path) -> Workspace:
    """This side: SHARED + MINE_ONLY, with a null and duplicates."""
    values = [*SHARED, *MINE_ONLY, None, SHARED[1], SHARED[1]]
    _ingest(ws, _write(tmp_path / "mine.parquet", values), "mine", owner="tester")
    return ws


def _recording(
    send: Callable[[bytes], bytes], seen: list[tuple[str, bytes]]
) -> Callable[[bytes], bytes]:
    def wrapped(message: bytes) -> bytes:
        seen.append(("to peer", message))
        answer = send(message)
        seen.append(("from peer", answer))
        return answer

    return wrapped


def _encodings(value: str) -> list[bytes]:
    """The ways a value could sit in a message: as text, raw digest, base64 and hex."""
    raw = value.encode()
    digest = hashlib.sha256(raw).digest()
    forms = [raw, value.encode("utf-16-le"), digest, digest.hex().encode()]
    for data in (raw, digest):
        forms += [base64.b64encode(data).rstrip(b"="), base64.urlsafe_b64encode(data).rstrip(b"=")]
        forms += [data.hex().encode(), data.hex().upper().encode()]
    # Whole-value base64 at an offset inside a longer base64 run changes every character:
    # also look for the base64 of the value's middle, at each of the three alignments.
    for shift in range(3):
        inner = raw[shift:][: (len(raw) - shift) // 3 * 3]
        if len(inner) >= 9:
            forms.append(base64.b64encode(inner))
    return forms


def _leaks(message: bytes, values: list[str]) -> list[str]:
    return [v for v in values if any(form in message for form in _encodings(v))]


# -- end to end, through a real server -------------------------------------------------------


def test_link_finds_exactly_the_intersection_and_no_message_holds_an_other_sides_id(
    mine: Workspace, peer: Peer
):
    seen: list[tuple[str, bytes]] = []
    with peer.client() as client:
        send = _recording(lambda m: client.psi("ids", m, column="pid", purpose="linking"), seen)
        result = mine.federated.link_psi(
            "mine", "pid", peer=send, peer_label=peer.server.url, purpose="linking",
            actor="tester", buckets=4,
        )  # fmt: skip
    expected = set(SHARED + MINE_ONLY) & set(peer.values)
    assert expected == set(SHARED)
    assert result.intersection == len(expected) == 300
    assert result.ids == len(SHARED) + len(MINE_ONLY) and result.missing == 1
    stored = mine.read(result.output, purpose="linking", actor="tester")
    assert set(stored["pid"].to_list()) == expected
    assert stored.height == 302  # every matching row, duplicates included

    [(_, request), (_, answer)] = seen
    assert result.bytes_sent == len(request) and result.bytes_received == len(answer)
    # Neither side's messages hold the other side's values that are not in the intersection
    # (nor, in fact, any value at all: the shared ones travel encrypted too).
    assert _leaks(request, MINE_ONLY + SHARED) == []
    assert _leaks(answer, PEER_ONLY + SHARED) == []
    # The checker itself finds a value that is there, in each form it looks for.
    probe = MINE_ONLY[0]
    assert all(_leaks(form, [probe]) == [probe] for form in _encodings(probe))

    # Both logs have the run, with counts and no value.
    mine_log = [r.event for r in mine.log.records()]
    [linked] = [e for e in mine_log if e["event"] == "psi.link"]
    assert linked["intersection"] == 300 and linked["ids"] == result.ids
    assert linked["peer"] == "sha256:" + hashlib.sha256(peer.server.url.encode()).hexdigest()
    with Workspace.open(peer.path) as theirs:
        records = theirs.log.records()
    peer_log = [r.event for r in records]
    [answered] = [e for e in peer_log if e["event"] == "psi.answer" and e["run"] == result.run]
    assert answered["ids"] == len(peer.values) and answered["actor"] == "bob"
    assert "intersection" not in answered  # the peer does not learn it
    read = records[answered["read_entry"]].event
    assert read["event"] == "read" and read["purpose"] == "linking"
    for log in (mine_log, peer_log):
        text = json.dumps(log, ensure_ascii=False)
        assert not [v for v in SHARED + MINE_ONLY + PEER_ONLY if v in text]


def test_cli_link_json_prints_counts_and_size_only_learns_only_the_size(
    mine: Workspace, peer: Peer, project: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PRIVET_TOKEN", peer.tokens["bob"])
    args = ("link", "--psi", "--peer", peer.server.url, "mine", "--on", "pid",
            "--peer-dataset", "ids", "--purpose", "linking", "--json")  # fmt: skip
    done = invoke(*args, "--size-only", workspace=project)
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["intersection"] == 300 and data["output"] is None and not data["revealed"]
    assert not [v for v in SHARED + MINE_ONLY if v in done.stdout]
    names = [d.name for d in mine.datasets()]
    assert "mine-psi" not in names  # nothing stored: only the size was learnt

    human = invoke(*args[:-1], "--size-only", workspace=project)
    assert human.exit_code == 0, human.stderr
    assert "300 of the 3,001 values of pid in mine@1 are in the peer's set" in human.stdout
    assert "Only the size was learnt" in human.stdout

    done = invoke(*args, "--name", "linked", workspace=project)
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["output"] == "linked@1" and data["intersection"] == 300
    assert not [v for v in SHARED + MINE_ONLY if v in done.stdout]
    [edge] = [e for e in mine.lineage("linked@1") if e.activity == "psi"]
    assert edge.source.endswith(mine.dataset("mine").versions[0].id)
    assert edge.facts["matched_values"] == 300


@pytest.mark.parametrize(
    ("token", "purpose", "words"),
    [
        (None, "linking", "token"),  # no token at all
        ("bad", "linking", "did not accept the token"),  # a token the peer does not know
        ("bob", "marketing", "marketing"),  # a purpose the peer's policy does not allow
        ("mallory", "linking", "grant"),  # allowed by policy, but no grant
    ],
)
def test_refusals_exit_1_with_one_sentence(
    mine: Workspace, peer: Peer, project: Path, monkeypatch: pytest.MonkeyPatch,
    token: str | None, purpose: str, words: str,
):  # fmt: skip
    monkeypatch.delenv("PRIVET_TOKEN", raising=False)
    secret = {"bad": "pvt_0123456789abcdef_" + "x" * 43}.get(token or "")
    if token in peer.tokens:
        secret = peer.tokens[token]
    extra = ("--token", secret) if secret else ()
    done = invoke(
        "link", "--psi", "--peer", peer.server.url, "mine", "--on", "pid",
        "--peer-dataset", "ids", "--purpose", purpose, *extra, workspace=project,
    )  # fmt: skip
    assert done.exit_code == 1, done.output
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("privet: error:") and words in line.lower()
    assert "Traceback" not in done.output
    assert "mine-psi" not in [d.name for d in mine.datasets()]


def test_link_needs_the_psi_flag(mine: Workspace, project: Path):
    done = invoke("link", "--peer", "http://127.0.0.1:1", "mine", "--on", "pid",
                  "--purpose", "linking", "--token", "t", workspace=project)  # fmt: skip
    assert done.exit_code == 2 and "--psi" in done.stderr


# -- exactness on values the test did not pick ---------------------------------------------


class Pair:
    """Two workspaces; each example is a new version of each side's dataset."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "a").mkdir()
        (root / "b").mkdir()
        self.a = Workspace.init(root / "a", actor="tester")
        self.b = Workspace.init(root / "b", actor="tester")
        self.examples = 0

    def link(self, mine: list[str | None], theirs: list[str | None], *, reveal: bool, buckets: int):
        # Hypothesis seeds the global ``random`` alike for every example, and Tink draws its
        # key ids from it: without a fresh seed each new version's data key clashes.
        random.seed(secrets.randbits(64))
        new = self.examples > 0
        self.examples += 1
        a_ref = _ingest(self.a, _write(self.root / "a.parquet", mine), "a", owner="tester", new=new)
        _ingest(self.b, _write(self.root / "b.parquet", theirs), "b", owner="tester", new=new)

        def send(message: bytes) -> bytes:
            return self.b.federated.psi_answer(
                "b", message, column="pid", purpose="linking", actor="tester", workers=2
            )

        result = self.a.federated.link_psi(
            a_ref, "pid", peer=send, peer_label="in-process", purpose="linking",
            actor="tester", reveal=reveal, buckets=buckets, workers=2,
        )  # fmt: skip
        found = None
        if reveal:
            found = set(self.a.read(result.output, purpose="linking", actor="tester")["pid"])
        return result, found

    def close(self) -> None:
        self.a.close()
        self.b.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("psi-pair")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRIVET_KEY_DIR", str(root / "keys"))
        both = Pair(root)
        yield both
        both.close()


values = st.lists(st.one_of(st.text(max_size=12), st.none()), max_size=25)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mine=values, theirs=values, common=values, buckets=st.sampled_from([1, 3]))
def test_intersection_is_exact_on_generated_strings(pair: Pair, mine, theirs, common, buckets):
    a, b = mine + common, theirs + common
    result, found = pair.link(a, b, reveal=True, buckets=buckets)
    expected = {v for v in a if v is not None} & {v for v in b if v is not None}
    assert found == expected
    assert result.intersection == len(expected)
    assert result.ids == len({v for v in a if v is not None})


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        ([], ["x", "y"]),  # this side empty
        (["x", "y"], []),  # the peer empty
        (["a", "b", "c"], ["d", "e"]),  # disjoint
        (["a", "a", "b", None], ["b", "b", "a", None]),  # duplicates and nulls: a set each
        (["007", "7", "7.0"], ["7"]),  # compared as text, exactly
        (["Ä", "A\u0308", "a"], ["A\u0308", "A"]),  # unicode: no normalisation, no case folding
        (["", " ", "\x00"], ["", "\x00", "  "]),  # empty, blank and NUL strings
    ],
)
@pytest.mark.parametrize("reveal", [True, False])
def test_edge_cases(pair: Pair, mine: list, theirs: list, reveal: bool):
    result, found = pair.link(mine, theirs, reveal=reveal, buckets=2)
    expected = {v for v in mine if v is not None} & {v for v in theirs if v is not None}
    assert result.intersection == len(expected)
    if reveal:
        assert found == expected


def test_large_sets_use_parallel_buckets_and_stay_exact(pair: Pair):
    mine = _ids("m", 0, 4000) + _ids("s", 0, 600)
    shared = mine[-600:]
    theirs = _ids("t", 0, 4000) + shared
    result, found = pair.link(mine, theirs, reveal=True, buckets=None)  # type: ignore[arg-type]
    assert result.buckets > 1  # the default splits a set this large
    assert found == set(shared) and result.intersection == 600
    # Padding: the peer's set shows as buckets × its largest bucket, never less than it is.
    assert result.peer_ids >= len(theirs) and result.peer_ids % result.buckets == 0


def test_malformed_messages_are_refused(pair: Pair):
    pair.link(["a"], ["a"], reveal=True, buckets=1)
    for message in (b"", b"privet-psi/1\n\x00\x00\x00\x02{}", b"x" * 100):
        with pytest.raises(InvalidInput):
            pair.b.federated.psi_answer(
                "b", message, column="pid", purpose="linking", actor="tester"
            )
    with pytest.raises(PolicyDenied):
        pair.b.federated.psi_answer(
            "b", b"", column="pid", purpose="privet:assessment", actor="tester"
        )


def test_the_psi_route_takes_large_bodies_only_from_a_caller_it_knows(peer: Peer):
    url = f"{peer.server.url}/v1/datasets/ids/psi"
    params = {"column": "pid", "purpose": "linking"}
    big = b"x" * (1024 * 1024)  # four times what any other route accepts
    refused = httpx.post(url, params=params, content=big, timeout=30)
    assert refused.status_code == 401  # authentication first: the body is never taken in
    taken = httpx.post(url, params=params, content=big, headers=bearer(peer.tokens["bob"]))
    assert taken.status_code == 400 and "malformed" in taken.json()["message"]
    elsewhere = httpx.post(
        f"{peer.server.url}/v1/grants", content=big, headers=bearer(peer.tokens["bob"])
    )
    assert elsewhere.status_code == 413
