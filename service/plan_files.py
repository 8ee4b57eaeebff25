"""A version's table as the files planners live in: XLSX (a sheet per level path and
one flat sheet of every node) or CSV (the flat sheet), and edited targets read back.

Numbers are written as numbers (``Decimal`` cells, never text), amounts with the
plan's currency format, attainment as a percentage.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from service.plans.export import EditedTarget, PlanTable, Row

FLAT_SHEET = "All nodes"
KEY, TARGET = "Key", "Target"
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


class PlanFileError(Exception):
    """A file that cannot be read as an exported plan (says which and why)."""


def flat_header(table: PlanTable) -> list[str]:
    header = [KEY, "Depth", "Level path"]
    for name in table.dimensions:
        header += [f"{name} code", f"{name} name"]
    return [*header, TARGET, "Owner", "Actual", "Attainment", "Status", "Leaf", "Locked"]


def flat_rows(table: PlanTable) -> Iterator[list[Any]]:
    for r in table.rows:
        cells: list[Any] = [r.key, r.depth, " > ".join(r.level_path) or "(root)"]
        for name in table.dimensions:
            code, label = r.members.get(name, (None, None))
            cells += [code, label]
        yield [
            *cells,
            r.target,
            r.owner,
            r.actual,
            _fraction(r),
            r.status,
            "yes" if r.leaf else "no",
            "yes" if r.locked else "no",
        ]


def _fraction(r: Row) -> Decimal | None:
    return r.attainment_percent / 100 if r.attainment_percent is not None else None


def amount_format(table: PlanTable) -> str:
    decimals = "." + "0" * table.digits if table.digits else ""
    suffix = table.currency or table.unit or ""
    return f'#,##0{decimals} "{suffix}"' if suffix else f"#,##0{decimals}"


def write_xlsx(table: PlanTable, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook()
    flat = book.active
    assert flat is not None
    flat.title = FLAT_SHEET
    money = amount_format(table)
    header = flat_header(table)
    flat.append(header)
    for row in flat_rows(table):
        flat.append(row)
    _format(flat, header, money)
    names: set[str] = {FLAT_SHEET}
    paths: dict[tuple[str, ...], list[Row]] = {}
    for r in table.rows:
        if r.level_path:
            paths.setdefault(r.level_path, []).append(r)
    for level_path, rows in paths.items():
        sheet = book.create_sheet(_sheet_name(level_path, names))
        header = [f"{name} ({i + 1})" for i, name in enumerate(level_path)]
        header += [KEY, TARGET, "Owner", "Actual", "Attainment", "Status"]
        sheet.append(header)
        for r in rows:
            labels = [name for _, name in r.path]
            sheet.append([*labels, r.key, r.target, r.owner, r.actual, _fraction(r), r.status])
        _format(sheet, header, money)
    for sheet in book.worksheets:
        sheet.freeze_panes = "A2"
        for i, cell in enumerate(sheet[1], start=1):
            width = max(12, min(40, len(str(cell.value)) + 4))
            sheet.column_dimensions[get_column_letter(i)].width = width
    book.save(path)


def _format(sheet: Any, header: list[str], money: str) -> None:
    for index, title in enumerate(header, start=1):
        if title in (TARGET, "Actual"):
            style = money
        elif title == "Attainment":
            style = "0.0%"
        else:
            continue
        for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
            cell.number_format = style


def _sheet_name(level_path: tuple[str, ...], taken: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub("-", " > ".join(level_path))[:31]
    name, n = base, 2
    while name in taken:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    taken.add(name)
    return name


def write_csv(table: PlanTable, path: Path) -> None:
    """The flat sheet as CSV (UTF-8, numbers as plain decimals with a point)."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(flat_header(table))
        for row in flat_rows(table):
            writer.writerow(["" if v is None else v for v in row])


def read_targets(path: Path) -> list[EditedTarget]:
    """Every row's (key, target) of an exported flat sheet (XLSX: the ``All nodes``
    sheet; CSV: the file), as read; the rules check them on import."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        records = _xlsx(path)
    elif suffix == ".csv":
        records = _csv(path)
    else:
        raise PlanFileError(f"{path}: expected a .xlsx or .csv file exported by quotatree")
    header = next(records, None)
    if header is None:
        raise PlanFileError(f"{path}: the file is empty")
    names = [str(h).strip() if h is not None else "" for h in header]
    missing = [c for c in (KEY, TARGET) if c not in names]
    if missing:
        raise PlanFileError(
            f"{path}: no {' and no '.join(repr(m) for m in missing)} column; import the flat "
            f"sheet of an export (columns {KEY!r} and {TARGET!r})"
        )
    k, t = names.index(KEY), names.index(TARGET)
    out: list[EditedTarget] = []
    for line, record in enumerate(records, start=1):
        if all(v in (None, "") for v in record):
            continue
        raw_key = record[k] if k < len(record) else None
        try:
            key = int(Decimal(str(raw_key)))
        except (InvalidOperation, ValueError):
            raise PlanFileError(
                f"{path}: row {line}: {KEY} {raw_key!r} is not a node key"
            ) from None
        target = record[t] if t < len(record) else None
        if isinstance(target, float):  # a workbook cell: its shortest repr is what was typed
            target = Decimal(repr(target))
        out.append(EditedTarget(line, key, target))
    return out


def _xlsx(path: Path) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        if FLAT_SHEET not in book.sheetnames:
            raise PlanFileError(f"{path}: no sheet named {FLAT_SHEET!r}")
        for row in book[FLAT_SHEET].iter_rows(values_only=True):
            yield list(row)
    finally:
        book.close()


def _csv(path: Path) -> Iterator[list[Any]]:
    with path.open(newline="", encoding="utf-8-sig") as source:
        yield from csv.reader(source)
