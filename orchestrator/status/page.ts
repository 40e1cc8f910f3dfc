/**
 * The live status page: per farm its data plane's health, per backend its state and for how long,
 * total downtime, the last checks as a latency chart (inline SVG), sessions, max-conns, bytes and
 * rates (what the userspace data plane counts), the last check line, maintenance buttons; the
 * node's VRRP role when /status has one; recent transitions. Plain HTML and a script polling
 * /status every second (no reload, no external asset, no cookie). The token the operator types
 * stays in this tab (sessionStorage) and goes out only as an Authorization header to this server.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lbguard status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{display:flex;flex-wrap:wrap;gap:.6em 1.4em;align-items:center;padding:.7em 1.5em;background:#24292f;color:#f6f8fa}
header h1{font-size:1.25em;margin:0} header small{color:#b1bac4}
#auth{margin-left:auto;display:flex;gap:.4em;align-items:center}
#auth input{width:14em;padding:.25em .4em;border-radius:.3em;border:1px solid #57606a;background:#32383f;color:#f6f8fa}
button{font:inherit;font-size:12px;padding:.2em .6em;border-radius:.3em;border:1px solid #8c959f;background:#fff;cursor:pointer}
header button{background:#32383f;color:#f6f8fa;border-color:#57606a}
main{padding:.5em 1.5em 2em}
#notice{min-height:1.4em;margin:.4em 0;color:#57606a}
#notice.bad{color:#a40e26}
section.farm{overflow-x:auto;background:#fff;border:1px solid #d0d7de;border-radius:.5em;margin:1em 0;padding:.6em 1em}
h2{font-size:1.1em;margin:.2em 0 .1em} h2 small{font-weight:400;color:#57606a}
.dp{font-size:12px;color:#57606a;margin-bottom:.4em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #eaeef2;vertical-align:middle;white-space:nowrap}
th{font-size:11px;text-transform:uppercase;letter-spacing:.03em;color:#57606a;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.line{font-family:ui-monospace,monospace;font-size:11px;white-space:normal;word-break:break-all;min-width:14em;max-width:30em;color:#424a53}
.state{font-weight:600;padding:.1em .5em;border-radius:.3em;font-size:12px}
.up{background:#dafbe1;color:#116329}.down{background:#ffebe9;color:#a40e26}
.rising,.falling{background:#fff8c5;color:#7d4e00}.maintenance{background:#ddf4ff;color:#0a3069}
.age,.sub{color:#6e7781;font-size:12px}
.role{font-weight:700;padding:.1em .5em;border-radius:.3em;background:#57606a}
.role.MASTER{background:#1a7f37}.role.BACKUP{background:#0969da}.role.FAULT{background:#cf222e}
svg.chart{vertical-align:middle;margin-right:.3em}
#updated{font-size:12px;color:#b1bac4}
</style></head><body>
<header><h1>lbguard</h1><span id="node"></span><span id="updated">loading…</span>
<form id="auth" autocomplete="off"><label for="token"><small>token</small></label>
<input type="password" id="token" placeholder="admin token, for the buttons">
<button type="submit">use</button><button type="button" id="forget">forget</button><small id="auth-state"></small></form></header>
<main><div id="notice" role="status"></div>
<div id="farms"></div>
<h2>Recent transitions</h2><table><thead><tr><th>time</th><th>backend</th><th>change</th><th>check output</th></tr></thead><tbody id="transitions"></tbody></table></main>
<script>
'use strict';
const TOKEN_KEY = 'lbguard-token';
let token = sessionStorage.getItem(TOKEN_KEY) || '';
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
const $ = (id) => document.getElementById(id);
// no cookie is ever sent: the only credential is the header the operator's token makes
const request = (path, init = {}) => fetch(path, { ...init, cache: 'no-store', credentials: 'omit', headers: token ? { authorization: 'Bearer ' + token } : {} });
const notice = (text, bad) => { $('notice').textContent = text; $('notice').className = bad ? 'bad' : ''; };
const showAuth = () => { $('auth-state').textContent = token ? 'token set for this tab' : ''; };

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return (i === 0 ? Math.round(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}
function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
}
/** The last checks as bars: height = latency against the slowest shown, red = failed. */
function chart(recent) {
  const w = 4, gap = 1, h = 22, n = 30;
  const max = Math.max(1, ...recent.map((r) => r[0]));
  const bars = recent.map((r, i) => {
    const bh = r[1] ? Math.max(2, Math.round((r[0] / max) * (h - 2))) : h;
    return '<rect x="' + ((n - recent.length + i) * (w + gap)) + '" y="' + (h - bh) + '" width="' + w + '" height="' + bh + '" fill="' + (r[1] ? '#2da44e' : '#cf222e') + '"><title>' + (r[1] ? 'passed' : 'failed') + ' in ' + r[0] + ' ms</title></rect>';
  }).join('');
  const failed = recent.filter((r) => !r[1]).length;
  return '<svg class="chart" width="' + (n * (w + gap)) + '" height="' + h + '" viewBox="0 0 ' + (n * (w + gap)) + ' ' + h + '" role="img" aria-label="last ' + recent.length + ' checks, ' + failed + ' failed, slowest ' + max + ' ms">' +
    '<rect width="100%" height="100%" fill="#f6f8fa"/>' + bars + '</svg>' + (recent.length ? '<span class="sub">' + max + ' ms</span>' : '');
}
// previous traffic figures per backend, for rates (bytes per second between two polls)
const previous = new Map();
function rates(key, traffic, at) {
  const before = previous.get(key);
  previous.set(key, { at, bytesIn: traffic.bytesIn, bytesOut: traffic.bytesOut });
  if (!before || at <= before.at) return undefined;
  const seconds = (at - before.at) / 1000;
  return { in: Math.max(0, traffic.bytesIn - before.bytesIn) / seconds, out: Math.max(0, traffic.bytesOut - before.bytesOut) / seconds };
}
function dataplaneLine(dp, at) {
  const parts = [];
  parts.push(dp.appliedAt ? 'last apply ' + duration(at - Date.parse(dp.appliedAt)) + ' ago' : 'nothing applied yet');
  parts.push(dp.changesApplied + ' change(s) applied');
  if (dp.lastFailure) parts.push('last error ' + duration(at - Date.parse(dp.lastFailure.at)) + ' ago: ' + dp.lastFailure.message);
  return parts.join(' · ');
}
function backendRow(farm, b, at) {
  const key = farm.name + '/' + b.name;
  const t = b.traffic;
  const r = t ? rates(key, t, at) : undefined;
  const none = '<span class="sub" title="only the userspace data plane counts traffic">–</span>';
  const inMaintenance = b.state === 'maintenance';
  return '<tr data-backend="' + esc(key) + '">' +
    '<td><b>' + esc(b.name) + '</b></td>' +
    '<td>' + esc(b.address + ':' + b.port) + '</td>' +
    '<td><span class="state ' + esc(b.state) + '">' + esc(b.state) + '</span> <span class="age" title="since ' + esc(b.since) + '">' + duration(at - Date.parse(b.since)) + '</span></td>' +
    '<td class="num">' + esc(b.weight) + (b.dataplaneWeight === undefined ? '' : ' <span class="sub" title="the weight the data plane holds">(' + esc(farm.dataplane.type) + ' ' + esc(b.dataplaneWeight) + ')</span>') + '</td>' +
    '<td class="num latency">' + (b.last ? esc(b.last.ms) + ' ms' : '') + '</td>' +
    '<td>' + chart(b.recent || []) + '</td>' +
    '<td class="num sessions">' + (t ? esc(t.active) + (b.maxConns ? ' <span class="sub">/ ' + esc(b.maxConns) + '</span>' : '') : none) + '</td>' +
    '<td class="num total">' + (t ? esc(t.sessions) : none) + '</td>' +
    '<td class="num bytes-in">' + (t ? bytes(t.bytesIn) + '<div class="sub">' + (r ? bytes(r.in) + '/s' : '&nbsp;') + '</div>' : none) + '</td>' +
    '<td class="num bytes-out">' + (t ? bytes(t.bytesOut) + '<div class="sub">' + (r ? bytes(r.out) + '/s' : '&nbsp;') + '</div>' : none) + '</td>' +
    '<td class="num downtime">' + duration(b.downMs) + '</td>' +
    '<td class="line">' + esc(b.last ? b.last.line : 'not checked yet') + '</td>' +
    '<td><button type="button" data-farm="' + esc(farm.name) + '" data-name="' + esc(b.name) + '" data-on="' + (inMaintenance ? 0 : 1) + '">' + (inMaintenance ? 'back in service' : 'maintenance') + '</button></td></tr>';
}
function render(status) {
  const at = Date.parse(status.at);
  const vrrp = status.vrrp;
  const role = vrrp && (vrrp.role || vrrp.state);
  $('node').innerHTML = role ? 'VRRP <span class="role ' + esc(role) + '">' + esc(role) + '</span>' + (vrrp.since ? ' <small>for ' + duration(at - Date.parse(vrrp.since)) + '</small>' : '') : '';
  $('farms').innerHTML = status.farms.map((farm) => '<section class="farm"><h2>' + esc(farm.name) + ' <small>(' + esc(farm.service) + ', data plane ' + esc(farm.dataplane.type) + ')</small> ' +
      (farm.dataplane.ok ? '<span class="state up">applied</span>' : '<span class="state down">' + esc(farm.dataplane.error || 'not applied') + '</span>') + '</h2>' +
      '<div class="dp">' + esc(dataplaneLine(farm.dataplane, at)) + '</div>' +
      '<table><thead><tr><th>backend</th><th>address</th><th>state</th><th class="num">weight</th><th class="num">latency</th><th title="bar height: latency against the slowest shown (its value on the right); red: failed">last checks</th>' +
      '<th class="num">sessions</th><th class="num">total</th><th class="num">bytes in</th><th class="num">bytes out</th><th class="num">down</th><th>last check</th><th></th></tr></thead><tbody>' +
      farm.backends.map((b) => backendRow(farm, b, at)).join('') + '</tbody></table></section>').join('');
  $('transitions').innerHTML = status.transitions.slice().reverse().map((t) =>
    '<tr><td>' + esc(new Date(t.at).toLocaleTimeString()) + '</td><td>' + esc(t.farm + '/' + t.backend) + '</td><td>' + esc(t.from + ' → ' + t.to) +
    '</td><td class="line">' + esc(t.line) + '</td></tr>').join('');
}
async function refresh() {
  try {
    const response = await request('/status');
    if (response.status === 401) {
      $('updated').textContent = 'this lbguard needs a token to be read: enter it above';
      return;
    }
    render(await response.json());
    $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    $('updated').textContent = 'cannot reach lbguard: ' + e.message;
  }
}
$('farms').addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-on]');
  if (!button) return;
  const { farm, name, on } = button.dataset;
  const what = farm + '/' + name + (on === '1' ? ' into maintenance' : ' back in service');
  try {
    const response = await request('/maintenance?farm=' + encodeURIComponent(farm) + '&backend=' + encodeURIComponent(name) + '&on=' + on, { method: 'POST' });
    if (response.ok) notice(what + ': done');
    else if (response.status === 401) notice(what + ': refused, the admin token is needed (enter it above)', true);
    else notice(what + ': refused: ' + (await response.text()).trim(), true);
  } catch (e) {
    notice(what + ': ' + e.message, true);
  }
  refresh();
});
$('auth').addEventListener('submit', (event) => {
  event.preventDefault();
  token = $('token').value.trim();
  $('token').value = '';
  if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
  showAuth();
  refresh();
});
$('forget').addEventListener('click', () => {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  showAuth();
});
showAuth();
refresh(); setInterval(refresh, 1000);
</script></body></html>
`;
