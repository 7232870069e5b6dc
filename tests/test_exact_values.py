"""Values come back exactly as they were given (issue 13): CSV cells are text, typed only where
the type renders back to the same text; JSON-lines numbers keep their values.

The property test writes random well-formed CSV files with the values type inference used to
change, ingests each into a workspace, exports it to CSV and to Parquet, and compares every
cell with an independent parse (Python's ``csv`` module) of the file that went in.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privet import Workspace
from privet.catalog import analysis_dtype, for_analysis
from privet.datasets import raw_people
from privet.dp import QueryRequest, SynthRequest, TrainRequest
from privet.tables import read_table, text_meanings
from privet.text import has_controls

# -- writing well-formed CSV ------------------------------------------------------------------


def _field(value: str, *, alone: bool, quote: bool) -> str:
    """One field as RFC 4180 writes it; a lone empty field is quoted (else it is a blank
    line), and any field may be quoted."""
    if quote or (alone and value == "") or any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_bytes(
    header: list[str],
    rows: list[list[str]],
    *,
    newline: str = "\n",
    bom: bool = False,
    final_newline: bool = True,
    quoted: frozenset[tuple[int, int]] = frozenset(),
) -> bytes:
    lines = [
        ",".join(_field(v, alone=len(row) == 1, quote=(r, c) in quoted) for c, v in enumerate(row))
        for r, row in enumerate([header, *rows])
    ]
    text = newline.join(lines) + (newline if final_newline else "")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def _cells(data: bytes) -> list[list[str]]:
    """The independent parse: Python's csv module (a BOM is not part of the first name)."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text, newline="")))


# -- the values type inference used to change -------------------------------------------------

_digits = st.text("0123456789", min_size=1, max_size=24)
# fmt: off
_SPECIAL = [
    "02139", "007", "0", "-0", "+0", "-0.0", "0.0", "1.50", "1.5", "1e5", "1E5", "1e-7",
    "100000.0", ".5", "5.", "-12", "+12", "1_000", " 12", "12 ", "NaN", "nan", "inf", "-inf",
    "TRUE", "True", "true", "FALSE", "False", "false", "yes", "2024-01-31", "2024-01-31T12:30:00",
    "2024-01-31 12:30", "31/12/2020", "12/31/2020", "31.12.2020", "Jan 5, 2021", "5 January 2021",
    "", " ", '"', "a,b", 'say "hi"', "line\nbreak", "cr\r\nlf", "lone\rcr", "zoë", "東京", "🙂",
    "\u2028", "null", "NULL", "N/A",
]
# fmt: on
_VALUES = st.one_of(
    st.sampled_from(_SPECIAL),
    _digits,  # leading zeros, 20-digit account numbers, plain integers
    st.builds(lambda a, b: f"{a}.{b}", _digits, _digits),  # decimals, trailing zeros
    st.builds(str, st.integers(-(2**70), 2**70)),
    st.builds(str, st.floats(allow_nan=False, allow_infinity=False)),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8),
)
# A column is often of one kind, so that typing (and meanings) get a chance to apply.
_COLUMN_KINDS = st.sampled_from(["mixed", "digits", "decimals", "floats", "ints", "bools"])
_KIND_VALUES = {
    "digits": _digits,
    "decimals": st.builds(lambda a, b: f"{a}.{b}", _digits, _digits),
    "floats": st.builds(str, st.floats(allow_nan=False, allow_infinity=False)),
    "ints": st.builds(str, st.integers(-(2**63), 2**63 - 1)),
    "bools": st.sampled_from(["true", "false", "TRUE", "False"]),
}
# Names privet refuses on purpose are left out: control and direction characters (they
# would drive a terminal) and its reserved prefix.
_NAME = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=12).filter(
    lambda s: s.strip() != "" and not has_controls(s) and not s.startswith("__privet_")
)


