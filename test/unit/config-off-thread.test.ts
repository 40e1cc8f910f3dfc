// The farms file read in a worker thread (what a SIGHUP does): the same Config as in-line, the same
// problems, and the thread's bounds (time, heap) turned into refusals with their reason.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../../orchestrator/config/load.ts';
import { loadConfigOffThread } from '../../orchestrator/config/load-off-thread.ts';
import { loadValidConfig } from '../../orchestrator/config/semantics.ts';
import { ReloadQueue } from '../../orchestrator/reloads.ts';

const dir = mkdtempSync(join(tmpdir(), 'lbguard-off-thread-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** refusal's message, or 'loaded' */
const outcome = (promise: Promise<unknown>) => promise.then(() => 'loaded', (error: Error) => (error instanceof ConfigError ? error.message : `not a ConfigError: ${error.message}`));

// every kind of value a Config holds: defaults, durations turned into ms, port ranges into objects,
// option lists, optional keys absent
const RICH = `status: {listen: "127.0.0.1:9199"}
concurrency: 12
farms:
  - name: ftp
    service: ftp
    virtual: {address: 192.0.2.10, ports: [21, "42000-42100"]}
    scheduler: wrr
    persistence: {timeout: 300}
    dataplane: {type: userspace, passive-ports: "50000-50100", max-sessions: 100, idle-timeout: 5m, workers: 1}
    check: {probe: ftp, options: {expect: "220", timeout: 2}, interval: 2s, timeout: 1.5s, rise: 1, on-failure: quiesce}
    sorry: {address: 127.0.0.9, port: 2121}
    backends:
      - {name: a, address: 127.0.0.1, port: 2121, weight: 3, max-conns: 10}
      - {name: b, address: backend-b.example, maintenance: true}
  - name: files
    service: tftp
    virtual: {address: 192.0.2.11, ports: [69]}
    check: {probe: command, command: [/bin/true, "%ip%"], style: nanny, expect: OK, reentry: 10s}
    backends:
      - {name: t1, address: 127.0.0.1, port: 6969}
`;

t.test('the Config from the thread is the one read in-line, prototypes and all', async (t) => {
  const path = file('rich.yaml', RICH);
  const inline = loadValidConfig(path);
  const threaded = await loadConfigOffThread(path);
  t.strictSame(threaded, inline);
  t.equal(Object.getPrototypeOf(threaded.farms[0]!.virtual.ports![1]), Object.prototype, 'a port range is plain data');
});

t.test('problems come back as in-line: the first 50 listed, the count of all of them', async (t) => {
  const backends = Array.from({ length: 120 }, (_, i) => `      - {name: b${i}, address: 127.0.0.1, port: 70000}`).join('\n');
  const path = file('many.yaml', `farms:\n  - name: f\n    service: tcp\n    virtual: {address: 192.0.2.1, ports: [1]}\n    check: {probe: tcp}\n    backends:\n${backends}\n`);
  const inline = await outcome((async () => loadValidConfig(path))());
  const threaded = await outcome(loadConfigOffThread(path));
  t.equal(threaded, inline);
  t.match(threaded, /: 120 problem\(s\)\n {2}farms\[0\]\.backends\[0\]\.port: expected 1\.\.65535, got 70000\n/);
  t.match(threaded, /\n {2}\.\.\. and 70 more$/);
  t.equal(await outcome(loadConfigOffThread(join(dir, 'absent.yaml'))), `${join(dir, 'absent.yaml')}: 1 problem(s)\n  (file): cannot read: ENOENT`);
});

t.test('a thread past its time or its heap is terminated, the file refused with the reason', async (t) => {
  // 200,000 backends of one character each: seconds of parsing and far more than 32 MB of nodes
  const path = file('dense.yaml', `farms:\n${'- 1\n'.repeat(200_000)}`);
  const slow = await outcome(loadConfigOffThread(path, { timeoutMs: 200 }));
  t.equal(slow, `${path}: 1 problem(s)\n  (file): took longer than 0.2 s to read and validate; not loaded`);
  const big = await outcome(loadConfigOffThread(path, { heapMb: 32, timeoutMs: 60_000 }));
  t.equal(big, `${path}: 1 problem(s)\n  (file): needs more than the 32 MB of memory allowed to parse it; not loaded`);
  const stop = new AbortController();
  const stopped = outcome(loadConfigOffThread(path, { signal: stop.signal }));
  setTimeout(() => stop.abort(), 50);
  t.equal(await stopped, `${path}: 1 problem(s)\n  (file): not read: lbguard is stopping`);
});

t.test('SIGHUPs while the file is read: the read is superseded, the file read again, the last one applied', async (t) => {
  const applied: string[] = [];
  const events: string[] = [];
  let version = 0;
  const reads: ((value: string) => void)[] = [];
  const queue = new ReloadQueue<string>({
    read: () => {
      const read = `file ${++version}`;
      events.push(`read ${read}`);
      return new Promise((resolve) => reads.push(() => resolve(read)));
    },
    apply: (value) => applied.push(value),
    refuse: (error) => events.push(`refused ${error.message}`),
    superseded: () => events.push('superseded'),
  });
  queue.request();
  queue.request();
  queue.request(); // three SIGHUPs during the first read: one more read, not three
  reads.shift()!('');
  await new Promise((r) => setImmediate(r));
  t.same(events, ['read file 1', 'superseded', 'read file 2'], 'one read at a time; the first result dropped');
  reads.shift()!('');
  await queue.idle();
  t.same(applied, ['file 2'], 'the file as it was at the last SIGHUP');
  t.equal(reads.length, 0, 'no read left');
});
