"""Reading member files (CSV and XLSX) into rows for a bulk load.

Columns, by header name (case and spaces/underscores ignored): ``code``,
``name``, ``parent code`` (or ``parent``), optional ``sort order``, and
attributes by name (``market potential``, ``tier``, ``channel type`` ...).
Columns named ``extra.<key>`` go to the free-form attributes. Any other
column is refused, so a misspelt attribute is never dropped silently.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.domain.hierarchy import MAX_BULK_ROWS, BulkLoadError, MemberRow, RowError
from service.domain.members import ATTRIBUTE_KINDS

MAX_FILE_BYTES = 50 * 1024 * 1024


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


class MemberFileError(Exception):
    """The file as a whole cannot be read (format, header, size)."""


def read_member_file(path: Path) -> list[MemberRow]:
    """Rows of a CSV or XLSX file; ``BulkLoadError`` lists every bad cell."""
    if not path.is_file():
        raise MemberFileError(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise MemberFileError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(path)
    elif suffix in {".xlsx", ".xlsm"}:
        records = _xlsx_records(path)
    else:
        raise MemberFileError(f"{path}: expected a .csv or .xlsx file")
    try:
        header = next(records)
    except StopIteration:
        raise MemberFileError(f"{path}: the file is empty") from None
    columns = _columns(header, path)
    rows: list[MemberRow] = []
    errors: list[RowError] = []
    for number, record in enumerate(records, start=1):
        if all(v is None or str(v).strip() == "" for v in record):
            continue
        if len(rows) >= MAX_BULK_ROWS:
            raise MemberFileError(f"{path}: more than {MAX_BULK_ROWS} members; split the file")
        row, row_errors = _row(number, record, columns)
        errors.extend(row_errors)
        if row is not None:
            rows.append(row)
    if errors:
        raise BulkLoadError(errors)
    if not rows:
        raise MemberFileError(f"{path}: no member rows under the header")
    return rows


def _csv_records(path: Path) -> Iterator[list[Any]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MemberFileError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text), dialect)


def _xlsx_records(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise MemberFileError(f"{path}: not a readable XLSX workbook ({exc})") from None
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield list(values)
    finally:
        workbook.close()


def _columns(header: list[Any], path: Path) -> dict[int, str]:
    columns: dict[int, str] = {}
    unknown = []
    for index, cell in enumerate(header):
        if cell is None or str(cell).strip() == "":
            continue
        key = _norm(str(cell))
        if key in _FIXED:
            columns[index] = _FIXED[key]
        elif key in _ATTRIBUTES:
            columns[index] = "attr:" + _ATTRIBUTES[key]
        elif key.startswith("extra.") and len(key) > 6:
            columns[index] = "extra:" + str(cell).strip()[6:]
        else:
            unknown.append(str(cell))
    if unknown:
        known = ", ".join(["code", "name", "parent code", "sort order", *sorted(ATTRIBUTE_KINDS)])
        raise MemberFileError(
            f"{path}: unknown column(s) {', '.join(map(repr, unknown))}; known: {known}, "
            "or extra.<key> for free-form attributes"
        )
    for needed in ("code", "name"):
        if needed not in columns.values():
            raise MemberFileError(f"{path}: the header has no {needed!r} column")
    return columns


def _row(
    number: int, record: list[Any], columns: dict[int, str]
) -> tuple[MemberRow | None, list[RowError]]:
    values: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    errors: list[RowError] = []
    for index, role in columns.items():
        cell = record[index] if index < len(record) else None
        if isinstance(cell, str):
            cell = cell.strip()
            if cell == "":
                cell = None
        if role.startswith("attr:"):
            if cell is not None:
                attributes[role[5:]] = cell
        elif role.startswith("extra:"):
            if cell is not None:
                extra[role[6:]] = cell
        else:
            values[role] = cell
    sort = values.get("sort")
    sort_order: int | None = None
    if sort is not None:
        try:
            sort_order = int(str(sort))
        except ValueError:
            errors.append(
                RowError(number, "sort order", "INVALID_VALUE", f"{sort!r} is not a whole number")
            )
    if extra:
        attributes["extra"] = extra
    if errors:
        return None, errors
    return (
        MemberRow(
            row=number,
            code="" if values.get("code") is None else str(values["code"]),
            name="" if values.get("name") is None else str(values["name"]),
            parent_code=None if values.get("parent") is None else str(values["parent"]),
            sort_order=sort_order,
            attributes=attributes,
        ),
        [],
    )
