// The TCP relay reads each connection into one buffer of its own (tcp-relay.ts): a read's bytes are
// written from that buffer, and while a write goes on after its call the connection must not read
// (the next read would land on bytes not yet written). These tests move bytes through the relay on
// loopback with slow readers (writes that go on later) and compare digests. Also the client side
// while its server is being connected to (a server that never accepts): its bytes and its end wait,
// and its reset gives the connect up.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import type { VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { freePort } from '../helpers/processes.ts';

const VIP = '127.0.0.1';
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

/**
 * reads a socket to its end, first after 300 ms and then pausing 2 ms every 64 KiB or so: the
 * kernel's buffers fill (loopback's hold several MiB) and the relay's writes go on after its calls
 */
function slowRead(socket: Socket): Promise<Buffer> {
  socket.pause();
  setTimeout(() => socket.resume(), 300);
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let since = 0;
    socket.on('data', (chunk: Buffer) => {
      parts.push(chunk);
      since += chunk.length;
      if (since < 65_536) return;
      since = 0;
      socket.pause();
      setTimeout(() => socket.resume(), 2);
    });
    socket.once('end', () => resolve(Buffer.concat(parts)));
    socket.once('error', reject);
  });
}

async function balancer(t: Test, servers: { name: string; port: number }[], settings: Record<string, unknown> = {}): Promise<number> {
  const adapter = new UserspaceAdapter({ type: 'userspace', ...settings } as never);
  t.teardown(() => adapter.close());
  const port = await freePort();
  const service: VirtualServiceSpec = { farm: 'f', service: 'tcp', protocol: 'tcp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: servers.map((s) => ({ ...s, address: '127.0.0.1', weight: 1 })) } }]);
  return port;
}

/**
 * A server that never accepts: a node process listening with a backlog of 1 (Node takes 0 for its
 * default, 511), its loop blocked. Two connections fill its queue; after that the kernel drops SYNs
 * and a connect hangs.
 */
async function neverAccepts(t: Test): Promise<number> {
  const code = `const s=require('net').createServer().listen({port:0,host:'127.0.0.1',backlog:1},()=>{console.log(s.address().port);setTimeout(()=>Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0),20)})`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  await sleep(100);
  // fill the accept queue (and more, in case the kernel keeps one more)
  for (let i = 0; i < 4; i++) {
    const filler = connect(port, '127.0.0.1');
    filler.on('error', () => undefined);
    t.teardown(() => filler.destroy());
  }
  await sleep(100);
  return port;
}

t.test('4 sessions at once, 12 MiB each way, slow readers at both ends: every byte intact both ways', async (t) => {
  const answers = new Map<string, Buffer>();
  // the server reads the request slowly, then answers with 2 MiB of its own (named by the request's digest)
  const backend = createServer({ allowHalfOpen: true }, (socket) => {
    void slowRead(socket).then((request) => {
      const answer = randomBytes(12 << 20);
      answers.set(sha(request), answer);
      socket.end(answer);
    });
  });
  const backendPort = await listening(backend);
  t.teardown(() => backend.close());
  const port = await balancer(t, [{ name: 'be', port: backendPort }]);
  const results = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const request = randomBytes(12 << 20);
      const client = connect({ port, host: VIP, allowHalfOpen: true });
      client.end(request);
      const answer = await slowRead(client);
      return { request: sha(request), answer: sha(answer), length: answer.length };
    }),
  );
  t.equal(answers.size, 4, 'the server got 4 requests, each intact (their digests are the keys)');
  t.ok(results.every((r) => answers.has(r.request)), 'each request arrived with the digest it was sent with');
  t.same(results.map((r) => answers.has(r.request) && r.answer === sha(answers.get(r.request)!)), Array(4).fill(true), 'each answer arrived intact');
});

t.test('a client sends 200 KiB and ends while its server is being connected to: the next server gets every byte, then the end', async (t) => {
  const silent = await neverAccepts(t);
  let got: Buffer | undefined;
  const backend = createServer({ allowHalfOpen: true }, (socket) => {
    void slowRead(socket).then((request) => {
      got = request;
      socket.end(`got ${request.length}`);
    });
  });
  const backendPort = await listening(backend);
  t.teardown(() => backend.close());
  // rr: the first session goes to the silent server first, and after 300 ms to the other
  const port = await balancer(t, [{ name: 'silent', port: silent }, { name: 'be', port: backendPort }], { 'connect-timeout': 300, retries: 1 });
  const request = randomBytes(200 << 10);
  const client = connect({ port, host: VIP, allowHalfOpen: true });
  client.end(request);
  const answer = await slowRead(client);
  t.equal(answer.toString(), `got ${request.length}`, 'the answer came after the whole request and its end');
  t.equal(got && sha(got), sha(request), 'the bytes sent while the server was being connected to are intact');
});

// 100 ms: a reset that comes before the balancer accepted the connection is not a reset to it: Linux
// hands the accepted socket's bytes and then an EOF (a half-close, whose server is still dialed)
t.test('a client that resets 100 ms after its first bytes, while its server is being connected to, gives the connect up at once', async (t) => {
  const silent = await neverAccepts(t);
  const adapter = new UserspaceAdapter({ type: 'userspace', 'connect-timeout': 5000, retries: 0 } as never);
  t.teardown(() => adapter.close());
  const port = await freePort();
  const service: VirtualServiceSpec = { farm: 'f', service: 'tcp', protocol: 'tcp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: [{ name: 'silent', address: '127.0.0.1', port: silent, weight: 1 }] } }]);
  const active = () => adapter.counters().find((c) => c.backend === 'silent')?.activeSessions ?? 0;
  const client = connect({ port, host: VIP });
  await new Promise((resolve) => client.once('connect', resolve));
  client.write('hello');
  for (let i = 0; i < 50 && active() === 0; i++) await sleep(10);
  t.equal(active(), 1, 'the session waits for its server');
  await sleep(100);
  const reset = performance.now();
  client.resetAndDestroy();
  for (let i = 0; i < 200 && active() > 0; i++) await sleep(10);
  t.equal(active(), 0, 'the session is gone');
  t.ok(performance.now() - reset < 2000, `within ${Math.round(performance.now() - reset)} ms of the reset, long before the 5 s connect timeout`);
});

t.test('one listening port, two holders in turn: each gets the connections as handles, and a plain socket reads from one', async (t) => {
  const { listenTcp, plainSocket } = await import('../../lvs-adapters/userspace/listeners.ts');
  const port = await freePort();
  const seen: string[] = [];
  const holder = (name: string) => (handle: { readStart?: unknown; close(): void }) => {
    seen.push(`${name}:${typeof handle.readStart === 'function' ? 'TCP handle' : 'something else'}`);
    if (name === 'first') return handle.close();
    const socket = plainSocket(handle as never);
    seen.push(`${name}:half-open ${socket.allowHalfOpen}`);
    socket.once('data', (d: Buffer) => {
      seen.push(`${name} read ${d.toString()}`);
      socket.destroy();
    });
  };
  const send = async () => {
    const client = connect(port, VIP);
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('connect', resolve));
    client.write('hello');
    await new Promise((resolve) => client.once('close', resolve));
  };
  const first = await listenTcp(VIP, port, holder('first'));
  await send();
  const second = await listenTcp(VIP, port, holder('second'));
  await send();
  await Promise.all([first.close(), second.close()]);
  t.same(seen, ['first:TCP handle', 'second:TCP handle', 'second:half-open true', 'second read hello']);
});
