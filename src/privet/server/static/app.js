// privet dashboard. The token lives in sessionStorage (this tab only) and goes out as a
// Bearer header. Everything from the server is inserted as text (textContent), never as HTML.
"use strict";

const KEY = "privet.token";
const $ = (id) => document.getElementById(id);

async function api(method, path, json) {
  const token = sessionStorage.getItem(KEY);
  const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
    cache: "no-store",
    credentials: "omit",
  });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.message) || "request failed (" + response.status + ")");
    error.status = response.status;
    throw error;
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tableId, items, render) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const row = document.createElement("tr");
    render(row, item);
    body.appendChild(row);
  }
}

function when(iso) { return iso ? iso.replace("T", " ").slice(0, 19) : ""; }

function duration(seconds) {
  if (seconds % 86400 === 0) return seconds / 86400 + " d";
  if (seconds % 3600 === 0) return seconds / 3600 + " h";
  return Math.round(seconds / 60) + " min";
}

async function decide(grantId, verb) {
  $("status").textContent = "";
  try {
    await api("POST", "/v1/grants/" + encodeURIComponent(grantId) + "/" + verb);
  } catch (error) {
    $("status").textContent = error.message;
  }
  await loadPending();
}

async function loadPending() {
  const grants = await api("GET", "/v1/grants?status=pending");
  const me = $("whoami").dataset.name;
  const theirs = grants.filter((g) => g.user !== me);
  fill("pending", theirs, (row, g) => {
    row.dataset.grant = g.id;
    cell(row, when(g.requested_at));
    cell(row, g.user);
    cell(row, g.dataset);
    cell(row, g.view);
    cell(row, g.purpose);
    cell(row, g.reason);
    cell(row, duration(g.duration_seconds));
    const actions = cell(row, "");
    for (const verb of ["approve", "deny"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = verb;
      button.textContent = verb === "approve" ? "Approve" : "Deny";
      button.addEventListener("click", () => decide(g.id, verb));
      actions.appendChild(button);
    }
  });
  $("pending-empty").hidden = theirs.length > 0;
}

async function loadDatasets() {
  const datasets = await api("GET", "/v1/datasets");
  const budgets = await Promise.all(
    datasets.map((d) => api("GET", "/v1/datasets/" + encodeURIComponent(d.name) + "/budget")
      .catch(() => null)));
  fill("datasets", datasets, (row, d) => {
    const i = datasets.indexOf(d);
    row.dataset.name = d.name;
    cell(row, d.name);
    cell(row, d.classification, "level-" + d.classification);
    cell(row, d.owner);
    cell(row, d.rows);
    cell(row, d.purposes.join(", "));
    const b = budgets[i];
    cell(row, b ? b.epsilon_spent.toFixed(3) + " / " + b.epsilon_limit : "");
  });
}

// Containment: a first click arms the button, a second ("Confirm containment") POSTs it.
function containButton(td, user) {
  if (!user) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "contain";
  button.dataset.user = user;
  button.textContent = "Contain";
  button.addEventListener("click", async () => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.textContent = "Confirm containment";
      return;
    }
    button.disabled = true;
    await contain(user);
  });
  td.appendChild(button);
}

async function contain(user) {
  const out = $("contained");
  out.hidden = false;
  try {
    const done = await api("POST", "/v1/users/" + encodeURIComponent(user) + "/contain",
      { reason: "incident" });
    out.textContent = "Contained " + done.user + ": revoked tokens [" + done.tokens.join(", ") +
      "], grants [" + done.grants.join(", ") + "] (log entry " + done.log_index + ").";
    out.dataset.tokens = done.tokens.join(" ");
  } catch (error) {
    out.textContent = error.message;
  }
}

