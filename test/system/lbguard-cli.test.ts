// `lbguard` as an operator runs it: check a farms file, run the daemon, read /status, /metrics and
// the status table, reload with SIGHUP (a broken file is refused, the last good one kept), stop
// with SIGTERM, and restart without flapping thanks to the persisted states.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { silent } from '../helpers/fake-servers.ts';
import { freePort, ROOT, runCommand, until } from '../helpers/processes.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-cli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let sshd: Sshd;
t.before(async () => {
  sshd = await startSshd();
});
t.teardown(async () => sshd?.stop());

function farmsFile(name: string, statusPort: number, backends: { name: string; port: number }[], extraFarm = ''): string {
  const file = join(dir, name);
  writeFileSync(file, `# test farms
status: {listen: "127.0.0.1:${statusPort}"}
state: {file: "${join(dir, `${name}.state.json`)}"}
farms:
  - name: sftp
    service: sftp
    virtual: {address: 192.0.2.22, ports: [22]}
    check: {probe: ssh, interval: 300ms, timeout: 250ms, rise: 2, fall: 2}
    backends:
${backends.map((b) => `      - {name: ${b.name}, address: 127.0.0.1, port: ${b.port}}`).join('\n')}
${extraFarm}`);
  return file;
}

function startLbguard(file: string) {
  const child = spawn(process.execPath, [LBGUARD, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited, logs: () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) };
}


interface Status { farms: { name: string; backends: { name: string; address: string; port: number; weight: number; state: string; last?: { line: string; ms: number }; recent: [number, number][] }[] }[] }
const status = async (port: number) => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status;

t.test('help: lbguard --help, lbguard help, lbguard run --help', async (t) => {
  for (const args of [['--help'], ['help'], ['-h'], ['run', '--help'], ['check', '-h']]) {
    const run = await runCommand(process.execPath, [LBGUARD, ...args]);
    t.equal(run.code, 0, args.join(' '));
    t.match(run.stdout, /^Usage: lbguard <command> \[options\]\n/);
  }
  const bad = await runCommand(process.execPath, [LBGUARD, 'run', '--bogus']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /Unknown option '--bogus'/);
});

t.test('lbguard check: OK, or every problem with its path, and exit 1', async (t) => {
  const good = farmsFile('good.yaml', 9, [{ name: 'a', port: sshd.port }]);
  const ok = await runCommand(process.execPath, [LBGUARD, 'check', '-c', good]);
  t.equal(ok.code, 0);
  t.equal(ok.stdout, `${good}: OK (1 farm(s), 1 backend(s))\n`);
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, readFileSync(good, 'utf8').replace(`port: ${sshd.port}`, 'port: 70000').replace('rise: 2', 'rise: 2, intreval: 1s'));
  const refused = await runCommand(process.execPath, [LBGUARD, 'check', '-c', bad]);
  t.equal(refused.code, 1);
  t.match(refused.stdout, `${bad}: 2 problem(s)`);
  t.match(refused.stdout, '  farms[0].backends[0].port: expected 1..65535, got 70000');
  t.match(refused.stdout, '  farms[0].check.intreval: unknown key');
  const run = await runCommand(process.execPath, [LBGUARD, 'run', '-c', bad], { timeoutMs: 10000 });
  t.equal(run.code, 2, 'run refuses to start on a bad file');
  t.match(run.stderr, /refusing to start: .*farms\[0\]\.backends\[0\]\.port: expected 1\.\.65535, got 70000/s);
});

