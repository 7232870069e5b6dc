"""Federation as real processes on loopback with TLS: SuperLink, SuperNodes, certificates.

Acceptance 3 of issue 18: a SuperNode without the federation's CA is refused (the SuperLink
never lists it), a party whose grant was revoked cannot join the next round, and a run
completes over TLS with its result file removed and no process left behind.
"""

from __future__ import annotations

import datetime
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from privet import Workspace
from privet.datasets import adult
from privet.federated import Party
from privet.federated._deploy import (
    CLIENT_APP,
    SERVER_APP,
    Node,
    deploy,
    deployed_config,
    deployed_nodes,
)
from privet.federated._deployed_apps import read_result
from privet.federated._local import CHANNEL
from privet.federated._processes import Cluster, FederationFailed, Started
from privet.federated._requests import FederateRequest, SecAgg
from privet.federated._tls import make_certificates
from privet.policy import GrantRequest

pytest.importorskip("flwr")


def test_certificates_are_a_ca_and_a_loopback_server_certificate_it_signs(tmp_path: Path) -> None:
    now = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    certs = make_certificates(tmp_path / "certs", now=now)
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    server = x509.load_pem_x509_certificate(certs.cert.read_bytes())
    # Independently: the server certificate verifies under the CA's public key.
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(a) for a in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert server.not_valid_before_utc <= now < server.not_valid_after_utc
    assert stat.S_IMODE(certs.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(certs.folder.stat().st_mode) == 0o700
    # The CA's private key is never written: only the server's key is in the folder.
    keys = [p.name for p in certs.folder.iterdir() if b"PRIVATE KEY" in p.read_bytes()]
    assert keys == [certs.key.name]
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(certs.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key().public_numbers() == server.public_key().public_numbers()


def test_untrusted_supernodes_are_refused_and_a_revoked_party_is_left_out(tmp_path: Path) -> None:
    """privet's deployed apps, plain FedAvg, one round: two parties, one whose grant was
    revoked, and two SuperNodes that do not trust the federation's CA."""
    parties, grants = make_parties(tmp_path, 3, rows=150)
    revoke(parties[2], grants[2])
    request = adult_request(rounds=1, secagg=False, mode="processes")
    nodes = [*deployed_nodes(parties)]
    other = make_certificates(tmp_path / "other-ca")
    nodes += [
        Node("no-ca", {"privet-party": "{}"}, insecure=True),
        Node("other-ca", {"privet-party": "{}"}, root_certificates=other.ca),
    ]
    seen: dict[str, Any] = {}

    def check_refused(cluster: Cluster, started: list[Started]) -> None:
        # Wait until each untrusted SuperNode has been turned away: it gave up on the TLS
        # handshake, or it has failed to connect at least twice.
        deadline = time.monotonic() + 60
        for node in started[3:]:
            while node.popen.poll() is None and (
                node.log.read_text().count("Connection attempt failed") < 2
            ):
                assert time.monotonic() < deadline, f"{node.name} never tried to connect"
                cluster.check_alive()
                time.sleep(0.1)
        seen["refusals"] = {n.name: n.log.read_text() for n in started[3:]}
        seen["online"] = cluster.online_nodes()
        seen["cluster"] = cluster

    done = deploy(
        nodes,
        deployed_config(request, parties, run="r1"),
        serverapp=SERVER_APP,
        clientapp=CLIENT_APP,
        read=read_result,
        workdir=tmp_path / "work",
        expect_nodes=3,
        before_run=check_refused,
        timeout=240,
    )
    # The SuperLink lists exactly the three SuperNodes that hold the CA.
    registered = [
        line.split("SuperNode ID:")[1].split()[0]
        for name in ("supernode-p0", "supernode-p1", "supernode-p2")
        for line in done.logs[name].read_text().splitlines()
        if "SuperNode ID:" in line
    ]
    assert len(registered) == 3
    assert sorted(seen["online"]) == sorted(registered)
    refusals = seen["refusals"]
    assert "CERTIFICATE_VERIFY_FAILED" in refusals["supernode-other-ca"]
    assert "Connection attempt failed" in refusals["supernode-no-ca"]
    for name in ("supernode-no-ca", "supernode-other-ca"):
        assert "SuperNode ID:" not in done.logs[name].read_text()
    # The round aggregated the two parties that may read; the revoked one failed.
    [round_] = done.result.rounds
    assert (round_.updates, round_.failures) == (2, 1)
    # Each party's own log: parties 0 and 1 read; party 2's read was refused, none allowed.
    for party in parties[:2]:
        assert reads(party) and not refusals_in(party)
    assert refusals_in(parties[2]) and not reads(parties[2])
    # Nothing is left: no result file, no certificate key, no process.
    work = tmp_path / "work"
    assert not list(work.glob("result*")) and not list(work.glob("certs*/*key*"))
    assert seen["cluster"].running() == []
    assert _flower_processes(tmp_path) == []


def test_a_run_that_cannot_start_fails_in_one_sentence_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    parties, _ = make_parties(tmp_path, 1, rows=20)
    request = adult_request(rounds=1, secagg=False, mode="processes")
    with pytest.raises(FederationFailed) as failed:
        deploy(
            deployed_nodes(parties),
            deployed_config(request, parties, run="r1"),
            serverapp="privet.federated._deployed_apps:no_such_app",
            clientapp=CLIENT_APP,
            read=read_result,
            workdir=tmp_path / "work",
            timeout=120,
        )
    message = str(failed.value)
    assert message.startswith("flwr run failed:") and "no_such_app" in message
    assert "\n" not in message
    assert _flower_processes(tmp_path) == []
    assert not list((tmp_path / "work").glob("certs*"))


@pytest.mark.slow
def test_secagg_training_over_tls_leaves_out_a_party_revoked_between_rounds(
    tmp_path: Path, ws: Workspace
) -> None:
    """ws.federated.train in processes, SecAgg+, 3 parties, 2 rounds: party 2's grant is
    revoked as soon as round 1 is aggregated, so round 2 completes without it."""
    parties, grants = make_parties(tmp_path, 3, rows=150)
    request = adult_request(rounds=2, secagg=True, mode="processes")
    told: list[str] = []

    def progress(line: str) -> None:
        told.append(line)
        if line.startswith("round 1/2"):
            revoke(parties[2], grants[2])

    model = ws.federated.train(parties, request, actor="tester", progress=progress)
    assert [r.number for r in model.rounds] == [1, 2]
    # Round 1: all three; round 2: the two parties that may still read (Flower's SecAgg+
    # workflow counts a party that fails at the masked-vector stage twice in its failures).
    assert (model.rounds[0].updates, model.rounds[0].failures) == (3, 0)
    assert model.rounds[1].updates == 2 and model.rounds[1].failures >= 1
    assert len(reads(parties[2])) == 1 and refusals_in(parties[2])
    assert _flower_processes(tmp_path) == []


# -- party workspaces -----------------------------------------------------------------------------

POLICY = """
approver_roles: [steward]
rules:
  - description: analysts train federated models, once a grant is approved
    roles: [analyst]
    views: [raw, aggregate]
    purposes: [research]
"""


def make_parties(root: Path, n: int, *, rows: int) -> tuple[list[Party], list[str]]:
    """``n`` governed workspaces, each with ``rows`` rows of Adult and bob's approved grant."""
    frame = adult().head(rows * n)
    parties, grants = [], []
    for i in range(n):
        path, csv = root / f"party-{i}", root / f"adult-{i}.csv"
        frame.slice(rows * i, rows).write_csv(csv)
        with Workspace.init(path, actor="alice") as ws:
            ws.ingest(
                csv, name="adult", owner="alice", purposes=["research"], actor="alice", scan=False
            )
            ws.access.set_policy(POLICY, actor="alice")
            ws.access.add_user("alice", roles=["owner"], actor="alice")
            ws.access.add_user("bob", roles=["analyst"], actor="alice")
            asked = GrantRequest(
                dataset="adult", view="raw", purpose="research", duration_seconds=86_400,
                reason="federated training",
            )  # fmt: skip
            grant = ws.access.request_grant(asked, actor="bob").id
            ws.access.approve_grant(grant, actor="alice")
        csv.unlink()
        parties.append(
            Party(name=f"p{i}", workspace=path, dataset="adult", actor="bob", purpose="research")
        )
        grants.append(grant)
    return parties, grants


def revoke(party: Party, grant: str) -> None:
    with Workspace.open(party.workspace) as ws:
        ws.access.revoke_grant(grant, actor="alice")


def adult_request(*, rounds: int, secagg: bool, mode: str) -> FederateRequest:
    return FederateRequest(
        name="federated-income",
        target="income",
        purpose="research",
        keys={"income": ["<=50K", ">50K"], "sex": ["Female", "Male"]},
        bounds={"age": (17, 90), "hours_per_week": (1, 99)},
        rounds=rounds,
        mode=mode,
        secagg=SecAgg(num_shares=3, threshold=2) if secagg else None,
    )


def _events(party: Party) -> list[dict[str, Any]]:
    with Workspace.open(party.workspace) as ws:
        return [r.event for r in ws.log.records()]


def reads(party: Party) -> list[dict[str, Any]]:
    """The party's reads for federated training, from its own audit log."""
    return [e for e in _events(party) if e["event"] == "read" and e.get("channel") == CHANNEL]


def refusals_in(party: Party) -> list[dict[str, Any]]:
    """The party's refused reads for federated training: no active grant."""
    return [
        e
        for e in _events(party)
        if e["event"] == "read.refused"
        and e.get("channel") == CHANNEL
        and e.get("reason") == "no_active_grant"
    ]


def _flower_processes(root: Path) -> list[str]:
    """Running processes whose command line names a file under ``root`` (this test's)."""
    out = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    mine = str(os.getpid())
    return [
        line
        for line in out.splitlines()
        if str(root) in line and line.split()[1][:1] != "Z" and line.split()[0] != mine
    ]
