// `lbguard run` (the build) with the userspace data plane, stopped and reloaded as an operator does,
// with a real FTP session open through it (vsftpd backends) and a TFTP farm (tftpd-hpa) beside it.
// SIGTERM: the virtual port stops listening at once, the open session goes on for the drain-timeout,
// then is cut and the daemon exits 0; a second SIGTERM cuts at once. SIGHUP that adds idle-timeout
// to the FTP farm's data plane while a session is open: the port never stops listening, the old
// session goes on, the TFTP farm left on the old data plane still takes changes. A farm whose port
// another process holds shows ok: false with the reason in /status, and is served once it is free.
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { encodeRequest } from '../../plugins/tftp/codec.ts';
import { type Daemon, freePort, freePortRange, requireBinary, ROOT, runCommand, startDaemon, until } from '../helpers/processes.ts';
import { freeUdpPort, startTftpdHpa, type TftpServerDir } from '../helpers/tftp-daemons.ts';
import { startVsftpd, type Vsftpd } from '../helpers/vsftpd.ts';

const VIP = '127.0.0.2';
const LBGUARD = join(ROOT, 'dist', 'lbguard.mjs');
const curl = requireBinary('/usr/bin/curl', 'curl');
const dir = mkdtempSync(join(tmpdir(), 'lbguard-lifecycle-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

let ftps: Vsftpd[] = [];
let tftpd: TftpServerDir;
t.before(async () => {
  ftps = await Promise.all([startVsftpd(), startVsftpd()]);
  tftpd = await startTftpdHpa({ 'hello.txt': 'hello over tftp\n' });
});
t.teardown(async () => {
  await Promise.all(ftps.map((f) => f.stop()));
  await tftpd?.stop();
});

interface Farms {
  readonly file: string;
  readonly ftpPort: number;
  readonly tftpPort: number;
  readonly statusPort: number;
}

async function farmsFile(dataplane: string): Promise<Farms> {
  const ftpPort = await freePort();
  const passive = await freePortRange(10);
  const tftpPort = await freeUdpPort(VIP);
  const statusPort = await freePort();
  const file = join(dir, `farms-${ftpPort}.yaml`);
  const plane = (extra: string) => `{type: userspace, "passive-ports": "${passive}-${passive + 9}"${extra}}`;
  writeFileSync(file, `status: {listen: "127.0.0.1:${statusPort}"}
state: {file: "${file}.state.json"}
farms:
  - name: ftp
    service: ftp
    virtual: {address: ${VIP}, ports: [${ftpPort}]}
    dataplane: ${plane(dataplane)}
    check: {probe: ftp, interval: 2s, timeout: 1500ms, rise: 1, fall: 2}
    backends:
${ftps.map((f, i) => `      - {name: ftp-${i + 1}, address: 127.0.0.1, port: ${f.port}}`).join('\n')}
  - name: tftp
    service: tftp
    virtual: {address: ${VIP}, ports: [${tftpPort}]}
    dataplane: ${plane('')}
    check: {probe: tftp, interval: 2s, timeout: 1500ms, rise: 1, fall: 2, options: {file: hello.txt}}
    backends:
      - {name: tftp-1, address: 127.0.0.1, port: ${tftpd.port}}
`);
  return { file, ftpPort, tftpPort, statusPort };
}

interface Status { farms: { name: string; dataplane: { ok: boolean; error?: string }; backends: { name: string; state: string }[] }[] }
const status = async (port: number) => (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status;

async function startLbguard(t: Test, farms: Farms): Promise<Daemon> {
  const lbguard = startDaemon(process.execPath, [LBGUARD, 'run', '-c', farms.file]);
  t.teardown(() => lbguard.stop());
  await until('every backend up', async () => ((await status(farms.statusPort)).farms.every((f) => f.backends.every((b) => b.state === 'up')) ? true : undefined), 30_000).catch((e: Error) => {
    throw new Error(`${e.message}; lbguard said: ${lbguard.output()}`);
  });
  return lbguard;
}

/** An FTP control session through the VIP, logged in: command() sends a line and reads one reply. */
async function ftpSession(port: number): Promise<{ socket: Socket; command(line: string): Promise<string>; closed: Promise<void> }> {
  const socket = connect(port, VIP);
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  let buffer = '';
  const waiting: ((line: string) => void)[] = [];
  socket.on('data', (d: Buffer) => {
    buffer += d.toString('latin1');
    for (let at = buffer.indexOf('\r\n'); at >= 0; at = buffer.indexOf('\r\n')) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      if (/^\d{3} /.test(line)) waiting.shift()?.(line);
    }
  });
  const next = () => new Promise<string>((resolve) => waiting.push(resolve));
  const command = (line: string) => {
    const reply = next();
    socket.write(`${line}\r\n`);
    return Promise.race([reply, closed.then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('no reply in 5 s'), 5000))]);
  };
  const greeting = await Promise.race([next(), new Promise<string>((r) => setTimeout(() => r('no greeting in 10 s'), 10_000))]);
  if (!greeting.startsWith('220')) throw new Error(`greeting: ${greeting}`);
  await command('USER anonymous');
  const pass = await command('PASS x@example.org');
  if (!pass.startsWith('230')) throw new Error(`login: ${pass}`);
  return { socket, command, closed };
}