async function loadAlerts() {
  try {
    const alerts = await api("GET", "/v1/alerts");
    fill("alerts", alerts.slice(-50).reverse(), (row, a) => {
      cell(row, when(a.created_at));
      cell(row, a.user);
      cell(row, a.kind, a.severity === "high" ? "error" : "");
      cell(row, a.dataset);
      cell(row, JSON.stringify(a.facts));
      containButton(cell(row, ""), a.user);
    });
    $("alerts-note").hidden = alerts.length > 0;
    $("alerts-note").textContent = "No alerts.";
  } catch (error) {
    $("alerts-note").hidden = false;
    $("alerts-note").textContent = error.status === 403 ? "Alerts are for approvers." : error.message;
  }
}

function daysLeft(iso) {
  return Math.floor((Date.parse(iso) - Date.now()) / 86400000);
}

async function loadErasures() {
  try {
    const requests = await api("GET", "/v1/erasures");
    const pending = requests.filter((r) => r.status !== "done").length;
    fill("erasures", requests.slice(-50).reverse(), (row, r) => {
      cell(row, when(r.requested_at));
      cell(row, r.requested_by);
      cell(row, r.status, r.overdue ? "error" : "");
      cell(row, when(r.due_at).slice(0, 10));
      cell(row, r.status === "done" ? "" : daysLeft(r.due_at), r.overdue ? "error" : "");
      cell(row, when(r.completed_at));
    });
    $("erasures-note").hidden = false;
    $("erasures-note").textContent = requests.length
      ? pending + " pending, " + (requests.length - pending) + " done (deadline: 30 days)."
      : "No erasure requests.";
  } catch (error) {
    $("erasures-note").hidden = false;
    $("erasures-note").textContent =
      error.status === 403 ? "Erasure requests are for the erasure roles (a DPO)." : error.message;
  }
}

async function loadRetention() {
  try {
    const due = await api("GET", "/v1/retention/due?days=30");
    fill("retention", due, (row, d) => {
      cell(row, d.dataset);
      cell(row, d.version);
      cell(row, when(d.due_at).slice(0, 10), daysLeft(d.due_at) < 0 ? "error" : "");
    });
    $("retention-note").hidden = due.length > 0;
    $("retention-note").textContent = "Nothing expires in the next 30 days.";
  } catch (error) {
    $("retention-note").hidden = false;
    $("retention-note").textContent =
      error.status === 403 ? "Retention is for owners, approvers and the DPO." : error.message;
  }
}

async function loadCheckpoint() {
  try {
    const checkpoint = await api("GET", "/v1/log/checkpoint");
    $("checkpoint").textContent = checkpoint.note + "\nverifier key: " + checkpoint.verifier_key;
  } catch (error) {
    $("checkpoint").textContent = error.status === 404 ? "none yet" : error.message;
  }
}

// -- the KPI page: charts drawn here as SVG (no library, nothing fetched but /v1/kpis) ------

const SVG = "http://www.w3.org/2000/svg";
// series name → [title, kind, scale of the shown value]
const CHARTS = {
  grants_pending: ["Grants pending", "line", 1],
  grants_active: ["Grants active", "line", 1],
  grants_requested: ["Grants requested", "bars", 1],
  grants_approved: ["Grants approved", "bars", 1],
  approval_seconds: ["Approval time, median (hours)", "line", 1 / 3600],
  alerts: ["Alerts raised", "bars", 1],
  erasures_open: ["Erasure requests open", "line", 1],
  erasures_requested: ["Erasure requests received", "bars", 1],
  retention_versions_compliance: ["Versions within retention (%)", "line", 100],
  retention_rows_compliance: ["Rows within retention (%)", "line", 100],
  retention_versions_overdue: ["Versions past retention", "line", 1],
  epsilon_spent: ["ε spent", "line", 1],
  mia_auc: ["Membership inference AUC", "line", 1],
  mia_tpr_at_1pct_fpr: ["Membership inference TPR at 1% FPR", "line", 1],
};

