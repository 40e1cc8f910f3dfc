// The daemon's fast `tcp` check (orchestrator/checks/tcp-connect-check.ts) says what the generic
// path (runCheck over the tcp probe) says, word for word but the measured time: success, refusal,
// the deadline while connecting, shutdown; and leaves no socket or listener behind.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { buildBackendCheck, verdictOf } from '../../orchestrator/checks/backend-check.ts';
import { tcpConnectCheck } from '../../orchestrator/checks/tcp-connect-check.ts';
import { runCheck } from '../../plugins/runtime/deadline.ts';
import type { PluginDefinition } from '../../plugins/runtime/plugin.ts';
import { CRITICAL } from '../../plugins/runtime/state.ts';
import { tcpProbe } from '../../plugins/tcp/definition.ts';
import type { BackendCheck } from '../../orchestrator/checks/types.ts';
import type { TcpCheckOptions } from '../../plugins/tcp/check.ts';
import { closeAtOnce } from '../helpers/fake-servers.ts';

const openSockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
/** sockets closed a moment ago leave the count on the next turn of the loop */
const settled = async () => {
  await new Promise((r) => setTimeout(r, 20));
  return openSockets();
};
/** the measured time is the one thing allowed to differ */
const timeless = (line: string) => line.replace(/\d+\.\d{3} second/, 'N second').replace(/time=[0-9.]+s/, 'time=Ns');

/** the farms file's way (buildBackendCheck), the fast check itself, and the generic path, for one port */
function checks(port: number, timeoutMs = 1000, options: Record<string, unknown> = {}): { built: BackendCheck; fast: BackendCheck; generic: BackendCheck } {
  const config = validateConfig({
    farms: [{
      name: 'f', service: 'tcp', virtual: { address: '192.0.2.1', ports: [80] }, dataplane: { type: 'none' },
      check: { probe: 'tcp', interval: `${Math.max(2000, 2 * timeoutMs)}ms`, timeout: `${timeoutMs}ms`, options },
      backends: [{ name: 'b', address: '127.0.0.1', port }],
    }],
  });
  const farm = config.farms[0]!;
  const built = buildBackendCheck(farm, farm.backends[0]!);
  const tcpOptions: TcpCheckOptions = { host: '127.0.0.1', port, family: 0, thresholds: {}, timeoutSeconds: timeoutMs / 1000 };
  const deadline = { seconds: timeoutMs / 1000, state: CRITICAL };
  const definition = tcpProbe as PluginDefinition<unknown>;
  const check = tcpConnectCheck(tcpOptions, deadline, (outcome, ms) => verdictOf(outcome, definition, ms, false))!;
  const generic: BackendCheck = async (signal) => {
    const started = performance.now();
    return verdictOf(await runCheck(tcpProbe.check, tcpOptions, deadline, { signal }), definition, performance.now() - started, false);
  };
  return { built, fast: (signal) => check.run(signal), generic };
}

/**
 * A listener that never accepts: a child process listens with a backlog of 1 (Node takes 0 for its
 * default, 511), the places of its accept queue are taken, and its thread sleeps, so the kernel drops further SYNs (a connect waits).
 */
