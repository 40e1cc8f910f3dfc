// `lbguard run` takes its V8 heap settings by itself (started bare, as from a shell or a unit), says
// so in its log, and leaves those the operator gave on node's command line.
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort, ROOT, startDaemon, until } from '../helpers/processes.ts';

const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-heap-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let backend: Server;
t.before(async () => {
  backend = createServer((c) => c.on('error', () => undefined).end());
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
});
t.teardown(() => backend.close());

async function farmsFile(name: string): Promise<{ file: string; statusPort: number }> {
  const statusPort = await freePort();
  const file = join(dir, `${name}.yaml`);
  const port = (backend.address() as { port: number }).port;
  writeFileSync(file, JSON.stringify({
    status: { listen: `127.0.0.1:${statusPort}` },
    state: { file: join(dir, `${name}.state.json`) },
    farms: [{ name: 'tcp', service: 'tcp', virtual: { address: '192.0.2.1', ports: [80] }, dataplane: { type: 'none' }, check: { probe: 'tcp', interval: '200ms', timeout: '150ms' }, backends: [{ name: 'one', address: '127.0.0.1', port }] }],
  }));
  return { file, statusPort };
}

/** Runs the daemon until its backend is up, stops it, and returns the flags its log says it took. */
async function flagsTaken(t: Test, name: string, nodeArgs: string[], env: NodeJS.ProcessEnv = process.env): Promise<string[] | undefined> {
  const { file, statusPort } = await farmsFile(name);
  const daemon = startDaemon(process.execPath, [...nodeArgs, LBGUARD, 'run', '-c', file], { env });
  t.teardown(() => daemon.stop());
  await until(`${name}: backend up`, async () => {
    const status = (await (await fetch(`http://127.0.0.1:${statusPort}/status`)).json()) as { farms: { backends: { state: string }[] }[] };
    return status.farms[0]!.backends[0]!.state === 'up' || undefined;
  }, 15_000);
  await daemon.stop();
  t.equal(await daemon.exited, 0, `${name}: clean exit`);
  const logs = daemon.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event?: string; flags?: string[] });
  t.ok(logs.some((l) => l.event === 'started'), `${name}: started`);
  return logs.find((l) => l.event === 'v8-flags')?.flags;
}

t.test('started bare, it takes both settings and logs them', async (t) => {
  const { NODE_OPTIONS: _none, ...env } = process.env;
  t.same(await flagsTaken(t, 'bare', [], env), ['--semi-space-growth-factor=1', '--heap-growing-percent=100']);
});

t.test('one given to node is the operator\'s: only the other is taken', async (t) => {
  const { NODE_OPTIONS: _none, ...env } = process.env;
  t.same(await flagsTaken(t, 'one', ['--heap-growing-percent=50'], env), ['--semi-space-growth-factor=1']);
});

t.test('both on node\'s command line: none taken, nothing logged', async (t) => {
  const { NODE_OPTIONS: _none, ...env } = process.env;
  t.equal(await flagsTaken(t, 'argv', ['--semi-space-growth-factor=2', '--heap-growing-percent=0'], env), undefined);
});
