"""Garbage collection during writes never takes an object whose catalog row is on its way.

Wave 2's probe deleted a new version's object between its rename into the store and the
catalog commit (the ingest then reported success and the version could never be read). Here
one thread collects garbage in a loop, from its own workspace handle as another process
would, while the main thread ingests, derives, trains and synthesizes; afterwards every
reported version and model must read back, and a real orphan must still be collected.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import polars as pl

from privet import Workspace
from privet.datasets import adult
from privet.dp import SynthRequest, TrainRequest


def test_gc_running_throughout_writes_loses_nothing(project: Path, tmp_path: Path) -> None:
    ws = Workspace.init(project, actor="alice")
    csv = tmp_path / "adult.csv"
    adult().head(600).write_csv(csv)
    stop = threading.Event()
    collections: list[int] = []
    errors: list[BaseException] = []

    def collect() -> None:
        collector = Workspace.open(project)
        try:
            while not stop.wait(0.002):  # a breath for the GIL between collections
                collector.collect_garbage()
                collections.append(1)
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)
        finally:
            collector.close()

    thread = threading.Thread(target=collect)
    thread.start()
    versions, models = [], []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(3):
                versions.append(
                    ws.ingest(
                        csv,
                        name=f"adult{i}",
                        owner="alice",
                        purposes=["research"],
                        actor="alice",
                        scan=False,
                    ).ref
                )
            versions.append(
                ws.ingest(
                    csv,
                    name="adult0",
                    owner="alice",
                    purposes=["research"],
                    actor="alice",
                    new_version=True,
                    scan=False,
                ).ref
            )
            for j in range(2):
                models.append(
                    ws.dp.train(
                        "adult1",
                        TrainRequest(
                            target="sex",
                            name=f"model{j}",
                            purpose="research",
                            no_dp=True,
                            epochs=1,
                            features=["age", "hours_per_week"],
                        ),
                        actor="alice",
                    ).name
                )
            synthetic = ws.dp.synthesize(
                "adult2", SynthRequest(name="adult2-baseline", method="independent"), actor="alice"
            )
            versions.append(synthetic.output)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    assert len(collections) > 3  # the collector really ran alongside the writes
    for ref in versions:
        frame = ws.read(ref, purpose="research", actor="alice")
        assert frame.height > 0
    for name in models:
        assert (
            ws.dp.load_model(name, actor="alice")
            .predict(pl.DataFrame({"age": [40], "hours_per_week": [40]}))
            .len()
            == 1
        )
    # A real orphan is still collected once no write is in flight.
    orphan = "versions/orphan/leftover.parquet.tink"
    with ws.hazmat.store.writing():
        ws.hazmat.store.put(orphan, lambda out: out.write(b"x"))
    assert orphan in ws.collect_garbage()
    assert ws.garbage() == []
    ws.close()
