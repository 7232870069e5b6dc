"""A protected copy keeps each row linked to its person, so DP on it still bounds a person.

k-anonymity counts rows, not people: one person with 200 identical rows passes k = 5 alone.
Before the link, DP on the copy (whose person id was dropped) fell back to one row per unit
while charging the source's per-person ledger, so that person was protected at up to 200ε.
Here a COUNT restricted to that person is released many times with and without them, and the
privacy loss is measured from the outputs alone (Clopper-Pearson bounds, as in
test_dp_empirical), independently of OpenDP's privacy map.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from privet import InvalidInput, Workspace, policy
from privet.catalog import SUBJECT_LINK
from privet.datasets import raw_people
from privet.deid import ProtectRequest
from privet.dp import PrivacyUnitWarning, QueryRequest, SynthRequest, TrainRequest, unpack_rows
from privet.dp._query import compile_query
from privet.dp._sql import parse
from tests.conftest import invoke
from tests.test_dp_empirical import clopper_pearson_lower, clopper_pearson_upper

PURPOSE = "analytics"
HEAVY_ROWS = 200
MARKER = 123  # hours_per_week of the heavy person's rows (Adult's values stop at 99)
COPY = "people_k5"
SQL = f"SELECT COUNT(*) AS n FROM {COPY} WHERE hours_per_week = {MARKER}"
ALPHA = 1e-3


def heavy_table(people: int = 300) -> pl.DataFrame:
    """``people`` people with one row each, and one more person with 200 rows."""
    base = raw_people(people)
    heavy = base.head(1).with_columns(
        pl.lit("HEAVY-1").alias("person_id"), pl.lit(MARKER, dtype=pl.Int64).alias("hours_per_week")
    )
    return pl.concat([base, *[heavy] * HEAVY_ROWS])


@pytest.fixture
def linked(ws: Workspace, tmp_path: Path) -> Workspace:
    path = tmp_path / "heavy.csv"
    heavy_table().write_csv(path)
    ws.ingest(path, name="people", owner="alice", purposes=[PURPOSE, "training"],
              actor="alice", subject_id="person_id")  # fmt: skip
    ws.dp.set_budget("people", actor="alice", epsilon=100, delta=1e-6)
    request = ProtectRequest(k=5, quasi_identifiers=["age", "sex", "race"], max_suppression=0.2)
    ws.deid.protect("people", request, output=COPY, actor="alice")
    return ws


def dp_frame(ws: Workspace, ref: str = COPY) -> pl.DataFrame:
    """The rows as DP releases see them (the only reads that get the link)."""
    return policy.read(
        ws.hazmat, ref, purpose=PURPOSE, actor="alice", view="aggregate", channel="dp:query"
    ).frame


def test_the_copy_links_rows_to_people_and_never_serves_the_link(linked: Workspace, tmp_path):
    ws = linked
    seen = dp_frame(ws)
    heavy = seen.filter(pl.col("hours_per_week") == MARKER)
    others = seen.filter(pl.col("hours_per_week") != MARKER)
    # The premise: the person's 200 rows pass k = 5 on their own and stay in the copy.
    assert heavy.height == HEAVY_ROWS and "person_id" not in seen.columns
    # One link for the person's rows, a different one for each other person's single row.
    assert heavy[SUBJECT_LINK].n_unique() == 1
    assert others[SUBJECT_LINK].n_unique() == others.height
    assert heavy[SUBJECT_LINK][0] not in set(others[SUBJECT_LINK].to_list())
    info = ws.dataset(COPY)
    assert info.subject_id_column == SUBJECT_LINK
    assert SUBJECT_LINK not in [c.name for c in info.versions[0].columns]
    # Every other door drops it: reads, views, streams (also the stored-bytes fast path),
    # exports, risk and scans.
    alice = ws.access.local_identity("alice")
    served = {
        "read": ws.read(COPY, purpose=PURPOSE, actor="alice"),
        "masked": policy.read(ws.hazmat, COPY, purpose=PURPOSE, actor="alice", view="masked").frame,
        "stream": pl.read_parquet(
            io.BytesIO(b"".join(ws.access.stream(COPY, identity=alice, purpose=PURPOSE)))
        ),
        "csv": pl.read_csv(
            io.BytesIO(
                b"".join(ws.access.stream(COPY, identity=alice, purpose=PURPOSE, fmt="csv"))
            )  # fmt: skip
        ),
    }
    policy.export(ws.hazmat, COPY, tmp_path / "out.parquet", purpose=PURPOSE, actor="alice")
    served["export"] = pl.read_parquet(tmp_path / "out.parquet")
    for door, frame in served.items():
        assert SUBJECT_LINK not in frame.columns, door
        assert frame.height == seen.height, door
    for command in (["scan", COPY], ["risk", COPY, "--qi", "age,sex,race"]):
        result = invoke(*command, "--json", workspace=ws.folder)
        assert result.exit_code == 0, result.output
        assert "__privet_" not in result.output
    human = invoke("datasets", COPY, workspace=ws.folder)
    assert "linked to the source's people" in human.stdout and "__privet_" not in human.stdout
    refused = invoke("datasets", "annotate", COPY, SUBJECT_LINK, "--role", "other",
                     workspace=ws.folder)  # fmt: skip
    assert refused.exit_code == 1 and "no column named" in refused.output
    shown = invoke("datasets", COPY, "--json", workspace=ws.folder)
    listed = json.loads(shown.stdout)["versions"][0]["columns"]
    assert SUBJECT_LINK not in [c["name"] for c in listed]
    assert heavy[SUBJECT_LINK][0] not in shown.stdout


def epsilon_lower_bound(outputs_d: list[int], outputs_d2: list[int]) -> float:
    """The largest ε the samples prove over the sets {Y ≥ t}, in both directions."""
    sets = sorted(set(outputs_d) | set(outputs_d2))
    level = ALPHA / (4 * len(sets))
    best = 0.0
    for t in sets:
        a = sum(y >= t for y in outputs_d)
        b = sum(y >= t for y in outputs_d2)
        for x, nx, y, ny in ((a, len(outputs_d), b, len(outputs_d2)),
                             (b, len(outputs_d2), a, len(outputs_d))):  # fmt: skip
            low, high = clopper_pearson_lower(x, nx, level), clopper_pearson_upper(y, ny, level)
            if low > 0 and high > 0:
                best = max(best, math.log(low / high))
    return best


def measured_epsilon(frame: pl.DataFrame, subject: str | None, trials: int) -> float:
    """Release the query's calibrated count (ε = 1) on the copy with and without the person."""
    schema = {name: str(dtype) for name, dtype in frame.schema.items()}
    parsed = parse(SQL, table=COPY, schema=schema)
    prepared = compile_query(frame, parsed, bounds={}, keys={}, discover=False, subject=subject,
                             max_rows_per_subject=1, epsilon=1.0, delta=0.0,
                             public_rows=frame.height)  # fmt: skip
    without = frame.filter(pl.col("hours_per_week") != MARKER)  # one person fewer
    release = prepared.measurement
    d = [release(frame.lazy()).collect().item() for _ in range(trials)]
    d2 = [release(without.lazy()).collect().item() for _ in range(trials)]
    return epsilon_lower_bound(d, d2)


