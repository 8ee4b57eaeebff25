"""What the browser tests read back from the page: the table views (the numbers as
shown) and the treemaps' own data (ECharts' option and view root)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.explorer.conftest import Page

AS_OF = "2027-06-30"


def euros(text: str | None) -> str:
    """en-US formatting of an exact decimal string in EUR, as Intl.NumberFormat does."""
    if text is None:
        return "–"
    value = Decimal(text)
    sign = "-" if value < 0 else ""
    return f"{sign}€{abs(value):,.2f}"


def percent(text: str | None) -> str:
    return "–" if text is None else f"{Decimal(text):,.2f}%"


async def table_rows(page: Page, selector: str) -> list[dict[str, Any]]:
    """Each row of a table: its data attributes and the text of its cells."""
    rows: list[dict[str, Any]] = await page.page.eval_on_selector_all(
        f"{selector} tbody tr",
        """rows => rows.map(r => ({...r.dataset,
              cells: [...r.cells].map(c => c.innerText.trim())}))""",
    )
    return rows


async def chart_items(page: Page, selector: str) -> list[dict[str, Any]]:
    """Every item of a treemap's data, flattened: id, key, name, colour, change."""
    items: list[dict[str, Any]] = await page.page.evaluate(
        """selector => {
            const chart = echarts.getInstanceByDom(document.querySelector(selector));
            const out = [];
            const walk = (item) => {
                out.push({id: item.id, key: item.key, name: item.name,
                          color: item.itemStyle && item.itemStyle.color,
                          change: item.change || null});
                (item.children || []).forEach(walk);
            };
            chart.getOption().series[0].data.forEach(walk);
            return out;
        }""",
        selector,
    )
    return items


async def view_root(page: Page, selector: str) -> str:
    """The id of the node the treemap is drawn from (the node in view)."""
    root: str = await page.page.evaluate(
        """selector => echarts.getInstanceByDom(document.querySelector(selector))
              .getOption().series[0].data[0].id""",
        selector,
    )
    return root
