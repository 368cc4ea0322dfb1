// The dashboard's one page: plain HTML and a script that polls /api/state, draws the members,
// the override banners, the election timelines and two uPlot charts, and posts the operator
// actions after a confirmation. No build step: it is served as this string.
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>conclave dashboard</title>
<link rel="stylesheet" href="/uplot.css">
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; color: #1b1f24; background: #f6f8fa; }
  h1 { font-size: 18px; margin: 0 0 8px; }
  h2 { font-size: 15px; margin: 18px 0 6px; }
  .summary span { margin-right: 18px; }
  .banner { background: #c62828; color: #fff; padding: 8px 12px; margin: 6px 0; border-radius: 4px; font-weight: 600; }
  .notice { background: #fff3cd; padding: 6px 10px; border-radius: 4px; margin: 6px 0; }
  table { border-collapse: collapse; background: #fff; }
  th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: right; }
  th:first-child, td:first-child, td.l { text-align: left; }
  tr.leader td { background: #e6f4ea; }
  tr.down td { color: #8b949e; }
  button { font-size: 12px; margin-right: 4px; }
  .charts { display: flex; gap: 16px; flex-wrap: wrap; }
  .chart { background: #fff; border: 1px solid #d0d7de; padding: 4px; }
  svg.timeline { background: #fff; border: 1px solid #d0d7de; display: block; margin-bottom: 4px; }
  code { background: #eaeef2; padding: 1px 4px; border-radius: 3px; }
  dialog { border: 1px solid #d0d7de; border-radius: 6px; max-width: 460px; }
  #result { margin: 8px 0; min-height: 1.2em; }
</style>
</head>
<body>
<h1>conclave <span id="group"></span></h1>
<div class="summary"><span>Leader: <b id="leader">-</b></span><span>Term: <b id="term">-</b></span><span>E (electable group size): <b id="e-size">-</b></span><span id="updated"></span></div>
<div id="message"></div>
<div id="override-banners"></div>
<div id="result" role="status"></div>
<h2>Members</h2>
<table id="members"><thead><tr><th>Member</th><th>Type</th><th>Role</th><th>Term</th><th>Commit</th><th>Applied</th><th>Lag</th><th>Reachable</th><th>Override</th><th class="l">Actions</th></tr></thead><tbody></tbody></table>
<h2>Commit rate and commit-ack latency (leader, last minutes)</h2>
<div class="charts"><div class="chart" id="chart-rate"></div><div class="chart" id="chart-ack"></div></div>
<h2>Election history</h2>
<div id="timelines"></div>
<h2>Setting the override</h2>
<p>Not a button, on purpose: the electable group size override lets a minority elect a leader and commit, so two leaders become possible if the rest of the group is alive.
Follow the procedure (README, "When a majority is lost"): make sure the lost members are really down, then on the survivors run
<code>conclave override set N --node ID --until-majority</code> with N the number of electable members known to be available, and clear it (<code>conclave override clear</code>, or the button above) as soon as a true majority is back.</p>
<dialog id="confirm"><p id="confirm-text"></p><button id="confirm-ok">Confirm</button> <button id="confirm-cancel">Cancel</button></dialog>
<script src="/uplot.js"></script>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
function ago(ms) {
  if (ms == null) return "?";
  const s = Math.round(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
const ROLE_COLOURS = { LEADER: "#2e7d32", CANDIDATE: "#f9a825", PRE_CANDIDATE: "#fbc02d", FOLLOWER: "#1565c0" };
let charts = null;
function makeCharts() {
  const opts = (title, label, stroke) => ({ title, width: 480, height: 200, series: [{}, { label, stroke, width: 2, spanGaps: true }], axes: [{}, { size: 60 }] });
  return {
    rate: new uPlot(opts("commits per second", "commits/s", "#1565c0"), [[], []], $("chart-rate")),
    ack: new uPlot(opts("mean commit-ack latency (ms)", "ms", "#c62828"), [[], []], $("chart-ack")),
  };
}
function actionButtons(m, view) {
  const b = [];
  if (!m.reachable) return "";
  if (m.type === "electable" && view.leader && view.leader.id !== m.id) b.push('<button data-action="transfer-leader" data-node="' + esc(m.id) + '">Transfer leadership here</button>');
  b.push('<button data-action="leave-election" data-node="' + esc(m.id) + '">Leave election</button>');
  if (m.override > 0) b.push('<button data-action="clear-override" data-node="' + esc(m.id) + '">Clear override</button>');
  return b.join("");
}
function timeline(m, nowMs) {
  const width = 720, height = 34, windowMs = 10 * 60 * 1000, x0 = 90;
  const x = (t) => x0 + ((t - (nowMs - windowMs)) / windowMs) * (width - x0 - 10);
  // Oldest first, so that the newest event is drawn on top where marks overlap.
  const marks = m.history.filter((h) => h.atMs >= nowMs - windowMs).reverse().map((h) =>
    '<circle cx="' + x(h.atMs).toFixed(1) + '" cy="17" r="5" fill="' + (ROLE_COLOURS[h.to] || "#555") + '"><title>' + esc(new Date(h.atMs).toLocaleTimeString() + " " + h.from + ":" + h.event + ":" + h.to + " term " + h.term + (h.detail ? " (" + h.detail + ")" : "")) + "</title></circle>").join("");
  return '<svg class="timeline" data-member="' + esc(m.id) + '" width="' + width + '" height="' + height + '"><text x="6" y="21">' + esc(m.id) + '</text><line x1="' + x0 + '" y1="17" x2="' + (width - 10) + '" y2="17" stroke="#d0d7de"/>' + marks + "</svg>";
}
function render(view) {
  $("group").textContent = view.groupId ? "group " + view.groupId : "";
  $("leader").textContent = view.leader ? view.leader.id + " (" + view.leader.address + ")" : "none";
  $("leader").dataset.leader = view.leader ? view.leader.id : "";
  $("term").textContent = view.leader ? view.leader.term : "-";
  $("e-size").textContent = view.electableGroupSize == null ? "-" : view.electableGroupSize;
  $("updated").textContent = "updated " + new Date(view.atMs).toLocaleTimeString();
  $("message").innerHTML = view.message ? '<div class="notice">' + esc(view.message) + "</div>" : "";
  $("override-banners").innerHTML = view.members.filter((m) => m.override > 0).map((m) =>
    '<div class="banner" data-member="' + esc(m.id) + '">OVERRIDE: ' + esc(m.id) + " runs with electable group size override " + m.override + " (E = " + esc(view.electableGroupSize) + ") for " + ago(m.overrideForMs) + " (" + esc(m.overrideSource) + "). JE HA: it must not stay set; clear it once a true majority is back.</div>").join("");
  $("members").tBodies[0].innerHTML = view.members.map((m) =>
    '<tr data-member="' + esc(m.id) + '" class="' + (view.leader && view.leader.id === m.id ? "leader" : "") + (m.reachable ? "" : " down") + '">' +
    "<td>" + esc(m.id) + " <small>" + esc(m.address) + "</small></td><td>" + esc(m.type || "-") + '</td><td class="role">' + esc(m.state || "-") + "</td><td>" + esc(m.term ?? "-") +
    "</td><td>" + esc(m.commitIndex ?? "-") + "</td><td>" + esc(m.appliedIndex ?? "-") + "</td><td>" + esc(m.lag ?? "-") + '</td><td class="reach">' + (m.reachable ? "yes" : "no" + (m.error ? ' <small title="' + esc(m.error) + '">(' + esc(m.error.split(":")[0]) + ")</small>" : "")) +
    "</td><td>" + (m.override > 0 ? "<b>" + m.override + "</b>" : "0") + '</td><td class="l">' + actionButtons(m, view) + "</td></tr>").join("");
  $("timelines").innerHTML = view.members.map((m) => timeline(m, view.atMs)).join("");
  if (typeof uPlot !== "undefined") {
    charts = charts || makeCharts();
    const xs = view.samples.map((s) => s.atMs / 1000);
    charts.rate.setData([xs, view.samples.map((s) => s.commitsPerSecond)]);
    charts.ack.setData([xs, view.samples.map((s) => s.ackMs)]);
  }
}
async function refresh() {
  try {
    const res = await fetch("/api/state", { cache: "no-store" });
    render(await res.json());
  } catch (e) {
    $("message").innerHTML = '<div class="notice">the dashboard server does not answer: ' + esc(e.message) + "</div>";
  }
}
const WHAT = {
  "transfer-leader": (n) => "Transfer leadership to " + n + "? The current leader hands over to it (writes pause for a moment).",
  "leave-election": (n) => n + " leaves the election: it steps down if it leads, and campaigns again after an election timeout. Go on?",
  "clear-override": (n) => "Clear the electable group size override on " + n + "? Its quorums come from E again.",
};
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (!b) return;
  const action = b.dataset.action, node = b.dataset.node;
  $("confirm-text").textContent = WHAT[action](node);
  const dlg = $("confirm");
  dlg.dataset.action = action;
  dlg.dataset.node = node;
  dlg.showModal();
});
$("confirm-cancel").addEventListener("click", () => $("confirm").close());
$("confirm-ok").addEventListener("click", async () => {
  const dlg = $("confirm");
  dlg.close();
  $("result").textContent = dlg.dataset.action + " " + dlg.dataset.node + "...";
  try {
    const res = await fetch("/api/action", { method: "POST", headers: { "Content-Type": "application/json", "X-Conclave-Action": "1" }, body: JSON.stringify({ action: dlg.dataset.action, node: dlg.dataset.node }) });
    const r = await res.json();
    $("result").textContent = r.ok ? "OK: " + dlg.dataset.action + " " + dlg.dataset.node : "FAILED: " + (r.error ? r.error.code + ": " + r.error.message : JSON.stringify(r.result));
  } catch (e) {
    $("result").textContent = "FAILED: " + e.message;
  }
  refresh();
});
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
