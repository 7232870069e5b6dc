"""The master key outside the workspace, key rotation and re-encryption (acceptance 4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from privet import KeyUnavailable, Workspace
from privet.schema import Version
from privet.vault import primary_key_id
from tests.conftest import ingest_people, run_privet


def _key_path(ws: Workspace) -> Path:
    return Path(ws.hazmat.config.kms_uri.removeprefix("local-file://"))


def test_without_the_master_key_file_nothing_decrypts(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    _key_path(ws).rename(_key_path(ws).with_suffix(".moved"))
    reopened = Workspace.open(ws.folder)
    with pytest.raises(KeyUnavailable, match="master key file .* is missing"):
        reopened.read("people", purpose="training", actor="a")
    # Metadata stays browsable without the key.
    assert reopened.dataset("people").versions[0].rows == 300


def test_cli_without_the_master_key_exits_1_with_one_sentence(
    ws: Workspace, project: Path, people_csv: Path, tmp_path: Path
):
    ingest_people(ws, people_csv)
    _key_path(ws).unlink()
    result = run_privet("export", "people", "-o", tmp_path / "o.csv", "--purpose", "training",
                        "-w", project)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "master key file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_a_copied_workspace_folder_carries_no_key(ws: Workspace, people_csv: Path, tmp_path):
    ingest_people(ws, people_csv)
    copy = tmp_path / "copy"
    shutil.copytree(ws.folder.parent, copy)
    shutil.rmtree(tmp_path / "keys")  # the attacker has the folder, not the key
    with pytest.raises(KeyUnavailable):
        Workspace.open(copy).read("people", purpose="training", actor="thief")


def test_a_key_file_readable_by_others_is_refused(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    _key_path(ws).chmod(0o644)
    with pytest.raises(KeyUnavailable, match="chmod 600"):
        Workspace.open(ws.folder).read("people", purpose="training", actor="a")


def test_rotation_adds_a_primary_and_old_versions_stay_readable(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    with ws.hazmat.reading() as session:
        old = session.scalars(select(Version)).one()
        old_key_id, old_object = old.key_id, old.object_key
    result = ws.rotate_keys(actor="admin")
    assert result["workspace_keys"] == 2 and result["dataset_keysets"] == 1
    reopened = Workspace.open(ws.folder)
    assert reopened.read("people", purpose="training", actor="a").height == 300
    with reopened.hazmat.reading() as session:
        handle = reopened.hazmat.vault.dataset_keyset(session, old.dataset_id)
        assert primary_key_id(handle) != old_key_id
        assert session.scalars(select(Version)).one().object_key == old_object
    # A new version is encrypted under a data key of its own, added to the keyset.
    before = {k.key_id for k in handle.keyset_info().key_info}
    v2 = reopened.ingest(people_csv, name="people", owner="", purposes=[], actor="a",
                         new_version=True)  # fmt: skip
    with reopened.hazmat.reading() as session:
        key_id = session.get(Version, v2.id).key_id
        keys = reopened.hazmat.vault.dataset_keyset(session, old.dataset_id).keyset_info()
    assert key_id not in before and key_id in {k.key_id for k in keys.key_info}
    assert [e.event["event"] for e in reopened.log.records()].count("keys.rotate") == 1


def test_reencrypt_rewrites_every_version_under_the_new_key(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    with ws.hazmat.reading() as session:
        before = session.scalars(select(Version)).one()
        old_object = before.object_key
    result = ws.rotate_keys(actor="admin", reencrypt=True)
    assert result["reencrypted_versions"] == 1
    with ws.hazmat.reading() as session:
        after = session.scalars(select(Version)).one()
        handle = ws.hazmat.vault.dataset_keyset(session, after.dataset_id)
        kept = {k.key_id for k in handle.keyset_info().key_info}
    # The version moved to a new key of its own; its old key is destroyed.
    assert after.key_id != before.key_id and after.key_id in kept and before.key_id not in kept
    assert after.object_key != old_object
    assert not (ws.hazmat.store.root / old_object).exists()
    assert ws.read("people", purpose="training", actor="a").height == 300
    assert ws.garbage() == []
    ws.log.verify()
    # Rotating twice with re-encryption touches each version again.
    assert ws.rotate_keys(actor="admin", reencrypt=True)["reencrypted_versions"] == 1


def test_cli_keys_rotate_json(ws: Workspace, project: Path, people_csv: Path):
    ingest_people(ws, people_csv)
    result = run_privet("keys", "rotate", "--reencrypt", "--json", "-w", project)
    assert result.returncode == 0, result.stderr
    assert '"reencrypted_versions": 1' in result.stdout


def test_keyed_pseudonyms_are_stable_within_a_workspace_and_differ_across(
    ws: Workspace, tmp_path: Path
):
    with ws.hazmat.session() as session:
        first = ws.hazmat.vault.keyed_prf(session).compute(b"alice@example.org", 16)
        session.commit()
    with Workspace.open(ws.folder) as again, again.hazmat.reading() as session:
        assert again.hazmat.vault.keyed_prf(session).compute(b"alice@example.org", 16) == first
    other_root = tmp_path / "other"
    other_root.mkdir()
    with Workspace.init(other_root) as other, other.hazmat.session() as session:
        assert other.hazmat.vault.keyed_prf(session).compute(b"alice@example.org", 16) != first


def test_tokens_round_trip_and_survive_rotation(ws: Workspace):
    with ws.hazmat.session() as session:
        token = ws.hazmat.vault.token_aead(session).encrypt_deterministically(
            b"123-45-6789", b"ssn"
        )
        session.commit()
    ws.rotate_keys(actor="admin")
    with Workspace.open(ws.folder) as again, again.hazmat.reading() as session:
        assert again.hazmat.vault.token_aead(session).decrypt_deterministically(token, b"ssn") == (
            b"123-45-6789"
        )
