"""Ingest, the catalog entry it makes, and governed export (acceptance points 2, 3, 6)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import select

from privet import AlreadyExists, IntegrityError, InvalidInput, PolicyDenied, Workspace, policy
from privet.schema import Version
from privet.tables import read_table
from tests.conftest import PEOPLE_CATEGORIES, ingest_people, invoke


def _workspace_bytes(ws: Workspace) -> bytes:
    """Every byte of every file under the workspace (catalog, WAL, objects, config)."""
    return b"".join(p.read_bytes() for p in sorted(ws.folder.rglob("*")) if p.is_file())


def _cell_values(frame: pl.DataFrame) -> set[str]:
    values: set[str] = set()
    for column in frame.columns:
        values.update(str(v) for v in frame.get_column(column).drop_nulls().unique().to_list())
    return {v for v in values if len(v) >= 4}


def test_no_cell_value_appears_in_any_workspace_file(
    people: pl.DataFrame, people_csv: Path, tmp_path: Path
):
    # Two workspaces ingest the same file. Ciphertext is random, so a 4-character value can
    # match by chance (about 2^-32 per byte offset); a real leak shows up in both, chance
    # matches almost never do.
    leaks = []
    for name in ("one", "two"):
        root = tmp_path / name
        root.mkdir()
        ws = Workspace.init(root)
        ingest_people(ws, people_csv)
        ws.read("people", purpose="training", actor="bob")
        ws.log.checkpoint()
        blob = _workspace_bytes(ws)
        leaks.append({v for v in _cell_values(people) if v.encode() in blob})
        ws.close()
    assert len(_cell_values(people)) > 2000  # the check is not vacuous
    assert leaks[0] & leaks[1] == set()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_export_returns_exactly_what_was_ingested(
    ws: Workspace, people: pl.DataFrame, tmp_path: Path, suffix: str
):
    source = tmp_path / f"in{suffix}"
    frame = people.with_columns(pl.col("date_of_birth").cast(pl.String))
    frame = frame.with_columns((pl.col("age") / 3).alias("age_thirds"))  # floats round-trip too
    {".csv": frame.write_csv, ".parquet": frame.write_parquet, ".jsonl": frame.write_ndjson}[
        suffix
    ](source)
    ws.ingest(source, name="people", owner="alice", purposes=["training"], actor="alice")
    out = tmp_path / f"out{suffix}"
    ws.export("people", out, purpose="training", actor="bob")
    original, exported = read_table(source).frame, read_table(out).frame
    assert_frame_equal(exported, original)  # values and dtypes
    assert exported.height == people.height


def test_parquet_types_survive_a_parquet_round_trip(ws: Workspace, tmp_path: Path):
    frame = pl.DataFrame(
        {
            "when": pl.Series(["2020-01-02", "1999-12-31"]).str.to_date(),
            "score": [1.25, None],
            "n": pl.Series([1, 2], dtype=pl.Int16),
            "flag": [True, False],
            "tags": [["a", "b"], []],
        }
    )
    source = tmp_path / "typed.parquet"
    frame.write_parquet(source)
    ws.ingest(source, name="typed", owner="o", purposes=["p"], actor="a")
    assert_frame_equal(ws.read("typed", purpose="p", actor="a"), frame)


def test_version_records_rows_schema_and_content_hash(ws: Workspace, people_csv: Path):
    version = ingest_people(ws, people_csv)
    # ZIP codes keep their leading zeros: text (recorded as digit strings), not Int64.
    source = pl.read_csv(people_csv, schema_overrides={"zip": pl.String})
    assert source["zip"].str.starts_with("0").any()
    assert version.rows == source.height
    assert [(c.name, c.dtype) for c in version.columns] == [
        (name, str(dtype)) for name, dtype in source.schema.items()
    ]
    meanings = {c.name: c.meaning for c in version.columns if c.meaning}
    assert meanings == {"zip": "integer", "date_of_birth": "date"}
    # The content hash is over the decrypted canonical Parquet: recompute it independently.
    with ws.hazmat.reading() as session:
        row = session.scalars(select(Version)).one()
        handle = ws.hazmat.vault.dataset_keyset(session, row.dataset_id)
        with ws.hazmat.store.open(row.object_key) as stored:
            plaintext = ws.hazmat.vault.decrypt_version(handle, row.dataset_id, row.id, stored)
    assert hashlib.sha256(plaintext).hexdigest() == version.content_sha256
    assert_frame_equal(pl.read_parquet(plaintext), source)


def test_columns_get_category_role_and_dataset_a_risk_level(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    info = ws.dataset("people")
    roles = {c.name: (c.category, c.role) for c in info.versions[-1].columns}
    assert roles["email"] == ("user.contact.email", "direct_identifier")
    assert roles["race"] == ("user.demographic.race_ethnicity", "quasi_identifier")
    assert roles["fnlwgt"] == (None, "other")
    # race is a special category (GDPR Art. 9): the dataset is restricted.
    assert info.classification == "restricted"
    assert info.subject_id_column == "person_id"
    assert info.purposes == ["analytics", "training"]


def test_dataset_without_categories_defaults_to_confidential(ws: Workspace, people_csv: Path):
    # Without discovery (scan=False) nothing says what the columns hold: confidential.
    ws.ingest(people_csv, name="unknown", owner="o", purposes=["p"], actor="a", scan=False)
    assert ws.dataset("unknown").classification == "confidential"
    # With discovery (the default) the SSNs and race found make it restricted.
    ws.ingest(people_csv, name="scanned", owner="o", purposes=["p"], actor="a")
    assert ws.dataset("scanned").classification == "restricted"


def test_classification_cannot_be_set_below_what_the_categories_imply(
    ws: Workspace, people_csv: Path
):
    with pytest.raises(InvalidInput, match="requires at least restricted"):
        ws.ingest(
            people_csv,
            name="p",
            owner="o",
            purposes=["p"],
            actor="a",
            categories=PEOPLE_CATEGORIES,
            classification="internal",
        )


def test_unknown_category_is_refused_with_a_suggestion(ws: Workspace, people_csv: Path):
    with pytest.raises(InvalidInput, match="did you mean user.contact.email"):
        ws.ingest(
            people_csv,
            name="p",
            owner="o",
            purposes=["p"],
            actor="a",
            categories={"email": "user.contact.emial"},
        )


def test_lineage_links_the_source_file_hash_to_the_version(ws: Workspace, people_csv: Path):
    version = ingest_people(ws, people_csv)
    (edge,) = ws.lineage("people")
    assert edge.source == "file:sha256:" + hashlib.sha256(people_csv.read_bytes()).hexdigest()
    assert edge.target == f"version:{version.id}"
    assert edge.facts == {"format": "csv", "bytes": people_csv.stat().st_size, "rows": 300}
    assert ws.log.records(edge.log_index, 1)[0].event["event"] == "dataset.ingest"


def test_second_ingest_needs_new_version_and_numbers_versions(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    with pytest.raises(AlreadyExists, match="new_version"):
        ingest_people(ws, people_csv)
    second = ws.ingest(
        people_csv, name="people", owner="", purposes=[], actor="a", new_version=True
    )
    assert second.ref == "people@2"
    assert [v.number for v in ws.dataset("people").versions] == [1, 2]
    assert ws.read("people@1", purpose="training", actor="a").height == 300


def test_undeclared_purpose_is_refused_and_the_refusal_is_logged(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    before = ws.log.size()
    with pytest.raises(PolicyDenied, match="marketing"):
        ws.read("people", purpose="marketing", actor="mallory")
    (entry,) = ws.log.records(before)
    assert entry.event["event"] == "read.refused"
    assert entry.event["actor"] == "mallory"
    assert entry.event["purpose"] == "marketing"
    ws.log.verify()


def test_every_release_is_logged_before_data_leaves(ws: Workspace, people_csv: Path, tmp_path):
    ingest_people(ws, people_csv)
    release = ws.export("people", tmp_path / "o.parquet", purpose="training", actor="bob")
    entry = ws.log.records(release.log_index, 1)[0].event
    assert entry["event"] == "read"
    assert (entry["actor"], entry["purpose"], entry["rows"]) == ("bob", "training", 300)


def test_export_will_not_overwrite_without_force(ws: Workspace, people_csv: Path, tmp_path):
    ingest_people(ws, people_csv)
    out = tmp_path / "o.csv"
    out.write_text("keep me")
    with pytest.raises(AlreadyExists):
        ws.export("people", out, purpose="training", actor="a")
    assert out.read_text() == "keep me"
    ws.export("people", out, purpose="training", actor="a", overwrite=True)
    assert pl.read_csv(out).height == 300


def test_altered_ciphertext_fails_to_decrypt(ws: Workspace, people_csv: Path):
    ingest_people(ws, people_csv)
    with ws.hazmat.reading() as session:
        key = session.scalars(select(Version.object_key)).one()
    path = ws.hazmat.store.root / key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        ws.read("people", purpose="training", actor="a")


def test_ciphertext_moved_to_another_version_fails_to_decrypt(ws: Workspace, people_csv: Path):
    # The version ids are authenticated data: swapping objects between versions is detected.
    ingest_people(ws, people_csv)
    ws.ingest(people_csv, name="people", owner="", purposes=[], actor="a", new_version=True)
    with ws.hazmat.reading() as session:
        first, second = session.scalars(select(Version).order_by(Version.number)).all()
    (ws.hazmat.store.root / second.object_key).write_bytes(
        (ws.hazmat.store.root / first.object_key).read_bytes()
    )
    with pytest.raises(IntegrityError):
        ws.read("people@2", purpose="training", actor="a")


def test_cli_ingest_and_export_json(ws: Workspace, project: Path, people_csv: Path, tmp_path):
    result = invoke(
        "ingest", people_csv, "--name", "people", "--owner", "alice", "--purpose", "training",
        "--category", "email=user.contact.email", "--subject-id", "person_id", "--json",
        workspace=project,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    version = json.loads(result.stdout)
    assert (version["dataset"], version["number"], version["rows"]) == ("people", 1, 300)
    out = tmp_path / "out.parquet"
    result = invoke(
        "export", "people@1", "-o", out, "--purpose", "training", "--json", workspace=project
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 300
    assert pl.read_parquet(out).height == 300
    shown = json.loads(invoke("datasets", "people", "--json", workspace=project).stdout)
    assert shown["lineage"][0]["activity"] == "ingest"
    assert shown["versions"][0]["columns"][2]["category"] == "user.contact.email"


def test_internal_purpose_reads_are_logged_but_never_exported(
    ws: Workspace, people_csv: Path, tmp_path: Path
):
    ingest_people(ws, people_csv)
    release = policy.read(ws.hazmat, "people", purpose="privet:assessment", actor="privet-scan")
    assert release.frame.height == 300
    assert ws.log.records(release.log_index, 1)[0].event["purpose"] == "privet:assessment"
    with pytest.raises(PolicyDenied, match="not for exports"):
        ws.export("people", tmp_path / "o.csv", purpose="privet:assessment", actor="a")
    with pytest.raises(InvalidInput, match="reserved"):
        ws.ingest(people_csv, name="x", owner="o", purposes=["privet:assessment"], actor="a")
