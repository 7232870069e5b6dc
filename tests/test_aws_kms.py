"""An AWS KMS master key (``aws-kms://ARN``), through Tink's AWS KMS client, against moto.

moto runs in-process (``mock_aws``) for the library and CliRunner tests, and as a threaded
HTTP server for the subprocess CLI test (boto3 in the child finds it via AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import binascii
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
import yaml
from botocore.exceptions import ClientError
from click.testing import CliRunner
from moto import mock_aws
from moto.core.exceptions import JsonRESTError
from moto.kms.models import KmsBackend
from polars.testing import assert_frame_equal
from sqlalchemy import text
from tink.proto import tink_pb2

from privet import InvalidInput, KeyUnavailable, Workspace, tables
from privet.cli import cli
from privet.datasets import raw_people

REGION = "us-east-1"
PURPOSE = "fraud-detection"
ACTOR = "alice"
PRIVET = Path(sys.executable).with_name("privet")
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
# Variables that could point boto3 at a real account or another endpoint.
AWS_LEAKS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL")


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for name in AWS_LEAKS:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    missing = tmp_path_factory.mktemp("aws") / "absent"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def kms(aws_env: None) -> Iterator[Any]:
    """A boto3 KMS client on an in-process moto account, fresh for each test."""
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


class _Disabled(JsonRESTError):
    code = 400

    def __init__(self, arn: str) -> None:
        super().__init__("DisabledException", f"{arn} is disabled.")


@pytest.fixture(autouse=True)
def kms_refuses_disabled_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5 encrypts and decrypts with a disabled key; AWS answers DisabledException.

    Patched on the backend, so it holds in-process and in the threaded server alike.
    """
    encrypt, decrypt = KmsBackend.encrypt, KmsBackend.decrypt

    def check(backend: KmsBackend, key_id: str | None) -> None:
        if key_id is None:
            return
        key = backend.keys.get(backend.any_id_to_key_id(key_id))
        if key is not None and key.key_state != "Enabled":
            raise _Disabled(key.arn)

    def guarded_encrypt(self: KmsBackend, key_id: str, *args: Any, **kwargs: Any) -> Any:
        check(self, key_id)
        return encrypt(self, key_id, *args, **kwargs)

    def guarded_decrypt(self: KmsBackend, *args: Any, key_id: str | None = None, **kw: Any) -> Any:
        check(self, key_id)
        return decrypt(self, *args, key_id=key_id, **kw)

    monkeypatch.setattr(KmsBackend, "encrypt", guarded_encrypt)
    monkeypatch.setattr(KmsBackend, "decrypt", guarded_decrypt)