def test_a_dp_count_on_the_copy_bounds_a_person_with_200_rows(linked: Workspace) -> None:
    ws = linked
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyUnitWarning)  # no fallback to one row
        result = ws.dp.query(
            COPY, QueryRequest(sql=SQL, epsilon=1.0, purpose=PURPOSE), actor="alice"
        )
    assert result.unit == f"subject ({SUBJECT_LINK})"
    # Unbounded, the answer is 200; bounded to one row per person it is 1, and the noise
    # (scale 1/ε = 1) is far too small to bridge the gap (P ≈ e^-100).
    assert abs(result.rows[0]["n"] - 1) < 50
    bounded = ws.dp.query(
        COPY,
        QueryRequest(sql=SQL, epsilon=1.0, purpose=PURPOSE, max_rows_per_subject=4),
        actor="alice",
    )
    assert bounded.statistics[0].noise_scale == pytest.approx(4.0)  # sensitivity 4 at ε = 1
    assert abs(bounded.rows[0]["n"] - 4) < 50
    # Measured: with the link as the unit the person costs ≤ ε = 1. The old fallback (one
    # row per unit) lets their 200 rows through: the outputs with and without them do not
    # overlap, and 200 releases already prove ε > 2 (about the most 200 samples can prove;
    # the true loss is 200ε).
    frame = dp_frame(ws).select("hours_per_week", SUBJECT_LINK)
    assert measured_epsilon(frame, SUBJECT_LINK, trials=600) <= 1.0
    assert measured_epsilon(frame.drop(SUBJECT_LINK), None, trials=200) > 2.0


KEYS = {
    "sex": ["Female", "Male"],
    "race": ["Amer-Indian-Eskimo", "Asian-Pac-Islander", "Black", "Other", "White"],
    "income": ["<=50K", ">50K"],
}


def people_in(frame: pl.DataFrame) -> int:
    """People in the copy, counted from the rows (one each, the heavy person 200)."""
    return frame.filter(pl.col("hours_per_week") != MARKER).height + 1


