// Peeq.Cdc dashboard: polls /api/status and renders it. No framework, no build.
// Every figure cell carries data-figure (what it is) and data-value (the raw number from the API), so
// tests and scripts can read exactly what is shown.
"use strict";

const $ = (sel) => document.querySelector(sel);
let refreshMs = 1000;
let failures = 0;

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function bytes(v) {
  if (v === null || v === undefined) return "";
  if (v < 0) return "unlimited";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0, x = v;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return (i === 0 ? x.toFixed(0) : x.toFixed(1)) + " " + units[i];
}

function secs(v) {
  if (v === null || v === undefined) return "";
  if (v < 1) return (v * 1000).toFixed(0) + " ms";
  if (v < 120) return v.toFixed(1) + " s";
  if (v < 7200) return (v / 60).toFixed(1) + " min";
  return (v / 3600).toFixed(1) + " h";
}

function num(v, digits) {
  if (v === null || v === undefined) return "";
  return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits ?? 0 });
}

function rate(v) { return v === null || v === undefined ? "" : num(v, v < 10 ? 1 : 0); }

// One table cell showing a figure: formatted text, the raw value in data-value.
function cell(figure, value, text, cls) {
  const raw = value === null || value === undefined ? "" : String(value);
  return `<td class="${cls ?? "n"}" data-figure="${esc(figure)}" data-value="${esc(raw)}">${esc(text ?? "")}</td>`;
}

function badge(kind, text, title) {
  return `<span class="badge ${kind}" title="${esc(title ?? "")}">${esc(text)}</span>`;
}

function renderSources(status) {
  const rows = status.sources.map((s) => {
    const f = (name) => `source.${s.name}.${name}`;
    const snap = s.snapshot
      ? `<td data-figure="${esc(f("snapshotPercent"))}" data-value="${s.snapshot.percent ?? ""}">${
          s.snapshot.tablesLoading === 0
            ? `done · ${num(s.snapshot.rowsRead)} rows`
            : `<span class="bar"><i style="width:${s.snapshot.percent ?? 0}%"></i></span>${s.snapshot.percent === null ? "" : s.snapshot.percent.toFixed(0) + "% · "}${num(s.snapshot.rowsRead)} rows · ${s.snapshot.tablesLoading} loading`}</td>`
      : `<td data-figure="${esc(f("snapshotPercent"))}" data-value=""></td>`;
    return `<tr data-source="${esc(s.name)}">
      <td><b>${esc(s.name)}</b></td><td>${esc(s.target)}</td>
      <td data-figure="${esc(f("state"))}" data-value="${esc(s.state)}">${badge("s-" + s.state, s.state, s.stateReason)}</td>
      ${cell(f("lagSeconds"), s.lagSeconds, secs(s.lagSeconds))}
      ${cell(f("lagBytes"), s.lagBytes, bytes(s.lagBytes))}
      ${cell(f("slotLagBytes"), s.slotLagBytes, bytes(s.slotLagBytes))}
      ${cell(f("retainedWalBytes"), s.retainedWalBytes, bytes(s.retainedWalBytes))}
      ${cell(f("walStatus"), s.walStatus, s.walStatus ?? "", "")}
      ${cell(f("safeWalSizeBytes"), s.safeWalSizeBytes, bytes(s.safeWalSizeBytes))}
      ${cell(f("heartbeatAgeSeconds"), s.heartbeatAgeSeconds, secs(s.heartbeatAgeSeconds))}
      ${cell(f("eventsPerSecond"), s.eventsPerSecond, rate(s.eventsPerSecond))}
      ${cell(f("eventsCaptured"), s.eventsCaptured, num(s.eventsCaptured))}
      ${cell(f("transactionsPerSecond"), s.transactionsPerSecond, rate(s.transactionsPerSecond))}
      ${cell(f("transactionsApplied"), s.transactionsApplied, num(s.transactionsApplied))}
      ${cell(f("latencyMeanSeconds"), s.latencyMeanSeconds, secs(s.latencyMeanSeconds))}
      ${cell(f("latencyP99Seconds"), s.latencyP99Seconds, secs(s.latencyP99Seconds))}
      ${cell(f("parkedRows"), s.parkedRows, num(s.parkedRows))}
      ${cell(f("heldRows"), s.heldRows, num(s.heldRows))}
      ${snap}
      ${cell(f("transformLagMessages"), s.transformLagMessages, num(s.transformLagMessages))}
      ${cell(f("sinkLagMessages"), s.sinkLagMessages, num(s.sinkLagMessages))}
      ${cell(f("appliedLsn"), s.appliedLsn, s.appliedLsn ?? "", "")}
    </tr>`;
  });
  $("#sources tbody").innerHTML = rows.join("");
}

function renderServers(status) {
  $("#servers tbody").innerHTML = status.servers.map((s) => `<tr>
    <td>${esc(s.server)}</td>
    ${cell(`server.${s.server}.retainedWalBytes`, s.retainedWalBytes, bytes(s.retainedWalBytes))}
    ${cell(`server.${s.server}.slots`, s.slots, num(s.slots))}
    ${cell(`server.${s.server}.maxSlotWalKeepSizeBytes`, s.maxSlotWalKeepSizeBytes, bytes(s.maxSlotWalKeepSizeBytes))}
    <td>${esc(s.sources.join(", "))}</td></tr>`).join("");
}