@pytest.fixture
def key_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty PRIVET_KEY_DIR outside every workspace: an AWS KMS workspace must not use it."""
    folder = tmp_path_factory.mktemp("keys")
    monkeypatch.setenv("PRIVET_KEY_DIR", str(folder))
    return folder


@pytest.fixture
def people_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("source") / "people.csv"
    raw_people(200).write_csv(path)
    return path


def _new_key(kms: Any) -> dict[str, str]:
    return kms.create_key(Description="privet test master key")["KeyMetadata"]


def _uri(key: dict[str, str]) -> str:
    return "aws-kms://" + key["Arn"]


def _ingested(root: Path, uri: str, source: Path) -> Workspace:
    ws = Workspace.init(root, kms_uri=uri)
    ws.ingest(source, name="people", owner="data-team", purposes=[PURPOSE], actor=ACTOR)
    return ws


def _set_kms_uri(root: Path, uri: str) -> None:
    config = root / ".privet" / "workspace.yaml"
    data = yaml.safe_load(config.read_text())
    data["kms_uri"] = uri
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _wrapped(ws: Workspace, name: str) -> bytes:
    with ws.hazmat.engine.connect() as conn:
        row = conn.execute(text("SELECT wrapped FROM keysets WHERE name = :n"), {"n": name})
        return bytes(row.scalar_one())


def _assert_clean_refusal(err: BaseException, *secrets: bytes) -> None:
    """One plain sentence: no traceback, no chained AWS error, no key bytes."""
    message = str(err)
    assert message and "\n" not in message
    assert "Traceback" not in message
    assert "KMS" in message or "master key" in message
    assert err.__cause__ is None and err.__suppress_context__
    for secret in secrets:
        assert secret.hex() not in message
        assert binascii.b2a_base64(secret, newline=False).decode() not in message


# --- round trip --------------------------------------------------------------------------


def test_ingest_and_read_round_trip_under_an_aws_kms_master_key(
    kms: Any, tmp_path: Path, key_dir: Path, people_csv: Path
) -> None:
    uri = _uri(_new_key(kms))
    with _ingested(tmp_path, uri, people_csv) as ws:
        assert ws.hazmat.config.kms_uri == uri
        frame = ws.read("people", purpose=PURPOSE, actor=ACTOR)
        create = next(r.event for r in ws.log.records() if r.event["event"] == "keys.create")
        assert create["kms"] == "aws-kms"
    assert_frame_equal(frame, tables.read_table(people_csv).frame)
    # A fresh process-like open: unwraps through KMS again instead of a cached key.
    with Workspace.open(tmp_path) as reopened:
        assert_frame_equal(reopened.read("people", purpose=PURPOSE, actor=ACTOR), frame)
        assert reopened.log.verify().size == reopened.log.size()


def test_an_aws_kms_workspace_writes_no_local_key_file(
    kms: Any, tmp_path: Path, key_dir: Path, people_csv: Path
) -> None:
    with _ingested(tmp_path, _uri(_new_key(kms)), people_csv) as ws:
        ws.read("people", purpose=PURPOSE, actor=ACTOR)
        ws.rotate_keys(actor=ACTOR, reencrypt=True)
    assert list(key_dir.iterdir()) == []


# --- what the catalog holds --------------------------------------------------------------


def test_the_stored_workspace_keyset_is_kms_ciphertext_only_its_own_key_unwraps(
    kms: Any, tmp_path: Path, key_dir: Path, people_csv: Path
) -> None:
    key, other = _new_key(kms), _new_key(kms)
    with _ingested(tmp_path, _uri(key), people_csv) as ws:
        wrapped = _wrapped(ws, "workspace")
        workspace_id = ws.hazmat.config.id
    encrypted = tink_pb2.EncryptedKeyset.FromString(wrapped)
    # Tink passes the associated data (the workspace-bound context) as KMS encryption context.
    context = {"associatedData": (b"privet/workspace/" + workspace_id.encode()).hex()}
    with pytest.raises(ClientError):
        kms.decrypt(
            KeyId=other["Arn"], CiphertextBlob=encrypted.encrypted_keyset, EncryptionContext=context
        )
    plaintext = kms.decrypt(
        KeyId=key["Arn"], CiphertextBlob=encrypted.encrypted_keyset, EncryptionContext=context
    )["Plaintext"]
    keyset = tink_pb2.Keyset.FromString(plaintext)
    assert [k.key_data.type_url for k in keyset.key] == [
        "type.googleapis.com/google.crypto.tink.AesGcmKey"
    ]
    # The AES key inside never appears in the clear in what the catalog stores.
    assert keyset.key[0].key_data.value not in wrapped
    assert plaintext not in wrapped


def test_a_workspace_pointed_at_another_kms_key_refuses_reads_with_key_unavailable(
    kms: Any, tmp_path: Path, key_dir: Path, people_csv: Path
) -> None:
    key, other = _new_key(kms), _new_key(kms)
    with _ingested(tmp_path, _uri(key), people_csv) as ws:
        wrapped = _wrapped(ws, "workspace")
    _set_kms_uri(tmp_path, _uri(other))
    with Workspace.open(tmp_path) as ws:
        assert ws.hazmat.config.kms_uri == _uri(other)
        with pytest.raises(KeyUnavailable) as caught:
            ws.read("people", purpose=PURPOSE, actor=ACTOR)
    _assert_clean_refusal(caught.value, wrapped)


# --- a key that cannot be used -----------------------------------------------------------


def test_a_disabled_kms_key_makes_reads_fail_with_a_clear_key_unavailable(
    kms: Any, tmp_path: Path, key_dir: Path, people_csv: Path
) -> None:
    key = _new_key(kms)
    with _ingested(tmp_path, _uri(key), people_csv) as ws:
        wrapped = _wrapped(ws, "workspace")
    kms.disable_key(KeyId=key["KeyId"])
    with Workspace.open(tmp_path) as ws:
        with pytest.raises(KeyUnavailable) as caught:
            ws.read("people", purpose=PURPOSE, actor=ACTOR)
        # Metadata needs no key: the catalog stays browsable while the key is disabled.
        assert [d.name for d in ws.datasets()] == ["people"]
    _assert_clean_refusal(caught.value, wrapped)
    kms.enable_key(KeyId=key["KeyId"])
    with Workspace.open(tmp_path) as ws:
        assert ws.read("people", purpose=PURPOSE, actor=ACTOR).height == 200


@pytest.mark.parametrize("state", ["disabled", "missing"])
def test_init_with_an_unusable_kms_key_fails_with_key_unavailable_and_leaves_nothing(
    kms: Any, tmp_path: Path, key_dir: Path, state: str
) -> None:
    key = _new_key(kms)
    if state == "disabled":
        kms.disable_key(KeyId=key["KeyId"])
        uri = _uri(key)
    else:
        # Well formed, but no such key exists in the account.
        uri = _uri(key).rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    with pytest.raises(KeyUnavailable) as caught:
        Workspace.init(tmp_path, kms_uri=uri)
    _assert_clean_refusal(caught.value)
    assert list(tmp_path.iterdir()) == []
    assert list(key_dir.iterdir()) == []


def test_an_unreachable_kms_fails_reads_with_key_unavailable(
    aws_env: None,
    tmp_path: Path,
    key_dir: Path,
    people_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with mock_aws():
        uri = _uri(_new_key(boto3.client("kms", region_name=REGION)))
        _ingested(tmp_path, uri, people_csv).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with Workspace.open(tmp_path) as ws, pytest.raises(KeyUnavailable) as caught:
        ws.read("people", purpose=PURPOSE, actor=ACTOR)
    _assert_clean_refusal(caught.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "uri",
    [
        "aws-kms://",
        "aws-kms://not-an-arn",
        # An ARN, but of an S3 object rather than a KMS key.
        "aws-kms://arn:aws:s3:::bucket/key",
        # Five fields: the key id part is missing.
        "aws-kms://arn:aws:kms:us-east-1:123456789012",
        # Empty region: boto3 builds the endpoint https://kms..amazonaws.com.
        "aws-kms://arn:aws:kms::123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        # Region names are lower case; Tink's client rejects this URI outright.
        "aws-kms://arn:aws:kms:US-EAST-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        # A space in the region: botocore refuses the region name.
        "aws-kms://arn:aws:kms:us east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ],
)
def test_a_malformed_aws_kms_uri_is_refused_with_invalid_input_and_leaves_nothing(
    kms: Any, tmp_path: Path, key_dir: Path, uri: str
) -> None:
    with pytest.raises(InvalidInput, match="aws-kms://"):
        Workspace.init(tmp_path, kms_uri=uri)
    assert list(tmp_path.iterdir()) == []
    assert list(key_dir.iterdir()) == []


# --- the command line --------------------------------------------------------------------


def _cli_flow(root: Path, uri: str, source: Path, out: Path) -> list[list[str]]:
    return [
        ["init", str(root), "--kms-uri", uri, "--json"],
        ["ingest", str(source), "--name", "people", "--owner", "data-team",
         "--purpose", PURPOSE, "-w", str(root), "--json"],
        ["export", "people", "-o", str(out), "--purpose", PURPOSE, "-w", str(root), "--json"],
        ["log", "verify", "-w", str(root), "--json"],
    ]  # fmt: skip


def test_cli_init_ingest_export_with_an_aws_kms_key_in_process(
    kms: Any, tmp_path: Path, key_dir: Path, people_csv: Path
) -> None:
    key = _new_key(kms)
    root, out = tmp_path / "project", tmp_path / "out.csv"
    root.mkdir()
    runner = CliRunner()
    for args in _cli_flow(root, _uri(key), people_csv, out):
        result = runner.invoke(cli, args, env={"PRIVET_USER": ACTOR})
        assert result.exit_code == 0, (args[0], result.stderr, result.exception)
    assert_frame_equal(tables.read_table(out).frame, tables.read_table(people_csv).frame)
    assert list(key_dir.iterdir()) == []

    kms.disable_key(KeyId=key["KeyId"])
    again = tmp_path / "again.csv"
    result = runner.invoke(
        cli, ["export", "people", "-o", str(again), "--purpose", PURPOSE, "-w", str(root)]
    )
    assert result.exit_code == 1
    # One sentence on stderr naming the key problem; no file written.
    assert result.stderr.startswith("privet: error: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not again.exists()


def test_cli_subprocesses_use_aws_kms_through_a_moto_server(
    aws_env: None, tmp_path: Path, key_dir: Path, people_csv: Path
) -> None:
    pytest.importorskip("flask", reason="moto's server mode needs moto[server] (flask)")
    pytest.importorskip("flask_cors", reason="moto's server mode needs moto[server] (flask-cors)")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        kms = boto3.client("kms", region_name=REGION, endpoint_url=endpoint)
        key = _new_key(kms)
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "PRIVET_USER": ACTOR,
            "PRIVET_KEY_DIR": str(key_dir),
        }
        env.pop("PRIVET_WORKSPACE", None)
        root, out = tmp_path / "project", tmp_path / "out.parquet"
        root.mkdir()
        for args in _cli_flow(root, _uri(key), people_csv, out):
            done = subprocess.run(
                [str(PRIVET), *args], capture_output=True, text=True, env=env, timeout=120
            )
            assert done.returncode == 0, (args[0], done.stderr)
        exported = pl.read_parquet(out)
        assert_frame_equal(exported, tables.read_table(people_csv).frame)
        assert list(key_dir.iterdir()) == []

        # Disabling the key on the server stops the next child: it really used that key.
        kms.disable_key(KeyId=key["KeyId"])
        done = subprocess.run(
            [str(PRIVET), "export", "people", "-o", str(tmp_path / "again.csv"),
             "--purpose", PURPOSE, "-w", str(root)],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1
        assert done.stderr.startswith("privet: error: ") and "Traceback" not in done.stderr
    finally:
        server.stop()