@st.composite
def _tables(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    width = draw(st.integers(1, 5))
    header = draw(st.lists(_NAME, min_size=width, max_size=width, unique=True))
    height = draw(st.integers(1, 8))
    columns = []
    for _ in range(width):
        kind = draw(_COLUMN_KINDS)
        values = _VALUES if kind == "mixed" else st.one_of(_KIND_VALUES[kind], st.just(""))
        columns.append(draw(st.lists(values, min_size=height, max_size=height)))
    return header, [list(row) for row in zip(*columns, strict=True)]


def _export_cells(ws: Workspace, name: str, out: Path) -> list[list[str]]:
    ws.export(name, out, purpose="p", actor="a", overwrite=True)
    return _cells(out.read_bytes())


_counter = itertools.count()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    table=_tables(),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    final_newline=st.booleans(),
    quote_seed=st.integers(0, 2**16),
)
def test_every_well_formed_csv_comes_back_exactly(
    ws: Workspace,
    tmp_path: Path,
    table: tuple[list[str], list[list[str]]],
    newline: str,
    bom: bool,
    final_newline: bool,
    quote_seed: int,
):
    header, rows = table
    cells = [(r, c) for r in range(len(rows) + 1) for c in range(len(header))]
    quoted = frozenset(cell for i, cell in enumerate(cells) if (quote_seed >> (i % 16)) & 1)
    data = _csv_bytes(
        header, rows, newline=newline, bom=bom, final_newline=final_newline, quoted=quoted
    )
    given_cells = _cells(data)
    assert given_cells == [header, *rows]  # the file says what we meant
    source = tmp_path / "in.csv"
    source.write_bytes(data)
    name = f"t{next(_counter)}"
    ws.ingest(source, name=name, owner="o", purposes=["p"], actor="a", scan=False)

    # CSV out: every cell exactly as it came in.
    assert _export_cells(ws, name, tmp_path / "out.csv") == given_cells

    # Parquet out: typed only where the type renders back to the same text.
    ws.export(name, tmp_path / "out.parquet", purpose="p", actor="a", overwrite=True)
    typed = pl.read_parquet(tmp_path / "out.parquet")
    assert typed.columns == header
    assert _cells(typed.write_csv().encode()) == given_cells
    for c, column in enumerate(header):
        if typed.schema[column] == pl.String:  # the text itself (an empty field: null)
            assert [v or "" for v in typed[column].to_list()] == [row[c] for row in rows]


# -- known answers ----------------------------------------------------------------------------

KNOWN = [
    # (values of one column, stored dtype, recorded meaning, what it is)
    (["02139", "10001"], "String", "integer", "US ZIP codes: 02139 must not become 2139"),
    (["0412345678901234", "4111111111111111"], "String", "integer", "cards starting with 0"),
    (["007", "12"], "String", "integer", "an agent number: 007 must not become 7"),
    (["12345678901234567890", "1"], "String", "integer", "20 digits: used to fail the file"),
    (["1.50", "2.25"], "String", "number", "a price with a trailing zero: not 1.5"),
    (["1e5", "2"], "String", "number", "an exponent: not 100000.0"),
    (["-0", "3"], "String", "number", "a signed zero: not -0.0 (nor 0)"),
    (["1.5", "2"], "String", "number", "1.5 and 2: a Float64 would write 2 as 2.0"),
    (["TRUE", "FALSE"], "String", "boolean", "upper-case booleans: not true/false"),
    (["True", "false"], "String", "boolean", "mixed-case booleans"),
    (["2024-01-31", "1999-12-01"], "String", "date", "ISO dates stay text"),
    (["31/12/2020", "01/02/2021"], "String", "date", "day/month/year dates"),
    (["Jan 5, 2021", "Dec 31, 1999"], "String", "date", "dates with month names"),
    (["2139", "-5"], "Int64", None, "plain integers are typed"),
    (["1.5", "-0.25"], "Float64", None, "floats that render back are typed"),
    (["-0.0", "1e-7"], "Float64", None, "Polars writes -0.0 and 1e-7 back as they are"),
    (["true", "false"], "Boolean", None, "booleans as Polars writes them"),
    (["x", "02139"], "String", None, "plain text has no meaning"),
    (["", ""], "String", None, "empty fields are nulls: no type, no meaning"),
    (["", "02139"], "String", "integer", "an empty field is a null beside digit strings"),
    ([" 12", "3"], "String", None, "a leading space is text"),
    (["+14155550123", "+442079460000"], "String", None, "phone numbers are no quantities"),
]


