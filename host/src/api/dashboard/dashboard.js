// The per-customer dashboard: fetches the customer's figures from the host's
// API and draws them. Every element is built with the DOM API, never from
// HTML text, so nothing a CRM or an agent wrote can run as markup.
"use strict";

const KEY_STORAGE = "conduit.apiKey";
const REFRESH_MS = 30000;
const SVG = "http://www.w3.org/2000/svg";
const OUTCOMES = ["created", "updated", "unchanged", "failed", "planned"];

const byId = (id) => document.getElementById(id);

function customerFromPath() {
  const parts = location.pathname.split("/");
  const at = parts.indexOf("customers");
  return at >= 0 && parts[at + 1] ? decodeURIComponent(parts[at + 1]) : "";
}

// A key passed as `#key=…` is kept for this tab and removed from the address
// bar: a fragment is never sent to a server, so it stays out of its logs.
function takeKeyFromFragment() {
  const match = location.hash.match(/^#key=(.+)$/);
  if (!match) return;
  sessionStorage.setItem(KEY_STORAGE, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

const number = (n) => Number(n).toLocaleString("en-US");
const percent = (rate) => (rate === null ? "–" : (rate * 100).toFixed(1) + "%");
const time = (rfc3339) => (rfc3339 ? rfc3339.replace("T", " ").slice(0, 19) + " UTC" : "–");

function setValue(id, value, shown) {
  const node = byId(id);
  node.dataset.value = value === null ? "" : String(value);
  node.textContent = shown;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function empty(container, text) {
  container.replaceChildren(el("p", { class: "empty" }, text));
}

// Charts are drawn at the width they are shown, so their text keeps its size.
const widthOf = (container) => Math.max(360, container.clientWidth || 720);

// Stacked bars of succeeded and failed records per time bucket.
function drawSeries(container, series) {
  if (series.length === 0) return empty(container, "No writes yet.");
  const width = widthOf(container), height = 180, left = 44, bottom = 22, top = 8;
  const max = Math.max(1, ...series.map((p) => p.succeeded + p.failed));
  const step = (width - left) / series.length;
  const bar = Math.min(48, Math.max(1, step * 0.8));
  const scale = (n) => (n / max) * (height - bottom - top);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": "Succeeded and failed records over time" });
  chart.append(svg("line", { class: "axis", x1: left, x2: width, y1: height - bottom,
    y2: height - bottom }));
  chart.append(svg("text", { x: left - 6, y: top + 10, "text-anchor": "end" }, number(max)));
  chart.append(svg("text", { x: left - 6, y: height - bottom, "text-anchor": "end" }, "0"));
  series.forEach((point, i) => {
    const x = left + i * step + (step - bar) / 2;
    const ok = scale(point.succeeded), failed = scale(point.failed);
    const base = height - bottom;
    const g = svg("g", { "data-start": point.start });
    g.append(svg("title", {}, `${point.start}: ${point.succeeded} succeeded, ` +
      `${point.failed} failed`));
    g.append(svg("rect", { class: "succeeded", x, width: bar, y: base - ok, height: ok }));
    g.append(svg("rect", { class: "failed", x, width: bar, y: base - ok - failed,
      height: failed }));
    chart.append(g);
  });
  const label = (point, anchor, x) =>
    svg("text", { x, y: height - 6, "text-anchor": anchor }, point.start.replace("T", " "));
  chart.append(label(series[0], "start", left));
  if (series.length > 1) chart.append(label(series[series.length - 1], "end", width));
  container.replaceChildren(chart);
}

// Horizontal bars: one row per item, stacked by `parts` (class and count).
function drawBars(container, rows, label) {
  if (rows.length === 0) return empty(container, "Nothing to show.");
  const width = widthOf(container), row = 22, left = 170, right = 60;
  const totals = rows.map((r) => r.parts.reduce((sum, [, n]) => sum + n, 0));
  const max = Math.max(1, ...totals);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${rows.length * row + 4}`, role: "img",
    "aria-label": label });
  rows.forEach((r, i) => {
    const y = i * row + 2;
    chart.append(svg("text", { x: left - 8, y: y + 14, "text-anchor": "end" }, r.name));
    let x = left;
    for (const [cls, n] of r.parts) {
      const w = (n / max) * (width - left - right);
      const rect = svg("rect", { class: cls, x, y, width: w, height: row - 6 });
      rect.append(svg("title", {}, `${r.name}: ${number(n)} ${cls === "bar" ? "" : cls}`));
      chart.append(rect);
      x += w;
    }
    chart.append(svg("text", { x: x + 6, y: y + 14 }, number(totals[i])));
  });
  container.replaceChildren(chart);
}

function countCell(status, n) {
  return el("td", { class: "number", "data-status": status, "data-value": n }, number(n));
}

function drawTotals(writes) {
  const t = writes.totals;
  setValue("total-records", t.records, number(t.records));
  setValue("success-rate", writes.success_rate, percent(writes.success_rate));
  for (const outcome of ["created", "updated", "unchanged", "failed"]) {
    setValue(`total-${outcome}`, t[outcome], number(t[outcome]));
  }
}

function drawErrors(errors) {
  drawBars(byId("errors-chart"),
    errors.map((e) => ({ name: e.crm_code || e.code, parts: [["failed", e.count]] })),
    "Failed records by error code");
  fill(byId("errors").tBodies[0], errors.map((e) =>
    el("tr", { "data-code": e.code, "data-crm-code": e.crm_code || "" },
      el("td", {}, el("code", {}, e.code)),
      el("td", {}, e.crm_code ? el("code", {}, e.crm_code) : "–"),
      el("td", { class: "number count", "data-value": e.count }, number(e.count)),
      el("td", {}, el("ul", {}, ...e.messages.map((m) => el("li", {}, m)))),
      el("td", {}, time(e.latest_at)))));
}

function drawSkipped(skipped) {
  drawBars(byId("skipped-chart"),
    skipped.map((s) => ({ name: s.reason, parts: [["bar", s.count]] })),
    "Skipped fields by reason");
  fill(byId("skipped").tBodies[0], skipped.map((s) =>
    el("tr", { "data-reason": s.reason },
      el("td", {}, el("code", {}, s.reason)),
      el("td", { class: "number count", "data-value": s.count }, number(s.count)))));
}

function drawDrift(drift) {
  byId("drift-checked").textContent = drift.checked_at
    ? `checked ${time(drift.checked_at)}`
    : "not checked yet";
  byId("drift-none").hidden = drift.findings.length > 0 || !drift.checked_at;
  byId("drift").hidden = drift.findings.length === 0;
  fill(byId("drift").tBodies[0], drift.findings.map((f) =>
    el("tr", { class: "drift", "data-kind": f.kind, "data-field": f.field || "" },
      el("td", {}, el("code", {}, f.object)),
      el("td", {}, f.field ? el("code", {}, f.field) : "–"),
      el("td", {}, f.agent_field || "–"),
      el("td", {}, f.kind.replaceAll("_", " ")),
      el("td", {}, time(f.since)),
      el("td", {}, f.message))));
}

function drawObjects(objects) {
  drawBars(byId("objects-chart"),
    objects.map((o) => ({ name: o.object, parts: OUTCOMES.map((s) => [s, o[s]]) })),
    "Records per object by outcome");
  fill(byId("objects").tBodies[0], objects.map((o) =>
    el("tr", { "data-object": o.object },
      el("td", {}, o.object),
      ...OUTCOMES.map((s) => countCell(s, o[s])),
      countCell("records", o.records))));
}

function shown(value) {
  if (value === null || value === undefined) return "–";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function decisionsTable(decisions) {
  return el("table", { class: "decisions" },
    el("thead", {}, el("tr", {}, ...["Field", "Decision", "Reason", "Policy", "Source",
      "Before", "Value"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...decisions.map((d) =>
      el("tr", { "data-field": d.field, "data-decision": d.decision, "data-reason": d.reason },
        el("td", {}, el("code", {}, d.field)),
        el("td", {}, d.decision),
        el("td", {}, d.reason),
        el("td", {}, d.policy),
        el("td", {}, d.source),
        el("td", {}, shown(d.current)),
        el("td", {}, shown(d.value))))));
}

function drawRecent(entries) {
  fill(byId("recent").tBodies[0], entries.map((e) => {
    const decisions = Array.isArray(e.decisions) ? e.decisions : [];
    const written = decisions.filter((d) => d.decision === "write").length;
    const detail = el("details", {},
      el("summary", {}, `${written} written, ${decisions.length - written} skipped`),
      decisionsTable(decisions));
    const error = e.error
      ? el("div", { class: "error-text" },
        `${e.error.code}: ${(e.error.crm && e.error.crm.message) || e.error.message}`)
      : null;
    return el("tr", { class: "write", "data-id": e.id, "data-status": e.status },
      el("td", {}, time(e.created_at)),
      el("td", {}, e.entity),
      el("td", {}, e.object || "–"),
      el("td", { class: `status status-${e.status}` }, e.status),
      el("td", {}, e.crm_id ? el("code", {}, e.crm_id) : "–"),
      el("td", {}, e.idempotency_key ? el("code", {}, e.idempotency_key) : "–"),
      el("td", {}, detail, error));
  }));
}

function draw(data) {
  byId("customer").textContent = data.customer;
  byId("provider").textContent = data.provider;
  document.title = `conduit · ${data.customer}`;
  const connection = byId("connection");
  const state = data.connection ? data.connection.status : "missing";
  connection.dataset.status = state;
  connection.textContent = data.connection
    ? `${state} (since ${time(data.connection.updated_at)})`
    : "not connected";
  byId("config-version").textContent = data.config_version;
  byId("plugin").textContent = data.plugin || "none";
  const latest = data.writes.latest;
  byId("latest-write").textContent = latest
    ? `${time(latest.at)} · config ${latest.config_version}` +
      (latest.plugin ? ` · ${latest.plugin}` : "")
    : "none yet";
  byId("generated-at").textContent = time(data.generated_at);

  drawTotals(data.writes);
  byId("series-bucket").textContent = `per ${data.writes.bucket}`;
  drawSeries(byId("series-chart"), data.writes.series);
  drawErrors(data.writes.errors);
  drawSkipped(data.writes.skipped);
  drawDrift(data.drift);
  drawObjects(data.writes.objects);
  drawRecent(data.recent);
}

function show(state, message) {
  document.body.dataset.state = state;
  byId("content").hidden = state !== "ready";
  byId("key-form").hidden = state !== "needs-key";
  const note = byId("message");
  note.hidden = !message;
  note.textContent = message || "";
}

async function load() {
  const customer = customerFromPath();
  const key = sessionStorage.getItem(KEY_STORAGE);
  const headers = { accept: "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(`/v1/customers/${encodeURIComponent(customer)}/dashboard`,
      { headers });
  } catch (e) {
    return show("error", `The host could not be reached: ${e.message}`);
  }
  if (response.status === 401) {
    sessionStorage.removeItem(KEY_STORAGE);
    return show("needs-key", key ? "That key was refused." : "");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok || !body) {
    const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
    return show("error", `The figures could not be read: ${detail}`);
  }
  // Shown before drawing: charts are drawn at the width they get.
  byId("content").hidden = false;
  draw(body);
  show("ready", "");
}

document.addEventListener("DOMContentLoaded", () => {
  takeKeyFromFragment();
  byId("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, byId("key-input").value);
    byId("key-input").value = "";
    load();
  });
  load();
  setInterval(load, REFRESH_MS);
});
