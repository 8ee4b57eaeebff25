"""Reading member files (CSV and XLSX) into rows for a bulk load.

Columns, by header name (case and spaces/underscores ignored): ``code``,
``name``, ``parent code`` (or ``parent``), optional ``sort order``, and
attributes by name (``market potential``, ``tier``, ``channel type`` ...).
Columns named ``extra.<key>`` go to the free-form attributes. Any other
column is refused, so a misspelt attribute is never dropped silently, and so
is a value in a column without a header.

This module only reads the file: it hands every cell on as it is (a CSV's
text; a workbook's numbers, booleans, dates, datetimes and times), and the
domain (``service.domain.hierarchy.plan_load`` with
``service.domain.members.check_attributes``) normalises and checks each one by
the same rules as a GraphQL input. What is Excel's own business is settled
here: a formula is read as the value Excel saved for it (refused when there
is none), an error cell (``#N/A``) is refused, a number shown with leading
zeros (format ``00000``) is read as the text shown, and Excel's escapes of
control characters in text (``_x0000_``) are decoded, so that the domain sees
and refuses them. A file too large, too wide or too long is refused as a
whole with one message, before anything is parsed further.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.domain.hierarchy import MAX_BULK_ROWS, BulkLoadError, MemberRow, RowError
from service.domain.members import ATTRIBUTE_KINDS

MAX_FILE_BYTES = 50 * 1024 * 1024
"""Largest file read (CSV text, or an XLSX archive as stored)."""
MAX_XLSX_UNPACKED_BYTES = 500 * 1024 * 1024
"""Largest total size of an XLSX archive's parts once unpacked (a zip bomb is refused)."""
MAX_COLUMNS = 100
"""Widest header: the fixed columns, every attribute and up to 50 extra keys fit."""
MAX_LINE_CHARS = 1024 * 1024
"""Longest physical line of a CSV file."""
MAX_SCANNED_ROWS = 10 * MAX_BULK_ROWS
"""Most rows looked at, blank ones included, before the file is refused as too long."""


def _norm(header: str) -> str:
    return "".join(ch for ch in header.strip().lower() if ch.isalnum() or ch == ".")


_ATTRIBUTES = {_norm(name): name for name in ATTRIBUTE_KINDS}
_FIXED = {
    "code": "code",
    "name": "name",
    "parentcode": "parent",
    "parent": "parent",
    "sortorder": "sort",
}
_COLUMN_LABELS = {"code": "code", "name": "name", "parent": "parent", "sort": "sort order"}


class MemberFileError(Exception):
    """The file as a whole cannot be read (format, header, size)."""


@dataclass(frozen=True, slots=True)
class _BadCell:
    """A workbook cell whose value cannot be used, and why."""

    reason: str