@pytest.mark.parametrize(("values", "dtype", "meaning", "why"), KNOWN, ids=[k[3] for k in KNOWN])
def test_known_answers(
    ws: Workspace,
    tmp_path: Path,
    values: list[str],
    dtype: str,
    meaning: str | None,
    why: str,
):
    source = tmp_path / "in.csv"
    source.write_bytes(_csv_bytes(["id", "v"], [[str(i), v] for i, v in enumerate(values)]))
    info = ws.ingest(source, name="known", owner="o", purposes=["p"], actor="a", scan=False)
    column = info.columns[1]
    assert (column.dtype, column.meaning) == (dtype, meaning), why
    assert _export_cells(ws, "known", tmp_path / "out.csv") == _cells(source.read_bytes())


def test_a_late_value_decides_the_type(tmp_path: Path):
    # Columns are tried on their first rows, then on all: a value past those rows counts.
    rows = [[str(i), "", "1.5", "x"] for i in range(3000)]
    rows[2500] = ["007", "12", "1.50", "02139"]
    path = tmp_path / "late.csv"
    path.write_bytes(_csv_bytes(["late_zero", "late_value", "late_decimal", "text"], rows))
    frame = read_table(path).frame
    assert frame.dtypes == [pl.String, pl.Int64, pl.String, pl.String]
    assert frame["late_zero"][2500] == "007" and frame["late_decimal"][2500] == "1.50"
    assert text_meanings(frame) == {"late_zero": "integer", "late_decimal": "number"}


def test_a_bom_is_not_part_of_the_first_column_name(ws: Workspace, tmp_path: Path):
    source = tmp_path / "bom.csv"
    source.write_bytes(_csv_bytes(["id", "name"], [["1", "zoë"]], bom=True))
    info = ws.ingest(source, name="bom", owner="o", purposes=["p"], actor="a", scan=False)
    assert [c.name for c in info.columns] == ["id", "name"]
    assert _export_cells(ws, "bom", tmp_path / "out.csv") == [["id", "name"], ["1", "zoë"]]


def test_blank_lines_are_not_rows_except_in_a_one_column_file(tmp_path: Path):
    path = tmp_path / "blank.csv"
    path.write_bytes(b"a,b\n1,2\n\n3,4\n\n\n")
    assert read_table(path).frame.rows() == [(1, 2), (3, 4)]
    path.write_bytes(b"a,b\n1,\n,\n\n")  # a row of empty fields is a row; the blank line is not
    assert read_table(path).frame.rows() == [(1, None), (None, None)]
    path.write_bytes(b"a\n1\n\n2\n")  # one column: a blank line is its one empty field
    assert read_table(path).frame.rows() == [(1,), (None,), (2,)]


def test_quoted_newlines_beside_empty_last_fields_are_not_short_rows(tmp_path: Path):
    path = tmp_path / "multiline.csv"
    path.write_bytes(b'a,b\n"two\nlines",\n"x\r\n\r\ny",\n')
    assert read_table(path).frame.rows() == [("two\nlines", None), ("x\r\n\r\ny", None)]


def test_the_zip_codes_of_raw_people_come_back_with_their_leading_zeros(
    ws: Workspace, tmp_path: Path
):
    people = raw_people(2000)
    source = tmp_path / "people.csv"
    people.write_csv(source)
    given_zips = [row[9] for row in _cells(source.read_bytes())[1:]]
    assert sum(z.startswith("0") for z in given_zips) > 100
    info = ws.ingest(source, name="people", owner="o", purposes=["p"], actor="a")
    zip_column = next(c for c in info.columns if c.name == "zip")
    assert (zip_column.dtype, zip_column.meaning) == ("String", "integer")
    assert zip_column.category == "user.contact.address.postal_code"  # discovery still sees it
    exported = _export_cells(ws, "people", tmp_path / "out.csv")
    assert exported == _cells(source.read_bytes())


