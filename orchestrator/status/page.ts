/**
 * The live status page: farms, backends, state, last check line, latency, recent transitions.
 * Plain HTML and a few lines of script polling /status every second (no reload, no dependencies).
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lbguard status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.1em;margin:1.2em 0 .3em}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;vertical-align:top}
td.line{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.state{font-weight:600;padding:.1em .5em;border-radius:.3em}
.up{background:#d6f5d6;color:#135e13}.down{background:#f9d4d4;color:#8a1010}
.rising,.falling{background:#fff0c2;color:#6b5200}.maintenance{background:#dde3f0;color:#2a3b66}
#updated{color:#777;font-size:12px}
</style></head><body>
<h1>lbguard</h1><div id="updated">loading…</div>
<div id="farms"></div>
<h2>Recent transitions</h2><table><thead><tr><th>time</th><th>backend</th><th>change</th><th>check output</th></tr></thead><tbody id="transitions"></tbody></table>
<script>
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
async function refresh() {
  try {
    const status = await (await fetch('/status', {cache: 'no-store'})).json();
    document.getElementById('farms').innerHTML = status.farms.map((farm) =>
      '<h2>' + esc(farm.name) + ' <small>(' + esc(farm.service) + ', data plane ' + esc(farm.dataplane.type) +
      (farm.dataplane.ok ? '' : ': <span class="state down">' + esc(farm.dataplane.error || 'not applied') + '</span>') + ')</small></h2>' +
      '<table><thead><tr><th>backend</th><th>address</th><th>state</th><th>weight</th><th>latency</th><th>last check</th></tr></thead><tbody>' +
      farm.backends.map((b) => '<tr data-backend="' + esc(farm.name + '/' + b.name) + '"><td>' + esc(b.name) + '</td><td>' + esc(b.address + ':' + b.port) +
        '</td><td><span class="state ' + esc(b.state) + '">' + esc(b.state) + '</span></td><td>' + esc(b.weight) + (b.dataplaneWeight === undefined ? '' : ' (' + esc(farm.dataplane.type) + ' ' + esc(b.dataplaneWeight) + ')') + '</td><td>' +
        (b.last ? esc(b.last.ms) + ' ms' : '') + '</td><td class="line">' + esc(b.last ? b.last.line : 'not checked yet') + '</td></tr>').join('') +
      '</tbody></table>').join('');
    document.getElementById('transitions').innerHTML = status.transitions.slice().reverse().map((t) =>
      '<tr><td>' + esc(new Date(t.at).toLocaleTimeString()) + '</td><td>' + esc(t.farm + '/' + t.backend) + '</td><td>' + esc(t.from + ' → ' + t.to) +
      '</td><td class="line">' + esc(t.line) + '</td></tr>').join('');
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById('updated').textContent = 'cannot reach lbguard: ' + e.message;
  }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
`;