function svg(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function number(value, digits) {
  if (value === null || value === undefined) return "—";
  return Number.isInteger(value) ? String(value) : value.toFixed(digits === undefined ? 2 : digits);
}

function chart(series) {
  const [title, kind, scale] = CHARTS[series.name] || [series.name, "line", 1];
  const figure = document.createElement("figure");
  figure.className = "chart";
  figure.dataset.series = series.name;
  if (series.subject) figure.dataset.subject = series.subject;
  const caption = document.createElement("figcaption");
  caption.textContent = title + (series.subject ? ": " + series.subject : "");
  figure.appendChild(caption);
  const W = 320, H = 130, left = 34, right = 8, top = 8, bottom = 20;
  const box = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, figure);
  svg("title", {}, box).textContent = caption.textContent;
  const points = series.points;
  const shown = points.map((p) => (p.value === null ? null : p.value * scale));
  const known = shown.filter((v) => v !== null);
  const high = Math.max(1e-9, ...known, kind === "bars" ? 1 : 0);
  const low = Math.min(0, ...known);
  const n = points.length;
  const step = (W - left - right) / Math.max(1, n);
  const x = (i) => left + step * (i + 0.5);
  const y = (v) => top + (H - top - bottom) * (1 - (v - low) / (high - low || 1));
  svg("line", { class: "axis", x1: left, y1: y(low), x2: W - right, y2: y(low) }, box);
  svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: H - bottom }, box);
  svg("line", { class: "grid", x1: left, y1: y(high), x2: W - right, y2: y(high) }, box);
  svg("text", { class: "tick", x: left - 3, y: y(high) + 3, "text-anchor": "end" }, box)
    .textContent = number(high, 2);
  svg("text", { class: "tick", x: left - 3, y: y(low) + 3, "text-anchor": "end" }, box)
    .textContent = number(low, 2);
  if (n) {
    svg("text", { class: "tick", x: left, y: H - 5 }, box).textContent = when(points[0].t).slice(0, 10);
    svg("text", { class: "tick", x: W - right, y: H - 5, "text-anchor": "end" }, box)
      .textContent = when(points[n - 1].t).slice(0, 10);
  }
  if (kind === "line") {
    let path = "";
    shown.forEach((v, i) => {
      if (v === null) return;
      path += (path && shown[i - 1] !== null ? " L " : " M ") + x(i).toFixed(1) + " " + y(v).toFixed(1);
    });
    if (path) svg("path", { class: "line", d: path.trim() }, box);
  }
  shown.forEach((v, i) => {
    if (v === null) return;
    const mark = kind === "bars"
      ? svg("rect", { class: "bar point", x: x(i) - step * 0.4, width: Math.max(1, step * 0.8),
          y: y(v), height: Math.max(0, y(low) - y(v)) }, box)
      : svg("circle", { class: "point", cx: x(i), cy: y(v), r: n > 60 ? 1.5 : 3 }, box);
    mark.dataset.t = points[i].t;
    mark.dataset.value = String(points[i].value);
    svg("title", {}, mark).textContent = when(points[i].t).slice(0, 16) + ": " + number(v, 3);
  });
  return figure;
}

function tile(label, value, bad) {
  const box = document.createElement("div");
  box.className = "tile" + (bad ? " error" : "");
  const shown = document.createElement("div");
  shown.className = "value";
  shown.textContent = value;
  const name = document.createElement("div");
  name.className = "label";
  name.textContent = label;
  box.append(shown, name);
  return box;
}

function hours(seconds) {
  return seconds === null ? "—" : (seconds / 3600).toFixed(1) + " h";
}