function renderStages(status) {
  $("#stages tbody").innerHTML = status.stages.map((s) => `<tr>
    <td>${esc(s.stage)}</td><td>${esc(s.group)}</td>
    ${cell(`stage.${s.stage}.lagMessages`, s.lagMessages, s.problem ? "?" : num(s.lagMessages))}</tr>`).join("")
    || `<tr><td colspan="3">Kafka not reachable from here</td></tr>`;
}

function renderTargets(status) {
  $("#targets tbody").innerHTML = status.targets.map((t) => `<tr>
    <td><b>${esc(t.name)}</b></td>
    <td data-figure="target.${esc(t.name)}.reachable" data-value="${t.reachable}">${t.reachable ? "yes" : badge("s-unreachable", "no", t.problem)}</td>
    ${cell(`target.${t.name}.rowsApplied`, t.rowsApplied, num(t.rowsApplied))}
    ${cell(`target.${t.name}.rowsPerSecond`, t.rowsPerSecond, rate(t.rowsPerSecond))}
    ${cell(`target.${t.name}.parkedRows`, t.parkedRows, num(t.parkedRows))}
    ${cell(`target.${t.name}.tablesLoading`, t.tablesLoading, num(t.tablesLoading))}
    ${cell(`target.${t.name}.tablesParked`, t.tablesParked, num(t.tablesParked))}
    ${cell(`target.${t.name}.danglingReferences`, t.danglingReferences, num(t.danglingReferences))}
    <td>${t.parkedTables.map((p) => esc(`${p.table} (${p.source}): ${p.reason ?? ""}`)).join("<br>")}</td></tr>`).join("");
}

function renderReconciliations(status) {
  $("#reconciliations tbody").innerHTML = status.reconciliations.map((r) => `<tr>
    <td>${esc(new Date(r.finishedAt).toISOString().replace("T", " ").slice(0, 19))} UTC</td><td>${esc(r.runId)}</td>
    <td data-figure="reconciliation.${esc(r.runId)}.verdict" data-value="${esc(r.verdict)}">${badge("v-" + r.verdict, r.verdict)}</td>
    <td>${esc(r.summary)}</td>
    <td>${r.reports.map((l) => `<a href="${esc(l.url)}">${esc(l.format)}</a>`).join(" ")}</td></tr>`).join("")
    || `<tr><td colspan="5">no reconciliation report found${status.reconciliations ? "" : ""}</td></tr>`;
}

function tile(figure, value, text, label) {
  return `<div class="tile"><div class="v" data-figure="${esc(figure)}" data-value="${esc(value ?? "")}">${esc(text)}</div><div class="k">${esc(label)}</div></div>`;
}

function sum(list, key) {
  let total = null;
  for (const x of list) if (x[key] !== null && x[key] !== undefined) total = (total ?? 0) + x[key];
  return total;
}

function renderTiles(status) {
  const caught = status.sources.filter((s) => s.caughtUp).length;
  const stalled = status.sources.filter((s) => s.state === "stalled").length;
  const lags = status.sources.map((s) => s.lagSeconds).filter((v) => v !== null);
  const maxLag = lags.length ? Math.max(...lags) : null;
  const stage = (name) => status.stages.find((s) => s.stage === name)?.lagMessages ?? null;
  $("#tiles").innerHTML = [
    tile("total.caughtUp", caught, `${caught} / ${status.sources.length}`, "sources caught up"),
    tile("total.stalled", stalled, String(stalled), "sources stalled"),
    tile("total.maxLagSeconds", maxLag, secs(maxLag) || "–", "largest lag"),
    tile("total.eventsPerSecond", sum(status.sources, "eventsPerSecond"), rate(sum(status.sources, "eventsPerSecond")) || "–", "events captured / s"),
    tile("total.rowsPerSecond", sum(status.targets, "rowsPerSecond"), rate(sum(status.targets, "rowsPerSecond")) || "–", "rows applied / s"),
    tile("total.parkedRows", sum(status.targets, "parkedRows"), num(sum(status.targets, "parkedRows")) || "0", "parked rows"),
    tile("total.transformLag", stage("transform"), stage("transform") === null ? "–" : num(stage("transform")), "transform consumer lag"),
    tile("total.sinkLag", stage("sink"), stage("sink") === null ? "–" : num(stage("sink")), "sink consumer lag"),
  ].join("");
}

function render(status) {
  refreshMs = Math.max(250, (status.refreshSeconds || 1) * 1000);
  $("#sampled").textContent = "sampled " + new Date(status.sampledAt).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  $("#mode").textContent = "metrics: " + status.metrics;
  const problems = $("#problems");
  problems.hidden = status.problems.length === 0;
  problems.textContent = status.problems.join("\n");
  renderTiles(status);
  renderSources(status);
  renderServers(status);
  renderStages(status);
  renderTargets(status);
  renderReconciliations(status);
  document.body.dataset.sampledAt = status.sampledAt;
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
}

async function poll() {
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`/api/status answered ${response.status}`);
    render(await response.json());
    failures = 0;
    $("#error").hidden = true;
  } catch (e) {
    failures++;
    $("#error").hidden = false;
    $("#error").textContent = `cannot read the status (${failures} attempt(s)): ${e.message}`;
  }
  setTimeout(poll, refreshMs);
}

poll();