def test_dp_training_on_the_copy_takes_one_row_per_person(linked: Workspace) -> None:
    ws = linked
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyUnitWarning)
        info = ws.dp.train(
            COPY,
            TrainRequest(
                target="income",
                name="m",
                purpose="training",
                epsilon=2.0,
                epochs=1,
                features=["sex", "hours_per_week"],
                bounds={"hours_per_week": (1, 130)},
                keys=KEYS,
            ),
            actor="alice",
        )
    card = info.card.stored()  # alice owns the data: the full card
    assert card["privacy"]["unit"] == f"subject ({SUBJECT_LINK})"
    frame = ws.read(COPY, purpose=PURPOSE, actor="alice")
    split = card["split"]
    used = np.union1d(unpack_rows(split["train"], split["rows"]),
                      unpack_rows(split["test"], split["rows"]))  # fmt: skip
    heavy_rows = np.flatnonzero((frame["hours_per_week"] == MARKER).to_numpy())
    # Each person is trained on or held out once: one of the 200 rows, never more.
    assert split["rows"] == frame.height and len(used) == people_in(frame)
    assert len(np.intersect1d(used, heavy_rows)) == 1


def test_synthesis_on_the_copy_never_copies_the_link(linked: Workspace) -> None:
    """The quick variant of the next test: the baseline leaves the link out of its columns."""
    ws = linked
    ws.dp.synthesize(COPY, SynthRequest(name="k5-ind", method="independent", seed=1), actor="alice")
    assert SUBJECT_LINK not in dp_frame(ws, "k5-ind").columns
    assert ws.dataset("k5-ind").subject_id_column is None


@pytest.mark.slow  # OpenDP's MST takes about a minute even on two columns
def test_dp_synthesis_on_the_copy_takes_one_row_per_person(linked: Workspace) -> None:
    ws = linked
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyUnitWarning)
        synth = ws.dp.synthesize(
            COPY,
            SynthRequest(
                name="k5-synth",
                method="mst",
                epsilon=2.0,
                columns=["sex", "income"],
                keys=KEYS,
                seed=1,
            ),
            actor="alice",
        )
    assert synth.unit == f"subject ({SUBJECT_LINK})"
    # The model's noisy total (the default number of rows drawn) counts people, not the
    # heavy person's 199 extra rows.
    frame = ws.read(COPY, purpose=PURPOSE, actor="alice")
    drawn = ws.dataset("k5-synth").versions[0].rows
    assert abs(drawn - people_in(frame)) < abs(drawn - frame.height)
    assert SUBJECT_LINK not in dp_frame(ws, "k5-synth").columns


def test_protecting_the_copy_again_carries_the_same_link(linked: Workspace) -> None:
    ws = linked
    request = ProtectRequest(k=10, quasi_identifiers=["age", "sex"], max_suppression=0.3)
    ws.deid.protect(COPY, request, output="people_k10", actor="alice")
    before, after = dp_frame(ws), dp_frame(ws, "people_k10")
    assert ws.dataset("people_k10").subject_id_column == SUBJECT_LINK
    assert set(after[SUBJECT_LINK].to_list()) <= set(before[SUBJECT_LINK].to_list())
    heavy = after.filter(pl.col("hours_per_week") == MARKER)[SUBJECT_LINK].unique().to_list()
    assert heavy == before.filter(pl.col("hours_per_week") == MARKER)[SUBJECT_LINK][:1].to_list()


def test_the_link_cannot_be_asked_for_or_ingested(linked: Workspace, tmp_path: Path) -> None:
    ws = linked
    with pytest.raises(InvalidInput):
        ws.dp.query(
            COPY,
            QueryRequest(
                sql=f"SELECT {SUBJECT_LINK}, COUNT(*) FROM {COPY} GROUP BY {SUBJECT_LINK}",
                epsilon=1.0,
                delta=1e-8,
                purpose=PURPOSE,
            ),
            actor="alice",
        )
    with pytest.raises(InvalidInput, match="unknown column"):
        ws.dp.train(
            COPY,
            TrainRequest(target=SUBJECT_LINK, name="x", purpose="training", epsilon=1.0),
            actor="alice",
        )
    path = tmp_path / "sneaky.csv"
    pl.DataFrame({"id": [1, 2], SUBJECT_LINK: ["a", "b"]}).write_csv(path)
    result = invoke("ingest", path, "--name", "sneaky", "--owner", "alice", "--purpose", PURPOSE,
                    "--json", workspace=ws.folder)  # fmt: skip
    assert result.exit_code == 1 and "reserved for privet" in result.output
    assert "Traceback" not in result.output
    assert "sneaky" not in [d.name for d in ws.datasets()]
