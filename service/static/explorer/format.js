// Numbers as the API returned them (exact decimal strings), formatted for the reader:
// the plan's currency (or unit) and decimals, the browser's locale (or ?locale=).
const asked = new URLSearchParams(location.search).get("locale");
export const locale = asked || navigator.language || "en";

let money = null;
let unit = null;
const percentFormat = new Intl.NumberFormat(locale, {
  style: "unit",
  unit: "percent",
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
});
const ratioFormat = new Intl.NumberFormat(locale, { maximumFractionDigits: 4 });

export function usePlan(plan) {
  const digits = { minimumFractionDigits: plan.decimals, maximumFractionDigits: plan.decimals };
  money = plan.currency
    ? new Intl.NumberFormat(locale, { style: "currency", currency: plan.currency, ...digits })
    : new Intl.NumberFormat(locale, digits);
  unit = plan.currency ? null : plan.unit;
}

// Intl formats a decimal string exactly (no float on the way).
export function amount(text) {
  if (text === null || text === undefined) return "–";
  return unit ? `${money.format(text)} ${unit}` : money.format(text);
}

export function percent(text) {
  return text === null || text === undefined ? "–" : percentFormat.format(text);
}

export function ratio(text) {
  return text === null || text === undefined ? "–" : ratioFormat.format(text);
}

export const STATUS = {
  ON_TRACK: { label: "On track", color: "#2e7d32" },
  AT_RISK: { label: "At risk", color: "#e0a100" },
  BEHIND: { label: "Behind", color: "#c62828" },
  NOT_STARTED: { label: "No actuals yet", color: "#8d96a0" },
};
export const NO_STATUS = { label: "Loading", color: "#b0bec5" };

export function statusOf(code) {
  return STATUS[code] || NO_STATUS;
}
