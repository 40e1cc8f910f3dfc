// The userspace balancer's plain TCP path with real OpenSSH servers and clients: ssh and sftp through
// the virtual service. Each session prints $SSH_CONNECTION, whose last field is the port of the sshd
// that served it. Also: wlc with unequal weights, a removed server's open session runs on, and
// max-sessions refuses the session beyond the bound.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { UserspaceAdapter } from '../../lvs-adapters/userspace/adapter.ts';
import type { VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { freePort, refusingPort, requireBinary, runCommand } from '../helpers/processes.ts';
import { type Sshd, startSshd } from '../helpers/sshd.ts';

const VIP = '127.0.0.2';
const ssh = requireBinary('/usr/bin/ssh', 'openssh-client');
const sftp = requireBinary('/usr/bin/sftp', 'openssh-client');
let backends: Sshd[] = [];
let adapter: UserspaceAdapter;
let port: number;
let service: VirtualServiceSpec;

t.before(async () => {
  backends = await Promise.all([startSshd(), startSshd()]);
  port = await freePort();
  adapter = new UserspaceAdapter({ type: 'userspace', 'max-sessions': 3 });
  service = { farm: 'sftp', service: 'sftp', protocol: 'tcp', address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service, servers: backends.map((b, i) => ({ name: `sftp-${i + 1}`, address: '127.0.0.1', port: b.port, weight: 1 })) } }]);
});
t.teardown(async () => {
  await adapter?.close();
  await Promise.all(backends.map((b) => b.stop()));
});

