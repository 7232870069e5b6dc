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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
    frame = None
    # Infer types from a large sample first; a late value of another type needs the full scan.
    for infer_rows in (10_000, None):
        try:
            frame = pl.read_csv(path, infer_schema_length=infer_rows)
            break
        except pl.exceptions.NoDataError:
            raise InvalidInput(f"{name} is empty") from None
        except Exception as err:  # noqa: BLE001 - polars raises several types; none is shown
            reason = _csv_reason(str(err))
            if reason is not None or infer_rows is None:
                reason = reason or "a column holds values the parser cannot type"
                raise InvalidInput(f"{name} is not a well-formed CSV file: {reason}") from None
    assert frame is not None
    if frame.columns != header:
        raise InvalidInput(f"{name} has duplicate column names in its header")
    # Polars fills missing trailing fields with nulls; Arrow's stricter parser is run only when
    # that could have happened (the last column has nulls), to refuse short rows.
    if frame.height and frame.get_column(frame.columns[-1]).null_count():
        _check_row_lengths(path, header, name)
    return frame


def _csv_header(data: bytes, name: str) -> list[str]:
    try:
        first = data[: 1 << 20].decode("utf-8", errors="strict")
    except UnicodeDecodeError as err:
        if err.start < (1 << 20) - 4:
            raise InvalidInput(f"{name} is not valid UTF-8 text (re-encode it as UTF-8)") from None
        first = data[: err.start].decode("utf-8")
    try:
        return next(csv.reader(io.StringIO(first, newline="")))
    except (StopIteration, csv.Error):
        raise InvalidInput(f"{name} has no readable header row") from None


def _csv_reason(message: str) -> str | None:
    """What to tell the user; None when a full-file type inference may succeed."""
    lowered = message.lower()
    if "utf-8" in lowered or "utf8" in lowered:
        return "it is not valid UTF-8 text (re-encode it as UTF-8)"
    if "more fields" in lowered or "ragged" in lowered:
        return "some rows have more fields than the header"
    if "could not parse" in lowered:
        return None
    return "the parser rejected it"


def _check_row_lengths(path: Path, header: list[str], name: str) -> None:
    import pyarrow as pa  # imported here: only this check needs Arrow's parser
    import pyarrow.csv as pa_csv

    # Arrow's tokenizer checks every row's field count; converting only the last column
    # (rather than all of them to strings) halves the cost of this second parse.
    last = header[-1]
    options = pa_csv.ConvertOptions(column_types={last: pa.string()}, include_columns=[last])
    try:
        reader = pa_csv.open_csv(str(path), convert_options=options)
        for _ in reader:
            pass
    except pa.ArrowInvalid:
        raise InvalidInput(
            f"{name} is not a well-formed CSV file: some rows have fewer fields than the header"
        ) from None


def _read_parquet(data: bytes, name: str) -> pl.DataFrame:
    try:
        return pl.read_parquet(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - message may quote data
        raise InvalidInput(f"{name} is not a readable Parquet file") from None


def _read_jsonl(data: bytes, name: str) -> pl.DataFrame:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name} is not valid UTF-8 text (re-encode it as UTF-8)") from None
    try:
        return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)
    except Exception:  # noqa: BLE001 - message may quote data
        raise InvalidInput(f"{name} is not well-formed JSON lines (one object per line)") from None


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
    if path.is_dir():
        raise InvalidInput(f"{path} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise AlreadyExists(f"{path} already exists (pass --force to replace it)")
    if not path.parent.is_dir():
        raise NotFound(f"the folder {path.parent} does not exist")
    return fmt


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