# -- meaning in use -----------------------------------------------------------------------------


def test_numbers_kept_as_text_are_numbers_for_analysis(ws: Workspace, tmp_path: Path):
    source = tmp_path / "prices.csv"
    source.write_bytes(
        _csv_bytes(["zip", "price", "n"], [["02139", "1.50", "1"], ["10001", "2", "2"]])
    )
    info = ws.ingest(source, name="prices", owner="o", purposes=["p"], actor="a", scan=False)
    by_name = {c.name: c for c in info.columns}
    assert [analysis_dtype(by_name[c]) for c in ("zip", "price", "n")] == [
        "String",  # codes stay categories
        "Float64",
        "Int64",
    ]
    frame = ws.read("prices", purpose="p", actor="a")
    assert frame["price"].to_list() == ["1.50", "2"]  # what is stored is the text
    analysed = for_analysis(frame, info.columns)
    assert analysed.schema["price"] == pl.Float64
    assert analysed["price"].to_list() == [1.5, 2.0]
    assert analysed["zip"].to_list() == ["02139", "10001"]


def test_meaning_is_shown_and_carried_to_derived_datasets(
    ws: Workspace, project: Path, tmp_path: Path
):
    from privet import catalog
    from tests.conftest import invoke

    source = tmp_path / "prices.csv"
    rows = [[f"{i:05d}", f"{i}.50", "TRUE" if i % 2 else "False"] for i in range(20)]
    source.write_bytes(_csv_bytes(["zip", "price", "flag"], rows))
    ws.ingest(source, name="prices", owner="o", purposes=["p"], actor="a", scan=False)
    frame = ws.read("prices", purpose="p", actor="a")
    kept = frame.head(5)
    derived = catalog.derive(ws.hazmat, "prices", kept, name="prices-5", kind="filtered", actor="a")
    assert [c.meaning for c in derived.columns] == ["integer", "number", "boolean"]
    changed = frame.with_columns(pl.lit("n/a").alias("price"))
    derived = catalog.derive(
        ws.hazmat, "prices", changed, name="prices-na", kind="filtered", actor="a"
    )
    assert [c.meaning for c in derived.columns] == ["integer", None, "boolean"]

    shown = invoke("datasets", "prices", "--json", workspace=project)
    assert shown.exit_code == 0, shown.output
    columns = json.loads(shown.output)["versions"][-1]["columns"]
    assert {c["name"]: c["meaning"] for c in columns} == {
        "zip": "integer",
        "price": "number",
        "flag": "boolean",
    }
    human = invoke("datasets", "prices", workspace=project)
    assert "integers as text" in human.output and "numbers as text" in human.output


# -- JSON lines -------------------------------------------------------------------------------


def test_json_lines_keep_long_integers_and_number_values(tmp_path: Path):
    path = tmp_path / "numbers.jsonl"
    path.write_bytes(
        b'{"account": 12345678901234567890, "price": 1.50, "big": 123456789012345678901234}\n'
        b'{"account": 1, "price": 2, "big": -5}\n'
    )
    frame = read_table(path).frame  # used to fail: "not well-formed JSON lines"
    assert frame.schema["account"] == pl.UInt64  # fits unsigned 64 bits: exact
    assert frame["account"].to_list() == [12345678901234567890, 1]
    assert frame["price"].to_list() == [1.5, 2.0]  # 1.50 and 1.5 are the same JSON number
    assert frame["big"].to_list() == ["123456789012345678901234", "-5"]  # no number type holds it
    path.write_bytes(b'{"id": 12345678901234567890.5}\n{"id": 12345678901234567891}\n')
    assert read_table(path).frame["id"].to_list() == [
        "12345678901234567890.5",
        "12345678901234567891",
    ]  # a Float64 would make these the same number
    path.write_bytes(b'{"a": 1}\n{not json\n')
    with pytest.raises(Exception, match="not well-formed JSON lines"):
        read_table(path)


