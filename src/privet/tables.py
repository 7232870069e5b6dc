"""Reading and writing tabular files: CSV, Parquet and JSON lines, strictly and atomically.

Errors from the parsers are never passed on: their messages quote cell values. Each failure
becomes one sentence that names the file and what to fix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import polars as pl

from privet.errors import AlreadyExists, InvalidInput, NotFound
from privet.text import has_controls

FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_MAX_COLUMN_NAME = 512


@dataclass(frozen=True)
class SourceFile:
    """A table read from a file, with the facts lineage records about the file."""

    frame: pl.DataFrame
    format: str
    sha256: str
    size: int


def names_file(source: str) -> bool:
    """Whether ``source`` (as given by a user) names a file rather than a dataset.

    The one rule for every command that takes either: an existing file, or a name that looks
    like a path (a separator or a table file's extension). Dataset names have neither, so
    ``people`` and ``people@2`` are datasets; a missing ``people.csv`` is a missing file.
    """
    path = Path(source)
    try:
        if path.is_file():
            return True
    except OSError:  # a name too long for the file system is not a file
        return False
    return "/" in source or "\\" in source or path.suffix.lower() in FORMATS


@contextmanager
def file_errors(path: Path) -> Iterator[None]:
    """Turn the OS errors of reading ``path`` into one sentence each (no errno soup)."""
    try:
        yield
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not a file") from None
    except OSError as err:
        raise InvalidInput(f"{path} cannot be read ({err.strerror})") from None


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path.name}: unsupported file type {path.suffix or '(none)'!r}; "
            "use .csv, .parquet or .jsonl"
        )
    return fmt


def read_table(path: Path) -> SourceFile:
    """Read ``path`` into a Polars frame, refusing empty, binary, ragged or non-UTF-8 input."""
    fmt = file_format(path)
    with file_errors(path):
        before = path.stat()
        with open(path, "rb") as file:
            # CSV is parsed from the file itself (Polars maps it: no copy of it in memory);
            # the other formats are small enough in practice to read whole.
            data = file.read(1 << 20) if fmt == "csv" else file.read()
    if not data:
        raise InvalidInput(f"{path.name} is empty")
    if fmt != "parquet" and b"\x00" in data[:65536]:
        raise InvalidInput(f"{path.name} is a binary file, not {fmt.upper()} text")
    if fmt == "csv":
        # The hash runs in a thread while Polars parses: hashlib releases the GIL.
        with ThreadPoolExecutor(1) as pool:
            digest = pool.submit(_file_sha256, path)
            frame = _read_csv(path, data, path.name)
            sha256 = digest.result()
        after = path.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise InvalidInput(f"{path.name} changed while it was being read; try again")
        size = before.st_size
    else:
        reader = {"parquet": _read_parquet, "jsonl": _read_jsonl}[fmt]
        frame, sha256, size = reader(data, path.name), hashlib.sha256(data).hexdigest(), len(data)
    if frame.width == 0:
        raise InvalidInput(f"{path.name} has no columns")
    if frame.height == 0:
        raise InvalidInput(f"{path.name} has no data rows")
    _check_column_names(frame.columns, path.name)
    return SourceFile(frame, fmt, sha256, size)


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _read_csv(path: Path, head: bytes, name: str) -> pl.DataFrame:
    header = _csv_header(head, name)
    # Every cell is read as the text it is (no type inference can change a value); columns
    # are typed afterwards only where that is exact (see exact_types).
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise InvalidInput(f"{name} is empty") from None
    except Exception as err:  # noqa: BLE001 - polars raises several types; none is shown
        reason = _csv_reason(str(err))
        raise InvalidInput(f"{name} is not a well-formed CSV file: {reason}") from None
    if len(set(header)) != len(header):
        raise InvalidInput(f"{name} has duplicate column names in its header")
    if frame.width != len(header):
        raise InvalidInput(f"{name} is not a well-formed CSV file: the parser rejected it")
    # The names as Python's csv module reads them: Polars keeps a header's doubled quotes.
    frame.columns = header
    # Polars fills missing trailing fields with nulls, and reads a blank line as a row of
    # nulls; Arrow's stricter parser is run only when either could have happened (the last
    # column has nulls), to refuse short rows and drop blank lines.
    if frame.height and frame.get_column(frame.columns[-1]).null_count():
        frame = _check_row_lengths(path, frame, name)
    return exact_types(frame)


def _csv_header(data: bytes, name: str) -> list[str]:
    try:
        first = data[: 1 << 20].decode("utf-8", errors="strict")
    except UnicodeDecodeError as err:
        if err.start < (1 << 20) - 4:
            raise InvalidInput(f"{name} is not valid UTF-8 text (re-encode it as UTF-8)") from None
        first = data[: err.start].decode("utf-8")
    try:
        return next(csv.reader(io.StringIO(first.removeprefix("\ufeff"), newline="")))
    except (StopIteration, csv.Error):
        raise InvalidInput(f"{name} has no readable header row") from None


def _csv_reason(message: str) -> str:
    """What to tell the user, from a parser message (which is never shown: it quotes data)."""
    lowered = message.lower()
    if "utf-8" in lowered or "utf8" in lowered:
        return "it is not valid UTF-8 text (re-encode it as UTF-8)"
    if "more fields" in lowered or "ragged" in lowered:
        return "some rows have more fields than the header"
    return "the parser rejected it"


def _check_row_lengths(path: Path, frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """``frame`` without the rows Polars made of blank lines; refuses rows with too few fields.

    A blank line is no record (as for Python's ``csv`` module and most tools), except in a
    one-column file, where it is the one empty field of a record: a null.
    """
    blank = frame.height - _csv_records(path, frame.columns[-1], name)
    if blank <= 0 or frame.width == 1:
        return frame
    trailing = min(blank, _trailing_blank_lines(path))
    frame, blank = frame.head(frame.height - trailing), blank - trailing
    if blank == 0:
        return frame
    empty = pl.all_horizontal(pl.all().is_null())
    if frame.select(empty.sum()).item() != blank:
        # Blank lines among rows whose fields are all empty: which is which is not known.
        raise InvalidInput(
            f"{name} is not a well-formed CSV file: it has blank lines between its rows "
            "(remove them)"
        )
    return frame.filter(~empty)


def _csv_records(path: Path, last: str, name: str) -> int:
    """The number of records of a CSV file (blank lines are none); refuses short rows."""
    import pyarrow as pa  # imported here: only this check needs Arrow's parser
    import pyarrow.csv as pa_csv

    # Arrow's tokenizer checks every row's field count and skips blank lines; converting only
    # the last column (rather than all of them to strings) halves the cost of this parse.
    options = pa_csv.ConvertOptions(column_types={last: pa.string()}, include_columns=[last])
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    records = 0
    try:
        reader = pa_csv.open_csv(str(path), parse_options=parse, convert_options=options)
        for batch in reader:
            records += batch.num_rows
    except pa.ArrowInvalid:
        raise InvalidInput(
            f"{name} is not a well-formed CSV file: some rows have fewer fields than the header"
        ) from None
    return records


def _trailing_blank_lines(path: Path) -> int:
    """How many blank lines end the file (after the line break of its last record)."""
    with open(path, "rb") as file:
        file.seek(max(0, path.stat().st_size - 4096))
        tail = file.read().replace(b"\r\n", b"\n")
    return max(0, len(tail) - len(tail.rstrip(b"\n")) - 1)


# -- exact types ------------------------------------------------------------------------------
#
# A CSV cell is text. A column is given a type only where every value renders back, as
# Polars writes it (``write_csv``), to exactly the text it was read from; otherwise it stays
# text, and ``text_meanings`` says what the text holds. An empty field is a null, and a null
# is written as an empty field, so both round-trip; ``""`` (quoted) is an empty string.

# Tried in this order; Boolean is the text "true"/"false" exactly.
_EXACT_TYPES = (pl.Int64(), pl.Float64(), pl.Boolean())
# Rows every candidate is tried on first: most columns fail there, and only the columns that
# pass are tried on all their rows.
_PROBE_ROWS = 1000


def exact_types(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with each text column typed (Int64, Float64, Boolean) where that is exact."""
    left = _candidates(frame, _EXACT_TYPES, _renders_back)
    typed: list[pl.Series] = []
    # One type per column and round, in order, until one holds on all rows; the typed values
    # of the test are the ones kept. Columns go by position: pl.col("*") is every column.
    while left:
        values = frame.select(
            _typed(pl.nth(c), tried[0]).alias(f"v{c}") for c, tried in left.items()
        )
        held = (
            pl.concat(
                [values, frame.select(pl.nth(c).alias(f"t{c}") for c in left)], how="horizontal"
            )
            .select(
                pl.col(f"v{c}").cast(pl.String).eq_missing(pl.col(f"t{c}")).all().alias(str(c))
                for c in left
            )
            .row(0)
        )
        for (c, tried), ok in zip(list(left.items()), held, strict=True):
            if ok:
                typed.append(values.get_column(f"v{c}").alias(frame.columns[c]))
            del tried[0]
            if ok or not tried:
                del left[c]
    return frame.with_columns(typed) if typed else frame


def _typed(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Boolean:
        return text == "true"  # "false" and anything else: false (the check then tells)
    return text.cast(dtype, strict=False)


def _renders_back(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Per value: whether it is the rendering of a ``dtype`` value (or null)."""
    return _typed(text, dtype).cast(pl.String).eq_missing(text)


# What ``_candidates`` tries per column: a dtype, a meaning.
Option = TypeVar("Option")


def _candidates(
    frame: pl.DataFrame,
    options: tuple[Option, ...],
    test: Callable[[pl.Expr, Option], pl.Expr],
    present: Callable[[pl.Expr], pl.Expr] = pl.Expr.is_not_null,
) -> dict[int, list[Option]]:
    """``{position: options}`` of the text columns with a value ``present``: the options whose
    per-value ``test`` holds on the column's first rows (all options for a small frame)."""
    columns = [i for i, dtype in enumerate(frame.dtypes) if dtype == pl.String]
    if not columns:
        return {}
    if frame.height > _PROBE_ROWS:
        flags = (
            frame.head(_PROBE_ROWS)
            .select(
                test(pl.nth(c), option).all().alias(f"{c}.{i}")
                for c in columns
                for i, option in enumerate(options)
            )
            .row(0)
        )
        width = len(options)
        left = {
            c: [o for i, o in enumerate(options) if flags[j * width + i]]
            for j, c in enumerate(columns)
        }
    else:
        left = {c: list(options) for c in columns}
    left = {c: tried for c, tried in left.items() if tried}
    if not left:
        return {}
    there = frame.select(present(pl.nth(c)).any().alias(str(c)) for c in left).row(0)
    return {c: tried for (c, tried), some in zip(left.items(), there, strict=True) if some}


def _first_holding(
    frame: pl.DataFrame,
    options: tuple[Option, ...],
    test: Callable[[pl.Expr, Option], pl.Expr],
    present: Callable[[pl.Expr], pl.Expr] = pl.Expr.is_not_null,
) -> dict[int, Option]:
    """``{position: option}``: for each text column with a value ``present``, the first
    option whose per-value ``test`` holds for all its values."""
    left = _candidates(frame, options, test, present)
    chosen: dict[int, Option] = {}
    while left:  # one option per column and round, in order, until one holds on all rows
        held = frame.select(
            test(pl.nth(c), tried[0]).all().alias(str(c)) for c, tried in left.items()
        ).row(0)
        for (c, tried), ok in zip(list(left.items()), held, strict=True):
            if ok:
                chosen[c] = tried[0]
            del tried[0]
            if ok or not tried:
                del left[c]
    return chosen


# What a text column holds, tried in this order on its non-empty values (all must match).
MEANINGS = ("integer", "number", "boolean", "date")
# Values that have a meaning also have these (digit strings are numbers too).
_WITHIN = {
    "integer": {"integer"},
    "number": {"integer", "number"},
    "boolean": {"boolean"},
    "date": {"date"},
}
_DAY, _MONTH = r"(0?[1-9]|[12]\d|3[01])", r"(0?[1-9]|1[0-2])"
_TIME = r"([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"
_MONTH_NAME = r"[A-Za-z]{3,9}\.?"
_MEANING_PATTERNS = {
    # Digit strings a type would change (leading zeros, more than 18 digits): codes.
    "integer": r"^\d+$",
    # Decimal text a type would change (1.50, 1e5, -0): quantities. A leading "+" is left
    # out: "+14155550123" is a phone number, not a quantity.
    "number": r"^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$",
    "boolean": r"^(?i:true|false)$",
    "date": "^(" + "|".join(
        [
            rf"\d{{4}}-{_MONTH}-{_DAY}{_TIME}",
            rf"\d{{4}}/{_MONTH}/{_DAY}",
            rf"{_DAY}[/.-]{_DAY}[/.-](\d{{2}}|\d{{4}})( \d{{1,2}}:\d{{2}}(:\d{{2}})?)?",
            rf"{_DAY} {_MONTH_NAME},? \d{{4}}",
            rf"{_MONTH_NAME} {_DAY},? \d{{4}}",
        ]
    ) + ")$",
}  # fmt: skip


def text_meanings(frame: pl.DataFrame) -> dict[str, str]:
    """``{column: meaning}`` for the text columns of ``frame`` whose values all have one.

    Empty strings count as missing; a column with no other value has no meaning.
    """
    found = _first_holding(frame, MEANINGS, _matches, _non_empty)
    return {frame.columns[i]: meaning for i, meaning in sorted(found.items())}


def fits_meaning(values: pl.Series, meaning: str) -> bool:
    """Whether every value of a text column still has ``meaning`` (e.g. after a derivation)."""
    if values.dtype != pl.String or meaning not in MEANINGS:
        return False
    return text_meanings(values.to_frame("v")).get("v") in _WITHIN[meaning]


def _matches(text: pl.Expr, meaning: str) -> pl.Expr:
    return text.str.contains(_MEANING_PATTERNS[meaning]) | ~_non_empty(text)


def _non_empty(text: pl.Expr) -> pl.Expr:
    return text.is_not_null() & (text != "")


def _read_parquet(data: bytes, name: str) -> pl.DataFrame:
    try:
        return pl.read_parquet(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - message may quote data
        raise InvalidInput(f"{name} is not a readable Parquet file") from None


def _read_jsonl(data: bytes, name: str) -> pl.DataFrame:
    data = data.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is no character
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not valid UTF-8 text (re-encode it as UTF-8)") from None
    if _LONG_NUMBER.search(data) is None:
        try:
            return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
        except Exception:  # noqa: BLE001 - message may quote data; Python's parser tells why
            pass
    return _read_jsonl_exactly(text, name)


# A JSON number of 16 digits or more may not fit Int64, or a Float64 if fractions share its
# column: such files are read by Python's exact parser.
_LONG_NUMBER = re.compile(rb"[:\[,]\s*-?\d{16,}")
_INT64 = (-(2**63), 2**63 - 1)


def _read_jsonl_exactly(text: str, name: str) -> pl.DataFrame:
    """JSON lines whose numbers Polars would refuse or round: long integers.

    Python's parser reads every integer exactly. A column of integers that fit only unsigned
    64 bits becomes UInt64; a column of integers beyond 64 bits, or of fractions and integers
    beyond 2**53 (which a Float64 rounds), is kept as the numbers' text as written.
    """
    import json

    def no_constant(_word: str) -> None:
        raise ValueError("NaN and Infinity are not JSON")

    rows = []
    for line in text.split("\n"):  # not splitlines: JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_constant=no_constant, parse_float=Decimal)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise InvalidInput(f"{name} is not well-formed JSON lines (one object per line)")
        rows.append(row)
    overrides: dict[str, pl.DataType] = {}
    for column in dict.fromkeys(key for row in rows for key in row):
        present = [row[column] for row in rows if row.get(column) is not None]
        fractions = sum(type(v) is Decimal for v in present)
        ints = [v for v in present if type(v) is int]
        exact = True
        if fractions + len(ints) < len(present):
            pass  # not a number column: Polars reads it (nested numbers as floats)
        elif not fractions and not all(_INT64[0] <= v <= _INT64[1] for v in ints):
            if all(0 <= v < 2**64 for v in ints):
                overrides[column] = pl.UInt64()
            else:
                exact = False
        elif fractions and not all(abs(v) <= 2**53 for v in ints):
            exact = False  # a Float64 would round these integers
        for row in rows:
            value = row.get(column)
            if value is not None and exact:
                row[column] = _floats(value)
            elif value is not None:
                row[column] = str(value)  # the number as written: no type holds them all
        if not exact:
            overrides[column] = pl.String()
    try:
        return pl.DataFrame(rows, schema_overrides=overrides, infer_schema_length=None)
    except Exception:  # noqa: BLE001 - message may quote data
        raise InvalidInput(
            f"{name} holds values privet cannot store exactly (integers beyond 64 bits "
            "inside nested values, or mixed with text)"
        ) from None


def _floats(value: object) -> object:
    """``value`` with the JSON fractions read as Decimal made floats (as Polars reads them)."""
    if type(value) is Decimal:
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def _check_column_names(columns: list[str], name: str) -> None:
    for position, column in enumerate(columns, start=1):
        if not column.strip():
            raise InvalidInput(f"{name} has a column with an empty name")
        if has_controls(column):
            # Stored, it would be printed to auditors' terminals (an escape clears the screen,
            # a newline forges a row); outputs escape it too, but it has no place in a name.
            raise InvalidInput(
                f"{name}: the name of column {position} holds a control character (a newline, "
                "an escape, a direction mark); rename it"
            )
        if len(column) > _MAX_COLUMN_NAME:
            raise InvalidInput(
                f"{name} has a column name longer than {_MAX_COLUMN_NAME} characters"
            )


def to_parquet_bytes(frame: pl.DataFrame) -> bytes:
    """privet's canonical serialization of a version: Parquet, zstd, written by Polars."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def from_parquet_bytes(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


def check_destination(path: Path, *, overwrite: bool = False) -> str:
    """Refuse a destination before any work: unknown type, missing folder, existing file."""
    fmt = file_format(path)
    check_new_file(path, overwrite=overwrite)
    return fmt


def check_new_file(path: Path, *, overwrite: bool = False) -> None:
    """Refuse a file destination before any work: a folder, an existing file (unless
    ``overwrite``), a missing parent folder."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise AlreadyExists(
            f"{path} already exists (`overwrite` replaces it)", parameter="overwrite"
        )
    if not path.parent.is_dir():
        raise NotFound(f"the folder {path.parent} does not exist")


def write_table(
    frame: pl.DataFrame, path: Path, *, overwrite: bool = False, journal: Path | None = None
) -> int:
    """Write ``frame`` to ``path`` (format from the extension) atomically, readable by its
    owner only (0600); returns bytes. See :func:`atomic_file` for ``journal``."""
    fmt = check_destination(path, overwrite=overwrite)
    if fmt == "csv" and any(dtype.is_nested() for dtype in frame.dtypes):
        raise InvalidInput(
            "this table has nested columns, which CSV cannot hold; export to .parquet"
        )
    with atomic_file(path, journal=journal) as out:
        if fmt == "csv":
            frame.write_csv(out)
        elif fmt == "parquet":
            frame.write_parquet(out, compression="zstd")
        else:
            frame.write_ndjson(out)
    return path.stat().st_size


# A temporary file of privet's: hidden, named after its target, recognisable by this marker.
_PART = re.compile(r"^\..+\.privet-[0-9a-f]{32}\.part$")


@contextmanager
def atomic_file(
    path: Path, *, mode: int = 0o600, journal: Path | None = None
) -> Iterator[BinaryIO]:
    """A file that appears at ``path`` whole (fsynced, then renamed) or not at all.

    It is created with ``mode`` (default 0600: an export holds personal data). A process
    killed mid-write cannot remove its temporary file; with ``journal`` (a folder of the
    workspace) the file is recorded there first, and :func:`clean_journal`, which the next
    privet command runs, deletes what a dead process left.
    """
    token = uuid.uuid4().hex
    tmp = path.with_name(f".{path.name}.privet-{token}.part")
    entry = None
    if journal is not None:
        journal.mkdir(mode=0o700, parents=True, exist_ok=True)
        entry = journal / f"{token}.json"
        entry.write_text(json.dumps({"pid": os.getpid(), "path": str(tmp)}))
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as err:
            raise InvalidInput(f"{path} cannot be written ({err.strerror})") from None
        os.fchmod(fd, mode)  # the umask must not widen nor narrow what was asked
        with open(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        if entry is not None:
            entry.unlink(missing_ok=True)


def clean_journal(journal: Path) -> list[Path]:
    """Delete the temporary files that processes which have since died left behind.

    A file whose writer is still running is left alone; only files with privet's
    temporary-name pattern are ever deleted. Returns the files removed.
    """
    removed: list[Path] = []
    if not journal.is_dir():
        return removed
    for entry in journal.glob("*.json"):
        try:
            record = json.loads(entry.read_text())
            pid, tmp = int(record["pid"]), Path(record["path"])
        except (OSError, ValueError, KeyError, TypeError):
            entry.unlink(missing_ok=True)
            continue
        if _alive(pid):
            continue
        if _PART.match(tmp.name) and tmp.exists():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
        entry.unlink(missing_ok=True)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def unique_map(
    values: pl.Series,
    function: Callable[[str], str | None],
    dtype: pl.DataType | type[pl.DataType] = pl.String,
) -> pl.Series:
    """Apply ``function`` once per distinct non-null value (as text); nulls stay null."""
    text = values.cast(pl.String)
    distinct = text.drop_nulls().unique()
    # Old and new values as two Series: Polars builds the lookup natively (a dict of a
    # million entries costs more than the replacement itself).
    mapped = pl.Series([function(value) for value in distinct.to_list()], dtype=dtype)
    return text.replace_strict(distinct, mapped, default=None, return_dtype=dtype).alias(
        values.name
    )


# -- tables larger than memory ----------------------------------------------------------------
#
# A table is read whole into memory when it fits; otherwise it goes through Polars' streaming
# engine from and to Parquet files on disk. Plaintext on disk lives only in a private folder of
# the workspace (``PrivateFile``), recorded in the workspace's journal like an export's
# temporary file, so the next open of the workspace removes what a killed process left.

STREAMING_ENV = "PRIVET_STREAMING"
# Bytes of memory per byte of a source file, with room for the copies a read makes: CSV and
# JSON lines are read as text first (a short cell costs 16 bytes), then typed.
TEXT_FACTOR = {"csv": 8, "jsonl": 4}
# Bytes of memory per byte of Parquet when its footer cannot be read: zstd often compresses
# personal data 5-10 times.
PARQUET_FACTOR = 10
# Reading a table makes copies on the way (decoded pages, the frame, a typed column).
COPIES = 2
_NO_LIMIT = 1 << 60


def file_memory(path: Path) -> int:
    """About how many bytes of memory reading the table file ``path`` would take."""
    fmt = file_format(path)
    with file_errors(path):
        size = path.stat().st_size
    if fmt != "parquet":
        return size * TEXT_FACTOR[fmt]
    import pyarrow.parquet as pq  # the footer gives the uncompressed size of every page

    try:
        meta = pq.ParquetFile(path).metadata
        decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception:  # noqa: BLE001 - not Parquet: reading it will say so in one sentence
        return size * PARQUET_FACTOR
    return max(decoded, size) * COPIES


def table_memory(rows: int, dtypes: list[str], parquet_bytes: int) -> int:
    """About how many bytes of memory a stored table takes once read: ``rows`` of columns
    of Polars types ``dtypes`` (text at 24 bytes a value: a 16-byte view and its text), or
    its Parquet size times ``PARQUET_FACTOR`` when that is more."""
    width = sum(_value_bytes(dtype) for dtype in dtypes)
    return max(rows * width, parquet_bytes * PARQUET_FACTOR) * COPIES


_FIXED_BYTES = {
    **dict.fromkeys(("Boolean", "Int8", "UInt8"), 1),
    **dict.fromkeys(("Int16", "UInt16"), 2),
    **dict.fromkeys(("Int32", "UInt32", "Float32", "Date"), 4),
    **dict.fromkeys(("Int64", "UInt64", "Float64", "Time"), 8),
}


def _value_bytes(dtype: str) -> int:
    if dtype.startswith(("Datetime", "Duration")):
        return 8
    if dtype.startswith(("List", "Array", "Struct")):
        return 48
    return _FIXED_BYTES.get(dtype, 24)


def memory_available() -> int:
    """Bytes of memory this process may use: the smallest of its memory cgroup's limits (v1
    ``memory.limit_in_bytes`` or v2 ``memory.max``, its own and its ancestors'), its
    ``RLIMIT_AS`` and ``RLIMIT_DATA``, and the system's ``MemAvailable``."""
    limits = [_meminfo_available(), *_cgroup_limits(), *_rlimits()]
    return min(limits)


def _rlimits() -> Iterator[int]:
    import resource

    for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        soft = resource.getrlimit(which)[0]
        if soft != resource.RLIM_INFINITY:
            yield soft


def _meminfo_available() -> int:
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return _NO_LIMIT


def _cgroup_limits() -> Iterator[int]:
    try:
        with open("/proc/self/cgroup") as file:
            lines = file.read().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if "memory" in controllers.split(","):
            root, name = Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes"
        elif controllers == "":
            root, name = Path("/sys/fs/cgroup"), "memory.max"
        else:
            continue
        folder = root / group.lstrip("/")
        # The group's own limit and its ancestors' (a namespace may hide the path: the root).
        for where in [folder, *folder.parents]:
            if not where.is_relative_to(root):
                break
            try:
                text = (where / name).read_text().strip()
            except OSError:
                continue
            if text.isdigit():
                yield int(text)


def streams(needed: int) -> bool:
    """Whether a table that needs about ``needed`` bytes of memory (``file_memory``,
    ``table_memory``) goes through the streaming engine rather than memory:
    ``$PRIVET_STREAMING`` (1 or 0) decides when set, else whether it needs more than
    ``memory_available()``."""
    forced = os.environ.get(STREAMING_ENV, "")
    if forced not in ("", "0", "1"):
        raise InvalidInput(f"${STREAMING_ENV} must be 1 (stream) or 0 (read into memory)")
    if forced:
        return forced == "1"
    return needed > memory_available()


class PrivateFile:
    """An empty owner-only (0600) file for plaintext in ``folder`` (made 0700), deleted by
    :meth:`close`; it is recorded in ``journal`` first, so that :func:`clean_journal` (run by
    the next open of the workspace) deletes it if this process dies before closing it."""

    def __init__(self, folder: Path, journal: Path, name: str) -> None:
        token = uuid.uuid4().hex
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        journal.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / f".{name}.privet-{token}.part"
        self._entry = journal / f"{token}.json"
        self._entry.write_text(json.dumps({"pid": os.getpid(), "path": str(self.path)}))
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except BaseException:
            self._entry.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        self.path.unlink(missing_ok=True)
        self._entry.unlink(missing_ok=True)

    def __enter__(self) -> PrivateFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class StagedTable:
    """A table file too large for memory, rewritten as Parquet by :func:`stage_table`."""

    format: str
    sha256: str  # of the source file
    size: int  # of the source file, bytes
    rows: int
    schema: pl.Schema
    meanings: dict[str, str]  # text_meanings of the table
    sample: pl.DataFrame  # rows spread evenly over the table


def stage_table(path: Path, destination: Path, *, sample_rows: int) -> StagedTable:
    """``read_table`` for a file too large for memory: ``path`` is written to ``destination``
    as Parquet (zstd) by Polars' streaming engine, never whole in memory.

    The result is the table ``read_table`` gives: one streaming pass over every row first
    tries, per text column, the same exact types in the same order and the text meanings,
    then a second pass writes the typed rows. A CSV's blank lines and short rows are refused
    or dropped as ``read_table`` does. JSON lines with integers of 16 digits or more are
    refused (``read_table`` reads those exactly with Python's parser, in memory).
    """
    fmt = file_format(path)
    name = path.name
    with file_errors(path):
        before = path.stat()
        with open(path, "rb") as file:
            head = file.read(1 << 20)
    if not head:
        raise InvalidInput(f"{name} is empty")
    if fmt != "parquet" and b"\x00" in head[:65536]:
        raise InvalidInput(f"{name} is a binary file, not {fmt.upper()} text")
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(_file_sha256, path)
        try:
            staged = _stage(path, fmt, head, destination, sample_rows)
        except InvalidInput:
            raise
        except Exception as err:  # noqa: BLE001 - polars raises several types; none is shown
            reason = _csv_reason(str(err))
            raise InvalidInput(
                f"{name} is not a well-formed {fmt.upper()} file: {reason}"
            ) from None
        sha256 = digest.result()
    after = path.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise InvalidInput(f"{name} changed while it was being read; try again")
    rows, schema, meanings, sample = staged
    return StagedTable(fmt, sha256, before.st_size, rows, schema, meanings, sample)


def _stage(
    path: Path, fmt: str, head: bytes, destination: Path, sample_rows: int
) -> tuple[int, pl.Schema, dict[str, str], pl.DataFrame]:
    name = path.name
    if fmt == "csv":
        header = _csv_header(head, name)
        if len(set(header)) != len(header):
            raise InvalidInput(f"{name} has duplicate column names in its header")
        lazy = pl.scan_csv(path, infer_schema=False, new_columns=header)
    elif fmt == "parquet":
        lazy = pl.scan_parquet(path)
    else:
        if _holds_long_numbers(path):
            raise InvalidInput(
                f"{name} holds integers of 16 digits or more, which privet reads exactly only "
                "in memory; split the file or give the process more memory"
            )
        lazy = pl.scan_ndjson(path, infer_schema_length=None)
    schema = lazy.collect_schema()
    if fmt == "csv" and len(schema) != len(header):
        raise InvalidInput(f"{name} is not a well-formed CSV file: the parser rejected it")
    if not len(schema):
        raise InvalidInput(f"{name} has no columns")
    _check_column_names(schema.names(), name)
    text = [c for c, dtype in schema.items() if dtype == pl.String]
    exact = _EXACT_TYPES if fmt == "csv" else ()
    empty = pl.all_horizontal(pl.all().is_null())
    # Each text column's candidate types (CSV only), then meanings, tried on the first rows
    # (as exact_types does) and then in one streaming pass on every row.
    tried = {c: [*exact, *MEANINGS] for c in text}
    # A Parquet file is read a slice at a time (see slices); a text file in one pass, since
    # a slice of it would be parsed from the file's start.
    every_row = list(slices(lazy, _height(lazy))) if fmt == "parquet" else [lazy]
    for rows_seen in ([lazy.head(_PROBE_ROWS)], every_row):
        checks = [pl.len().alias("rows"), empty.sum().alias("empty")]
        checks += [pl.nth(len(schema) - 1).null_count().alias("last_nulls")]
        for i, column in enumerate(text):
            here = pl.col(column)
            checks += [
                here.is_not_null().any().alias(f"p{i}"),
                _non_empty(here).any().alias(f"n{i}"),
            ]
            checks += [
                (_renders_back(here, o) if isinstance(o, pl.DataType) else _matches(here, o))
                .all()
                .alias(f"{i}.{j}")
                for j, o in enumerate(tried[column])
            ]
        facts = _combined(part.select(checks) for part in rows_seen)
        tried = {
            c: [o for j, o in enumerate(tried[c]) if facts[f"{i}.{j}"]] for i, c in enumerate(text)
        }
    rows = facts["rows"]
    typed: dict[str, pl.DataType] = {}
    meanings: dict[str, str] = {}
    for i, column in enumerate(text):
        held = [o for o in tried[column] if isinstance(o, pl.DataType)]
        if held and facts[f"p{i}"]:
            typed[column] = held[0]
            continue
        found = [o for o in tried[column] if isinstance(o, str)]
        if found and facts[f"n{i}"]:
            meanings[column] = found[0]
    if fmt == "csv" and rows and facts["last_nulls"]:
        lazy, rows = _drop_blank_lines(path, lazy, rows, facts["empty"], len(schema))
    if rows == 0:
        raise InvalidInput(f"{name} has no data rows")
    lazy = lazy.with_columns(_typed(pl.col(c), t).alias(c) for c, t in typed.items())
    if fmt == "parquet":
        write_slices(lazy, rows, destination)
    else:
        lazy.sink_parquet(destination, compression="zstd", engine="streaming")
    every = max(1, rows // sample_rows)
    written = pl.scan_parquet(destination)
    parts = [
        part.collect(engine="streaming").gather_every(every, offset=-start % every)
        for start, part in zip(
            range(0, rows, WRITE_SLICE_ROWS),
            slices(written, rows, WRITE_SLICE_ROWS),
            strict=False,
        )
    ]
    sample = pl.concat(parts).head(sample_rows)
    return rows, sample.schema, meanings, sample


def _height(lazy: pl.LazyFrame) -> int:
    return int(lazy.select(pl.len()).collect(engine="streaming").item())


def _combined(queries: Iterator[pl.LazyFrame]) -> dict[str, Any]:
    """The checks of ``_stage`` over several slices: counts add up, ``any`` and ``all`` hold
    as they would on the whole."""
    facts: dict[str, Any] = {}
    for query in queries:
        row = query.collect(engine="streaming").row(0, named=True)
        for key, value in row.items():
            if key not in facts:
                facts[key] = value
            elif key in ("rows", "empty", "last_nulls"):
                facts[key] += value
            elif key[0] in "pn":
                facts[key] = facts[key] or value
            else:
                facts[key] = facts[key] and value
    return facts


# Rows per query over a Parquet file: Polars 1.36's streaming engine holds memory in
# proportion to the rows one query reads (measured: 1.4 GB for a group-by of 12M rows on 9
# text keys, against 0.4 GB in slices), so privet queries a large Parquet file a slice at a
# time (a slice reads only its row groups) and combines the answers.
SLICE_ROWS = 1_000_000


# A slice written is held whole (as Polars, then Arrow): smaller.
WRITE_SLICE_ROWS = 250_000


def slices(lazy: pl.LazyFrame, rows: int, size: int | None = None) -> Iterator[pl.LazyFrame]:
    """``lazy`` (of ``rows`` rows) in slices of ``size`` (default ``SLICE_ROWS``) rows, in
    order (at least one)."""
    size = size or SLICE_ROWS
    for start in range(0, max(rows, 1), size):
        yield lazy.slice(start, size)


def write_slices(lazy: pl.LazyFrame, rows: int, destination: Path) -> None:
    """Write ``lazy`` (of ``rows`` rows) to ``destination`` as Parquet (zstd), a slice at a
    time: memory holds one slice, whatever the table's size."""
    parts = slices(lazy, rows, WRITE_SLICE_ROWS)
    write_frames((part.collect(engine="streaming") for part in parts), destination)


def write_frames(frames: Iterable[pl.DataFrame], destination: Path) -> int:
    """Write ``frames`` (of one schema, at least one) to ``destination`` as one Parquet file
    (zstd), one after the other: memory holds one frame. Returns the rows written."""
    import pyarrow.parquet as pq

    writer, rows = None, 0
    try:
        for frame in frames:
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(destination, table.schema, compression="zstd")
            writer.write_table(table)
            rows += frame.height
    finally:
        if writer is not None:
            writer.close()
    return rows


def fits_meaning_lazily(lazy: pl.LazyFrame, rows: int, column: str, meaning: str) -> bool:
    """:func:`fits_meaning` for a column of ``lazy`` (of ``rows`` rows), a slice at a time."""
    if lazy.collect_schema()[column] != pl.String or meaning not in MEANINGS:
        return False
    text = pl.col(column)
    checks = [_non_empty(text).any().alias("present")]
    checks += [_matches(text, m).all().alias(m) for m in MEANINGS]
    present, held = False, dict.fromkeys(MEANINGS, True)
    for part in slices(lazy, rows):
        found = part.select(checks).collect(engine="streaming").row(0, named=True)
        present = present or bool(found["present"])
        held = {m: held[m] and bool(found[m]) for m in MEANINGS}
    first = next((m for m in MEANINGS if held[m]), None)
    return present and first in _WITHIN[meaning]


def _drop_blank_lines(
    path: Path, lazy: pl.LazyFrame, rows: int, empty: int, width: int
) -> tuple[pl.LazyFrame, int]:
    """``_check_row_lengths`` for a lazy CSV scan: the rows Polars made of blank lines go."""
    last = lazy.collect_schema().names()[-1]
    blank = rows - _csv_records(path, last, path.name)
    if blank <= 0 or width == 1:
        return lazy, rows
    trailing = min(blank, _trailing_blank_lines(path))
    lazy, rows, blank, empty = (
        lazy.head(rows - trailing),
        rows - trailing,
        blank - trailing,
        empty - trailing,
    )
    if blank == 0:
        return lazy, rows
    if empty != blank:
        raise InvalidInput(
            f"{path.name} is not a well-formed CSV file: it has blank lines between its rows "
            "(remove them)"
        )
    return lazy.filter(~pl.all_horizontal(pl.all().is_null())), rows - blank


def _holds_long_numbers(path: Path) -> bool:
    overlap = b""
    with open(path, "rb") as file:
        while chunk := file.read(1 << 24):
            if _LONG_NUMBER.search(overlap + chunk):
                return True
            overlap = chunk[-64:]
    return False
