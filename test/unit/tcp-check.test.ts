// The `tcp` probe as the daemon runs it (buildBackendCheck: its lean form on an address, over the
// shared TimedAttempt) says what runCheck over checkTcp says, word for word but the measured time:
// success, thresholds, refusal, the deadline while connecting judged after pending I/O, shutdown;
// and leaves no socket or listener behind.
import { execFileSync, spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { buildBackendCheck, verdictOf } from '../../orchestrator/checks/backend-check.ts';
import { runCheck } from '../../plugins/runtime/deadline.ts';
import type { PluginDefinition } from '../../plugins/runtime/plugin.ts';
import { CRITICAL } from '../../plugins/runtime/state.ts';
import { tcpProbe } from '../../plugins/tcp/definition.ts';
import { leanTcpCheck } from '../../plugins/tcp/lean-check.ts';
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

/** the farms file's way (buildBackendCheck) and runCheck called directly over the probe, for one backend */
function checks(port: number, timeoutMs = 1000, options: Record<string, unknown> = {}, address = '127.0.0.1'): { built: BackendCheck; direct: BackendCheck } {
  const config = validateConfig({
    farms: [{
      name: 'f', service: 'tcp', virtual: { address: '192.0.2.1', ports: [80] }, dataplane: { type: 'none' },
      check: { probe: 'tcp', interval: `${Math.max(2000, 2 * timeoutMs)}ms`, timeout: `${timeoutMs}ms`, options },
      backends: [{ name: 'b', address, port }],
    }],
  });
  const farm = config.farms[0]!;
  const built = buildBackendCheck(farm, farm.backends[0]!);
  const tcpOptions: TcpCheckOptions = { host: address, port, family: 0, thresholds: {}, timeoutSeconds: timeoutMs / 1000 };
  const deadline = { seconds: timeoutMs / 1000, state: CRITICAL };
  const definition = tcpProbe as PluginDefinition<unknown>;
  const direct: BackendCheck = async (signal) => {
    const started = performance.now();
    return verdictOf(await runCheck(tcpProbe.check, tcpOptions, deadline, { signal }), definition, performance.now() - started, false);
  };
  return { built, direct };
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

t.test('a backend that answers: the probe line', async (t) => {
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  const { built, direct } = checks(server.port);
  const before = await settled();
  const [a, b] = [await built(new AbortController().signal), await direct(new AbortController().signal)];
  t.equal(a.ok, true);
  t.match(a.line, new RegExp(`^TCP OK - \\d+\\.\\d{3} second response time on 127\\.0\\.0\\.1 port ${server.port}\\|time=\\d+\\.\\d{6}s;;;0\\.000000;1\\.000000$`));
  t.equal(timeless(b.line), timeless(a.line), 'runCheck called directly words it the same');
  t.ok(a.ms >= 0 && a.ms < 1000, `took ${a.ms} ms`);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(server.connections(), 2, 'each check connected once');
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

t.test('a refused connect: the C plugins\' words', async (t) => {
  const server = await closeAtOnce();
  const port = server.port;
  await server.close();
  const { built, direct } = checks(port);
  const before = await settled();
  const [a, b] = [await built(new AbortController().signal), await direct(new AbortController().signal)];
  t.same([a.ok, a.line], [false, `TCP CRITICAL - connect to address 127.0.0.1 and port ${port}: Connection refused`]);
  t.equal(b.line, a.line);
  t.equal(await settled(), before);
});

t.test('the deadline passes while connecting: the line says so, and the socket is closed', async (t) => {
  const port = await stalledListener(t);
  const { built, direct } = checks(port, 300);
  const before = await settled();
  const started = performance.now();
  const a = await built(new AbortController().signal);
  const elapsed = performance.now() - started;
  const b = await direct(new AbortController().signal);
  t.same([a.ok, a.line], [false, 'TCP CRITICAL - Socket timeout after 0.3 seconds while connecting']);
  t.equal(b.line, a.line, 'runCheck over checkTcp words it the same');
  t.ok(elapsed >= 290 && elapsed < 1000, `gave up after ${elapsed.toFixed(0)} ms`);
  t.equal(await settled(), before, 'the waiting socket was destroyed');
});

t.test('a loop held past the deadline: an answer that came in time is read before the deadline is judged', async (t) => {
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  const { built, direct } = checks(server.port, 200);
  for (const [name, check] of [['lean', built], ['runCheck', direct]] as const) {
    // started from the loop's check phase: due timers run next, before the poll that reads the connect
    await new Promise((r) => setImmediate(r));
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
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  for (const name of ['built', 'direct'] as const) {
    const check = checks(port, 5000)[name];
    const controller = new AbortController();
    const before = await settled();
    const started = performance.now();
    const running = [check(controller.signal), check(controller.signal)];
    setTimeout(() => controller.abort(new Error('scheduler stopped')), 100);
    const verdicts = await Promise.all(running);
    t.ok(performance.now() - started < 1000, `${name}: ended well before the 5 s deadline`);
    for (const v of verdicts) t.same([v.ok, v.line], [false, 'TCP UNKNOWN - internal error: scheduler stopped']);
    t.equal(await settled(), before);
    const late = await checks(server.port, 5000)[name](controller.signal);
    t.same([late.ok, late.line], [false, 'TCP UNKNOWN - internal error: scheduler stopped']);
    await new Promise((r) => setTimeout(r, 50));
    t.equal(server.connections(), 0, `${name}: an aborted signal, no connect`);
    t.equal(await settled(), before);
  }
});

t.test('a name is resolved first; an address of the other family is refused', async (t) => {
  const server = await closeAtOnce();
  t.teardown(() => server.close());
  const deadline = { seconds: 1, state: CRITICAL };
  const base = { port: server.port, thresholds: {}, timeoutSeconds: 1 };
  const named = await runCheck(tcpProbe.check, { ...base, host: 'localhost', family: 4 }, deadline);
  t.match(named.text, new RegExp(`second response time on localhost port ${server.port}$`));
  const wrong = await runCheck(tcpProbe.check, { ...base, host: '127.0.0.1', family: 6 }, deadline);
  t.same([wrong.state, wrong.text], [CRITICAL, '127.0.0.1 is not an IPv6 address']);
});

t.test('the lean form is for an address of the family asked for; the rest goes through runCheck', async (t) => {
  const deadline = { seconds: 1, state: CRITICAL };
  const base = { port: 1, thresholds: {}, timeoutSeconds: 1 };
  t.equal(leanTcpCheck({ ...base, host: 'localhost', family: 0 }, deadline), undefined);
  t.equal(leanTcpCheck({ ...base, host: '127.0.0.1', family: 6 }, deadline), undefined);
  t.equal(leanTcpCheck({ ...base, host: '/run/x.sock', family: 0 }, deadline), undefined);
  t.ok(leanTcpCheck({ ...base, host: '::1', family: 6 }, deadline));
  t.ok(leanTcpCheck({ ...base, host: '127.0.0.1', family: 4 }, deadline));
});

t.test('a connection made is closed with a reset: no TIME_WAIT left on this host, whatever the rate', async (t) => {
  const resets: string[] = [];
  const clientPorts = new Set<number>();
  const server = createServer((socket) => {
    clientPorts.add(socket.remotePort ?? 0);
    socket.on('error', (error: NodeJS.ErrnoException) => resets.push(error.code ?? ''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const { built, direct } = checks(port);
  for (let i = 0; i < 20; i++) t.equal((await built(new AbortController().signal)).ok, true);
  // the general path (a host name, an address without a family: runCheck and checkTcp) as well
  for (let i = 0; i < 10; i++) t.equal((await direct(new AbortController().signal)).ok, true);
  await new Promise((r) => setTimeout(r, 100));
  // Only these checks' own connections count: with the suite running side by side, another test's
  // TIME_WAIT socket may hold this listener's port number at one end (Node binds with SO_REUSEADDR).
  const ours = (line: string) => {
    const ends = line.trim().split(/\s+/).slice(-2).map((end) => Number(end.slice(end.lastIndexOf(':') + 1)));
    return ends.includes(port) && ends.some((end) => clientPorts.has(end));
  };
  const listed = execFileSync('ss', ['-Htan', 'state', 'time-wait', `( dport = :${port} or sport = :${port} )`], { encoding: 'utf8' });
  t.equal(clientPorts.size, 30, 'thirty connections, each from its own port');
  t.same(listed.split('\n').filter(ours), [], 'no socket of these checks in TIME_WAIT (a FIN from the checker left one per check for 60 s)');
  t.same(resets, Array.from({ length: 30 }, () => 'ECONNRESET'), 'the backend saw each check end with a reset');
});
