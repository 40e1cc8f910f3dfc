// lbguard against hostile or broken input, as an operator meets it: a farms file that is a device,
// a FIFO, a directory, huge, binary or an alias bomb is refused with its reason, quickly; a reload
// that cannot listen where the new file says keeps the daemon running.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { freePort, ROOT, runCommand, until } from '../helpers/processes.ts';

const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-hostile-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function farms(statusPort: number, state = join(dir, 'state.json')): string {
  return `status: {listen: "127.0.0.1:${statusPort}"}
state: {file: "${state}"}
farms:
  - name: t
    service: tcp
    virtual: {address: 192.0.2.22, ports: [22]}
    check: {probe: tcp, interval: 300ms, timeout: 250ms}
    backends:
      - {name: a, address: 127.0.0.1, port: 1}
`;
}

/**
 * `lbguard run` on a farms file NAME.yaml (status on a free port, the given state file), its output
 * kept; ready() resolves with /status's HTTP status once it answers (or 'no answer' after 5 s).
 */
async function startRun(
  t: { teardown(fn: () => void): void },
  name: string,
  state = join(dir, `${name}-state.json`),
  options: { text?: (statusPort: number, state: string) => string; nofile?: number } = {},
) {
  const statusPort = await freePort();
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, (options.text ?? farms)(statusPort, state));
  const argv = [LBGUARD, 'run', '-c', file];
  // a descriptor limit as `ulimit -n` sets it, on the daemon alone (bash execs node: one PID)
  const child = options.nofile === undefined
    ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('bash', ['-c', `ulimit -n ${options.nofile} && exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { child.kill('SIGKILL'); });
  const get = (): Promise<number | string> => fetch(`http://127.0.0.1:${statusPort}/status`).then((r) => r.status, () => 'no answer');
  const ready = async () => {
    let answer = await get();
    for (let i = 0; i < 100 && answer !== 200; i++) answer = await new Promise((r) => setTimeout(r, 50)).then(get);
    return answer;
  };
  return { child, output: () => out, exited, get, ready, file, statusPort };
}

t.test('farms files that are not files lbguard should read: refused with the reason, at once', async (t) => {
  const fifo = join(dir, 'fifo.yaml');
  execFileSync('mkfifo', [fifo]);
  const big = join(dir, 'big.yaml');
  writeFileSync(big, `${farms(9)}# ${'x'.repeat(5 * 1024 * 1024)}\n`);
  const binary = join(dir, 'binary.yaml');
  writeFileSync(binary, Buffer.from([0x66, 0x61, 0x72, 0x6d, 0x73, 0x3a, 0x20, 0xff, 0xfe, 0x00, 0x0a]));
  const bomb = join(dir, 'bomb.yaml');
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
  writeFileSync(bomb, `${levels.join('\n')}\n`);
  // shapes the YAML parser takes seconds or its whole stack for: refused before it sees them
  const shapes: Record<string, string> = {
    brackets: `[${']'.repeat(100_000)}\n`,
    deep: `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
    dashes: `${'- '.repeat(100_000)}x\n`,
    indent: `a:\n${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i + 1)}b:\n`).join('')}`,
  };
  for (const [name, text] of Object.entries(shapes)) writeFileSync(join(dir, `${name}.yaml`), text);
  const cases: [string, RegExp][] = [
    [join(dir, 'brackets.yaml'), /\n {2}line 1: more than 100 "\]" that close nothing; not parsed\n$/],
    [join(dir, 'deep.yaml'), /\n {2}line 1: collections nested more than 64 deep; not parsed\n$/],
    [join(dir, 'dashes.yaml'), /\n {2}line 1: more than 64 nested sequences \("- - -"\) on one line; not parsed\n$/],
    [join(dir, 'indent.yaml'), /\n {2}line \d+: indented more than 256 columns; not parsed\n$/],
    ['/dev/zero', /^\/dev\/zero: 1 problem\(s\)\n {2}\(file\): cannot read: a device, not a regular file\n$/],
    [fifo, /\(file\): cannot read: a FIFO, not a regular file\n$/],
    [dir, /\(file\): cannot read: a directory, not a regular file\n$/],
    [big, /\(file\): cannot read: \d+ bytes, more than the 4194304 allowed\n$/],
    [binary, /\(file\): cannot read: not UTF-8 text\n$/],
    [bomb, /bomb\.yaml: 1 problem\(s\)\n {2}\(file\): Excessive alias count/],
  ];
  for (const [file, expected] of cases) {
    const started = performance.now();
    const check = await runCommand(process.execPath, [LBGUARD, 'check', '-c', file], { timeoutMs: 10000 });
    t.comment(`check -c ${file}: ${Math.round(performance.now() - started)} ms, node's start included`);
    t.equal(check.code, 1, `check -c ${file}: exit 1`);
    t.match(check.stdout, expected, `check -c ${file}`);
    const run = await runCommand(process.execPath, [LBGUARD, 'run', '-c', file], { timeoutMs: 10000 });
    t.equal(run.code, 2, `run -c ${file}: refuses to start`);
    t.match(run.stderr, /^lbguard: refusing to start: /, `run -c ${file}`);
  }
});

