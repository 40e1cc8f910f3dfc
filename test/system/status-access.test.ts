// Who may change a farm through the status server, as an operator meets it: `lbguard run` in a
// network namespace of the test's own, listening on 0.0.0.0, and curl from another namespace (a peer
// that is not loopback) and from the server's own loopback. Without status.admin-token-file a remote
// `curl -X POST /maintenance` is refused (403) and a local one taken; with it, only a request with
// the token's Bearer header is (401 otherwise, from anywhere), and the token never shows in the log or
// /status. read-token-file closes /status and /metrics.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { linkedNamespaces } from '../helpers/netns.ts';
import { requireBinary, runCommand } from '../helpers/processes.ts';
import { LBGUARD, secretFile as secretFileIn, startLbguardRun, statusFarmsFile } from '../helpers/status-files.ts';

const IP = requireBinary('/usr/sbin/ip', 'iproute2');
const CURL = requireBinary('/usr/bin/curl', 'curl');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-access-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const net = linkedNamespaces('acc');
t.teardown(() => net.remove());
const PORT = 9100;
const remoteBase = `http://${net.server.address}:${PORT}`;
const localBase = `http://127.0.0.1:${PORT}`;

/** curl in a namespace: the HTTP status it got (000 when it got none) and the body. Headers only from files. */
async function curl(from: 'client' | 'server', args: string[]): Promise<{ code: string; body: string }> {
  const ns = from === 'client' ? net.client : net.server;
  const run = await ns.run([CURL, '-sS', '--max-time', '5', '-o', '-', '-w', '\n%{http_code}', ...args], { timeoutMs: 30_000 });
  const at = run.stdout.lastIndexOf('\n');
  return { code: run.stdout.slice(at + 1), body: run.stdout.slice(0, at) };
}

const secretFile = (name: string, content: string, mode?: number) => secretFileIn(dir, name, content, mode);
const farmsFile = (name: string, status: Record<string, unknown>) => statusFarmsFile(dir, name, { listen: `0.0.0.0:${PORT}`, ...status }, ['a', 'b']);
/** `lbguard run -c FILE` inside the server namespace, once its status server listens. */
const runInServer = (t: { teardown(fn: () => void): void }, file: string) => startLbguardRun(t, file, [IP, 'netns', 'exec', net.server.name]);

/** A header file for curl's `-H @FILE`: the token stays off every argv. */
function bearerHeader(name: string, token: string): string {
  return secretFile(name, `Authorization: Bearer ${token}\n`);
}

const stateOf = async (backend: string, headers: string[] = []) => {
  const answer = await curl('server', [...headers, `${localBase}/status`]);
  const status = JSON.parse(answer.body) as { farms: { backends: { name: string; state: string }[] }[] };
  return status.farms[0]!.backends.find((b) => b.name === backend)!.state;
};

t.test('no admin-token-file: a POST from another host is refused (403), one from loopback is taken; lbguard check warns', async (t) => {
  const file = farmsFile('open', {});
  const check = await runCommand(process.execPath, [LBGUARD, 'check', '-c', file]);
  t.equal(check.code, 0, 'a warning, not an error');
  t.equal(check.stderr, `lbguard: warning: status.listen 0.0.0.0:${PORT} is reachable from other hosts and status.admin-token-file is not set: they read /status, /metrics and the page, and maintenance is refused to all but this host\n`);
  const lbguard = await runInServer(t, file);
  t.match(lbguard.output(), /"event":"status-exposed"/, 'the daemon logs the same warning');

  // the attack, as it was run: one curl -X POST from another host
  const remote = await curl('client', ['-X', 'POST', `${remoteBase}/maintenance?farm=t&backend=a&on=1`]);
  t.equal(remote.code, '403');
  t.equal(remote.body, 'changes are taken from this host only: set status.admin-token-file to allow them from others with a token\n');
  t.not(await stateOf('a'), 'maintenance', 'the backend stays in service');
  const read = await curl('client', [`${remoteBase}/status`]);
  t.equal(read.code, '200', 'reads stay open without read-token-file');

  const local = await curl('server', ['-X', 'POST', `${localBase}/maintenance?farm=t&backend=a&on=1`]);
  t.equal(local.code, '200', 'taken from loopback');
  t.equal(await stateOf('a'), 'maintenance');
  const forged = await curl('server', ['-X', 'POST', '-H', 'Origin: http://evil.example', `${localBase}/maintenance?farm=t&backend=b&on=1`]);
  t.equal(forged.code, '403', 'a cross-site browser POST on loopback is still refused');
  t.not(await stateOf('b'), 'maintenance');

  const metrics = await curl('server', [`${localBase}/metrics`]);
  t.match(metrics.body, 'lbguard_status_refused_requests_total{kind="change",reason="not-loopback"} 1');
  t.match(metrics.body, 'lbguard_status_refused_requests_total{kind="change",reason="cross-site"} 1');
  const log = lbguard.output();
  t.match(log, new RegExp(`"event":"control-request","peer":"${net.client.address.replace(/\./g, '\\.')}".*"status":403,"result":"refused \\(not-loopback\\)"`), 'the refusal logged with the peer');
  t.match(log, /"event":"control-request","peer":"127\.0\.0\.1".*"status":200,"result":"done"/, 'the change logged with the peer');
  t.equal(await lbguard.stop(), 0);
});

