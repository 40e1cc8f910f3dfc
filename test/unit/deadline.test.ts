// The in-process path the orchestrator uses: runCheck never throws, honours its deadline, and the
// probe's socket is closed when the deadline passes (nothing leaks into a long-running daemon).
import t from 'tap';
import { CheckFailure, UsageError } from '../../plugins/runtime/errors.ts';
import { runCheck } from '../../plugins/runtime/deadline.ts';
import { CRITICAL, OK, UNKNOWN, WARNING } from '../../plugins/runtime/state.ts';
import { checkSsh } from '../../plugins/ssh/check.ts';
import { fakeTcpServer } from '../helpers/fake-servers.ts';

const sshOptions = (port: number) => ({
  host: '127.0.0.1', port, family: 0 as const, clientIdentification: 'SSH-2.0-test', thresholds: {}, timeoutSeconds: 1,
});

function openSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

t.test('the deadline aborts the probe and closes its socket', async (t) => {
  let closedByClient = 0;
  const server = await fakeTcpServer((socket) => socket.on('close', () => closedByClient++));
  t.teardown(() => server.close());
  const before = openSockets();
  const started = performance.now();
  const outcome = await runCheck(checkSsh, sshOptions(server.port), { seconds: 0.3, state: CRITICAL });
  const elapsed = performance.now() - started;
  t.equal(outcome.state, CRITICAL);
  t.equal(outcome.text, 'Socket timeout after 0.3 seconds while waiting for the server identification');
  t.ok(elapsed >= 290 && elapsed < 800, `returned after ${elapsed.toFixed(0)} ms`);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(closedByClient, 1, 'the server saw the connection closed');
  t.equal(openSockets(), before, 'no client socket left open');
});

t.test('the timeout state is the one asked for', async (t) => {
  const server = await fakeTcpServer(() => undefined);
  t.teardown(() => server.close());
  const outcome = await runCheck(checkSsh, sshOptions(server.port), { seconds: 0.2, state: UNKNOWN });
  t.equal(outcome.state, UNKNOWN);
});

t.test('every way a check can end becomes an outcome', async (t) => {
  const deadline = { seconds: 1, state: CRITICAL };
  const ok = await runCheck(async () => ({ state: OK, text: 'fine', perfdata: [], details: [] }), null, deadline);
  t.same(ok, { state: OK, text: 'fine', perfdata: [], details: [] });
  const failed = await runCheck(async () => { throw new CheckFailure('login failed', WARNING); }, null, deadline);
  t.same([failed.state, failed.text], [WARNING, 'login failed']);
  const usage = await runCheck(async () => { throw new UsageError('bad'); }, null, deadline);
  t.same([usage.state, usage.text], [UNKNOWN, 'bad']);
  const bug = await runCheck(async () => { throw new TypeError('x is undefined'); }, null, deadline);
  t.same([bug.state, bug.text], [UNKNOWN, 'internal error: x is undefined']);
});

t.test('an outer signal (daemon shutdown) aborts the check', async (t) => {
  const server = await fakeTcpServer(() => undefined);
  t.teardown(() => server.close());
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('shutting down')), 100);
  const outcome = await runCheck(checkSsh, sshOptions(server.port), { seconds: 5, state: CRITICAL }, { signal: controller.signal });
  t.equal(outcome.state, UNKNOWN);
  t.match(outcome.text, /shutting down/);
});
