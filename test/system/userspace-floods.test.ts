// Floods against `lbguard run` (the built daemon) with the userspace data plane, under a descriptor
// limit of 1024 as `ulimit -n` sets it: a flood on one farm is refused beyond that farm's share, the
// other farms keep serving, no healthy backend is marked down, the status page answers and the state
// file is saved. Backends: a tftpd-hpa for each TFTP farm, a TCP echo server for a TCP farm. The
// flooded farm's own backend carries the sessions of the farm's share: tftpd-hpa forks a process per
// request and may answer its checks late while they run, which is its capacity, not lbguard's; the
// assertions are about the other farms. The TFTP flood comes from scripts/flood.ts in a process of
// its own.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort, requireBinary, ROOT, runCommand, until } from '../helpers/processes.ts';
import { freeUdpPorts, startTftpdHpa, TFTP_CLIENT, type TftpServerDir } from '../helpers/tftp-daemons.ts';

const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');
const VIP = '127.0.0.2';
const NOFILE = 1024;
const tftp = requireBinary(TFTP_CLIENT, 'tftp-hpa');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-floods-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** 2 MiB: 4,096 blocks of 512, each waiting on its ACK */
const BIG = Buffer.from(Array.from({ length: 2 << 20 }, (_, i) => (i * 131 + (i >> 9)) & 255));

let backend: TftpServerDir;
let flooded: TftpServerDir;
const echo = createServer((socket) => {
  socket.on('error', () => undefined);
  socket.pipe(socket);
});
let out = '';
let statusPort = 0;
let daemonPid = 0;
const ports = { a: 0, b: 0, c: 0 };

