"""Federation as real processes on loopback with TLS: SuperLink, SuperNodes, certificates.

Acceptance 3 of issue 18: a SuperNode without the federation's CA is refused (the SuperLink
never lists it), a party whose grant was revoked cannot join the next round, and a run
completes over TLS with its result file removed and no process left behind.
"""

from __future__ import annotations

import datetime
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from privet.federated._deploy import Node, deploy
from privet.federated._processes import Cluster, Started
from privet.federated._tls import make_certificates

pytest.importorskip("flwr")

TOY = Path(__file__).with_name("federated_toy_app.py")
APP = {"serverapp": "federated_toy_app:server_app", "clientapp": "federated_toy_app:client_app"}
PLAIN = {**APP, "clientapp": "federated_toy_app:plain_client_app"}


def toy_nodes(root: Path, values: list[int]) -> tuple[list[Node], list[Path], list[Path]]:
    nodes, gates, logs = [], [], []
    for i, value in enumerate(values):
        gate, log = root / f"revoked-{i}", root / f"party-{i}.log"
        party = {"name": f"p{i}", "value": value, "gate": str(gate), "log": str(log)}
        nodes.append(Node(f"p{i}", {"privet-party": json.dumps(party)}))
        gates.append(gate)
        logs.append(log)
    return nodes, gates, logs


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


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
    """One cluster, plain FedAvg, one round: two good parties, one revoked, two untrusted."""
    nodes, gates, logs = toy_nodes(tmp_path, [1, 2, 4])
    gates[2].touch()  # party 2's grant is revoked before the round
    other = make_certificates(tmp_path / "other-ca")
    nodes += [
        Node("no-ca", {"privet-party": "{}"}, insecure=True),
        Node("other-ca", {"privet-party": "{}"}, root_certificates=other.ca),
    ]
    seen: dict[str, object] = {}

    def check_refused(cluster: Cluster, started: list[Started]) -> None:
        # Wait until each untrusted SuperNode has been turned away: it gave up on the TLS
        # handshake, or it has failed to connect at least twice.
        for node in started[3:]:
            for _ in range(600):
                text = node.log.read_text()
                if node.popen.poll() is not None or text.count("Connection attempt failed") >= 2:
                    break
                cluster.check_alive()
                time.sleep(0.1)
            else:
                pytest.fail(f"{node.name} never tried to connect")
        seen["refusals"] = {n.name: n.log.read_text() for n in started[3:]}
        seen["online"] = cluster.online_nodes()
        seen["cluster"] = cluster

    plan = {"rounds": 1, "secagg": False, "min_parties": 3}
    done = deploy(
        nodes,
        {"privet-plan": json.dumps(plan)},
        **PLAIN,
        workdir=tmp_path / "work",
        files={TOY.name: TOY.read_text()},
        expect_nodes=3,
        before_run=check_refused,
        timeout=180,
    )
    # The SuperLink lists exactly the three SuperNodes that hold the CA.
    registered = [
        line.split("SuperNode ID:")[1].strip().split()[0]
        for name in ("supernode-p0", "supernode-p1", "supernode-p2")
        for line in done.logs[name].read_text().splitlines()
        if "SuperNode ID:" in line
    ]
    assert sorted(seen["online"]) == sorted(registered)  # type: ignore[arg-type]
    refusals = seen["refusals"]
    assert "CERTIFICATE_VERIFY_FAILED" in refusals["supernode-other-ca"]  # type: ignore[index]
    assert "Connection attempt failed" in refusals["supernode-no-ca"]  # type: ignore[index]
    for name in ("supernode-no-ca", "supernode-other-ca"):
        assert "SuperNode ID:" not in done.logs[name].read_text()
    # The revoked party refused and never read; the others read; the round had two parties.
    assert lines(logs[2]) == ["refused"]
    assert lines(logs[0]) == ["read"] and lines(logs[1]) == ["read"]
    result = json.loads(done.result)
    assert [r["parties"] for r in result["rounds"]] == [2]
    assert result["weights"][0] == pytest.approx([1.5] * 3)  # (1 + 2) / 2: party 2 left out
    # Nothing is left: no result file, no process.
    assert not (tmp_path / "work" / "result.bin").exists()
    assert seen["cluster"].running() == []  # type: ignore[attr-defined]
    assert _flower_processes(tmp_path) == []


@pytest.mark.slow
def test_secagg_run_over_tls_and_a_grant_revoked_between_rounds(tmp_path: Path) -> None:
    """SecAgg+ over TLS, 3 parties, 2 rounds: party 2 is revoked once it has read once."""
    nodes, gates, logs = toy_nodes(tmp_path, [1, 2, 4])

    def revoke_after_first_read(message: str) -> None:
        pass

    plan = {"rounds": 2, "secagg": True, "min_parties": 3, "num_shares": 3, "threshold": 2}
    import threading

    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if "read" in lines(logs[2]):
                gates[2].touch()
                return
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        done = deploy(
            nodes,
            {"privet-plan": json.dumps(plan)},
            **APP,
            workdir=tmp_path / "work",
            files={TOY.name: TOY.read_text()},
            timeout=400,
            progress=revoke_after_first_read,
        )
    finally:
        stop.set()
        watcher.join()
    party2 = lines(logs[2])
    # Party 2 read once, then every later attempt was refused, none read after a refusal.
    assert party2[0] == "read" and "refused" in party2
    assert "read" not in party2[party2.index("refused") :]
    result = json.loads(done.result)
    rounds = [r["parties"] for r in result["rounds"]]
    assert rounds[-1] == 2  # the last round completed without party 2
    assert not (tmp_path / "work" / "result.bin").exists()
    assert _flower_processes(tmp_path) == []


def _flower_processes(root: Path) -> list[str]:
    """Flower processes whose command line names a file under ``root`` (this test's)."""
    out = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout
    return [
        line
        for line in out.splitlines()
        if str(root) in line and " Z" not in line and str(os.getpid()) not in line.split()[:1]
    ]