/** The daemon's exit code, or 'still running' after `ms`. */
const exitWithin = (daemon: Daemon, ms: number) => Promise.race([daemon.exited, new Promise<string>((r) => setTimeout(() => r('still running'), ms))]);

/** Whether a new TCP connection to the port is accepted. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, VIP);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

/** One TFTP read request through the VIP: the first answer's opcode and text (ERROR's message). */
function tftpAnswer(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => (socket.close(), resolve('no answer')), 3000);
    socket.on('message', (m) => {
      clearTimeout(timer);
      socket.close();
      resolve(m.readUInt16BE(0) === 5 ? `ERROR ${m.subarray(4, m.length - 1).toString()}` : m.readUInt16BE(0) === 3 ? 'DATA' : `op ${m.readUInt16BE(0)}`);
    });
    socket.send(encodeRequest('RRQ', 'hello.txt', 'octet'), port, VIP);
  });
}

t.test('SIGTERM: the port closes at once, an open FTP session gets the drain-timeout, then exit 0', async (t) => {
  const farms = await farmsFile(', "drain-timeout": 3s');
  const lbguard = await startLbguard(t, farms);
  const session = await ftpSession(farms.ftpPort);
  const sent = Date.now();
  process.kill(lbguard.pid, 'SIGTERM');
  await until('the virtual port closed', async () => ((await accepts(farms.ftpPort)) ? undefined : true), 2000);
  t.ok(Date.now() - sent < 1000, `no new connection ${Date.now() - sent} ms after SIGTERM`);
  t.match(await session.command('PWD'), /^257 /, 'the open session still works while draining');
  const code = await exitWithin(lbguard, 15_000);
  const took = Date.now() - sent;
  t.equal(code, 0, 'exit 0');
  t.ok(took >= 2500 && took < 6000, `exited ${took} ms after SIGTERM (drain-timeout 3 s)`);
  await session.closed;
  t.pass('the session was cut at the end of the drain');
  t.match(lbguard.output(), /"event":"stopping"/);
  t.match(lbguard.output(), /lbguard stopped/);
});

t.test('SIGTERM twice: open sessions are cut at once', async (t) => {
  const farms = await farmsFile(', "drain-timeout": 60s');
  const lbguard = await startLbguard(t, farms);
  const session = await ftpSession(farms.ftpPort);
  process.kill(lbguard.pid, 'SIGTERM');
  await until('the virtual port closed', async () => ((await accepts(farms.ftpPort)) ? undefined : true), 2000);
  const second = Date.now();
  process.kill(lbguard.pid, 'SIGTERM');
  t.equal(await exitWithin(lbguard, 15_000), 0, 'exit 0');
  t.ok(Date.now() - second < 1500, `exited ${Date.now() - second} ms after the second SIGTERM (drain-timeout 60 s)`);
  await session.closed;
});

