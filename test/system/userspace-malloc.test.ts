// The userspace balancer as an operator starts it from a shell: `lbguard run` of the built bundle
// with no GLIBC_TUNABLES or MALLOC_* in its environment. Its relay allocates and frees 64 KiB read
// buffers all the time; with glibc's default trim threshold the heap was given back and faulted in
// again at almost every read (this test measured 150,000 minor faults per GiB without the fix; an
// iperf3 stream 125,000-165,000, and twice the CPU). The data plane now raises the threshold itself
// (lvs-adapters/userspace/malloc.ts): 512 MiB through it must cost fewer than 80,000 faults per GiB
// (measured 1,600-6,200), bytes intact.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort, ROOT } from '../helpers/processes.ts';

const MiB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'lbguard-malloc-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function minorFaults(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[7]);
}

/** Sends `bytes` of a repeating pattern through the balancer; resolves with what the sink received and whether it matched. */
function stream(port: number, bytes: number, sink: { received: number; intact: boolean; done?: () => void }): Promise<void> {
  const pattern = Buffer.alloc(64 * 1024, 'lbguard ');
  sink.received = 0;
  sink.intact = true;
  return new Promise((resolve, reject) => {
    sink.done = resolve;
    const client = connect({ host: '127.0.0.1', port });
    client.on('error', reject);
    let sent = 0;
    const more = () => {
      while (sent < bytes) {
        sent += pattern.length;
        if (!client.write(pattern)) return void client.once('drain', more);
      }
      client.end();
    };
    client.once('connect', more);
  });
}

t.test('512 MiB through lbguard run started with no malloc setting: few page faults, bytes intact', async (t) => {
  const sink = { received: 0, intact: true, done: undefined as (() => void) | undefined };
  const expected = Buffer.alloc(64 * 1024, 'lbguard ');
  const server: Server = createServer((socket) => {
    let offset = 0;
    // the health check's connections carry nothing and end with a reset: only the stream's end counts
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      // the stream is the pattern over and over: compare each chunk where it falls in it
      for (let i = 0; i < chunk.length; i += 4096) {
        const start = (offset + i) % expected.length;
        const length = Math.min(4096, chunk.length - i, expected.length - start);
        if (!chunk.subarray(i, i + length).equals(expected.subarray(start, start + length))) sink.intact = false;
      }
      offset += chunk.length;
      sink.received += chunk.length;
    });
    socket.on('end', () => {
      socket.end();
      if (offset > 0) sink.done?.();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const sinkPort = (server.address() as { port: number }).port;
  const [port, statusPort] = [await freePort(), await freePort()];
  const file = join(dir, 'farms.json');
  writeFileSync(file, JSON.stringify({
    status: { listen: `127.0.0.1:${statusPort}` },
    farms: [{
      name: 'bulk', service: 'tcp', virtual: { address: '127.0.0.1', ports: [port] }, dataplane: { type: 'userspace' },
      check: { probe: 'tcp', interval: '500ms', timeout: '400ms', rise: 1, fall: 1 },
      backends: [{ name: 'sink', address: '127.0.0.1', port: sinkPort }],
    }],
  }));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'GLIBC_TUNABLES' && !name.startsWith('MALLOC_')));
  const daemon: ChildProcess = spawn(process.execPath, [join(ROOT, 'dist', 'lbguard.mjs'), 'run', '-c', file], { stdio: ['ignore', 'pipe', 'inherit'], env });
  t.teardown(() => {
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lbguard run did not add the backend within 20 s: ${log}`)), 20_000);
    daemon.stdout!.on('data', (d: Buffer) => {
      log += d;
      if (log.includes('"kind":"add-server"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  t.notMatch(readFileSync(`/proc/${daemon.pid}/environ`, 'utf8'), /(^|\0)(GLIBC_TUNABLES|MALLOC_)/, 'no malloc setting in its environment');

  // a first stream warms the JIT and the heap; the second is counted
  await stream(port, 64 * MiB, sink);
  const before = minorFaults(daemon.pid!);
  await stream(port, 512 * MiB, sink);
  const faults = minorFaults(daemon.pid!) - before;
  t.equal(sink.received, 512 * MiB, 'every byte arrived');
  t.ok(sink.intact, 'in order and unchanged');
  const perGiB = Math.round((faults * 1024) / 512);
  t.ok(perGiB < 80_000, `${perGiB} minor page faults per GiB streamed (below 80,000; 125,000+ when glibc trims at every read)`);

  daemon.kill('SIGTERM');
  const code = await new Promise((resolve) => daemon.once('exit', resolve));
  t.equal(code, 0, 'stops cleanly at SIGTERM');
});
