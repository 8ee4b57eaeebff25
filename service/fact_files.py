"""Reading fact files (CSV and XLSX) as a stream of rows, for ``quotatree import``.

Unlike member files (``service.files``, read whole: a dimension is small), a
file of sales may hold millions of rows: it is read one row at a time and never
held in memory. The header row names the columns (``service.domain.facts``
says which); every cell is handed on as read (a CSV's text, a workbook's typed
values) and the domain checks it. Workbook cells that cannot be used (an Excel
error, a formula without a saved value) become ``BadCell`` s, reported with
their row and column. Rows are numbered from 1 under the header; blank rows are
skipped (and keep their numbers).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.domain.facts import BadCell
from service.files import MemberFileError, _BadCell, _xlsx_records

CHUNK = 1024 * 1024


class FactFileError(Exception):
    """The file as a whole cannot be read (missing, format, encoding)."""


@dataclass(frozen=True, slots=True)
class FileDigest:
    sha256: str
    """Hex digest of the file's bytes (the default batch key)."""
    lines: int
    """Line breaks in the file: an upper bound of its rows, for the progress bar."""


def digest(path: Path) -> FileDigest:
    """One pass over the bytes: their digest and how many lines they hold."""
    if not path.is_file():
        raise FactFileError(f"{path}: no such file")
    sha = hashlib.sha256()
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            lines += chunk.count(b"\n")
    return FileDigest(sha.hexdigest(), lines)


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def open_rows(path: Path) -> tuple[list[Any], Iterator[tuple[int, list[Any]]]]:
    """The header and an iterator of (row number, cells) of a CSV or XLSX file."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in {".xlsx", ".xlsm"}:
        records = _workbook_records(path)
    else:
        raise FactFileError(
            f"{path}: expected a .csv or .xlsx file (save an .xls or .ods workbook as .xlsx)"
        )
    try:
        header = next(records)
    except StopIteration:
        raise FactFileError(f"{path}: the file is empty") from None
    return header, _numbered(records)


def _numbered(records: Iterator[list[Any]]) -> Iterator[tuple[int, list[Any]]]:
    for number, record in enumerate(records, start=1):
        try:
            blank = not "".join(record).strip()  # a CSV row: text only
        except TypeError:  # a workbook row: typed cells
            blank = all(v is None or (isinstance(v, str) and not v.strip()) for v in record)
        if blank:
            continue
        yield number, record


def _csv_records(path: Path) -> Iterator[list[Any]]:
    handle = path.open(encoding="utf-8-sig", newline="")
    try:
        try:
            sample = handle.read(4096)
        except UnicodeDecodeError:
            raise FactFileError(_not_utf8(path)) from None
        # The delimiter is the header's (a comma, a semicolon or a tab): cells below it
        # may hold semicolons of their own (split credit), which would mislead a sniffer.
        first = sample.splitlines()[0] if sample else ""
        delimiter = max((",", ";", "\t"), key=first.count)
        handle.seek(0)
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            yield from reader
        except UnicodeDecodeError:
            raise FactFileError(f"{_not_utf8(path)} (near line {reader.line_num + 1})") from None
        except csv.Error as exc:
            raise FactFileError(
                f"{path}: line {reader.line_num}: not readable CSV ({exc})"
            ) from None
    finally:
        handle.close()


def _not_utf8(path: Path) -> str:
    return f"{path}: not UTF-8 text; save the CSV as UTF-8, or save the workbook as .xlsx"


def _workbook_records(path: Path) -> Iterator[list[Any]]:
    try:
        for record in _xlsx_records(path):  # streams openpyxl's read-only mode
            yield [BadCell(c.reason) if isinstance(c, _BadCell) else c for c in record]
    except MemberFileError as exc:
        raise FactFileError(str(exc)) from None