t.before(async () => {
  backend = await startTftpdHpa({ 'who.txt': 'tftp\n', 'big.bin': BIG });
  flooded = await startTftpdHpa({ 'who.txt': 'tftp\n' });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as { port: number }).port;
  // the two TFTP farms' ports held at once, so that they differ (the file would be refused)
  [statusPort, ports.c] = [await freePort(), await freePort()];
  [ports.a, ports.b] = (await freeUdpPorts(2, VIP)) as [number, number];
  const farms = `status: {listen: "127.0.0.1:${statusPort}"}
state: {file: "${join(dir, 'state.json')}"}
farms:
${tftpFarm('tftp-a', ports.a, flooded.port)}${tftpFarm('tftp-b', ports.b, backend.port)}  - name: tcp-c
    service: tcp
    virtual: {address: ${VIP}, ports: [${ports.c}]}
    dataplane: {type: userspace}
    check: {probe: tcp, interval: 2s, timeout: 1500ms, rise: 1, fall: 3}
    backends: [{name: echo, address: 127.0.0.1, port: ${echoPort}}]
`;
  const file = join(dir, 'farms.yaml');
  writeFileSync(file, farms);
  const child = spawn('bash', ['-c', `ulimit -n ${NOFILE} && exec "$0" "$@"`, process.execPath, LBGUARD, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  t.teardown(() => { child.kill('SIGKILL'); });
  daemonPid = child.pid!;
  // 30 s: at a load of 7-8 (the suite's other files) the first TFTP checks, 1.5 s each, time out
  await until('every backend up', async () => ((await status()).every((b) => b === 'up') ? true : undefined), 30_000).catch((error: Error) => {
    throw new Error(`${error.message}; the daemon said: ${out.slice(-2000)}`);
  });
});
t.teardown(async () => {
  echo.close();
  await backend?.stop();
  await flooded?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tftpFarm = (name: string, port: number, backendPort: number) => `  - name: ${name}
    service: tftp
    virtual: {address: ${VIP}, ports: [${port}]}
    dataplane: {type: userspace}
    check: {probe: tftp, options: {file: who.txt}, interval: 2s, timeout: 1500ms, rise: 1, fall: 3}
    backends: [{name: t1, address: 127.0.0.1, port: ${backendPort}}]
`;

async function status(): Promise<string[]> {
  const body = (await fetch(`http://127.0.0.1:${statusPort}/status`, { signal: AbortSignal.timeout(2000) }).then((r) => r.json())) as { farms: { backends: { state: string }[] }[] };
  return body.farms.flatMap((f) => f.backends.map((b) => b.state));
}
const metric = async (pattern: RegExp) => {
  const text = await fetch(`http://127.0.0.1:${statusPort}/metrics`).then((r) => r.text());
  return Number(pattern.exec(text)?.[1] ?? 0);
};
const refused = (farm: string) =>
  metric(new RegExp(`lbguard_dataplane_traffic_errors_total\\{farm="${farm}",backend="",kind="(?:farm-share|client-limit|descriptors|max-sessions)"\\} (\\d+)`));
/** who.txt through a farm, with tftp-hpa (its own retries; on a loaded machine two tries) */
async function tftpGet(port: number): Promise<string> {
  let answer = '';
  for (let i = 0; i < 2 && answer !== 'tftp'; i++) {
    const target = join(dir, `got-${port}-${Math.random()}`);
    const run = await runCommand(tftp, ['-m', 'binary', VIP, String(port), '-c', 'get', 'who.txt', target], { timeoutMs: 30_000 });
    const got = run.code === 0 ? readFileSync(target, 'utf8').trim() : '';
    answer = got || `failed (exit ${run.code}): ${run.stdout}${run.stderr}`;
  }
  return answer;
}
async function echoThrough(): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: VIP, port: ports.c }, () => socket.end('ping'));
    let got = '';
    socket.on('data', (d) => (got += d));
    socket.on('close', () => resolve(got || 'nothing'));
    socket.on('error', (e) => resolve(`failed: ${e.message}`));
    socket.setTimeout(5000, () => socket.destroy());
  });
}
/** What an operator checks after a flood: the other farms' backends up and never down, the state saved. */
async function stillHealthy(t: Test, flooded: string, since: number) {
  const log = out.slice(since);
  const farms = ['tftp-a', 'tftp-b', 'tcp-c'];
  const states = await status();
  t.same(farms.map((f, i) => (f === flooded ? 'up' : states[i])), ['up', 'up', 'up'], 'the other farms\' backends up');
  t.same(log.split('\n').filter((l) => /"to":"down"/.test(l) && !l.includes(`"farm":"${flooded}"`)), [], 'none of them was marked down');
  t.notMatch(log, /state-save-failed|EMFILE/, 'the state file saved, no descriptor error in the log');
  t.same(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')).version, 1, 'state file written');
}

t.test('the start-up line states the descriptor budget', async (t) => {
  t.match(out, new RegExp(`"event":"descriptors","limit":${NOFILE},"reserve":256,.*descriptors: ${NOFILE} \\(RLIMIT_NOFILE\\); 256 kept for health checks`));
});

t.test('6,000 TFTP read requests from 30 addresses in a burst: the flooded farm takes its share, the others serve', async (t) => {
  const since = out.length;
  const flood = runCommand(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'flood.ts'), 'tftp-requests', VIP, String(ports.a), '6000', '127.0.1', '30'], { timeoutMs: 60_000 });
  await sleep(1500);
  const probes = [tftpGet(ports.b), echoThrough(), status().then((s) => s.join(' '))];
  const sent = await flood;
  t.match(sent.stdout, /"sent":6000/, `the flood: ${sent.stdout.trim()}`);
  const [duringB, duringC, duringStatus] = await Promise.all(probes);
  t.equal(duringB, 'tftp', 'the other TFTP farm served during the flood');
  t.equal(duringC, 'ping', 'the TCP farm served during the flood');
  t.equal(duringStatus, 'up up up', 'the status page answered during the flood');
  // the farm's share of the descriptors left by the reserve: (1024 - 256 - what is open) / 3 farms, 2 a session
  const created = await metric(/lbguard_dataplane_sessions_total\{farm="tftp-a",backend="t1",kind=""\} (\d+)/);
  t.ok(created > 20 && created < 200, `${created} sessions created: the farm's share`);
  t.ok((await refused('tftp-a')) > 100, `the rest refused and counted (${await refused('tftp-a')}; the kernel drops some datagrams itself)`);
  t.equal(await refused('tftp-b'), 0, 'nothing refused on the other TFTP farm');
  await sleep(4000); // two more checks
  await stillHealthy(t, 'tftp-a', since);
  t.equal(await tftpGet(ports.a), 'tftp', 'the flooded farm serves again once its sessions end');
});

