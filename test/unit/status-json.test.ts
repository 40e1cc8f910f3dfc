// /status written a slice of backends at a time: the same document as the whole snapshot, checks
// (timers) get turns while a large farm is written, a slow reader is waited for, a gone one ends it.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { Orchestrator } from '../../orchestrator/daemon.ts';
import { MemoryAdapter } from '../../orchestrator/dataplane/memory.ts';
import { writeStatusJson } from '../../orchestrator/status/status-json.ts';
import { pino } from 'pino';

const farm = (name: string, backends: number, extra: Record<string, unknown> = {}) => ({
  name,
  service: 'tcp',
  virtual: { address: '192.0.2.1', ports: [name.length + 7000] },
  check: { probe: 'tcp', interval: '2s', timeout: '500ms' },
  backends: Array.from({ length: backends }, (_, i) => ({ name: `${name}-${i}`, address: '127.0.0.1', port: 1, ...(i === 1 ? { 'max-conns': 9, maintenance: true } : {}) })),
  ...extra,
});

/** A reader that keeps what it is sent; `full` makes every write report a full buffer until drained. */
class Collector extends EventEmitter {
  text = '';
  writes = 0;
  destroyed = false;
  constructor(private readonly full = false) {
    super();
  }
  write(chunk: string): boolean {
    this.text += chunk;
    this.writes++;
    if (this.full) setTimeout(() => this.emit('drain'), 1);
    return !this.full;
  }
}

/**
 * Started (its backends' records exist from then on), its data plane settled, then stopped: nothing
 * changes while a test compares two documents.
 */
async function orchestrator(): Promise<Orchestrator> {
  const config = validateConfig({ farms: [farm('big', 1000), farm('small', 2, { dataplane: { type: 'userspace' } })] });
  const o = new Orchestrator(config, { logger: pino({ level: 'silent' }), adapterFor: () => new MemoryAdapter() });
  await o.start();
  await o.settle();
  await o.stop();
  return o;
}

t.test('the same document as the whole snapshot, in slices', async (t) => {
  const o = await orchestrator();
  const sink = new Collector();
  await writeStatusJson(sink, o.statusParts(), 100);
  const whole = JSON.parse(JSON.stringify(o.snapshot())) as ReturnType<Orchestrator['snapshot']>;
  const streamed = JSON.parse(sink.text) as typeof whole;
  t.strictSame({ ...streamed, at: whole.at }, whole);
  t.equal(whole.farms[1]!.dataplane.changesApplied, 1, 'a settled data plane: the documents hold something');
  t.same(Object.keys(streamed.farms[0]!), Object.keys(whole.farms[0]!), 'keys in the same order');
  t.equal(streamed.farms[0]!.backends.length, 1000);
  t.equal(streamed.farms[0]!.backends[1]!.state, 'maintenance');
  t.ok(sink.writes >= 10, `${sink.writes} writes for 1,002 backends at 100 a slice`);
});

t.test('the event loop turns while a large farm is written (checks are started in its turns)', async (t) => {
  const o = await orchestrator();
  let turns = 0;
  let spinning = true;
  const spin = () => {
    turns++;
    if (spinning) setImmediate(spin);
  };
  setImmediate(spin);
  const sink = new Collector();
  await writeStatusJson(sink, o.statusParts(), 50);
  spinning = false;
  // 1,002 backends at 50 a slice: 21 slices, a turn after each
  t.ok(turns >= 15, `${turns} turns of the loop during the write`);
});

t.test('a slow reader is waited for; a reader gone ends the write', async (t) => {
  const o = await orchestrator();
  const slow = new Collector(true);
  await writeStatusJson(slow, o.statusParts(), 100);
  t.equal(JSON.parse(slow.text).farms[0].backends.length, 1000, 'every backend, after each drain');
  const gone = new Collector();
  const written = writeStatusJson(gone, o.statusParts(), 100);
  gone.destroyed = true;
  await written;
  t.ok(gone.writes <= 1, `stopped after ${gone.writes} write(s)`);
});

t.test('a backend removed while the farm is written is left out, the rest stays valid JSON', async (t) => {
  const o = await orchestrator();
  const parts = o.statusParts();
  const big = parts.farms[0]!;
  const removed = new Set(['big-500', 'big-999']);
  const sink = new Collector();
  await writeStatusJson(sink, { ...parts, farms: [{ ...big, backend: (b) => (removed.has(b.name) ? undefined : big.backend(b)) }, parts.farms[1]!] }, 100);
  const names = (JSON.parse(sink.text) as { farms: { backends: { name: string }[] }[] }).farms[0]!.backends.map((b) => b.name);
  t.equal(names.length, 998);
  t.notOk(names.includes('big-500') || names.includes('big-999'));
});