t.test('admin-token-file: only the Bearer token changes a farm, from any host; it never shows', async (t) => {
  const token = 'k3Jx9-4h2Qe8Lz1Vr7Tb0Wm5Ny6Pc'; // 30 visible characters
  const file = farmsFile('admin', { 'admin-token-file': secretFile('admin.token', `${token}\n`) });
  const check = await runCommand(process.execPath, [LBGUARD, 'check', '-c', file]);
  t.equal(check.code, 0);
  t.equal(check.stderr, '', 'no warning once changes need a token');
  const lbguard = await runInServer(t, file);
  const good = bearerHeader('good.header', token);
  const bad = bearerHeader('bad.header', `${token.slice(0, -1)}X`);
  const target = `${remoteBase}/maintenance?farm=t&backend=a&on=1`;

  const none = await curl('client', ['-X', 'POST', target]);
  t.equal(none.code, '401', 'no token: 401');
  t.equal(none.body, 'this needs Authorization: Bearer TOKEN (the token of status.admin-token-file)\n');
  t.equal((await curl('client', ['-X', 'POST', '-H', `@${bad}`, target])).code, '401', 'a wrong token: 401');
  t.equal((await curl('server', ['-X', 'POST', `${localBase}/maintenance?farm=t&backend=a&on=1`])).code, '401', 'loopback without the token: 401 too');
  t.not(await stateOf('a'), 'maintenance');
  const right = await curl('client', ['-X', 'POST', '-H', `@${good}`, target]);
  t.equal(right.code, '200', 'the token: taken, from another host');
  t.equal(right.body, '{"farm":"t","backend":"a","maintenance":true}\n');
  t.equal(await stateOf('a'), 'maintenance');

  // the CLI finds the address (0.0.0.0 -> loopback) and the token through the farms file
  const cli = await net.server.run([process.execPath, LBGUARD, 'maintenance', 't', 'a', 'off', '-c', file], { timeoutMs: 30_000 });
  t.equal(cli.code, 0, cli.stderr);
  t.equal(cli.stdout, '{"farm":"t","backend":"a","maintenance":false}\n');
  t.not(await stateOf('a'), 'maintenance');
  const table = await net.server.run([process.execPath, LBGUARD, 'status', '-c', file], { timeoutMs: 30_000 });
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /^FARM +BACKEND/);
  const noToken = await net.server.run([process.execPath, LBGUARD, 'maintenance', 't', 'a', 'on', '--url', localBase], { timeoutMs: 30_000 });
  t.equal(noToken.code, 1, '--url without a token: refused');
  t.equal(noToken.stdout, 'this needs Authorization: Bearer TOKEN (the token of status.admin-token-file)\n');

  const metrics = await curl('client', [`${remoteBase}/metrics`]);
  t.match(metrics.body, 'lbguard_status_refused_requests_total{kind="change",reason="no-token"} 3', 'two curls and the CLI without a token');
  t.match(metrics.body, 'lbguard_status_refused_requests_total{kind="change",reason="bad-token"} 1');
  const status = await curl('client', [`${remoteBase}/status`]);
  t.equal(status.code, '200');
  t.notMatch(status.body, token, 'the token is not in /status');
  t.notMatch(metrics.body, token, 'nor in /metrics');
  t.equal(await lbguard.stop(), 0);
  t.notMatch(lbguard.output(), token, 'nor in the log');
  t.match(lbguard.output(), /"peer":"10\.96\.\d+\.2".*"status":401,"result":"refused \(bad-token\)"/);
});

t.test('read-token-file: /status and /metrics need a token (the read one or the admin one); the page shell stays', async (t) => {
  const admin = 'a'.repeat(20) + 'dmin-token';
  const read = 'r'.repeat(20) + 'ead-token';
  const file = farmsFile('read', { 'admin-token-file': secretFile('a.token', admin), 'read-token-file': secretFile('r.token', read) });
  const lbguard = await runInServer(t, file);
  t.equal((await curl('client', [`${remoteBase}/status`])).code, '401');
  t.equal((await curl('client', [`${remoteBase}/metrics`])).code, '401');
  t.equal((await curl('client', ['-H', `@${bearerHeader('r.header', read)}`, `${remoteBase}/status`])).code, '200', 'the read token reads');
  t.equal((await curl('client', ['-H', `@${bearerHeader('a.header', admin)}`, `${remoteBase}/metrics`])).code, '200', 'the admin token reads too');
  t.equal((await curl('client', ['-X', 'POST', '-H', `@${bearerHeader('r2.header', read)}`, `${remoteBase}/maintenance?farm=t&backend=a&on=1`])).code, '401', 'the read token changes nothing');
  const page = await curl('client', [`${remoteBase}/`]);
  t.equal(page.code, '200', 'the page (code, no data) loads; it asks for the token');
  const table = await net.server.run([process.execPath, LBGUARD, 'status', '-c', file], { timeoutMs: 30_000 });
  t.equal(table.code, 0, `lbguard status -c sends the read token: ${table.stderr}`);
  const refused = await net.server.run([process.execPath, LBGUARD, 'status', '--url', localBase], { timeoutMs: 30_000 });
  t.equal(refused.code, 1);
  t.match(refused.stderr, /HTTP 401 \(a token is needed/);
  t.equal(await lbguard.stop(), 0);
});
