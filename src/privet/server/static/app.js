// privet dashboard. The token lives in sessionStorage (this tab only) and goes out as a
// Bearer header. Everything from the server is inserted as text (textContent), never as HTML.
"use strict";

const KEY = "privet.token";
const $ = (id) => document.getElementById(id);

async function api(method, path) {
  const token = sessionStorage.getItem(KEY);
  const response = await fetch(path, {
    method,
    headers: { Authorization: "Bearer " + token, Accept: "application/json" },
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

async function loadAlerts() {
  try {
    const alerts = await api("GET", "/v1/alerts");
    fill("alerts", alerts.slice(-50).reverse(), (row, a) => {
      cell(row, when(a.created_at));
      cell(row, a.user);
      cell(row, a.kind, a.severity === "high" ? "error" : "");
      cell(row, a.dataset);
      cell(row, JSON.stringify(a.facts));
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

async function refresh() {
  $("status").textContent = "";
  try {
    await Promise.all([
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
  $("logout").hidden = false;
  await refresh();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  $("panels").hidden = true;
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
  if (sessionStorage.getItem(KEY)) signIn().catch(() => signOut(""));
  setInterval(() => { if (sessionStorage.getItem(KEY)) refresh(); }, 15000);
});