@pytest.fixture
def shop(ws: Workspace, tmp_path: Path) -> Workspace:
    """Prices written with two decimals ("12.50"): kept as text, meaning numbers."""
    rows = [
        [f"P{i:04d}", f"{(i * 37) % 100}.{(i * 7) % 10}0", f"0{2100 + i % 7}", f"{i % 9}.10",
         "F" if i % 3 else "M", "yes" if (i * 37) % 100 > 50 else "no"]
        for i in range(300)
    ]  # fmt: skip
    source = tmp_path / "shop.csv"
    source.write_bytes(_csv_bytes(["person_id", "price", "zip", "amount", "sex", "label"], rows))
    info = ws.ingest(
        source,
        name="shop",
        owner="o",
        purposes=["p"],
        actor="o",
        subject_id="person_id",
        scan=False,
    )
    assert {c.name: c.meaning for c in info.columns if c.meaning} == {
        "price": "number",
        "zip": "integer",
        "amount": "number",
    }
    ws.dp.set_budget("shop", actor="o", epsilon=50, delta=1e-6)
    return ws


def test_dp_queries_training_and_synthesis_read_numbers_kept_as_text(shop: Workspace):
    truth = for_analysis(
        shop.read("shop", purpose="p", actor="o"), shop.dataset("shop").versions[0].columns
    )
    result = shop.dp.query(
        "shop",
        QueryRequest(
            sql="SELECT SUM(price) AS total, AVG(price) AS mean FROM shop",
            epsilon=5.0,
            purpose="p",
            bounds={"price": (0.0, 100.0)},
        ),
        actor="a",
    )
    (row,) = result.rows
    assert abs(row["total"] - truth["price"].sum()) < 10 * (row["total_high"] - row["total"])
    assert 0 <= row["mean"] <= 100
    with pytest.raises(Exception, match="numeric column"):  # codes are not quantities
        shop.dp.query(
            "shop",
            QueryRequest(
                sql="SELECT SUM(zip) AS s FROM shop",
                epsilon=1.0,
                purpose="p",
                bounds={"zip": (0.0, 1e5)},
            ),
            actor="a",
        )

    model = shop.dp.train(
        "shop",
        TrainRequest(
            target="label",
            name="m",
            purpose="p",
            epsilon=2.0,
            epochs=1,
            features=["price", "sex"],
            bounds={"price": (0.0, 100.0)},
            keys={"sex": ["F", "M"], "label": ["no", "yes"]},
        ),
        actor="a",
    )
    kinds = {f["name"]: f["kind"] for f in model.card.stored()["features"]}
    assert kinds == {"price": "numeric", "sex": "categorical"}

    report = shop.dp.synthesize(
        "shop",
        SynthRequest(
            name="shop-ind", method="independent", seed=1, columns=["price", "zip", "sex"]
        ),
        actor="o",
    )
    assert {c.name: c.kind for c in report.columns} == {
        "price": "numeric",
        "zip": "categorical",
        "sex": "categorical",
    }


def test_deid_generalizes_numbers_kept_as_text_and_keeps_the_rest_as_given(shop: Workspace):
    from privet.deid import ProtectRequest, parse_plan

    plan = parse_plan(
        "quasi_identifiers: [price, sex]\n"
        "privacy: {k: 5, max_suppression: 0.1}\n"
        "columns: {person_id: drop}\n"
    )
    report = shop.deid.protect("shop", ProtectRequest(plan=plan), output="shop-k5", actor="o")
    assert report.hierarchies["price"] == "intervals"
    out = shop.read("shop-k5", purpose="p", actor="o")
    original = shop.read("shop", purpose="p", actor="o")
    assert report.levels["price"] > 0
    assert out["price"].str.contains(r"^\[|^\*$").all()  # intervals of numbers, or *
    # What was not generalized is the text as given: "3.10" stays "3.10", zips keep their 0.
    if report.suppressed == 0:
        assert out.select("zip", "amount").equals(original.select("zip", "amount"))
    assert out["amount"].str.ends_with(".10").all()
    assert out["zip"].str.starts_with("0").all()