def read_member_file(path: Path) -> list[MemberRow]:
    """Rows of a CSV or XLSX file; ``BulkLoadError`` lists every bad cell."""
    if not path.is_file():
        raise MemberFileError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise MemberFileError(
            f"{path}: {size / 2**20:.1f} MiB is larger than {MAX_FILE_BYTES // 2**20} MiB; "
            f"split the file (at most {MAX_BULK_ROWS} members per import)"
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in {".xlsx", ".xlsm"}:
        records = _xlsx_records(path)
    else:
        raise MemberFileError(
            f"{path}: expected a .csv or .xlsx file (save an .xls or .ods workbook as .xlsx)"
        )
    try:
        header = next(records)
    except StopIteration:
        raise MemberFileError(f"{path}: the file is empty") from None
    columns = _columns(header, path)
    rows: list[MemberRow] = []
    errors: list[RowError] = []
    number = 0
    for scanned, record in enumerate(records, start=1):
        if scanned > MAX_SCANNED_ROWS:
            raise MemberFileError(
                f"{path}: more than {MAX_SCANNED_ROWS} rows (blank ones included); "
                f"at most {MAX_BULK_ROWS} members per import"
            )
        if all(_blank(v) for v in record):
            continue
        number = scanned
        if len(rows) >= MAX_BULK_ROWS:
            raise MemberFileError(
                f"{path}: more than {MAX_BULK_ROWS} member rows; split the file "
                f"(at most {MAX_BULK_ROWS} members per import)"
            )
        row, row_errors = _row(number, record, columns)
        errors.extend(row_errors)
        if row is not None:
            rows.append(row)
    if errors:
        raise BulkLoadError(errors)
    if not rows:
        raise MemberFileError(f"{path}: no member rows under the header")
    return rows


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _csv_records(path: Path) -> Iterator[list[Any]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MemberFileError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the CSV as UTF-8, "
            "or save the workbook as .xlsx"
        ) from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(_lines(text, path), dialect)
    try:
        yield from reader
    except csv.Error as exc:
        raise MemberFileError(f"{path}: line {reader.line_num}: not readable CSV ({exc})") from None


def _lines(text: str, path: Path) -> Iterator[str]:
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise MemberFileError(
                f"{path}: line {number} is longer than {MAX_LINE_CHARS} characters"
            )
        yield line


_OOXML_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")
_ZERO_PADDED = re.compile("0+")


def _xlsx_records(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise MemberFileError(f"{path}: not an XLSX workbook (not a zip archive)") from None
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise MemberFileError(
            f"{path}: the workbook unpacks to {unpacked / 2**20:.0f} MiB, more than "
            f"{MAX_XLSX_UNPACKED_BYTES // 2**20} MiB"
        )
    try:
        # Two streaming passes over the one sheet: the values Excel saved, and
        # the formulas, to tell a formula that has no saved value from an empty cell.
        values_book = load_workbook(path, read_only=True, data_only=True)
        formulas_book = load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise MemberFileError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        values = values_book.worksheets[0].iter_rows(max_col=MAX_COLUMNS + 1)
        formulas = formulas_book.worksheets[0].iter_rows(max_col=MAX_COLUMNS + 1)
        while True:
            try:
                cells = next(values, None)
                formula_cells = next(formulas, None)
            except Exception as exc:  # a broken sheet part surfaces while streaming
                raise MemberFileError(f"{path}: not a readable XLSX workbook ({exc})") from None
            if cells is None or formula_cells is None:
                return
            yield [_cell(c, f) for c, f in zip(cells, formula_cells, strict=False)]
    finally:
        values_book.close()
        formulas_book.close()


def _cell(cell: Any, formula: Any) -> Any:
    """A workbook cell's value as the user sees it, or a ``_BadCell`` saying why not."""
    value = cell.value
    data_type = getattr(cell, "data_type", None)
    if getattr(formula, "data_type", None) == "f" and value is None:
        return _BadCell(
            f"the formula {str(formula.value)[:60]} has no saved value; open the file in "
            "Excel and save it, or paste the values"
        )
    if data_type == "e":
        return _BadCell(f"the cell holds the Excel error {value}")
    if isinstance(value, str):
        # Excel writes control characters as _xHHHH_ (ECMA-376 ST_Xstring); decode them
        # as Excel does, so the domain sees (and refuses) a NUL or a control character.
        return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= 0
        and _ZERO_PADDED.fullmatch(str(getattr(cell, "number_format", "") or ""))
    ):
        # A code such as 00123 kept as the number 123 and shown with format 00000.
        return str(value).zfill(len(cell.number_format))
    return value


def _columns(header: list[Any], path: Path) -> dict[int, str]:
    columns: dict[int, str] = {}
    unknown = []
    if len(header) > MAX_COLUMNS and any(not _blank(c) for c in header[MAX_COLUMNS:]):
        raise MemberFileError(f"{path}: more than {MAX_COLUMNS} columns in the header")
    for index, cell in enumerate(header):
        if isinstance(cell, _BadCell) or _blank(cell):
            continue
        key = _norm(str(cell))
        if key in _FIXED:
            columns[index] = _FIXED[key]
        elif key in _ATTRIBUTES:
            columns[index] = "attr:" + _ATTRIBUTES[key]
        elif key.startswith("extra.") and len(key) > 6:
            columns[index] = "extra:" + str(cell).strip()[6:]
        else:
            unknown.append(str(cell)[:60])
    if unknown:
        known = ", ".join(["code", "name", "parent code", "sort order", *sorted(ATTRIBUTE_KINDS)])
        raise MemberFileError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; known: {known}, "
            "or extra.<key> for free-form attributes"
        )
    for needed in ("code", "name"):
        if needed not in columns.values():
            raise MemberFileError(f"{path}: the header has no {needed!r} column")
    duplicated = sorted({r for r in columns.values() if list(columns.values()).count(r) > 1})
    if duplicated:
        raise MemberFileError(
            f"{path}: the header names {', '.join(_label(r) for r in duplicated)} twice"
        )
    return columns


def _label(role: str) -> str:
    if role.startswith("attr:"):
        return role[5:]
    if role.startswith("extra:"):
        return "extra." + role[6:]
    return _COLUMN_LABELS[role]


def _row(
    number: int, record: list[Any], columns: dict[int, str]
) -> tuple[MemberRow | None, list[RowError]]:
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    errors: list[RowError] = []
    for index, cell in enumerate(record):
        if index not in columns and not _blank(cell) and not isinstance(cell, _BadCell):
            errors.append(
                RowError(
                    number,
                    f"column {index + 1}",
                    "INVALID_VALUE",
                    "a value in a column without a header; name the column or clear it",
                )
            )
    for index, role in columns.items():
        cell = record[index] if index < len(record) else None
        if isinstance(cell, _BadCell):
            errors.append(RowError(number, _label(role), "INVALID_VALUE", cell.reason))
            continue
        if _blank(cell):
            continue  # an empty cell leaves the value unset
        if role.startswith("attr:"):
            attributes[role[5:]] = cell
        elif role.startswith("extra:"):
            extra[role[6:]] = cell
        else:
            values[role] = cell
    if extra:
        attributes["extra"] = extra
    if errors:
        return None, errors
    return (
        MemberRow(
            row=number,
            code=values.get("code", ""),
            name=values.get("name", ""),
            parent_code=values.get("parent"),
            sort_order=values.get("sort"),
            attributes=attributes,
        ),
        [],
    )
