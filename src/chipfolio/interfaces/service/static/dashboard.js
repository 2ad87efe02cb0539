// chipfolio dashboard: plain JS over the /api/v1 API. Text from the server is only ever put
// into the page as text (textContent), never as HTML.
"use strict";

const TOKEN_KEY = "chipfolio-token";
const $ = (id) => document.getElementById(id);
const money = (v) => (v == null ? "—" : "$" + Math.round(v).toLocaleString("en-US"));
const pct = (v) => (v == null ? "—" : (100 * v).toFixed(1) + "%");
const CHART = { responsive: true, displaylogo: false };
const LAYOUT = { margin: { t: 20, r: 20, b: 60, l: 70 }, template: "plotly_white" };

let token = sessionStorage.getItem(TOKEN_KEY);
let catalogOffset = 0;

class ApiError extends Error {
  constructor(status, body) {
    super(typeof body.detail === "string" ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch("/api/v1" + path, init);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) signOut("Your token was refused; sign in again.");
  if (!response.ok && response.status !== 202) throw new ApiError(response.status, data);
  return { status: response.status, data };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fillTable(table, headers, rows, numeric) {
  table.replaceChildren();
  const head = el("tr");
  headers.forEach((h, i) => head.appendChild(el("th", h, numeric[i] ? "num" : "")));
  table.appendChild(head);
  for (const row of rows) {
    const tr = el("tr");
    row.forEach((cell, i) => {
      const td = typeof cell === "object" && cell !== null ? el("td", cell.text, cell.cls) : el("td", cell);
      if (numeric[i]) td.classList.add("num");
      tr.appendChild(td);
    });
    table.appendChild(tr);
  }
}

function fillSelect(select, items, label) {
  const keep = select.value;
  select.replaceChildren(...items.map((item) => {
    const option = el("option", label(item));
    option.value = String(item.id);
    return option;
  }));
  if (items.some((item) => String(item.id) === keep)) select.value = keep;
}

// -- sign in ---------------------------------------------------------------------------------

async function signIn(candidate) {
  token = candidate;
  try {
    const { data } = await api("GET", "/whoami");
    sessionStorage.setItem(TOKEN_KEY, token);
    $("who").textContent = `${data.name} (${data.role})`;
    $("signin").hidden = true;
    $("nav").hidden = false;
    $("signout").hidden = false;
    show("plan");
    await refreshPortfolios();
    await refreshPlans();
  } catch (err) {
    signOut(err instanceof ApiError && err.status === 401 ? "That token was not accepted." : String(err));
  }
}

function signOut(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("signin").hidden = false;
  $("nav").hidden = true;
  $("signout").hidden = true;
  $("who").textContent = "";
  document.querySelectorAll(".view").forEach((v) => (v.hidden = true));
  $("signin-error").textContent = message || "";
}

function show(view) {
  document.querySelectorAll(".view").forEach((v) => (v.hidden = v.id !== "view-" + view));
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
  if (view === "catalog") searchCatalog(0);
  if (view === "compare") refreshPlans();
  // charts drawn while hidden have no size: redraw them now
  document.querySelectorAll("#view-" + view + " .chart").forEach((c) => c.data && Plotly.Plots.resize(c));
}

// -- portfolios and plans ----------------------------------------------------------------------

async function refreshPortfolios() {
  const { data } = await api("GET", "/portfolios?limit=500");
  for (const id of ["pf-select", "lev-select", "sim-select"]) {
    fillSelect($(id), data.items, (p) => `${p.name} (v${p.latest_version})`);
  }
}

async function refreshPlans() {
  const { data } = await api("GET", "/plans?status=succeeded&limit=200");
  const label = (p) => `#${p.id} ${p.portfolio_name} v${p.portfolio_version} · ${money(p.total_cost_usd)}`;
  fillSelect($("cmp-a"), data.items, label);
  fillSelect($("cmp-b"), data.items, label);
  if (data.items.length > 1 && $("cmp-a").value === $("cmp-b").value) {
    $("cmp-a").selectedIndex = 0; // the newest plan against the one before it
    $("cmp-b").selectedIndex = 1;
  }
}

async function upload(event) {
  event.preventDefault();
  const errors = $("upload-errors");
  errors.replaceChildren();
  const body = { portfolio: $("pf-text").value };
  if ($("pf-name").value.trim()) body.name = $("pf-name").value.trim();
  try {
    const { data } = await api("POST", "/portfolios", body);
    await refreshPortfolios();
    $("pf-select").value = String(data.portfolio.id);
    $("plan-state").textContent = `Stored ${data.portfolio.name} version ${data.version.version}` +
      (data.created ? "." : " (unchanged).");
  } catch (err) {
    const detail = err.body && Array.isArray(err.body.detail) ? err.body.detail : [{ msg: err.message }];
    for (const d of detail) {
      const where = d.field ? `${d.field}${d.line ? " (line " + d.line + ")" : ""}: ` : "";
      errors.appendChild(el("li", where + d.msg));
    }
  }
}

async function poll(path, onProgress) {
  for (;;) {
    const { status, data } = await api("GET", path);
    if (status !== 202 && !(data.status === "queued" || data.status === "running")) return data;
    if (onProgress) onProgress(data);
    await sleep(400);
  }
}

async function runPlan() {
  const id = Number($("pf-select").value);
  if (!id) return;
  $("run-plan").disabled = true;
  $("plan-state").textContent = "Solving…";
  try {
    const { data } = await api("POST", "/plans", { portfolio_id: id });
    const plan = await poll(`/plans/${data.id}`, (s) => ($("plan-state").textContent = `Plan #${data.id}: ${s.status}…`));
    $("plan-state").textContent = `Plan #${data.id} done.`;
    showPlan(plan, data);
    await refreshPlans();
  } catch (err) {
    const body = err.body || {};
    $("plan-state").textContent = "No plan: " + (body.error || err.message);
  } finally {
    $("run-plan").disabled = false;
  }
}

function showPlan(plan, job) {
  $("plan-out").hidden = false;
  $("plan-title").textContent = `Plan #${job.id}: ${plan.status}, ${money(plan.total_cost_usd)}`;
  $("plan-summary").textContent = `Over ${plan.horizon_hours} h · catalog ${plan.catalog_snapshot} · ` +
    `solver ${plan.solver.name} ${plan.solver.status} · vendors by ${plan.share_by}`;
  // the planner's own words when the plan is not proven within the requested gap
  $("plan-warning").hidden = !(plan.warnings && plan.warnings.length);
  $("plan-warning").textContent = (plan.warnings || []).join(" ");
  const used = plan.allocations.filter((a) => a.workload);
  const workloads = [...new Set(used.map((a) => a.workload))];
  const offers = [...new Set(used.map((a) => a.offer))];
  const traces = offers.map((offer) => ({
    type: "bar",
    name: offer,
    x: workloads,
    y: workloads.map((w) => used.filter((a) => a.workload === w && a.offer === offer).reduce((s, a) => s + a.chips, 0)),
  }));
  Plotly.react("chart-allocation", traces, { ...LAYOUT, barmode: "stack", yaxis: { title: "chips" } }, CHART);
  const vendors = Object.keys(plan.vendor_shares);
  Plotly.react("chart-shares", [{ type: "pie", labels: vendors, values: vendors.map((v) => plan.cost_by_vendor_usd[v]), hole: 0.45 }],
    { ...LAYOUT, margin: { t: 20, b: 20, l: 20, r: 20 } }, CHART);
  fillTable($("alloc-table"), ["workload", "offer", "provider", "chip", "region", "chips", "tokens/s", "cost"],
    plan.allocations.map((a) => [a.workload || "(unused commitment)", a.offer, a.provider, a.chip, a.region,
      a.chips.toLocaleString("en-US"), Math.round(a.tokens_per_s).toLocaleString("en-US"), money(a.cost_usd)]),
    [false, false, false, false, false, true, true, true]);
  const critical = plan.workloads.filter((w) => w.critical).map((w) => w.name);
  const need = plan.policy.n_minus_1;
  fillTable($("n1-table"), ["vendor lost", ...critical],
    Object.entries(plan.n_minus_1).map(([vendor, row]) => [vendor, ...critical.map((w) => {
      const kept = row[w] == null ? 1 : row[w];
      return { text: pct(kept), cls: kept < need - 1e-9 ? "bad" : kept < 1 ? "warn" : "good" };
    })]),
    [false, ...critical.map(() => true)]);
}

// -- compare -----------------------------------------------------------------------------------

function planCard(card, id, plan) {
  card.replaceChildren(el("h3", `Plan #${id}: ${money(plan.total_cost_usd)} (${plan.status})`));
  const table = el("table");
  fillTable(table, ["vendor", "cost", "share"],
    Object.keys(plan.vendor_shares).map((v) => [v, money(plan.cost_by_vendor_usd[v]), pct(plan.vendor_shares[v])]),
    [false, true, true]);
  card.appendChild(table);
  const workloads = el("table");
  fillTable(workloads, ["workload", "vendors", "served"],
    plan.workloads.map((w) => [w.name, w.vendors.join(", "), pct(w.served_fraction)]), [false, false, true]);
  card.appendChild(workloads);
}

async function compare() {
  const a = $("cmp-a").value;
  const b = $("cmp-b").value;
  if (!a || !b) return;
  const [left, right] = await Promise.all([api("GET", `/plans/${a}`), api("GET", `/plans/${b}`)]);
  $("cmp-out").hidden = false;
  planCard($("cmp-left"), a, left.data);
  planCard($("cmp-right"), b, right.data);
  const vendors = [...new Set([...Object.keys(left.data.vendor_shares), ...Object.keys(right.data.vendor_shares)])];
  const bar = (id, plan) => ({ type: "bar", name: `#${id}`, x: vendors, y: vendors.map((v) => plan.cost_by_vendor_usd[v] || 0) });
  Plotly.react("chart-compare", [bar(a, left.data), bar(b, right.data)],
    { ...LAYOUT, barmode: "group", yaxis: { title: "USD" } }, CHART);
}

// -- leverage and simulations ------------------------------------------------------------------

async function runLeverage() {
  const id = Number($("lev-select").value);
  if (!id) return;
  $("lev-run").disabled = true;
  $("lev-state").textContent = "Analyzing…";
  try {
    const { data } = await api("POST", "/leverage", { portfolio_id: id });
    const job = await poll(`/leverage/${data.id}`);
    if (job.status !== "succeeded") throw new Error(job.error);
    const r = job.result;
    $("lev-state").textContent = `Analysis #${job.id}: plan ${money(r.plan_cost_usd)}, HHI ${Math.round(r.hhi)}, ` +
      `policy costs ${money(r.policy_cost_usd)}.`;
    $("lev-out").hidden = false;
    const names = r.vendors.map((v) => v.vendor);
    Plotly.react("chart-leverage", [
      { type: "bar", name: "spend today", x: names, y: r.vendors.map((v) => v.cost_usd) },
      { type: "bar", name: "cost of losing it", x: names, y: r.vendors.map((v) => v.leverage_usd) },
    ], { ...LAYOUT, barmode: "group", yaxis: { title: "USD" } }, CHART);
    const points = r.frontier.filter((p) => p.cost_usd != null);
    Plotly.react("chart-frontier", [{ type: "scatter", mode: "lines+markers", x: points.map((p) => p.max_share),
      y: points.map((p) => p.cost_usd) }],
      { ...LAYOUT, xaxis: { title: "max vendor share", autorange: "reversed", tickformat: ".0%" }, yaxis: { title: "plan cost, USD" } }, CHART);
    fillTable($("lev-table"), ["vendor", "share", "spend", "walk-away", "cost without", "cost of losing it", "note"],
      r.vendors.map((v) => [v.vendor, pct(v.share), money(v.cost_usd),
        v.walk_away_multiplier == null ? "—" : "×" + v.walk_away_multiplier.toFixed(3),
        v.cost_without_usd == null ? "no plan" : money(v.cost_without_usd), money(v.leverage_usd), v.reason || ""]),
      [false, true, true, true, true, true, false]);
  } catch (err) {
    $("lev-state").textContent = "No analysis: " + ((err.body && err.body.error) || err.message);
  } finally {
    $("lev-run").disabled = false;
  }
}

async function runSimulation() {
  const id = Number($("sim-select").value);
  if (!id) return;
  $("sim-run").disabled = true;
  const bar = $("sim-progress");
  bar.hidden = false;
  bar.value = 0;
  $("sim-state").textContent = "Simulating…";
  try {
    const body = { portfolio_id: id, scenarios: Number($("sim-scenarios").value), seed: Number($("sim-seed").value) };
    const { data } = await api("POST", "/simulations", body);
    const job = await poll(`/simulations/${data.id}`, (s) => {
      bar.max = s.progress.total;
      bar.value = s.progress.done;
      $("sim-state").textContent = `Run #${data.id}: ${s.progress.done} / ${s.progress.total} scenarios`;
    });
    if (job.status !== "succeeded") throw new Error(job.error);
    bar.max = job.progress.total;
    bar.value = job.progress.done;
    $("sim-state").textContent = `Run #${job.id}: ${job.progress.done} scenarios done.`;
    $("sim-out").hidden = false;
    const strategies = Object.keys(job.result.strategies);
    const stats = ["p50", "p95", "p99"];
    const traces = (key) => stats.map((s) => ({ type: "bar", name: s, x: strategies, y: strategies.map((n) => job.result.strategies[n][key][s]) }));
    Plotly.react("chart-sim-cost", traces("cost_usd"), { ...LAYOUT, barmode: "group", yaxis: { title: "USD" } }, CHART);
    Plotly.react("chart-sim-unserved", traces("unserved_fraction"), { ...LAYOUT, barmode: "group", yaxis: { title: "share of demand", tickformat: ".1%" } }, CHART);
  } catch (err) {
    $("sim-state").textContent = "No simulation: " + ((err.body && err.body.error) || err.message);
  } finally {
    $("sim-run").disabled = false;
  }
}

// -- catalog -----------------------------------------------------------------------------------

async function searchCatalog(offset) {
  catalogOffset = Math.max(0, offset);
  const params = new URLSearchParams({ limit: "25", offset: String(catalogOffset) });
  for (const [key, id] of [["chip", "cat-chip"], ["provider", "cat-provider"], ["pricing", "cat-pricing"]]) {
    if ($(id).value.trim()) params.set(key, $(id).value.trim());
  }
  try {
    const { data } = await api("GET", "/catalog/offers?" + params);
    const last = Math.min(data.offset + data.items.length, data.total);
    $("cat-state").textContent = `${data.total} offers in ${data.snapshot}; showing ${data.total ? data.offset + 1 : 0}–${last}`;
    fillTable($("cat-table"), ["offer", "provider", "chip", "region", "pricing", "chips/instance", "$/chip-h"],
      data.items.map((o) => [o.id, o.provider, o.chip, o.region, o.pricing, o.chips_per_instance, o.usd_per_chip_hour.toFixed(3)]),
      [false, false, false, false, false, true, true]);
    $("cat-prev").disabled = data.offset === 0;
    $("cat-next").disabled = last >= data.total;
  } catch (err) {
    const detail = err.body && Array.isArray(err.body.detail) ? err.body.detail.map((d) => d.msg).join("; ") : err.message;
    $("cat-state").textContent = detail;
    $("cat-table").replaceChildren();
  }
}

// -- wiring ------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("signout").addEventListener("click", () => signOut(""));
  document.querySelectorAll("nav button").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
  $("pf-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (file) $("pf-text").value = await file.text();
  });
  $("upload-form").addEventListener("submit", upload);
  $("run-plan").addEventListener("click", runPlan);
  $("cmp-run").addEventListener("click", compare);
  $("lev-run").addEventListener("click", runLeverage);
  $("sim-run").addEventListener("click", runSimulation);
  $("cat-form").addEventListener("submit", (e) => { e.preventDefault(); searchCatalog(0); });
  $("cat-prev").addEventListener("click", () => searchCatalog(catalogOffset - 25));
  $("cat-next").addEventListener("click", () => searchCatalog(catalogOffset + 25));
  if (token) signIn(token); else signOut("");
});
