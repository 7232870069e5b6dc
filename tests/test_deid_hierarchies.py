"""Hierarchies: labels at each level, automatic defaults, refusals that name no value."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from privet import InvalidInput
from privet.datasets import adult
from privet.deid import (
    DateSpec,
    GroupsSpec,
    IntervalsSpec,
    SuppressSpec,
    TruncateSpec,
    build,
    default_spec,
)

AGE = IntervalsSpec(type="intervals", widths=[5, 10])


def labels(values: list, spec, level: int) -> list:
    series = pl.Series("c", values)
    hierarchy = build("c", spec, series)
    frame = pl.DataFrame({"c": series}).with_columns(hierarchy.expr(level).alias("label"))
    return frame.get_column("label").to_list()


@pytest.mark.parametrize(
    ("values", "spec", "level", "expected"),
    [
        ([17, 23, 40, None], AGE, 1,
         ["15-19", "20-24", "40-44", None]),  # integers: inclusive bounds; nulls stay null
        ([17, 23, 40], AGE, 2, ["10-19", "20-29", "40-49"]),
        ([17, 23, 40], AGE, 3, ["*", "*", "*"]),
        ([0.5, 2.6], IntervalsSpec(type="intervals", widths=[2.5]), 1,
         ["[0.0, 2.5)", "[2.5, 5.0)"]),
        (["02134", "02139", "9"], TruncateSpec(type="truncate"), 2, ["021**", "021**", "**"]),
        ([date(2020, 3, 9), date(2021, 12, 1)], DateSpec(type="date"), 1, ["2020-03", "2021-12"]),
        ([date(2020, 3, 9), date(2021, 12, 1)], DateSpec(type="date"), 2, ["2020", "2021"]),
        (["2020-03-09", "2021-12-01"], DateSpec(type="date"), 2, ["2020", "2021"]),  # ISO text
        (["a", "b", None], GroupsSpec(type="groups", levels=[{"x": ["a", "b"]}]), 1,
         ["x", "x", None]),
        (["a", "b"], SuppressSpec(type="suppress"), 1, ["*", "*"]),
    ],
)  # fmt: skip
def test_labels_at_each_level(values, spec, level, expected):
    assert labels(values, spec, level) == expected


def test_defaults_for_adult_are_sensible():
    data = adult()
    age = default_spec(data["age"])
    assert isinstance(age, IntervalsSpec) and age.widths == [5, 10, 20, 40]
    assert isinstance(default_spec(data["education"]), SuppressSpec)  # categorical → *
    hours = default_spec(data["hours_per_week"])
    assert isinstance(hours, IntervalsSpec) and hours.widths[0] == 10  # 1–99: at most 16 bins
    assert isinstance(default_spec(pl.Series("dob", [date(1990, 1, 1)])), DateSpec)
    assert isinstance(default_spec(pl.Series("visit", ["2020-01-02", None])), DateSpec)
    assert isinstance(default_spec(pl.Series("zip", ["02134"])), TruncateSpec)
    assert isinstance(
        default_spec(pl.Series("c", ["02134"]), category="user.contact.address.postal_code"),
        TruncateSpec,
    )
    assert isinstance(default_spec(pl.Series("code", ["A1", "B2"])), SuppressSpec)  # not a postcode


def test_a_groups_hierarchy_that_misses_values_says_how_many_not_which():
    spec = GroupsSpec(type="groups", levels=[{"x": ["a"]}, {"top": ["x"]}])
    with pytest.raises(InvalidInput) as refused:
        build("c", spec, pl.Series("c", ["a", "secret-b", "secret-c"]))
    message = str(refused.value)
    assert message == (
        "the hierarchy of 'c' misses 2 values of the data at level 1; "
        "add each to a group of level 1"
    )
    spec = GroupsSpec(type="groups", levels=[{"x": ["a"], "y": ["b"]}, {"top": ["x"]}])
    with pytest.raises(InvalidInput, match="misses 1 labels of level 1 at level 2"):
        build("c", spec, pl.Series("c", ["a", "b"]))


def test_hierarchies_that_do_not_fit_the_column_type_are_refused():
    with pytest.raises(InvalidInput, match="needs a numeric column"):
        build("c", IntervalsSpec(type="intervals", widths=[5]), pl.Series("c", ["a"]))
    with pytest.raises(InvalidInput, match="needs a date column"):
        build("c", DateSpec(type="date"), pl.Series("c", ["not a date"]))
    with pytest.raises(ValueError, match="more than one group"):
        GroupsSpec(type="groups", levels=[{"x": ["a"], "y": ["a"]}])
