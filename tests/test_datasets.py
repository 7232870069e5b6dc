"""Tests for privet.datasets: the bundled Adult data and the synthetic raw_people table."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import subprocess
import sys
from importlib import resources

import polars as pl
import pytest
from faker.providers.person.en_US import Provider as PersonProvider
from polars.testing import assert_frame_equal

from privet.datasets import adult, raw_people

ADULT_COLUMNS = {
    "age": pl.Int64,
    "workclass": pl.String,
    "fnlwgt": pl.Int64,
    "education": pl.String,
    "education_num": pl.Int64,
    "marital_status": pl.String,
    "occupation": pl.String,
    "relationship": pl.String,
    "race": pl.String,
    "sex": pl.String,
    "capital_gain": pl.Int64,
    "capital_loss": pl.Int64,
    "hours_per_week": pl.Int64,
    "native_country": pl.String,
    "income": pl.String,
}
IDENTIFIER_COLUMNS = [
    "person_id",
    "full_name",
    "email",
    "phone",
    "ssn",
    "date_of_birth",
    "street_address",
    "city",
    "state",
    "zip",
    "notes",
]

# Written independently of the generator: SSA rules and the three accepted phone layouts.
VALID_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
PHONE_LAYOUTS = {
    "parenthesised": re.compile(r"^\([2-9]\d\d\) [2-9]\d\d-\d{4}$"),
    "dashed": re.compile(r"^[2-9]\d\d-[2-9]\d\d-\d{4}$"),
    "international": re.compile(r"^\+1 [2-9]\d\d [2-9]\d\d \d{4}$"),
}
SSN_IN_TEXT = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_IN_TEXT = re.compile(r"\(\d{3}\) \d{3}-\d{4}|\+1 \d{3} \d{3} \d{4}|\b\d{3}-\d{3}-\d{4}\b")
DATE_IN_TEXT = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
STATE_ZIP_IN_TEXT = re.compile(r"\b[A-Z]{2} \d{5}\b")


@pytest.fixture(scope="module")
def people() -> pl.DataFrame:
    return raw_people()


# --- adult() ---------------------------------------------------------------------------


def test_adult_all_has_48842_rows_with_named_typed_columns() -> None:
    frame = adult()
    assert frame.height == 48_842
    assert dict(frame.schema) == ADULT_COLUMNS


def test_adult_splits_keep_the_original_train_test_sizes() -> None:
    train, test = adult("train"), adult("test")
    assert (train.height, test.height) == (32_561, 16_281)
    assert_frame_equal(adult("all"), pl.concat([train, test]))
    assert dict(train.schema) == dict(test.schema) == ADULT_COLUMNS


def test_adult_income_is_exactly_two_labels_without_trailing_dot() -> None:
    for split in ("train", "test"):
        assert set(adult(split)["income"].unique()) == {"<=50K", ">50K"}


def test_adult_high_income_share_matches_adult_names() -> None:
    # adult.names: "Probability for the label '>50K' : 23.93%" over train + test.
    share = (adult()["income"] == ">50K").mean()
    assert share == pytest.approx(0.2393, abs=0.0005)


def test_adult_strings_have_no_leading_or_trailing_spaces() -> None:
    frame = adult()
    for column in frame.select(pl.col(pl.String)).columns:
        values = frame[column].drop_nulls()
        assert (values == values.str.strip_chars()).all(), column


def test_adult_question_marks_become_nulls() -> None:
    frame = adult()
    for column in frame.select(pl.col(pl.String)).columns:
        assert not (frame[column] == "?").any(), column
    # adult.names: 48,842 rows, 45,222 once rows with unknowns are removed.
    assert frame.drop_nulls().height == 45_222
    assert frame.select(pl.col(pl.Int64).null_count()).sum_horizontal().item() == 0


def test_adult_first_rows_match_the_raw_files() -> None:
    first_train = adult("train").row(0)
    assert first_train == (39, "State-gov", 77516, "Bachelors", 13, "Never-married",
                           "Adm-clerical", "Not-in-family", "White", "Male", 2174, 0, 40,
                           "United-States", "<=50K")  # fmt: skip
    first_test = adult("test").row(0)
    assert first_test[:3] == (25, "Private", 226802)
    assert first_test[-1] == "<=50K"


def test_adult_rejects_unknown_split() -> None:
    with pytest.raises(ValueError, match="split"):
        adult("validation")  # type: ignore[arg-type]


def test_bundled_archives_are_reproducible_gzip() -> None:
    folder = resources.files("privet.datasets") / "adult"
    for name in ("adult.data.gz", "adult.test.gz", "adult.names.gz"):
        header = (folder / name).read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b", name
        assert header[3] == 0, f"{name}: no FNAME or other optional header fields"
        assert header[4:8] == b"\0\0\0\0", f"{name}: mtime must be 0"
    assert (folder / "README.md").is_file()


# --- raw_people() ----------------------------------------------------------------------


def test_raw_people_puts_identifiers_first_then_adult_columns(people: pl.DataFrame) -> None:
    assert people.columns == IDENTIFIER_COLUMNS + list(ADULT_COLUMNS)
    assert people.height == 48_842
    assert people.schema["date_of_birth"] == pl.Date
    assert_frame_equal(people.select(list(ADULT_COLUMNS)), adult())


def test_raw_people_is_deterministic_for_a_seed(people: pl.DataFrame) -> None:
    assert_frame_equal(raw_people(), people)


def test_raw_people_changes_with_the_seed() -> None:
    a, b = raw_people(200, seed=1), raw_people(200, seed=2)
    assert (a["ssn"] != b["ssn"]).mean() > 0.9
    assert (a["full_name"] != b["full_name"]).mean() > 0.8
    assert_frame_equal(a.select(list(ADULT_COLUMNS)), b.select(list(ADULT_COLUMNS)))


def test_raw_people_first_n_rows_match_the_full_table(people: pl.DataFrame) -> None:
    assert_frame_equal(raw_people(1000), people.head(1000))
    assert raw_people(0).height == 0


def test_raw_people_is_identical_across_processes_and_hash_seeds() -> None:
    script = (
        "import hashlib; from privet.datasets import raw_people;"
        "print(hashlib.sha256(raw_people(3000, seed=11).write_csv().encode()).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        digests.add(result.stdout.strip())
    here = hashlib.sha256(raw_people(3000, seed=11).write_csv().encode()).hexdigest()
    assert digests == {here}


def test_raw_people_rejects_negative_n() -> None:
    with pytest.raises(ValueError):
        raw_people(-1)


def test_raw_people_ids_are_sequential_and_unique(people: pl.DataFrame) -> None:
    ids = people["person_id"]
    assert ids[0] == "P000001" and ids[-1] == "P048842"
    assert ids.n_unique() == people.height
    assert ids.str.contains(r"^P\d{6}$").all()


def test_raw_people_ssns_are_valid_range_and_unique(people: pl.DataFrame) -> None:
    ssns = people["ssn"].to_list()
    invalid = [s for s in ssns if not VALID_SSN.match(s)]
    assert invalid == []
    assert len(set(ssns)) == len(ssns)
    # The draw should cover the range, not cluster at one end.
    areas = [int(s[:3]) for s in ssns]
    assert min(areas) < 20 and max(areas) > 880


def test_raw_people_dates_of_birth_agree_with_age_on_census_day(people: pl.DataFrame) -> None:
    census_day = dt.date(1994, 7, 1)
    for born, age in zip(people["date_of_birth"], people["age"], strict=True):
        had_birthday = (born.month, born.day) <= (census_day.month, census_day.day)
        assert census_day.year - born.year - (0 if had_birthday else 1) == age, (born, age)


def test_raw_people_emails_have_at_and_dotted_domain_and_are_unique(
    people: pl.DataFrame,
) -> None:
    emails = people["email"]
    assert emails.str.contains(r"^[^@\s]+@[^@\s]+\.[^@\s]+$").all()
    assert emails.n_unique() == people.height


def test_raw_people_emails_derive_from_the_name(people: pl.DataFrame) -> None:
    for name, email in zip(people["full_name"], people["email"], strict=True):
        parts = name.lower().split()
        local = email.split("@")[0]
        assert parts[-1] in local or local.startswith(parts[0]), (name, email)


def test_raw_people_phones_mix_valid_us_formats(people: pl.DataFrame) -> None:
    counts = dict.fromkeys(PHONE_LAYOUTS, 0)
    for phone in people["phone"]:
        layout = next((k for k, rx in PHONE_LAYOUTS.items() if rx.match(phone)), None)
        assert layout is not None, phone
        counts[layout] += 1
    assert all(count > 0.05 * people.height for count in counts.values()), counts


def test_raw_people_names_are_mostly_distinct(people: pl.DataFrame) -> None:
    assert people["full_name"].n_unique() / people.height > 0.9


def test_raw_people_first_names_agree_with_sex(people: pl.DataFrame) -> None:
    male = set(PersonProvider.first_names_male)
    female = set(PersonProvider.first_names_female)
    for name, sex in zip(people["full_name"], people["sex"], strict=True):
        assert name.split()[0] in (female if sex == "Female" else male), (name, sex)


def test_raw_people_addresses_look_american(people: pl.DataFrame) -> None:
    assert people["zip"].str.contains(r"^\d{5}$").all()
    assert people["state"].str.contains(r"^[A-Z]{2}$").all()
    assert people["street_address"].str.contains(r"^\d{3,5} \S").all()
    assert people["state"].n_unique() == 51  # 50 states and DC
    # People share cities and ZIP codes, as in real data.
    assert people["zip"].n_unique() < people.height / 3


def test_raw_people_notes_cover_about_a_third(people: pl.DataFrame) -> None:
    share = people["notes"].is_not_null().mean()
    assert 0.30 < share < 0.37


def test_raw_people_notes_mention_only_their_own_rows_identifiers(people: pl.DataFrame) -> None:
    rows = people.filter(pl.col("notes").is_not_null()).iter_rows(named=True)
    seen = {"ssn": 0, "email": 0, "phone": 0, "dob": 0, "address": 0, "name": 0, "none": 0}
    for row in rows:
        note = row["notes"]
        found = False
        for ssn in SSN_IN_TEXT.findall(note):
            assert ssn == row["ssn"], note
            seen["ssn"] += 1
            found = True
        for email in EMAIL_IN_TEXT.findall(note):
            assert email == row["email"], note
            seen["email"] += 1
            found = True
        for phone in PHONE_IN_TEXT.findall(note):
            assert phone == row["phone"], note
            seen["phone"] += 1
            found = True
        for date in DATE_IN_TEXT.findall(note):
            assert date == row["date_of_birth"].isoformat(), note
            seen["dob"] += 1
            found = True
        for state_zip in STATE_ZIP_IN_TEXT.findall(note):
            assert state_zip == f"{row['state']} {row['zip']}", note
            assert row["street_address"] in note, note
            seen["address"] += 1
            found = True
        if row["full_name"].split()[0] in note:
            seen["name"] += 1
            found = True
        seen["none"] += not found
    assert all(count > 100 for count in seen.values()), seen