async function stalledListener(t: Test): Promise<number> {
  const child = spawn(process.execPath, ['-e', `
    const server = require('net').createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(server.address().port + '\\n', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  const fillers: Socket[] = [];
  t.teardown(() => fillers.forEach((s) => s.destroy()));
  // the queue holds backlog + 1; more fillers make sure (those beyond wait, as the checks will)
  for (let i = 0; i < 4; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 200));
  return port;
}

t.test('a backend that answers: the probe line, checked by the fast path', async (t) => {
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  const { built, fast, generic } = checks(server.port);
  const before = await settled();
  const [a, b, c] = [await fast(new AbortController().signal), await generic(new AbortController().signal), await built(new AbortController().signal)];
  t.equal(a.ok, true);
  t.match(a.line, new RegExp(`^TCP OK - \\d+\\.\\d{3} second response time on 127\\.0\\.0\\.1 port ${server.port}\\|time=\\d+\\.\\d{6}s;;;0\\.000000;1\\.000000$`));
  t.equal(timeless(a.line), timeless(b.line), 'the generic path words it the same');
  t.equal(timeless(c.line), timeless(a.line), 'and so does the check a farms file builds');
  t.ok(a.ms >= 0 && a.ms < 1000, `took ${a.ms} ms`);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(server.connections(), 3, 'each check connected once');
  t.equal(await settled(), before, 'no socket left open');
});

t.test('thresholds from the farms file are the probe\'s', async (t) => {
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  // a critical range no response time is inside: 10:20 seconds
  const { built } = checks(server.port, 1000, { critical: '10:20' });
  const verdict = await built(new AbortController().signal);
  t.equal(verdict.ok, false);
  t.match(verdict.line, /^TCP CRITICAL - \d+\.\d{3} second response time on 127\.0\.0\.1 port \d+\|time=\d+\.\d{6}s;;10:20;0\.000000;1\.000000$/);
});

t.test('a refused connect: the C plugins\' words, from both paths', async (t) => {
  const server = await closeAtOnce();
  const port = server.port;
  await server.close();
  const { fast, generic } = checks(port);
  const before = await settled();
  const [a, b] = [await fast(new AbortController().signal), await generic(new AbortController().signal)];
  t.same([a.ok, a.line], [false, `TCP CRITICAL - connect to address 127.0.0.1 and port ${port}: Connection refused`]);
  t.equal(a.line, b.line);
  t.equal(await settled(), before);
});

t.test('the deadline passes while connecting: both paths say so, and the socket is closed', async (t) => {
  const port = await stalledListener(t);
  const { fast, generic } = checks(port, 300);
  const before = await settled();
  const started = performance.now();
  const a = await fast(new AbortController().signal);
  const elapsed = performance.now() - started;
  const b = await generic(new AbortController().signal);
  t.same([a.ok, a.line], [false, 'TCP CRITICAL - Socket timeout after 0.3 seconds while connecting']);
  t.equal(a.line, b.line);
  t.ok(elapsed >= 290 && elapsed < 1000, `gave up after ${elapsed.toFixed(0)} ms`);
  t.equal(await settled(), before, 'the waiting socket was destroyed');
});

t.test('a loop held past the deadline: an answer that came in time is read before the deadline is judged', async (t) => {
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  const { fast, generic } = checks(server.port, 200);
  for (const [name, check] of [['fast', fast], ['generic', generic]] as const) {
    const running = check(new AbortController().signal);
    // the connect goes out on the next tick; then the daemon is busy for 400 ms, twice the deadline
    await new Promise<void>((r) => process.nextTick(r));
    const until = Date.now() + 400;
    while (Date.now() < until);
    const verdict = await running;
    t.equal(verdict.ok, true, `${name}: ${verdict.line}`);
  }
});

t.test('the daemon stopping ends a waiting check at once, and a stopped signal starts none', async (t) => {
  const port = await stalledListener(t);
  const { fast } = checks(port, 5000);
  const controller = new AbortController();
  const before = await settled();
  const started = performance.now();
  const running = [fast(controller.signal), fast(controller.signal)];
  setTimeout(() => controller.abort(new Error('scheduler stopped')), 100);
  const verdicts = await Promise.all(running);
  t.ok(performance.now() - started < 1000, 'ended well before the 5 s deadline');
  for (const v of verdicts) t.same([v.ok, v.line], [false, 'TCP UNKNOWN - internal error: scheduler stopped']);
  t.equal(await settled(), before);
  const late = await fast(controller.signal);
  t.equal(late.ok, false, 'an aborted signal: no connect');
  t.equal(await settled(), before);
});

t.test('a name or another family goes the generic way', async (t) => {
  const deadline = { seconds: 1, state: CRITICAL };
  const verdict = () => ({ ok: true, line: '', ms: 0 });
  const base = { port: 1, thresholds: {}, timeoutSeconds: 1 };
  t.equal(tcpConnectCheck({ ...base, host: 'localhost', family: 0 }, deadline, verdict), undefined);
  t.equal(tcpConnectCheck({ ...base, host: '127.0.0.1', family: 6 }, deadline, verdict), undefined);
  t.ok(tcpConnectCheck({ ...base, host: '::1', family: 6 }, deadline, verdict));
  t.ok(tcpConnectCheck({ ...base, host: '127.0.0.1', family: 4 }, deadline, verdict));
});
