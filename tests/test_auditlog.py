"""The audit log in the catalog: tamper evidence, checkpoints and proofs (acceptance 5)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from privet import IntegrityError, InvalidInput, Workspace
from privet.auditlog import append
from tests.conftest import ingest_people, invoke, run_privet
from tests.reference import (
    ref_leaf_hash,
    ref_mth,
    ref_open_checkpoint,
    ref_verify_consistency,
    ref_verify_inclusion,
)


@pytest.fixture
def busy(ws: Workspace, people_csv: Path) -> Workspace:
    """A workspace with a few dozen log entries and two checkpoints."""
    ingest_people(ws, people_csv)
    for i in range(10):
        ws.read("people", purpose="training", actor=f"user{i}")
    ws.log.checkpoint()
    for i in range(12):
        ws.read("people", purpose="analytics", actor=f"user{i}")
    ws.log.checkpoint()
    ws.read("people", purpose="training", actor="late")
    return ws


def _sql(ws: Workspace, statement: str, *params: object) -> None:
    ws.close()
    db = sqlite3.connect(ws.folder / "catalog.db")
    db.execute(statement, params)
    db.commit()
    db.close()


def _entry(ws: Workspace, index: int) -> bytes:
    return (ws.folder / "catalog.db").exists() and sqlite3.connect(
        ws.folder / "catalog.db"
    ).execute("SELECT data FROM log_entries WHERE idx = ?", (index,)).fetchone()[0]


def test_untouched_log_verifies(busy: Workspace):
    report = busy.log.verify()
    # 2 entries from init, 1 ingest, 23 reads.
    assert report.size == busy.log.size() == 26
    assert report.checkpoints == 2
    assert report.root == ref_mth([ref_leaf_hash(_entry(busy, i)) for i in range(26)])


@pytest.mark.parametrize("index", [0, 5, 25])
def test_altered_entry_is_named_by_index(busy: Workspace, index: int):
    data = json.loads(_entry(busy, index))
    data["actor"] = "someone-else"
    _sql(busy, "UPDATE log_entries SET data = ? WHERE idx = ?", json.dumps(data).encode(), index)
    with pytest.raises(IntegrityError, match=f"log entry {index} ") as err:
        Workspace.open(busy.folder).log.verify()
    assert err.value.index == index


def test_altered_leaf_hash_is_named_by_index(busy: Workspace):
    _sql(busy, "UPDATE log_entries SET leaf_hash = ? WHERE idx = 7", b"\x00" * 32)
    with pytest.raises(IntegrityError, match="log entry 7 ") as err:
        Workspace.open(busy.folder).log.verify()
    assert err.value.index == 7


def test_rewriting_an_entry_and_its_hash_is_caught_by_the_checkpoint(busy: Workspace):
    forged = json.dumps({"event": "read", "actor": "nobody"}).encode()
    _sql(busy, "UPDATE log_entries SET data = ?, leaf_hash = ? WHERE idx = 3",
         forged, ref_leaf_hash(forged))  # fmt: skip
    first_checkpoint = (
        sqlite3.connect(busy.folder / "catalog.db")
        .execute("SELECT min(size) FROM checkpoints")
        .fetchone()[0]
    )
    with pytest.raises(IntegrityError, match=f"checkpoint at size {first_checkpoint}") as err:
        Workspace.open(busy.folder).log.verify()
    assert err.value.index == first_checkpoint


@pytest.mark.parametrize("column", ["note", "root"])
def test_altered_checkpoint_is_named(busy: Workspace, column: str):
    size = (
        sqlite3.connect(busy.folder / "catalog.db")
        .execute("SELECT max(size) FROM checkpoints")
        .fetchone()[0]
    )
    if column == "note":
        _sql(busy, "UPDATE checkpoints SET note = replace(note, ?, ?) WHERE size = ?",
             f"\n{size}\n", f"\n{size + 1}\n", size)  # fmt: skip
    else:
        _sql(busy, "UPDATE checkpoints SET root = ? WHERE size = ?", b"\x01" * 32, size)
    with pytest.raises(IntegrityError, match=f"checkpoint at size {size}") as err:
        Workspace.open(busy.folder).log.verify()
    assert err.value.index == size


def test_deleted_entry_is_named(busy: Workspace):
    _sql(busy, "DELETE FROM log_entries WHERE idx = 11")
    with pytest.raises(IntegrityError, match="log entry 11 is missing"):
        Workspace.open(busy.folder).log.verify()


def test_truncated_log_is_caught(busy: Workspace):
    _sql(busy, "DELETE FROM log_entries WHERE idx >= 20")
    _sql(busy, "UPDATE log_head SET size = 20")
    with pytest.raises(IntegrityError, match="checkpoint at size 25 covers entries"):
        Workspace.open(busy.folder).log.verify()


def test_cli_log_verify_fails_naming_the_index(busy: Workspace, project: Path):
    assert run_privet("log", "verify", "-w", project).returncode == 0
    _sql(busy, "UPDATE log_entries SET data = ? WHERE idx = 4", b'{"event":"x"}')
    result = run_privet("log", "verify", "-w", project)
    assert result.returncode == 1
    assert "log entry 4 " in result.stderr and "Traceback" not in result.stderr


def test_checkpoint_note_verifies_independently(busy: Workspace):
    checkpoint = busy.log.latest_checkpoint()
    origin, size, root = ref_open_checkpoint(checkpoint.note, busy.log.verifier_key)
    assert origin == busy.hazmat.origin and size == checkpoint.size
    leaves = [ref_leaf_hash(_entry(busy, i)) for i in range(size)]
    assert root == ref_mth(leaves)


def test_checkpoint_refuses_to_sign_a_tampered_log(busy: Workspace):
    _sql(busy, "UPDATE log_entries SET data = ? WHERE idx = 25", b'{"event":"x"}')
    with pytest.raises(IntegrityError, match="log entry 25"):
        Workspace.open(busy.folder).log.checkpoint()


def test_every_inclusion_proof_verifies_independently(busy: Workspace):
    checkpoint = busy.log.latest_checkpoint()
    _, size, root = ref_open_checkpoint(checkpoint.note, busy.log.verifier_key)
    for index in range(size):
        proof = busy.log.prove_inclusion(index)
        leaf = ref_leaf_hash(proof["entry"].encode())
        path = [bytes.fromhex(h) for h in proof["proof"]]
        assert ref_verify_inclusion(index, size, leaf, path, root)
        assert not ref_verify_inclusion(index, size, ref_leaf_hash(b"forged"), path, root)


def test_consistency_proof_since_an_old_checkpoint_verifies_independently(
    ws: Workspace, people_csv: Path, tmp_path: Path, project: Path
):
    ingest_people(ws, people_csv)
    old_note = ws.log.checkpoint().note
    for i in range(9):
        ws.read("people", purpose="training", actor=f"u{i}")
    ws.log.checkpoint()
    (tmp_path / "old.txt").write_text(old_note)
    result = invoke("log", "prove", "--since", tmp_path / "old.txt", "--json", workspace=project)
    assert result.exit_code == 0, result.stderr
    proof = json.loads(result.stdout)
    _, old_size, old_root = ref_open_checkpoint(old_note, ws.log.verifier_key)
    _, new_size, new_root = ref_open_checkpoint(proof["checkpoint"], ws.log.verifier_key)
    hashes = [bytes.fromhex(h) for h in proof["proof"]]
    assert (old_size, new_size) == (proof["old_size"], proof["new_size"]) == (3, 12)
    assert ref_verify_consistency(old_size, new_size, old_root, new_root, hashes)
    assert not ref_verify_consistency(old_size, new_size, new_root, new_root, hashes)


def test_consistency_proof_detects_rewritten_history(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    old_note = ws.log.checkpoint().note
    ws.read("people", purpose="training", actor="x")
    ws.close()
    # Rewrite entry 1 consistently (data and hash), then sign a fresh checkpoint over it.
    forged = b'{"event":"forged"}'
    _sql(ws, "UPDATE log_entries SET data = ?, leaf_hash = ? WHERE idx = 1",
         forged, ref_leaf_hash(forged))  # fmt: skip
    _sql(ws, "DELETE FROM checkpoints")
    reopened = Workspace.open(ws.folder)
    reopened.log.checkpoint()
    with pytest.raises(IntegrityError, match="history was rewritten"):
        reopened.log.prove_consistency(old_note)


def test_a_note_from_another_workspace_is_refused(ws: Workspace, tmp_path: Path):
    other_root = tmp_path / "other"
    other_root.mkdir()
    other = Workspace.init(other_root)
    note = other.log.checkpoint().note
    ws.log.checkpoint()
    with pytest.raises(InvalidInput, match="not a note signed by this workspace"):
        ws.log.prove_consistency(note)


def test_appends_in_a_rolled_back_transaction_leave_no_trace(ws: Workspace):
    size = ws.log.size()
    with ws.hazmat.session() as session:
        append(session, [{"event": "test"}] * 3)
        session.rollback()
    assert ws.log.size() == size
    ws.log.verify()


def test_a_failed_ingest_leaves_no_entry_version_or_object(
    ws: Workspace, people_csv: Path, monkeypatch: pytest.MonkeyPatch
):
    # The log entry and the version commit together: a failure after the append rolls both
    # back, and the already-written encrypted object is removed.
    import privet.lineage

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(privet.lineage, "record", broken)
    size = ws.log.size()
    with pytest.raises(RuntimeError):
        ingest_people(ws, people_csv)
    assert ws.log.size() == size and ws.datasets() == []
    assert list(ws.hazmat.store.object_keys()) == []


def test_log_entries_hold_no_cell_values(busy: Workspace, people):
    blob = b"".join(_entry(busy, i) for i in range(busy.log.size()))
    for column in ("full_name", "email", "ssn", "phone"):
        for value in people.get_column(column).to_list():
            assert value.encode() not in blob


def test_cli_log_show_json_lists_entries(busy: Workspace, project: Path):
    result = invoke("log", "show", "--start", "2", "--limit", "3", "--json", workspace=project)
    data = json.loads(result.stdout)
    assert data["size"] == 26
    assert [e["index"] for e in data["entries"]] == [2, 3, 4]
    assert data["entries"][0]["event"] == "dataset.ingest"


def _two_checkpoints(ws: Workspace, people_csv: Path, tmp_path: Path) -> Path:
    ingest_people(ws, people_csv)
    old = tmp_path / "old.txt"
    old.write_text(ws.log.checkpoint().note)
    for i in range(5):
        ws.read("people", purpose="training", actor=f"u{i}")
    ws.log.checkpoint()
    ws.close()
    return old


def test_prove_since_fails_when_entries_under_the_latest_checkpoint_were_replaced(
    ws: Workspace, people_csv: Path, tmp_path: Path, project: Path
):
    old = _two_checkpoints(ws, people_csv, tmp_path)
    # Delete two entries the latest checkpoint covers and append one in their place, with a
    # correct leaf hash: indexes stay dense up to the head, only the checkpoint disagrees.
    db = sqlite3.connect(ws.folder / "catalog.db")
    size = db.execute("SELECT size FROM log_head").fetchone()[0]
    db.execute("DELETE FROM log_entries WHERE idx IN (?, ?)", (size - 2, size - 1))
    forged = b'{"event":"forged"}'
    db.execute(
        "INSERT INTO log_entries (idx, data, leaf_hash) VALUES (?, ?, ?)",
        (size - 2, forged, ref_leaf_hash(forged)),
    )
    db.execute("UPDATE log_head SET size = ?", (size - 1,))
    db.commit()
    db.close()
    for args in (["--since", old], ["3"]):
        result = invoke("log", "prove", *args, "--json", workspace=project)
        assert result.exit_code == 1, result.stdout
        assert result.stdout == ""
        assert "shorter than its checkpoint" in result.stderr
        assert "Traceback" not in result.stderr


def test_prove_since_fails_when_an_entry_after_the_old_checkpoint_was_rewritten(
    ws: Workspace, people_csv: Path, tmp_path: Path, project: Path
):
    old = _two_checkpoints(ws, people_csv, tmp_path)
    # Covered by the latest checkpoint only: the old code built a proof from the stored
    # hashes that no verifier accepts, and printed it.
    forged = b'{"event":"forged"}'
    db = sqlite3.connect(ws.folder / "catalog.db")
    size = db.execute("SELECT size FROM log_head").fetchone()[0]
    db.execute(
        "UPDATE log_entries SET data = ?, leaf_hash = ? WHERE idx = ?",
        (forged, ref_leaf_hash(forged), size - 1),
    )
    db.commit()
    db.close()
    result = invoke("log", "prove", "--since", old, "--json", workspace=project)
    assert result.exit_code == 1 and result.stdout == ""
    assert "history was rewritten" in result.stderr


def test_prove_fails_on_a_checkpoint_whose_signature_was_altered(
    ws: Workspace, people_csv: Path, tmp_path: Path, project: Path
):
    old = _two_checkpoints(ws, people_csv, tmp_path)
    db = sqlite3.connect(ws.folder / "catalog.db")
    size, note = db.execute(
        "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
    ).fetchone()
    body, signature_line = note.rsplit("\n— ", 1)
    name, signature = signature_line.rsplit(" ", 1)
    altered = "A" + signature[1:] if signature[0] != "A" else "B" + signature[1:]
    db.execute(
        "UPDATE checkpoints SET note = ? WHERE size = ?",
        (f"{body}\n— {name} {altered}", size),
    )
    db.commit()
    db.close()
    for args in (["--since", old], ["2"]):
        result = invoke("log", "prove", *args, workspace=project)
        assert result.exit_code == 1
        assert "invalid signature" in result.stderr
        assert altered not in result.stdout