t.test('SIGHUP to a status address already in use: the reload is kept, the page stays where it was, the daemon lives', async (t) => {
  const busyPort = await freePort();
  const busy = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${busyPort}, '127.0.0.1', () => console.log('ready'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { busy.kill(); });
  await new Promise((resolve) => busy.stdout.once('data', resolve));
  const { child, output, exited, get, ready, file } = await startRun(t, 'reload');
  t.equal(await ready(), 200);
  writeFileSync(file, farms(busyPort));
  child.kill('SIGHUP');
  for (let i = 0; i < 100 && !output().includes('status-listen-failed') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(child.exitCode, null, 'still running');
  t.notMatch(output(), /EADDRINUSE.*\n.*at /, 'no uncaught exception');
  t.match(output(), /"event":"status-listen-failed".*127\.0\.0\.1:\d+.*EADDRINUSE/);
  t.equal(await get(), 200, 'the status page answers on the old address');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('status clients that connect and never speak, or ask and never read, are dropped; the page keeps answering', async (t) => {
  const { child, exited, get, ready, statusPort } = await startRun(t, 'idle');
  t.equal(await ready(), 200);
  const open = (): Promise<Socket> => new Promise((resolve, reject) => {
    const socket = connect(statusPort, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
  const idle = await Promise.all(Array.from({ length: 1000 }, open));
  const reader = await open();
  reader.pause(); // asks for /metrics over and over, reads nothing
  for (let i = 0; i < 2000; i++) reader.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
  const all = [...idle, reader];
  t.teardown(() => { for (const s of all) s.destroy(); });
  // the daemon's side, as `ss` shows it (a paused client would not notice its socket closed)
  const established = () => execFileSync('ss', ['-Htn', 'state', 'established', `sport = :${statusPort}`], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
  t.equal(await get(), 200, 'the page answers while 1,001 clients hold connections');
  t.ok(established() >= 1001, 'they are connected');
  for (let i = 0; i < 400 && established() > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(established(), 0, 'the daemon closed every one of them within 40 s');
  t.equal(await get(), 200);
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('descriptors run out while a probe: command check starts: a failed check with its reason, no crash', async (t) => {
  const text = (statusPort: number, state: string) => `status: {listen: "127.0.0.1:${statusPort}"}
state: {file: "${state}"}
farms:
  - name: c
    service: tcp
    virtual: {address: 192.0.2.23, ports: [22]}
    check: {probe: command, command: /bin/true, interval: 300ms, timeout: 250ms, rise: 1, fall: 1}
    backends:
      - {name: a, address: 127.0.0.1, port: 1}
`;
  const { child, exited, output, get, ready, statusPort } = await startRun(t, 'emfile', undefined, { text, nofile: 400 });
  t.equal(await ready(), 200);
  const state = async () => ((await fetch(`http://127.0.0.1:${statusPort}/status`).then((r) => r.json())) as { farms: { backends: { state: string }[] }[] }).farms[0]?.backends[0]?.state;
  for (let i = 0; i < 50 && (await state()) !== 'up'; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(await state(), 'up', '/bin/true passes while descriptors are there');
  // 450 held connections to the status page take every descriptor the daemon has left
  const held: Socket[] = [];
  t.teardown(() => { for (const s of held) s.destroy(); });
  for (let i = 0; i < 450; i++) {
    const socket = connect(statusPort, '127.0.0.1');
    socket.on('error', () => undefined);
    held.push(socket);
  }
  for (let i = 0; i < 100 && !/cannot run \/bin\/true: EMFILE/.test(output()); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(output(), /"line":"cannot run \/bin\/true: EMFILE"/, 'the check fails with the reason');
  t.match(output(), /"event":"transition".*"to":"down"/, 'and the backend is down');
  for (const s of held) s.destroy();
  for (let i = 0; i < 50 && (await get()) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  for (let i = 0; i < 50 && (await state()) !== 'up'; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(await state(), 'up', 'descriptors back: the check passes again');
  t.equal(child.exitCode, null, 'the daemon never stopped');
  t.notMatch(output(), /Unhandled 'error' event|spawn \/bin\/true EMFILE\n/, 'no crash');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('SIGHUP with a farms file of 100,000 stray brackets: refused at once, the page answers throughout', async (t) => {
  const { child, exited, output, get, ready, file } = await startRun(t, 'brackets-reload');
  t.equal(await ready(), 200);
  writeFileSync(file, `[${']'.repeat(100_000)}\n`);
  child.kill('SIGHUP');
  const started = performance.now();
  const answers: (number | string)[] = [];
  for (let i = 0; i < 10; i++) answers.push(await get());
  t.same(answers, Array(10).fill(200), 'ten /status requests answered right after the SIGHUP');
  await until('the refusal', () => (/reload-refused.*close nothing/.test(output()) ? true : undefined), 5000);
  t.ok(performance.now() - started < 5000, 'refused within seconds');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('a state file that is truncated, a FIFO or a directory: the daemon starts fresh and says why', async (t) => {
  const truncated = join(dir, 'truncated.json');
  writeFileSync(truncated, '{"version":1,"backends":{"t/a":{"state":"up"');
  const fifo = join(dir, 'state.fifo');
  execFileSync('mkfifo', [fifo]);
  const directory = mkdtempSync(join(dir, 'state-dir-'));
  const cases: [string, RegExp][] = [
    [truncated, /"event":"state-unreadable".*truncated\.json.*not JSON/],
    [fifo, /"event":"state-unreadable".*state\.fifo.*a FIFO, not a regular file/],
    [directory, /"event":"state-unreadable".*state-dir-\w+.*a directory, not a regular file/],
  ];
  for (const [state, expected] of cases) {
    const { child, output, exited, ready } = await startRun(t, 'state-case', state);
    t.equal(await ready(), 200, `${state}: the daemon started`);
    t.match(output(), expected, `${state}: the log says why nothing was restored`);
    child.kill('SIGTERM');
    t.equal(await exited, 0, `${state}: stops cleanly`);
  }
});

t.test('lbguard status and maintenance against an address that accepts and never answers: exit 1 with the reason', async (t) => {
  const silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { silent.close(); });
  const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
  const maintenance = await runCommand(process.execPath, [LBGUARD, 'maintenance', 'f', 'b', 'on', '--url', url], { timeoutMs: 20_000 });
  t.equal(maintenance.code, 1, 'maintenance: exit 1, not killed by the test');
  t.equal(maintenance.stderr, `lbguard: cannot reach ${url}: no answer within 5 s\n`);
  const status = await runCommand(process.execPath, [LBGUARD, 'status', '--url', url], { timeoutMs: 20_000 });
  t.equal(status.code, 1, 'status: exit 1');
  t.match(status.stderr, `lbguard: cannot read ${url}/status: `);
});

t.test('SIGHUP with a file whose data plane cannot be set up: refused whole, the running farms untouched', async (t) => {
  const { child, output, exited, ready, file, statusPort } = await startRun(t, 'adapter');
  t.equal(await ready(), 200);
  writeFileSync(file, `${farms(statusPort, join(dir, 'adapter-state.json'))}  - name: z
    service: tcp
    virtual: {address: 192.0.2.23, ports: [22]}
    dataplane: {type: zevenet, url: "https://127.0.0.1:1", key-file: ${join(dir, 'no-key')}, ca-file: ${join(dir, 'no-ca.pem')}}
    check: {probe: tcp, interval: 300ms, timeout: 250ms}
    backends:
      - {name: b, address: 127.0.0.1, port: 1}
`);
  child.kill('SIGHUP');
  for (let i = 0; i < 100 && !output().includes('reload-refused'); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(output(), /"event":"reload-refused".*cannot read the Zevenet ca-file .*no-ca\.pem: ENOENT/);
  const status = (await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json()) as { farms: { name: string }[] };
  t.same(status.farms.map((f) => f.name), ['t'], 'the status shows the last good configuration, which is the one running');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

// Any web page the operator's browser opens can send a form POST to 127.0.0.1 (no CORS preflight
// for it); the browser marks it with Origin. lbguard's CLI and curl send none; the page never POSTs.
t.test('a cross-site POST /maintenance from a browser is refused; the CLI still sets maintenance', async (t) => {
  const { child, exited, ready, statusPort } = await startRun(t, 'csrf');
  t.equal(await ready(), 200);
  const base = `http://127.0.0.1:${statusPort}`;
  const forged = await fetch(`${base}/maintenance?farm=t&backend=a&on=1`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' } });
  t.equal(forged.status, 403);
  t.equal(await forged.text(), 'cross-site request refused: use lbguard maintenance\n');
  const state = async () => ((await (await fetch(`${base}/status`)).json()) as { farms: { backends: { state: string }[] }[] }).farms[0]!.backends[0]!.state;
  t.not(await state(), 'maintenance', 'the backend was not put in maintenance');
  const cli = await runCommand(process.execPath, [LBGUARD, 'maintenance', 't', 'a', 'on', '--url', base], { timeoutMs: 10_000 });
  t.equal(cli.code, 0, cli.stderr);
  t.equal(await state(), 'maintenance');
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('a status address that cannot be listened on: refused before any check runs or any data plane is touched', async (t) => {
  const file = join(dir, 'unlistenable.yaml');
  writeFileSync(file, farms(9).replace('127.0.0.1:9', '192.0.2.1:9100')); // TEST-NET-1: not an address of this host
  const run = await runCommand(process.execPath, [LBGUARD, 'run', '-c', file], { timeoutMs: 10_000 });
  t.equal(run.code, 2);
  t.equal(run.stderr, 'lbguard: refusing to start: the status page cannot listen on 192.0.2.1:9100: EADDRNOTAVAIL\n');
  t.notMatch(run.stdout, /"event":"(started|dataplane-applied)"/, 'nothing was started');
});