t.test('run, status, metrics, reload, stop, restart without flapping', async (t) => {
  const statusPort = await freePort();
  const dead = await freePort();
  const file = farmsFile('farms.yaml', statusPort, [{ name: 'live', port: sshd.port }, { name: 'dead', port: dead }]);
  const first = startLbguard(file);
  t.teardown(() => first.child.kill('SIGKILL'));

  const settled = await until('states settled', async () => {
    const s = await status(statusPort);
    const states = s.farms[0]?.backends.map((b) => b.state);
    const checked = s.farms[0]?.backends.every((b) => b.last !== undefined);
    return checked && states?.join() === 'up,down' ? s : undefined;
  });
  const live = settled.farms[0]!.backends[0]!;
  t.same({ ...live, last: undefined, since: undefined, recent: undefined }, { name: 'live', address: '127.0.0.1', port: sshd.port, weight: 1, state: 'up', downMs: 0, last: undefined, since: undefined, recent: undefined });
  t.match(live.recent, [[Number, 1]], 'the last checks for the page\'s chart: [ms, passed]');
  t.match(live.last?.line, /^SSH OK - OpenSSH_/);
  t.type(live.last?.ms, 'number');
  t.match(settled.farms[0]!.backends[1]!.last?.line, /Connection refused/);

  const metrics = await (await fetch(`http://127.0.0.1:${statusPort}/metrics`)).text();
  t.match(metrics, 'lbguard_backend_up{farm="sftp",backend="live"} 1');
  t.match(metrics, 'lbguard_backend_up{farm="sftp",backend="dead"} 0');
  t.match(metrics, /lbguard_checks_total\{farm="sftp",result="ok"\} \d+/);
  const page = await (await fetch(`http://127.0.0.1:${statusPort}/`)).text();
  t.match(page, /<title>lbguard status<\/title>/);

  const table = await runCommand(process.execPath, [LBGUARD, 'status', '--url', `http://127.0.0.1:${statusPort}`]);
  t.equal(table.code, 0);
  t.match(table.stdout, /^FARM\s+BACKEND\s+ADDRESS\s+STATE\s+WEIGHT\s+LATENCY\s+LAST CHECK\n/);
  t.match(table.stdout, new RegExp(`sftp\\s+live\\s+127\\.0\\.0\\.1:${sshd.port}\\s+up\\s+1\\s+[\\d.]+ ms\\s+SSH OK - `));

  // a broken file on SIGHUP: refused, the daemon goes on with the last good configuration
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('rise: 2', 'rise: 0'));
  first.child.kill('SIGHUP');
  await until('reload refused', async () => (first.logs().some((l) => l.event === 'reload-refused') ? true : undefined));
  t.equal((await status(statusPort)).farms[0]!.backends.length, 2, 'still running the last good file');

  // a good file: a new farm appears, the unchanged backend keeps its state
  writeFileSync(file, good.replace('      - {name: dead', `      - {name: added, address: 127.0.0.1, port: ${sshd.port}}\n      - {name: dead`));
  first.child.kill('SIGHUP');
  const reloaded = await until('reloaded', async () => {
    const s = await status(statusPort);
    return s.farms[0]!.backends.length === 3 ? s : undefined;
  });
  t.equal(reloaded.farms[0]!.backends[0]!.state, 'up', 'unchanged backend kept its state across the reload');

  first.child.kill('SIGTERM');
  t.equal(await first.exited, 0, 'SIGTERM: clean exit');
  const saved = JSON.parse(readFileSync(join(dir, 'farms.yaml.state.json'), 'utf8')) as { backends: Record<string, { state: string }> };
  t.equal(saved.backends['sftp/live']?.state, 'up');

  // restart with the live backend now dead: it keeps serving on its persisted state until `fall` failures
  await sshd.kill();
  const second = startLbguard(file);
  try {
    const seen: string[] = [];
    await until('live goes down after fall failures', async () => {
      const state = (await status(statusPort)).farms[0]!.backends[0]!.state;
      if (seen.at(-1) !== state) seen.push(state);
      return state === 'down' ? true : undefined;
    });
    t.not(seen[0], 'down', `not pulled at start (seen: ${seen.join(' -> ')})`);
    const moves = second.logs().filter((l) => l.event === 'transition' && l.backend === 'live').map((l) => `${l.from}->${l.to}`);
    t.same(moves, ['up->falling', 'falling->down'], 'started from the persisted "up", then fall applied');
    second.child.kill('SIGTERM');
    t.equal(await second.exited, 0);
  } finally {
    second.child.kill('SIGKILL');
    await sshd.start();
  }
});

t.test('maintenance by hand through the CLI', async (t) => {
  const statusPort = await freePort();
  const file = farmsFile('maint.yaml', statusPort, [{ name: 'live', port: sshd.port }]);
  const daemon = startLbguard(file);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  await until('up', async () => ((await status(statusPort)).farms[0]!.backends[0]!.state === 'up' ? true : undefined));
  const url = `http://127.0.0.1:${statusPort}`;
  const on = await runCommand(process.execPath, [LBGUARD, 'maintenance', 'sftp', 'live', 'on', '--url', url]);
  t.equal(on.code, 0);
  t.same((await status(statusPort)).farms[0]!.backends[0]!.state, 'maintenance');
  t.same((await status(statusPort)).farms[0]!.backends[0]!.weight, 0);
  const unknown = await runCommand(process.execPath, [LBGUARD, 'maintenance', 'sftp', 'nope', 'on', '--url', url]);
  t.equal(unknown.code, 1);
  daemon.child.kill('SIGTERM');
  await daemon.exited;
});

t.test('a silent backend cannot stall the daemon: its check ends at the timeout', async (t) => {
  const statusPort = await freePort();
  const quiet = await silent();
  t.teardown(() => quiet.close());
  const file = farmsFile('silent.yaml', statusPort, [{ name: 'mute', port: quiet.port }, { name: 'live', port: sshd.port }]);
  const daemon = startLbguard(file);
  t.teardown(() => daemon.child.kill('SIGKILL'));
  let last: Status | undefined;
  t.teardown(() => { if (t.passing()) return; t.comment(JSON.stringify(last)); t.comment(daemon.output().slice(-2000)); });
  const s = await until('mute down, live up', async () => {
    const st = await status(statusPort);
    last = st;
    const checked = st.farms[0]!.backends.every((b) => b.last !== undefined);
    return checked && st.farms[0]!.backends.map((b) => b.state).join() === 'down,up' ? st : undefined;
  });
  t.equal(s.farms[0]!.backends[0]!.last?.line, 'SSH CRITICAL - Socket timeout after 0.25 seconds while waiting for the server identification');
  daemon.child.kill('SIGTERM');
  t.equal(await daemon.exited, 0);
});