t.test('a flood of one client address\'s session port holds up no other client\'s transfer', async (t) => {
  // The attacker at 127.0.3.1 opens a read and never ACKs: its session stays while tftpd-hpa
  // retransmits, and the first DATA tells it the port its sessions are answered from.
  const attacker = createSocket('udp4');
  t.teardown(() => attacker.close());
  await new Promise<void>((resolve) => attacker.bind(0, '127.0.3.1', resolve));
  const first = new Promise<number>((resolve) => attacker.once('message', (_m, from) => resolve(from.port)));
  attacker.send(Buffer.from('\0\u0001big.bin\0octet\0', 'latin1'), ports.b, VIP);
  const port = await Promise.race([first, sleep(10_000).then(() => 0)]);
  t.ok(port > 0, `the attacker's session answers from port ${port}`);
  // three processes of junk at that port, as fast as dgram sends (some 80,000 a second each here)
  const floods = [1, 2, 3].map(() => runCommand(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'flood.ts'), 'tftp-junk', VIP, String(port), '400000'], { timeoutMs: 60_000 }));
  await sleep(2000);
  const target = join(dir, 'big-during-flood.bin');
  const get = await runCommand(tftp, ['-m', 'binary', VIP, String(ports.b), '-c', 'get', 'big.bin', target], { timeoutMs: 60_000 });
  const flooding = (await Promise.race([Promise.all(floods).then(() => false), sleep(0).then(() => true)])) as boolean;
  t.ok(flooding, 'the flood was still under way when the get ended');
  t.equal(get.code, 0, `tftp-hpa from 127.0.0.1 exited 0 ${get.stdout}${get.stderr}`);
  t.ok(readFileSync(target).equals(BIG), 'its 2 MiB arrived intact');
  // a dropped ACK costs tftp-hpa's 5 s timeout: the get shared the flooded queue if it took that long
  t.ok(get.ms < 5000, `and in ${Math.round(get.ms)} ms: its port was not the flooded one`);
  for (const flood of await Promise.all(floods)) t.match(flood.stdout, /"sent":400000/, `the flood: ${flood.stdout.trim()}`);
});

t.test('3,000 held TCP connections to one farm: refused beyond the budget, checks and other farms unharmed', async (t) => {
  const since = out.length;
  const held: Socket[] = [];
  t.teardown(() => { for (const s of held) s.destroy(); });
  let open = 0;
  for (let i = 0; i < 3000; i++) {
    const socket = connect({ host: VIP, port: ports.c, localAddress: `127.0.2.${1 + (i % 40)}` });
    socket.on('error', () => undefined);
    socket.once('connect', () => open++);
    held.push(socket);
    if (i % 100 === 99) await sleep(20); // the echo backend lives in this process: let it breathe
  }
  await sleep(4500); // two checks while the connections are held
  const admitted = await metric(/lbguard_dataplane_active_sessions\{farm="tcp-c",backend="echo",kind=""\} (\d+)/);
  t.ok(admitted > 100 && admitted < NOFILE / 2, `${admitted} sessions admitted of ${open} connections, within the budget`);
  t.ok((await refused('tcp-c')) >= 3000 - admitted - 50, 'the rest refused and counted');
  t.ok(readdirSync(`/proc/${daemonPid}/fd`).length < NOFILE - 256, 'the reserve is untouched');
  t.equal(await tftpGet(ports.b), 'tftp', 'a TFTP farm serves while they are held');
  await stillHealthy(t, 'tcp-c', since);
  t.same(out.slice(since).split('\n').filter((l) => /"to":"down"/.test(l) && l.includes('"farm":"tcp-c"')), [], 'nor the flooded farm\'s own backend');
  for (const s of held) s.destroy();
  await until('the held sessions closed', async () => ((await metric(/lbguard_dataplane_active_sessions\{farm="tcp-c",backend="echo",kind=""\} (\d+)/)) === 0 ? true : undefined), 10_000);
  t.equal(await echoThrough(), 'ping', 'the farm serves again');
});