t.test('SIGHUP adding idle-timeout with a session open: the port never stops listening, the TFTP farm still takes changes', async (t) => {
  const farms = await farmsFile('');
  const lbguard = await startLbguard(t, farms);
  const session = await ftpSession(farms.ftpPort);
  writeFileSync(farms.file, readFileSync(farms.file, 'utf8').replace(/(name: ftp\n(?:.*\n){2}    dataplane: \{[^}]*)\}/, '$1, "idle-timeout": 120s}'));
  t.match(readFileSync(farms.file, 'utf8'), /"idle-timeout": 120s\}\n    check: \{probe: ftp/, 'the FTP farm alone gets the new setting');
  const before = lbguard.output().length;
  process.kill(lbguard.pid, 'SIGHUP');
  // every 20 ms for 3 s: a new connection is accepted each time
  const refused: number[] = [];
  const started = Date.now();
  while (Date.now() - started < 3000) {
    if (!(await accepts(farms.ftpPort))) refused.push(Date.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
  // the file is read in a thread: on a busy machine the reload may land after the 3 s
  await until('the reload', () => (/configuration reloaded/.test(lbguard.output().slice(before)) ? true : undefined), 10_000).catch(() => undefined);
  const after = lbguard.output().slice(before);
  t.match(after, /configuration reloaded/);
  t.same(refused, [], 'no connection refused during and after the reload');
  t.notMatch(after, /dataplane-error/, 'no data plane error');
  t.match(await session.command('PWD'), /^257 /, 'the session opened before the reload goes on');
  const get = await runCommand(curl, ['-sS', '--max-time', '10', `ftp://${VIP}:${farms.ftpPort}/hello.txt`], { timeoutMs: 15_000 });
  t.equal(get.stdout, ftps[0]!.helloContent, 'a new session is served by the new data plane');
  const ftpFarm = (await status(farms.statusPort)).farms.find((f) => f.name === 'ftp');
  t.equal(ftpFarm?.dataplane.ok, true, '/status: the FTP farm is served');

  t.equal(await tftpAnswer(farms.tftpPort), 'DATA', 'TFTP served');
  const off = await runCommand(process.execPath, [LBGUARD, 'maintenance', 'tftp', 'tftp-1', 'on', '--url', `http://127.0.0.1:${farms.statusPort}`]);
  t.equal(off.code, 0, off.stderr);
  const answer = await until('maintenance applied to the TFTP farm', async () => {
    const a = await tftpAnswer(farms.tftpPort);
    return a.startsWith('ERROR') ? a : undefined;
  }, 5000).catch(() => 'still served');
  t.match(answer, /^ERROR No server available/, 'maintenance on the TFTP backend takes effect after the reload');
  session.socket.destroy();
});

t.test('a farm whose port another process holds: /status ok false with the reason, served once the port is free', async (t) => {
  const farms = await farmsFile('');
  const squatter = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => squatter.listen(farms.ftpPort, VIP, resolve));
  const lbguard = startDaemon(process.execPath, [LBGUARD, 'run', '-c', farms.file]);
  t.teardown(() => lbguard.stop());
  const failing = await until('the FTP farm reported not served', async () => {
    const farm = (await status(farms.statusPort)).farms.find((f) => f.name === 'ftp');
    return farm && !farm.dataplane.ok ? farm : undefined;
  }, 10_000);
  t.match(failing.dataplane.error, /farm ftp: cannot listen on 127\.0\.0\.2: .*EADDRINUSE/, 'the reason');
  const tftpFarm = (await status(farms.statusPort)).farms.find((f) => f.name === 'tftp');
  t.equal(tftpFarm?.dataplane.ok, true, 'the TFTP farm on the same data plane is served');
  await new Promise<void>((resolve) => squatter.close(() => resolve()));
  // listening again, and a backend up: the daemon started 2 s ago and its first checks may still be due
  await until('the FTP farm served', async () => {
    const farm = (await status(farms.statusPort)).farms.find((f) => f.name === 'ftp');
    return farm?.dataplane.ok && farm.backends.some((b) => b.state === 'up') ? true : undefined;
  }, 40_000);
  const get = await runCommand(curl, ['-sS', '--max-time', '10', `ftp://${VIP}:${farms.ftpPort}/hello.txt`], { timeoutMs: 15_000 });
  t.equal(get.stdout, ftps[0]!.helloContent, `served once the port is free ${get.stderr}`);
});
