// Small helpers to build elements and tables without a framework.
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A table: columns are {label, cell(row) -> text or Node, value?(row) for sorting,
// numeric?}. With sortable, a header button sorts by its column (aria-sort told).
export function table({ caption, columns, rows, rowAttributes = () => ({}), sortable = false }) {
  const body = el("tbody");
  const head = el("tr");
  const result = el("table", {}, el("caption", {}, caption), el("thead", {}, head), body);
  let order = { index: -1, ascending: true };
  const fill = (list) => {
    body.replaceChildren(
      ...list.map((row) =>
        el(
          "tr",
          rowAttributes(row),
          columns.map((c) => el("td", { class: c.numeric ? "num" : null }, c.cell(row))),
        ),
      ),
    );
  };
  columns.forEach((column, index) => {
    const th = el("th", { scope: "col", class: column.numeric ? "num" : null });
    if (sortable && column.value) {
      th.append(
        el("button", { type: "button", onclick: () => sortBy(index) }, column.label),
      );
    } else th.append(column.label);
    head.append(th);
  });
  const sortBy = (index) => {
    order = { index, ascending: order.index === index ? !order.ascending : true };
    const value = columns[index].value;
    const sorted = [...rows].sort((a, b) => compare(value(a), value(b)) * (order.ascending ? 1 : -1));
    head.querySelectorAll("th").forEach((th, i) => {
      if (i === index) th.setAttribute("aria-sort", order.ascending ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
    fill(sorted);
  };
  fill(rows);
  return result;
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  return a < b ? -1 : 1;
}

// Decimal strings compare as numbers for sorting only (never shown).
export function sortNumber(text) {
  return text === null || text === undefined ? null : Number(text);
}
