"""Export of a version to XLSX and CSV, read back; edited leaf targets round-trip into a
new draft through the node-edit rules."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

from openpyxl import load_workbook

from service.api import ids
from service.domain import demo as data
from service.plan_files import FLAT_SHEET, read_targets, write_csv, write_xlsx
from service.plans.export import EditedTarget, import_targets, plan_table
from tests.demo.conftest import ADMIN, Demo


async def test_the_workbook_has_a_sheet_per_level_path_and_numbers_as_numbers(
    demo: Demo, tmp_path: Path
) -> None:
    table = await plan_table(demo.db, demo.loaded.version_id, data.AS_OF)
    path = tmp_path / "plan.xlsx"
    write_xlsx(table, path)
    book = load_workbook(path)
    assert book.sheetnames[0] == FLAT_SHEET
    assert "Regions" in book.sheetnames
    assert "Regions > Regions > Channels" in book.sheetnames
    flat = book[FLAT_SHEET]
    header = [c.value for c in flat[1]]
    target, actual, attained = (header.index(n) for n in ("Target", "Actual", "Attainment"))
    rows = list(flat.iter_rows(min_row=2))
    assert len(rows) == len(table.rows) == demo.loaded.nodes
    root = rows[0]
    assert isinstance(root[target].value, (int, float))
    assert root[target].number_format == '#,##0.00 "EUR"'
    assert root[attained].number_format == "0.0%"
    assert Decimal(repr(root[target].value)) == table.rows[0].target
    assert Decimal(repr(root[actual].value)) == table.rows[0].actual
    # the areas' sheet adds up to the root
    areas = book["Regions"]
    area_rows = list(areas.iter_rows(min_row=2, values_only=True))
    assert [r[0] for r in area_rows] == ["North", "South", "West"]
    assert sum(Decimal(repr(r[2])) for r in area_rows) == table.rows[0].target


async def test_edited_leaf_targets_come_back_as_a_new_draft(demo: Demo, tmp_path: Path) -> None:
    table = await plan_table(demo.db, demo.loaded.version_id, date(2027, 6, 30))
    path = tmp_path / "plan.csv"
    write_csv(table, path)
    with path.open(newline="") as f:
        lines = list(csv.reader(f))
    header = lines[0]
    k, t, leaf = header.index("Key"), header.index("Target"), header.index("Leaf")
    leaves = [line for line in lines[1:] if line[leaf] == "yes"]
    first, second = leaves[0], leaves[1]  # siblings: the first edit rebalances the second
    raised = Decimal(first[t]) + Decimal("1000.00")
    first[t] = str(raised)
    second[t] = str(Decimal(second[t]) - Decimal("250.00"))
    inner = lines[1]  # the root: not a leaf
    inner[t] = str(Decimal(inner[t]) + 1)
    leaves[2][t] = "12.345"  # more decimals than the currency's
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    edits = read_targets(path)
    assert len(edits) == len(table.rows)
    report = await import_targets(demo.db, ADMIN, demo.loaded.version_id, edits, path.name)
    assert report.draft_id is not None
    assert [(key, after) for _, key, _, after in report.changed] == [
        (int(first[k]), first[t]),
        (int(second[k]), second[t]),
    ]
    refused = {key: reason for _, key, reason in report.refused}
    assert set(refused) == {int(inner[k]), int(leaves[2][k])}
    assert "not a leaf" in refused[int(inner[k])]
    answer = await demo.gql(
        """query($id: ID!) { planVersion(id: $id) { state root { target } } }""",
        {"id": ids.encode("PlanVersion", report.draft_id)},
    )
    assert answer["planVersion"]["state"] == "DRAFT"
    assert Decimal(answer["planVersion"]["root"]["target"]) == table.rows[0].target
    draft = await plan_table(demo.db, report.draft_id, date(2027, 6, 30))
    by_key = {r.key: r for r in draft.rows}
    assert by_key[int(first[k])].target == Decimal(first[t])
    assert by_key[int(second[k])].target == Decimal(second[t])
    assert not by_key[int(first[k])].locked  # the import's own locks are released


async def test_an_unchanged_file_makes_no_draft(demo: Demo) -> None:
    table = await plan_table(demo.db, demo.loaded.version_id, data.AS_OF)
    edits = [EditedTarget(i, r.key, r.target) for i, r in enumerate(table.rows, start=1)]
    report = await import_targets(demo.db, ADMIN, demo.loaded.version_id, edits, "same.csv")
    assert report.draft_id is None and report.changed == [] and report.refused == []