async function loadKpis() {
  let k;
  try {
    k = await api("GET", "/v1/kpis?bucket=" + encodeURIComponent($("kpi-bucket").value));
  } catch (error) {
    $("kpi-note").hidden = false;
    $("kpi-note").textContent =
      error.status === 403 ? "The KPIs are for approvers and dataset owners." : error.message;
    $("kpi-tiles").replaceChildren();
    $("kpi-charts").replaceChildren();
    return;
  }
  $("kpi-note").hidden = true;
  const r = k.retention, g = k.grants, e = k.erasures;
  const tiles = [
    tile("versions within retention (" + r.versions_overdue + " of " + r.versions_live + " overdue)",
      (100 * r.versions_compliance).toFixed(1) + "%", r.versions_overdue > 0),
    tile("rows within retention", (100 * r.rows_compliance).toFixed(1) + "%", r.rows_overdue > 0),
    tile("grants pending / active", g.pending + " / " + g.active),
    tile("approval time, median / max", hours(g.approval_seconds_median) + " / " +
      hours(g.approval_seconds_max)),
    tile("alerts since " + when(k.since).slice(0, 10), String(k.alerts.total), k.alerts.total > 0),
    tile("erasure requests open / done", e.open + " / " + e.done, e.overdue > 0),
    tile("oldest open erasure", e.oldest_open_days === null ? "—"
      : e.oldest_open_days.toFixed(1) + " days", e.overdue > 0),
  ];
  for (const b of k.budgets) {
    tiles.push(tile("ε spent: " + b.dataset, b.epsilon_spent.toFixed(3) + " / " + b.epsilon_limit,
      b.epsilon_spent >= b.epsilon_limit));
  }
  $("kpi-tiles").replaceChildren(...tiles);
  $("kpi-charts").replaceChildren(...k.series.map(chart));
  fill("kpi-budgets", k.budgets, (row, b) => {
    row.dataset.name = b.dataset;
    cell(row, b.dataset);
    cell(row, b.epsilon_spent.toFixed(3));
    cell(row, b.epsilon_limit);
    cell(row, b.releases);
  });
  fill("kpi-leakage", k.leakage, (row, l) => {
    row.dataset.model = l.model;
    cell(row, l.model);
    cell(row, l.attack);
    cell(row, number(l.auc, 3));
    cell(row, number(l.tpr_at_1pct_fpr, 3));
    cell(row, when(l.audited_at));
  });
  $("kpi-leakage-note").hidden = k.leakage.length > 0;
  $("kpi-charts").dataset.loaded = k.now;
}

function showPage(page) {
  for (const name of ["overview", "kpis"]) {
    $("page-" + name).hidden = name !== page;
    $("nav-" + name).classList.toggle("current", name === page);
  }
  if (page === "kpis") loadKpis().catch((error) => { $("status").textContent = error.message; });
}

function currentPage() {
  return $("page-kpis").hidden ? "overview" : "kpis";
}

async function refresh() {
  $("status").textContent = "";
  try {
    await Promise.all(currentPage() === "kpis" ? [loadKpis()] : [
      loadPending(), loadDatasets(), loadAlerts(), loadErasures(), loadRetention(),
      loadCheckpoint(),
    ]);
  } catch (error) {
    if (error.status === 401) return signOut("Your token is not valid any more.");
    $("status").textContent = error.message;
  }
}

async function signIn() {
  const me = await api("GET", "/v1/me");
  $("whoami").textContent = me.name + (me.roles.length ? " (" + me.roles.join(", ") + ")" : "");
  $("whoami").dataset.name = me.name;
  $("signin").hidden = true;
  $("panels").hidden = false;
  $("pages").hidden = false;
  $("logout").hidden = false;
  await refresh();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  $("panels").hidden = true;
  $("pages").hidden = true;
  $("logout").hidden = true;
  $("signin").hidden = false;
  $("whoami").textContent = "";
  $("signin-error").textContent = message || "";
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-button").addEventListener("click", async () => {
    const token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    try {
      await signIn();
    } catch (error) {
      signOut(error.status === 401 ? "That token is not valid." : error.message);
    }
  });
  $("token").addEventListener("keydown", (event) => {
    if (event.key === "Enter") $("signin-button").click();
  });
  $("logout").addEventListener("click", () => signOut(""));
  for (const link of document.querySelectorAll(".page-link")) {
    link.addEventListener("click", () => showPage(link.dataset.page));
  }
  $("kpi-bucket").addEventListener("change", () => {
    loadKpis().catch((error) => { $("status").textContent = error.message; });
  });
  if (sessionStorage.getItem(KEY)) signIn().catch(() => signOut(""));
  setInterval(() => { if (sessionStorage.getItem(KEY)) refresh(); }, 15000);
});