const sshArgs = () => ['-i', backends[0]!.userKeyPath, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-p', String(port)];
/** both servers accept the first server's user key */
const identity = () => writeFileSync(join(backends[1]!.dir, 'authorized_keys'), readFileSync(`${backends[0]!.userKeyPath}.pub`));

/** The port of the sshd that served one ssh session through the balancer. */
async function served(): Promise<number> {
  const run = await runCommand(ssh, [...sshArgs(), `${backends[0]!.user}@${VIP}`, 'echo $SSH_CONNECTION'], { timeoutMs: 20_000 });
  if (run.code !== 0) throw new Error(`ssh failed: ${run.stderr}`);
  return Number(run.stdout.trim().split(' ')[3]);
}

t.test('ssh through the balancer: round robin, then wrr with weights 1:3', async (t) => {
  identity();
  const ports = [await served(), await served(), await served(), await served()];
  t.same(ports, [backends[0]!.port, backends[1]!.port, backends[0]!.port, backends[1]!.port]);
  await adapter.apply([{ kind: 'update-farm', service: { ...service, scheduler: 'wrr' } }, { kind: 'update-server', farm: 'sftp', server: { name: 'sftp-2', address: '127.0.0.1', port: backends[1]!.port, weight: 3 } }]);
  const weighted = [await served(), await served(), await served(), await served()];
  t.equal(weighted.filter((p) => p === backends[1]!.port).length, 3, 'wrr 1:3');
});

t.test('sftp through the balancer; a removed server keeps its open session; max-sessions bounds them', async (t) => {
  // a long-running session (sftp reading commands from a pipe we hold open)
  const long = spawn(sftp, ['-b', '-', ...sshArgs().map((a) => (a === '-p' ? '-P' : a)), `${backends[0]!.user}@${VIP}`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  long.stdout.on('data', (d) => (output += d));
  long.stdin.write('pwd\n');
  for (let i = 0; i < 100 && !/Remote working directory/.test(output); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(output, /Remote working directory/);
  const busy = adapter.counters().find((c) => c.activeSessions === 1)!;
  t.ok(busy, 'one session open');
  await adapter.apply([{ kind: 'remove-server', farm: 'sftp', server: { name: busy.backend, address: '127.0.0.1', port: 0, weight: 1 } }]);
  const other = busy.backend === 'sftp-1' ? backends[1]!.port : backends[0]!.port;
  t.same([await served(), await served()], [other, other], 'new sessions go to the remaining server');
  long.stdin.write('ls -1 /\nquit\n');
  const code = await new Promise<number | null>((resolve) => long.once('exit', resolve));
  t.equal(code, 0, 'the open session on the removed server completed');
  t.match(output, /etc/);

  const held = Array.from({ length: 3 }, () => spawn(ssh, [...sshArgs(), `${backends[0]!.user}@${VIP}`, 'sleep 5'], { stdio: 'ignore' }));
  for (let i = 0; i < 50 && (adapter.counters().reduce((n, c) => n + (c.activeSessions ?? 0), 0) < 3); i++) await new Promise((r) => setTimeout(r, 100));
  const refused = await runCommand(ssh, [...sshArgs(), `${backends[0]!.user}@${VIP}`, 'true'], { timeoutMs: 20_000 });
  t.not(refused.code, 0, 'the fourth session is refused');
  t.ok((adapter.counters().find((c) => c.errorKind === 'max-sessions')?.errors ?? 0) >= 1, 'refusal counted');
  await Promise.all(held.map((child) => new Promise((resolve) => { child.once('exit', resolve); child.kill(); })));
});

t.test('TCP half-close passes through: the client ends its side, the backend answers after reading to the end', async (t) => {
  const { createServer, connect } = await import('node:net');
  const backend = createServer({ allowHalfOpen: true }, (socket) => {
    let got = 0;
    socket.on('data', (d: Buffer) => (got += d.length));
    socket.on('end', () => socket.end(`read ${got} bytes`));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => backend.close());
  // an adapter of its own: the shared one's max-sessions (3, for the refusal test) may still count
  // sessions of the earlier tests whose close has not been seen yet on a loaded machine
  const adapter = new UserspaceAdapter({ type: 'userspace' });
  t.teardown(() => adapter.close());
  const vport = await freePort();
  const spec: VirtualServiceSpec = { farm: 'half', service: 'tcp', protocol: 'tcp', address: VIP, ports: [{ from: vport, to: vport }], scheduler: 'rr' };
  const address = backend.address();
  await adapter.apply([{ kind: 'add-farm', farm: { service: spec, servers: [{ name: 'h', address: '127.0.0.1', port: typeof address === 'object' && address ? address.port : 0, weight: 1 }] } }]);
  const answer = await new Promise<string>((resolve, reject) => {
    const client = connect({ port: vport, host: VIP, allowHalfOpen: true });
    let text = '';
    client.on('data', (d) => (text += d));
    client.on('end', () => resolve(text));
    client.on('error', reject);
    client.end(Buffer.alloc(5 << 20, 7)); // 5 MiB, then half-close
  });
  t.equal(answer, `read ${5 << 20} bytes`);
  await adapter.apply([{ kind: 'remove-farm', farm: 'half' }]);
});

t.test('byte counters move while a long transfer runs, not only when it ends', async (t) => {
  const { createServer, connect } = await import('node:net');
  const backend = createServer((socket) => socket.on('data', () => undefined).on('error', () => undefined));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => backend.close());
  const adapter = new UserspaceAdapter({ type: 'userspace' });
  t.teardown(() => adapter.close());
  const vport = await freePort();
  const address = backend.address();
  const spec: VirtualServiceSpec = { farm: 'stream', service: 'tcp', protocol: 'tcp', address: VIP, ports: [{ from: vport, to: vport }], scheduler: 'rr' };
  await adapter.apply([{ kind: 'add-farm', farm: { service: spec, servers: [{ name: 's', address: '127.0.0.1', port: typeof address === 'object' && address ? address.port : 0, weight: 1 }] } }]);
  const client = connect({ port: vport, host: VIP });
  t.teardown(() => client.destroy());
  await new Promise((resolve) => client.once('connect', resolve));
  client.write(Buffer.alloc(1 << 20, 1));
  const bytesIn = () => adapter.counters().find((c) => c.backend === 's')?.bytesIn ?? 0;
  for (let i = 0; i < 40 && bytesIn() < 1 << 20; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(bytesIn(), 1 << 20, 'the 1 MiB sent so far is counted while the connection is still open');
  t.equal(adapter.counters().find((c) => c.backend === 's')?.activeSessions, 1, 'and the session is still open');
  client.end(Buffer.alloc(1000, 2));
  for (let i = 0; i < 40 && (adapter.counters().find((c) => c.backend === 's')?.activeSessions ?? 1) > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(bytesIn(), (1 << 20) + 1000, 'at the end: every byte once, none counted twice');
});

t.test('max-conns: a full backend gets no new connections, a full farm refuses, a closed one frees a place', async (t) => {
  const { createServer, connect } = await import('node:net');
  /** a backend that greets each connection with its name and holds it open */
  const greeter = async (name: string) => {
    const accepted = new Set<import('node:net').Socket>();
    const server = createServer((socket) => {
      accepted.add(socket);
      socket.on('error', () => undefined);
      socket.write(`${name}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    t.teardown(() => {
      server.close();
      for (const socket of accepted) socket.destroy();
    });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  };
  const [portA, portB] = [await greeter('A'), await greeter('B')];
  const adapter = new UserspaceAdapter({ type: 'userspace' });
  t.teardown(() => adapter.close());
  const vport = await freePort();
  // wrr 100:1 sends everything to A while it takes connections
  const spec: VirtualServiceSpec = { farm: 'limited', service: 'tcp', protocol: 'tcp', address: VIP, ports: [{ from: vport, to: vport }], scheduler: 'wrr' };
  const serverA = { name: 'A', address: '127.0.0.1', port: portA, weight: 100, maxConnections: 2 };
  const serverB = { name: 'B', address: '127.0.0.1', port: portB, weight: 1, maxConnections: 2 };
  await adapter.apply([{ kind: 'add-farm', farm: { service: spec, servers: [serverA, serverB] } }]);
  t.same((await adapter.observe())[0]?.servers, [serverA, serverB], 'observe() reports the limits as applied');

  const open: import('node:net').Socket[] = [];
  t.teardown(() => open.forEach((s) => s.destroy()));
  /** connects through the balancer and holds the connection: the greeting, or 'closed' */
  const hold = () => new Promise<string>((resolve) => {
    const socket = connect({ port: vport, host: VIP });
    open.push(socket);
    socket.setEncoding('utf8');
    socket.once('data', (d: string) => resolve(d.trim()));
    socket.once('close', () => resolve('closed'));
    socket.once('error', () => undefined);
  });
  t.same([await hold(), await hold(), await hold(), await hold()], ['A', 'A', 'B', 'B'], 'the 3rd and 4th land on B');
  t.equal(await hold(), 'closed', 'both full: the 5th is closed without a greeting');
  t.equal(adapter.counters().find((c) => c.errorKind === 'over-limit')?.errors, 1, 'refusal counted as over-limit');
  t.same(adapter.counters().filter((c) => c.backend).map((c) => [c.backend, c.activeSessions]), [['A', 2], ['B', 2]], 'the open connections are untouched');

  const freed = open[0]!;
  await new Promise((resolve) => freed.once('close', resolve).end());
  for (let i = 0; i < 50 && adapter.pool('limited')!.all()[0]!.active > 1; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(await hold(), 'A', 'one closed on A: a new connection is accepted there again');

  await adapter.apply([{ kind: 'update-server', farm: 'limited', server: { name: 'B', address: '127.0.0.1', port: portB, weight: 1 } }]);
  t.same((await adapter.observe())[0]?.servers.map((s) => s.maxConnections), [2, undefined], 'update without max-conns: no limit reported');
  t.same([await hold(), await hold()], ['B', 'B'], 'and none applied');
});

t.test('a refused backend connect closes the client and is counted; a silent connection ends at idle-timeout, a busy one runs on', async (t) => {
  const { createServer, connect } = await import('node:net');
  const silent = createServer((socket) => socket.on('error', () => undefined).on('data', () => undefined));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => silent.close());
  const address = silent.address();
  const silentPort = typeof address === 'object' && address ? address.port : 0;
  const adapter = new UserspaceAdapter({ type: 'userspace', 'idle-timeout': 1000 });
  t.teardown(() => adapter.close());
  // held bound and never listening: a freePort could be taken by another process before the connect
  const refused = await refusingPort();
  t.teardown(() => refused.release());
  const refusedPort = refused.port;
  const [vport, vport2] = [await freePort(), await freePort()];
  const farm = (name: string, port: number, target: number) => ({ service: { farm: name, service: 'tcp' as const, protocol: 'tcp' as const, address: VIP, ports: [{ from: port, to: port }], scheduler: 'rr' }, servers: [{ name: `${name}-be`, address: '127.0.0.1', port: target, weight: 1 }] });
  await adapter.apply([{ kind: 'add-farm', farm: farm('refused', vport, refusedPort) }, { kind: 'add-farm', farm: farm('idle', vport2, silentPort) }]);

  const closedAfter = (port: number, keepBusyMs = 0) => new Promise<number>((resolve) => {
    const started = Date.now();
    const socket = connect({ port, host: VIP });
    socket.on('error', () => undefined);
    const busy = keepBusyMs ? setInterval(() => socket.write('x'), 300) : undefined;
    if (busy) setTimeout(() => clearInterval(busy), keepBusyMs);
    socket.once('close', () => {
      clearInterval(busy);
      resolve(Date.now() - started);
    });
  });
  await closedAfter(vport);
  t.equal(adapter.counters().find((c) => c.backend === 'refused-be')?.errors, 1, 'the refused connect is counted on its backend');
  t.ok(await closedAfter(vport2) >= 1000, 'a silent connection is closed, not before idle-timeout');
  t.ok(await closedAfter(vport2, 3000) >= 3000, 'a connection sending every 300 ms is kept while it does');
  for (let i = 0; i < 50 && adapter.counters().some((c) => c.activeSessions); i++) await new Promise((r) => setTimeout(r, 20));
  t.same(adapter.counters().filter((c) => c.activeSessions).map((c) => c.backend), [], 'no session left open');
});
