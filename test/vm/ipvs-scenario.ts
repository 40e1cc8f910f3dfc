// Runs INSIDE the IPVS guest (test/vm/run-guest.sh), bundled by test/system/ipvs-vm.test.ts.
// Drives the ipvsadm adapter against the guest's real kernel and, after every step, compares
// `ipvsadm -Sn` with the table the step intends (services and real servers sorted: the kernel
// lists them in hash order); then sends real TCP traffic through IPVS-NAT between namespaces and
// passive FTP and TFTP through fwmark services, runs keepalived and ldirectord with the configuration lbguard renders
// (our check_ssh as its MISC_CHECK) and `lbguard run` itself (LBGUARD_DIST: the built bundles).
// With LBGUARD_VM_PROBE set it only checks what the guest sees of the project (probeSteps).
// Prints TAP-style lines (`ok N - …` / `not ok N - …`), `# …` notes; exits 1 if a step failed.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { IpvsadmAdapter } from '../../lvs-adapters/ipvsadm/adapter.ts';
import { parseThresholds } from '../../lvs-adapters/ipvsadm/table.ts';
import { renderKeepalived } from '../../lvs-adapters/keepalived/keepalived.ts';
import { validateConfig } from '../../orchestrator/config/load.ts';
import { diffFarms } from '../../orchestrator/dataplane/diff.ts';
import type { FarmState, RealServerSpec } from '../../orchestrator/dataplane/types.ts';

let step = 0;
let failed = 0;
function report(ok: boolean, name: string, detail = ''): void {
  step++;
  if (!ok) failed++;
  process.stdout.write(`${ok ? 'ok' : 'not ok'} ${step} - ${name}\n`);
  if (!ok && detail) process.stdout.write(`${detail.split('\n').map((l) => `#   ${l}`).join('\n')}\n`);
}

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const save = () => run('ipvsadm', ['-Sn']);
/** -Sn lists services in the kernel's hash order: compare service blocks sorted, real servers sorted. */
function canonical(text: string): string {
  const blocks: string[][] = [];
  for (const line of text.split('\n').filter(Boolean)) {
    if (line.startsWith('-A ')) blocks.push([line]);
    else blocks.at(-1)?.push(line);
  }
  return blocks.map(([head, ...dests]) => [head, ...dests.sort()].join('\n')).sort().join('\n');
}
function expectTable(name: string, lines: string[]): void {
  const want = canonical(lines.join('\n'));
  const got = canonical(save());
  report(got === want, name, `wanted:\n${want}\ngot:\n${got}`);
}

const adapter = new IpvsadmAdapter({ ipvsadm: '/usr/sbin/ipvsadm', nft: '/usr/sbin/nft', method: 'nat' });
async function converge(desired: FarmState[], via = adapter): Promise<void> {
  const observed = await via.observe();
  await via.apply(diffFarms(desired, observed, new Set(desired.map((f) => f.service.farm))), observed);
}

const rs = (name: string, address: string, port: number, weight = 1): RealServerSpec => ({ name, address, port, weight });
const ftp = (servers: readonly RealServerSpec[], scheduler = 'wlc', timeoutSeconds = 300): FarmState => ({
  service: { farm: 'ftp', service: 'ftp', protocol: 'tcp', address: '192.0.2.10', fwmark: 21, scheduler, persistence: { timeoutSeconds, netmask: '255.255.255.255' } },
  servers,
});
const tftp = (servers: RealServerSpec[]): FarmState => ({
  service: { farm: 'tftp', service: 'tftp', protocol: 'udp', address: '192.0.2.11', fwmark: 69, scheduler: 'wlc', persistence: { timeoutSeconds: 45, netmask: '24' } },
  servers,
});
const sftp = (servers: RealServerSpec[]): FarmState => ({
  service: { farm: 'sftp', service: 'sftp', protocol: 'tcp', address: '192.0.2.10', ports: [{ from: 22, to: 22 }], scheduler: 'rr' },
  servers,
});

async function tableSteps(): Promise<void> {
  run('ipvsadm', ['-A', '-u', '198.51.100.1:53', '-s', 'rr']); // someone else's service: must survive
  const foreign = '-A -u 198.51.100.1:53 -s rr';

  let farms = [ftp([rs('a', '10.0.1.2', 21), rs('b', '10.0.1.3', 21, 2)]), tftp([rs('t1', '10.0.1.4', 69)]), sftp([rs('s1', '10.0.1.2', 2222)])];
  await converge(farms);
  expectTable('declare: fwmark FTP with persistence, fwmark TFTP with a /24 mask, TCP port service', [
    foreign,
    '-A -f 21 -s wlc -p 300',
    '-a -f 21 -r 10.0.1.2:0 -m -w 1',
    '-a -f 21 -r 10.0.1.3:0 -m -w 2',
    '-A -f 69 -s wlc -p 45 -M 255.255.255.0',
    '-a -f 69 -r 10.0.1.4:0 -m -w 1',
    '-A -t 192.0.2.10:22 -s rr',
    '-a -t 192.0.2.10:22 -r 10.0.1.2:2222 -m -w 1',
  ]);
  const marks = run('nft', ['list', 'table', 'inet', 'lbguard_ipvs']);
  report(
    /ip daddr 192\.0\.2\.10 tcp dport \{ 20-21, 1024-65535 \} meta mark set 0x00000015/.test(marks) && /ip daddr 192\.0\.2\.11 udp dport \{ 69, 1024-65535 \} meta mark set 0x00000045/.test(marks),
    'fwmark rules for FTP (20-21 + passive range) and TFTP (69 + 1024-65535) in table inet lbguard_ipvs',
    marks,
  );
  await converge(farms);
  report(run('nft', ['list', 'table', 'inet', 'lbguard_ipvs']) === marks, 'applying the same farms again leaves the marks as they were');

  farms = [ftp([rs('a', '10.0.1.2', 21, 0), rs('c', '10.0.1.5', 21)]), tftp([rs('t1', '10.0.1.4', 69)]), sftp([rs('s1', '10.0.1.2', 2222)])];
  const before = adapter.history.length;
  await converge(farms);
  expectTable('quiesce a (weight 0, NAT kept), remove b, add c', [
    foreign,
    '-A -f 21 -s wlc -p 300',
    '-a -f 21 -r 10.0.1.2:0 -m -w 0',
    '-a -f 21 -r 10.0.1.5:0 -m -w 1',
    '-A -f 69 -s wlc -p 45 -M 255.255.255.0',
    '-a -f 69 -r 10.0.1.4:0 -m -w 1',
    '-A -t 192.0.2.10:22 -s rr',
    '-a -t 192.0.2.10:22 -r 10.0.1.2:2222 -m -w 1',
  ]);
  report(adapter.history.length - before === 3, 'three commands for three changes', adapter.history.slice(before).map((c) => c.join(' ')).join('\n'));

  farms[0] = ftp(farms[0]?.servers ?? [], 'sh', 600);
  await converge(farms);
  report(save().includes('-A -f 21 -s sh -p 600\n-a -f 21 -r 10.0.1.2:0 -m -w 0\n'), 'scheduler and persistence changed with -E; real servers untouched', save());

  run('ipvsadm', ['-d', '-f', '21', '-r', '10.0.1.5:0']);
  run('ipvsadm', ['-e', '-t', '192.0.2.10:22', '-r', '10.0.1.2:2222', '-m', '-w', '7']);
  const drift = diffFarms(farms, await adapter.observe(), new Set(['ftp', 'tftp', 'sftp']));
  report(drift.map((c) => c.kind).sort().join(',') === 'add-server,update-server', 'observe sees a real server deleted and a weight changed by hand', JSON.stringify(drift));
  await converge(farms);
  report(save().includes('-a -f 21 -r 10.0.1.5:0 -m -w 1\n') && save().includes('-r 10.0.1.2:2222 -m -w 1\n'), 'drift repaired', save());

  await maxConnsSteps(farms);

  const restarted = new IpvsadmAdapter({ ipvsadm: '/usr/sbin/ipvsadm', nft: '/usr/sbin/nft', method: 'nat' });
  await converge(farms, restarted);
  report(restarted.history.length === 0, 'a restarted adapter finds the kernel in the wanted state and runs nothing', restarted.history.map((c) => c.join(' ')).join('\n'));

  const many = Array.from({ length: 1000 }, (_, i) => rs(`rs${i}`, `10.2.${Math.floor(i / 250)}.${(i % 250) + 1}`, 21));
  let started = performance.now();
  const observed = await adapter.observe();
  const observeMs = performance.now() - started;
  const changes = diffFarms([ftp(many, 'sh', 600), ...farms.slice(1)], observed, new Set(['ftp', 'tftp', 'sftp']));
  started = performance.now();
  await adapter.apply(changes);
  const applyMs = performance.now() - started;
  const { readMs, planMs, runMs, verifyMs, commands } = adapter.lastApply;
  process.stdout.write(`# 1,000 real servers under TCG: observe ${observeMs.toFixed(0)} ms; apply ${applyMs.toFixed(0)} ms = read ${readMs.toFixed(0)} + plan ${planMs.toFixed(1)} + ipvsadm -R of ${commands} lines ${runMs.toFixed(0)} + read-back ${verifyMs.toFixed(0)} ms\n`);
  const count = save().split('\n').filter((l) => l.startsWith('-a -f 21 ')).length;
  report(count === 1000 && adapter.history.at(-1)?.[0] === '-R', `1,000 real servers applied in one ipvsadm -R batch (${(observeMs + applyMs).toFixed(0)} ms incl. the reads, under TCG)`, `${count} servers`);
  const rules = many.map((s) => `-e -f 21 -r ${s.address}:0 -m -w 2`).join('\n');
  started = performance.now();
  execFileSync('ipvsadm', ['-R'], { input: `${rules}\n` });
  process.stdout.write(`# ipvsadm -R alone, 1,000 real-server edits: ${(performance.now() - started).toFixed(0)} ms under TCG\n`);
  started = performance.now();
  await converge([ftp(many.map((s) => ({ ...s, weight: 0 })), 'sh', 600), ...farms.slice(1)]);
  const q = adapter.lastApply;
  process.stdout.write(`# quiescing all 1,000 (observe + diff + apply): ${(performance.now() - started).toFixed(0)} ms; apply = read ${q.readMs.toFixed(0)} + plan ${q.planMs.toFixed(1)} + ipvsadm -R of ${q.commands} lines ${q.runMs.toFixed(0)} + read-back ${q.verifyMs.toFixed(0)} ms\n`);
  report(!save().includes('-m -w 1\n-a -f 21'), 'all 1,000 quiesced (weight 0) in one batch');

  await adapter.apply([{ kind: 'remove-farm', farm: 'ftp' }, { kind: 'remove-farm', farm: 'tftp' }, { kind: 'remove-farm', farm: 'sftp' }]);
  expectTable('farms removed; the foreign service stays', [foreign]);
  const gone = spawnStatus('nft', ['list', 'table', 'inet', 'lbguard_ipvs']);
  report(gone !== 0, 'no fwmark farm left: the marks table is gone');
  run('ipvsadm', ['-D', '-u', '198.51.100.1:53']);
}

/** max-conns: -x on the real kernel, read back from -Ln --thresholds (-Sn leaves it out), no drift, lifted again. */
async function maxConnsSteps(farms: FarmState[]): Promise<void> {
  const managed = new Set(farms.map((f) => f.service.farm));
  const limited = farms.map((f) => (f.service.farm === 'sftp' ? sftp([{ ...rs('s1', '10.0.1.2', 2222), maxConnections: 40 }]) : f));
  let before = adapter.history.length;
  await converge(limited);
  const line = () => run('ipvsadm', ['-Ln', '--thresholds', '-t', '192.0.2.10:22']).split('\n').find((l) => l.includes('10.0.1.2:2222')) ?? '';
  const saved = save().split('\n').find((l) => l.includes('10.0.1.2:2222')) ?? '';
  process.stdout.write(`# ipvsadm -Ln --thresholds after max-conns 40: "${line()}"\n# ipvsadm -Sn: "${saved}"\n`);
  const ran = adapter.history.slice(before).map((c) => c.join(' '));
  report(ran.join('\n') === '-e -t 192.0.2.10:22 -r 10.0.1.2:2222 -m -w 1 -x 40' && /^\s+->\s+10\.0\.1\.2:2222\s+40\s+0\s+0\s+0\s*$/.test(line()), 'max-conns 40: one -e with -x 40; the kernel lists Uthreshold 40, Lthreshold 0', `${ran.join('\n')}\n${line()}`);
  report(saved === '-a -t 192.0.2.10:22 -r 10.0.1.2:2222 -m -w 1', 'ipvsadm -Sn prints no -x: the adapter reads the limit from -Ln --thresholds', saved);
  const drift = diffFarms(limited, await adapter.observe(), managed);
  report(drift.length === 0 && (await adapter.observe()).find((f) => f.service.farm === 'sftp')?.servers[0]?.maxConnections === 40, 'observe reports maxConnections 40 as applied: no drift', JSON.stringify(drift));
  before = adapter.history.length;
  await converge(farms);
  const lifted = adapter.history.slice(before).map((c) => c.join(' '));
  report(lifted.join('\n') === '-e -t 192.0.2.10:22 -r 10.0.1.2:2222 -m -w 1 -x 0' && /10\.0\.1\.2:2222\s+0\s+0\s/.test(line()), 'max-conns removed: -e -x 0 lifts the limit', `${lifted.join('\n')}\n${line()}`);
}

function spawnStatus(command: string, args: string[]): number {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return 0;
  } catch (error) {
    return (error as { status?: number }).status ?? 1;
  }
}

/** client ns (10.0.0.2) — director (this namespace, VIP 10.0.0.1) — server ns (10.0.1.2, 10.0.1.3) */
function network(): void {
  const ip = (...args: string[]) => run('ip', args);
  ip('netns', 'add', 'cli');
  ip('netns', 'add', 'srv');
  ip('link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'c1', 'netns', 'cli');
  ip('link', 'add', 's0', 'type', 'veth', 'peer', 'name', 's1', 'netns', 'srv');
  ip('addr', 'add', '10.0.0.1/24', 'dev', 'c0');
  ip('addr', 'add', '10.0.1.1/24', 'dev', 's0');
  ip('link', 'set', 'c0', 'up');
  ip('link', 'set', 's0', 'up');
  for (const [ns, dev, addrs, gw] of [['cli', 'c1', ['10.0.0.2/24'], '10.0.0.1'], ['srv', 's1', ['10.0.1.2/24', '10.0.1.3/24'], '10.0.1.1']] as const) {
    for (const a of addrs) ip('-n', ns, 'addr', 'add', a, 'dev', dev);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'route', 'add', 'default', 'via', gw);
  }
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  for (const backend of ['10.0.1.2', '10.0.1.3']) {
    for (const port of [80, 8080]) {
      const root = `/tmp/www-${backend}-${port}`;
      mkdirSync(root, { recursive: true });
      writeFileSync(`${root}/index.html`, `backend ${backend}:${port}\n`);
      spawn('ip', ['netns', 'exec', 'srv', 'busybox', 'httpd', '-f', '-p', `${backend}:${port}`, '-h', root], { stdio: 'ignore', detached: false }).unref();
    }
  }
}

function fetchFromClient(url: string): string {
  try {
    return run('ip', ['netns', 'exec', 'cli', 'curl', '-s', '--max-time', '3', url]).trim();
  } catch (error) {
    return `failed: ${(error as { status?: number }).status}`;
  }
}

async function trafficSteps(): Promise<void> {
  network();
  await new Promise((r) => setTimeout(r, 500));
  const web = (servers: RealServerSpec[]): FarmState => ({
    service: { farm: 'web', service: 'tcp', protocol: 'tcp', address: '10.0.0.1', ports: [{ from: 80, to: 80 }], scheduler: 'rr' },
    servers,
  });
  const marked = (servers: RealServerSpec[]): FarmState => ({
    service: { farm: 'marked', service: 'tcp', protocol: 'tcp', address: '10.0.0.1', ports: [{ from: 8080, to: 8081 }], fwmark: 80, scheduler: 'rr' },
    servers,
  });
  await converge([web([rs('w2', '10.0.1.2', 80), rs('w3', '10.0.1.3', 80)]), marked([rs('m2', '10.0.1.2', 8080), rs('m3', '10.0.1.3', 8080)])]);
  const first = Array.from({ length: 4 }, () => fetchFromClient('http://10.0.0.1/'));
  report(first.filter((b) => b === 'backend 10.0.1.2:80').length === 2 && first.filter((b) => b === 'backend 10.0.1.3:80').length === 2, 'IPVS-NAT: 4 connections through the VIP, round robin over both backends', first.join('\n'));
  const markedReplies = Array.from({ length: 4 }, () => fetchFromClient('http://10.0.0.1:8080/'));
  report(new Set(markedReplies).size === 2 && markedReplies.every((b) => /^backend 10\.0\.1\.[23]:8080$/.test(b)), 'fwmark service: nft marks 10.0.0.1:8080-8081, IPVS balances it keeping the port', markedReplies.join('\n'));

  await converge([web([rs('w2', '10.0.1.2', 80), rs('w3', '10.0.1.3', 80, 0)]), marked([rs('m2', '10.0.1.2', 8080), rs('m3', '10.0.1.3', 8080)])]);
  const after = Array.from({ length: 4 }, () => fetchFromClient('http://10.0.0.1/'));
  report(after.every((b) => b === 'backend 10.0.1.2:80'), 'w3 quiesced (weight 0): no new connection reaches it', after.join('\n'));
  const listing = run('ipvsadm', ['-Ln', '-t', '10.0.0.1:80']);
  report(/10\.0\.1\.3:80\s+Masq\s+0\s+\d+\s+[1-9]/.test(listing), 'the quiesced server is still listed with weight 0 and its earlier connections', listing);
  await converge([web([rs('w3', '10.0.1.3', 80, 0)]), marked([rs('m2', '10.0.1.2', 8080)])]);
  report(fetchFromClient('http://10.0.0.1/').startsWith('failed'), 'only a quiesced server left: the connection is refused');
}

/** An SSH-like banner server in the server namespace (what check_ssh looks for). */
function sshBanner(address: string) {
  const code = `require('net').createServer((s) => { s.on('error', () => {}); s.end('SSH-2.0-OpenSSH_9.2p1 guest\\r\\n'); }).listen(22, '${address}')`;
  return spawn('ip', ['netns', 'exec', 'srv', process.execPath, '-e', code], { stdio: 'ignore' });
}

async function waitFor(what: string, test: () => boolean, ms: number): Promise<number | undefined> {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (test()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 250));
  }
  process.stdout.write(`# gave up waiting for ${what} after ${ms} ms\n`);
  return undefined;
}

/** keepalived (the host's binary) with the config lbguard renders, our check_ssh as MISC_CHECK. */
async function keepalivedSteps(): Promise<void> {
  run('ipvsadm', ['-C']);
  mkdirSync('/tmp/bin', { recursive: true });
  symlinkSync(`${process.env.LBGUARD_DIST}/plugins/check_ssh.cjs`, '/tmp/bin/check_ssh');
  const servers = [sshBanner('10.0.1.2'), sshBanner('10.0.1.3')];
  const config = validateConfig({
    farms: [{
      name: 'sftp', service: 'sftp', virtual: { address: '10.0.0.1', ports: [22] }, scheduler: 'rr', dataplane: { type: 'ipvsadm', method: 'nat' },
      // misc_timeout 5 s (timeout + 1): in the guest under the whole suite's load, check_ssh (a Node
      // start) took over 3 s three times in a row and keepalived removed a live backend
      check: { probe: 'ssh', interval: '5s', timeout: '4s' },
      backends: [{ name: 's2', address: '10.0.1.2', 'max-conns': 30 }, { name: 's3', address: '10.0.1.3' }],
    }],
  });
  writeFileSync('/tmp/keepalived.conf', renderKeepalived(config, { plugins: '/tmp/bin' }));
  const daemon = spawn('keepalived', ['--dont-fork', '--log-console', '--check', '--no-syslog', '-f', '/tmp/keepalived.conf', '-p', '/tmp/keepalived.pid', '-c', '/tmp/checkers.pid'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout.on('data', (d) => (log += d));
  daemon.stderr.on('data', (d) => (log += d));
  const both = () => /-r 10\.0\.1\.2:22 -m -w 1\n/.test(save()) && /-r 10\.0\.1\.3:22 -m -w 1\n/.test(save());
  const upMs = await waitFor('both real servers', both, 30_000);
  report(upMs !== undefined, `keepalived declared the rendered virtual_server with both real servers (${upMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-2000)}`);
  const limits = parseThresholds(run('ipvsadm', ['-Ln', '--thresholds'])).get('-t 10.0.0.1:22')?.map((d) => `${d.address} ${d.upperThreshold}`).sort().join(', ');
  report(limits === '10.0.1.2 30, 10.0.1.3 0', `the rendered uthreshold (max-conns 30) is the kernel's upper threshold: ${limits}`, run('ipvsadm', ['-Ln', '--thresholds']));
  servers[1]?.kill('SIGTERM');
  const downMs = await waitFor('10.0.1.3 removed', () => !save().includes('10.0.1.3:22'), 30_000);
  report(downMs !== undefined, `check_ssh as MISC_CHECK failed for the stopped backend: keepalived removed it (${downMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-3000)}`);
  servers[1] = sshBanner('10.0.1.3');
  const backMs = await waitFor('10.0.1.3 back', both, 30_000);
  report(backMs !== undefined, `the backend answers again: keepalived put it back (${backMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-3000)}`);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  for (const s of servers) s?.kill('SIGTERM');
}

/**
 * keepalived's VRRP with the vrrp_instance `lbguard render keepalived` writes from the farms file's
 * vrrp: section (password from the environment): alone on the segment it becomes MASTER and puts
 * the virtual address on the interface; stopped, it takes the address away.
 */
async function vrrpSteps(): Promise<void> {
  const config = validateConfig({
    vrrp: { interface: 'c0', 'virtual-router-id': 51, priority: 150, state: 'BACKUP', 'auth-password-env': 'LBG_VRRP_PASS', 'virtual-ipaddress': ['10.0.0.100/24 dev c0'] },
    farms: [{
      name: 'sftp', service: 'sftp', virtual: { address: '10.0.0.100', ports: [22] }, dataplane: { type: 'ipvsadm', method: 'nat' },
      check: { probe: 'ssh' }, backends: [{ name: 's2', address: '10.0.1.2' }],
    }],
  });
  const text = renderKeepalived(config, { plugins: '/tmp/bin', env: { LBG_VRRP_PASS: 'gu3st' } });
  writeFileSync('/tmp/keepalived-vrrp.conf', text);
  const daemon = spawn('keepalived', ['--dont-fork', '--log-console', '--vrrp', '--no-syslog', '-f', '/tmp/keepalived-vrrp.conf', '-p', '/tmp/keepalived-vrrp.pid', '-r', '/tmp/vrrp.pid'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout.on('data', (d) => (log += d));
  daemon.stderr.on('data', (d) => (log += d));
  const holds = () => run('ip', ['-o', 'addr', 'show', 'dev', 'c0']).includes('inet 10.0.0.100/24');
  const masterMs = await waitFor('the VRRP address', holds, 20_000);
  // the log line may still be in the pipe when the address shows (the polls above run synchronously)
  const logged = await waitFor('the MASTER log line', () => /Entering MASTER STATE/.test(log), 5_000);
  report(masterMs !== undefined && logged !== undefined, `keepalived's VRRP with the rendered vrrp_instance (BACKUP, priority 150, PASS auth) became MASTER and holds 10.0.0.100/24 on c0 (${masterMs?.toFixed(0)} ms)`, `${text.slice(text.indexOf('vrrp_instance'))}\n${log.slice(-3000)}`);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  report(!holds(), 'keepalived stopped: the address is released', run('ip', ['-o', 'addr', 'show', 'dev', 'c0']));
}

/**
 * ldirectord (the host's package) with `checktype = external` and our check_ssh as the bare
 * checkcommand: ldirectord calls it with VIP VPORT RIP RPORT (the plugin's ldirectord mode) and
 * sets the real server's weight by its exit status (quiescent: weight 0 when down).
 */
async function ldirectordSteps(): Promise<void> {
  run('ipvsadm', ['-C']);
  const servers = [sshBanner('10.0.1.2'), sshBanner('10.0.1.3')];
  writeFileSync('/tmp/ldirectord.cf', [
    'checktimeout=8', 'checkinterval=2', 'quiescent=yes', 'logfile="/tmp/ldirectord.log"', '',
    'virtual=10.0.0.1:22',
    '\treal=10.0.1.2:22 masq 2',
    '\treal=10.0.1.3:22 masq 1',
    '\tscheduler=wrr',
    '\tprotocol=tcp',
    '\tchecktype=external',
    '\tcheckcommand="/tmp/bin/check_ssh"',
    '',
  ].join('\n'));
  const daemon = spawn('ldirectord', ['-d', '/tmp/ldirectord.cf', 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout.on('data', (d) => (log += d));
  daemon.stderr.on('data', (d) => (log += d));
  const weights = () => save().split('\n').filter((l) => l.startsWith('-a -t 10.0.0.1:22 ')).sort().join('\n');
  const both = () => weights() === '-a -t 10.0.0.1:22 -r 10.0.1.2:22 -m -w 2\n-a -t 10.0.0.1:22 -r 10.0.1.3:22 -m -w 1';
  const upMs = await waitFor('ldirectord to declare both', both, 45_000);
  report(upMs !== undefined, `ldirectord ran check_ssh in its four-argument mode and declared both real servers at their weights (${upMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-3000)}`);
  servers[1]?.kill('SIGTERM');
  const downMs = await waitFor('10.0.1.3 at weight 0', () => weights().includes('-r 10.0.1.3:22 -m -w 0'), 30_000);
  report(downMs !== undefined && weights().includes('-r 10.0.1.2:22 -m -w 2'), `backend stopped: check_ssh fails, ldirectord sets it to weight 0 (quiescent) (${downMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-3000)}`);
  process.stdout.write(`# ldirectord, backend down: ${weights().replace(/\n/g, ' | ')}\n`);
  servers[1] = sshBanner('10.0.1.3');
  const backMs = await waitFor('10.0.1.3 restored', both, 30_000);
  report(backMs !== undefined, `backend answers again: ldirectord restores weight 1 (${backMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-3000)}`);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  for (const server of servers) server?.kill('SIGTERM');
}

/** The product path: `lbguard run` with an ipvsadm farm, its own check_ssh probe deciding. */
async function orchestratorSteps(): Promise<void> {
  run('ipvsadm', ['-C']);
  const servers = [sshBanner('10.0.1.2'), sshBanner('10.0.1.3')];
  writeFileSync('/tmp/farms.json', JSON.stringify({
    status: { listen: '127.0.0.1:9100' },
    farms: [{
      name: 'sftp', service: 'sftp', virtual: { address: '10.0.0.1', ports: [22] }, scheduler: 'wrr', dataplane: { type: 'ipvsadm', method: 'nat', ipvsadm: '/usr/sbin/ipvsadm' },
      check: { probe: 'ssh', interval: '1s', timeout: '800ms', rise: 1, fall: 1 },
      backends: [{ name: 's2', address: '10.0.1.2', weight: 3 }, { name: 's3', address: '10.0.1.3' }],
    }],
  }));
  const daemon = spawn(process.execPath, [`${process.env.LBGUARD_DIST}/lbguard.mjs`, 'run', '-c', '/tmp/farms.json', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  daemon.stdout.on('data', (d) => (log += d));
  daemon.stderr.on('data', (d) => (log += d));
  const both = () => /-a -t 10\.0\.0\.1:22 -r 10\.0\.1\.2:22 -m -w 3\n/.test(save()) && /-a -t 10\.0\.0\.1:22 -r 10\.0\.1\.3:22 -m -w 1\n/.test(save());
  const upMs = await waitFor('lbguard to declare both', both, 40_000);
  report(upMs !== undefined && save().includes('-A -t 10.0.0.1:22 -s wrr\n'), `lbguard run declared the farm on IPVS with both checked backends (${upMs?.toFixed(0)} ms after start)`, `${save()}\n${log.slice(-2000)}`);
  servers[1]?.kill('SIGTERM');
  const downMs = await waitFor('s3 removed', () => !save().includes('10.0.1.3:22'), 20_000);
  report(downMs !== undefined, `a stopped backend is taken out of IPVS by lbguard (${downMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-2000)}`);
  run('ipvsadm', ['-e', '-t', '10.0.0.1:22', '-r', '10.0.1.2:22', '-m', '-w', '9']);
  const repairMs = await waitFor('drift repaired', () => save().includes('-r 10.0.1.2:22 -m -w 3\n'), 20_000);
  report(repairMs !== undefined, `a weight changed by hand is put back by lbguard's reconcile loop (${repairMs?.toFixed(0)} ms)`, save());
  servers[1] = sshBanner('10.0.1.3');
  const backMs = await waitFor('s3 back', both, 20_000);
  report(backMs !== undefined, `it answers again: lbguard puts it back (${backMs?.toFixed(0)} ms)`, `${save()}\n${log.slice(-2000)}`);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  for (const s of servers) s?.kill('SIGTERM');
}

/** Passive FTP through a fwmark service: nft marks 21 and the passive range, persistence keeps a client on one backend. */
async function ftpSteps(): Promise<void> {
  run('ipvsadm', ['-C']);
  await adapter.apply([{ kind: 'remove-farm', farm: 'web' }, { kind: 'remove-farm', farm: 'marked' }]);
  const daemons = ['10.0.1.2', '10.0.1.3'].map((address) => {
    const dir = `/tmp/ftp-${address}`;
    mkdirSync(`${dir}/anon`, { recursive: true });
    mkdirSync(`${dir}/empty`, { recursive: true });
    writeFileSync(`${dir}/anon/who.txt`, `ftp ${address}\n`);
    writeFileSync(`${dir}/vsftpd.conf`, [
      'listen=YES', 'listen_ipv6=NO', `listen_address=${address}`, 'listen_port=21', 'background=NO',
      'anonymous_enable=YES', `anon_root=${dir}/anon`, 'no_anon_password=YES', 'local_enable=NO', 'write_enable=NO',
      `secure_chroot_dir=${dir}/empty`, 'seccomp_sandbox=NO', 'xferlog_enable=NO', `vsftpd_log_file=${dir}/log`,
      'pasv_enable=YES', 'pasv_min_port=30000', 'pasv_max_port=30100', 'pasv_address=10.0.0.1', '',
    ].join('\n'));
    return spawn('ip', ['netns', 'exec', 'srv', '/usr/sbin/vsftpd', `${dir}/vsftpd.conf`], { stdio: 'ignore' });
  });
  await converge([ftp([rs('f2', '10.0.1.2', 21), rs('f3', '10.0.1.3', 21)], 'rr', 300)].map((f) => ({ ...f, service: { ...f.service, address: '10.0.0.1' } })));
  await new Promise((r) => setTimeout(r, 1000));
  const fetches = Array.from({ length: 3 }, () => fetchFromClient('ftp://10.0.0.1/who.txt'));
  report(fetches.every((f) => f === fetches[0] && /^ftp 10\.0\.1\.[23]$/.test(f)), 'passive FTP through the fwmark service: control (21) and data (passive port) marked by nft, persistence keeps the client on one backend', `${fetches.join('\n')}\n${save()}\n${run('nft', ['list', 'table', 'inet', 'lbguard_ipvs'])}`);
  const conns = run('ipvsadm', ['-Lnc']);
  report(/FWM|TCP/.test(conns) && conns.includes('10.0.0.1:21') && /10\.0\.0\.1:30\d{3}/.test(conns), 'IPVS holds the control connection and the passive data connection of the session', conns);
  for (const d of daemons) d.kill('SIGTERM');
  await adapter.apply([{ kind: 'remove-farm', farm: 'ftp' }]);
}

/**
 * TFTP through a fwmark service under IPVS-NAT: nft marks UDP 69 and 1024-65535 of the VIP, two
 * tftpd-hpa backends serve different bytes under the same name, persistence keeps a client on one.
 */
async function tftpSteps(): Promise<void> {
  const blobs = new Map<string, Buffer>();
  const daemons = ['10.0.1.2', '10.0.1.3'].map((address) => {
    const dir = `/tmp/tftp-${address}`;
    mkdirSync(dir, { recursive: true });
    blobs.set(address, randomBytes(150_000));
    writeFileSync(`${dir}/blob.bin`, blobs.get(address) ?? '');
    return spawn('ip', ['netns', 'exec', 'srv', '/usr/sbin/in.tftpd', '-L', '-a', `${address}:69`, '-s', dir], { stdio: 'ignore' });
  });
  const farm = (servers: RealServerSpec[]): FarmState => ({
    service: { farm: 'tftp', service: 'tftp', protocol: 'udp', address: '10.0.0.1', fwmark: 69, scheduler: 'rr', persistence: { timeoutSeconds: 45, netmask: '255.255.255.255' } },
    servers,
  });
  await converge([farm([rs('t2', '10.0.1.2', 69), rs('t3', '10.0.1.3', 69)])]);
  await new Promise((r) => setTimeout(r, 500));
  let fetches = 0;
  /** tftp-hpa's client in the client namespace; which backend's bytes came back, whole */
  const fetch = (): string => {
    const file = `/tmp/tftp-got-${++fetches}.bin`;
    rmSync(file, { force: true });
    spawnStatus('ip', ['netns', 'exec', 'cli', 'timeout', '20', 'tftp', '-m', 'binary', '10.0.0.1', '-c', 'get', 'blob.bin', file]);
    let got: Buffer;
    try { got = readFileSync(file); } catch { return 'nothing'; }
    return [...blobs].find(([, blob]) => blob.equals(got))?.[0] ?? `${got.length} bytes matching no backend`;
  };
  const first = fetch();
  const second = fetch();
  report(blobs.has(first) && second === first, `TFTP through the fwmark service, IPVS-NAT: 150,000 bytes intact from ${first}, the second fetch from the same backend (persistence)`, `${first} / ${second}\n${run('ipvsadm', ['-Lnc'])}`);
  const check = (timeout: string) => {
    try {
      return { code: 0, out: run('ip', ['netns', 'exec', 'cli', process.execPath, `${process.env.LBGUARD_DIST}/plugins/check_tftp.cjs`, '-H', '10.0.0.1', '-f', 'blob.bin', '--expect-size', '150000', '-t', timeout, '-v']) };
    } catch (error) {
      const e = error as { status?: number; stdout?: string };
      return { code: e.status ?? -1, out: e.stdout ?? '' };
    }
  };
  const strict = check('8');
  report(strict.code === 0 && /^TFTP OK/.test(strict.out), 'check_tftp through the VIP (accepts data only from the address it asked): OK, the nft source NAT makes the first DATA packet come from the VIP', strict.out);
  process.stdout.write(`# check_tftp through the VIP: ${strict.out.split('\n')[0]}\n`);
  // why the source NAT: without it the backend's first DATA packet leaves with its own address
  run('nft', ['delete', 'chain', 'inet', 'lbguard_ipvs', 'postrouting']);
  const lenient = fetch();
  const refused = check('3');
  const stray = /rejected a packet from (10\.0\.1\.[23]) port \d+/.exec(refused.out);
  report(refused.code !== 0 && stray !== null && blobs.has(lenient), `without the source NAT: tftp-hpa still gets the file (it takes the new port from any address), check_tftp rejects the DATA from the backend's own address ${stray?.[1] ?? '?'}`, refused.out);
  process.stdout.write(`# without the snat rule, check_tftp -v: ${stray?.[0] ?? refused.out.split('\n')[0]}\n`);
  const repairer = new IpvsadmAdapter({ ipvsadm: '/usr/sbin/ipvsadm', nft: '/usr/sbin/nft', method: 'nat' });
  const other = first === '10.0.1.2' ? '10.0.1.3' : '10.0.1.2';
  await converge([farm([rs(other === '10.0.1.2' ? 't2' : 't3', other, 69)])], repairer);
  const moved = fetch();
  report(moved === other && check('8').code === 0, `the serving backend removed: the next transfer comes whole from ${other}; the restarted adapter put the source NAT back`, `${moved}\n${run('nft', ['list', 'table', 'inet', 'lbguard_ipvs'])}`);
  await repairer.apply([{ kind: 'remove-farm', farm: 'tftp' }]);
  for (const d of daemons) d.kill('SIGTERM');
}

/**
 * The guest sees the project from where it is checked out (ipvs-vm.test.ts runs this from under
 * /tmp and /root): this bundle loaded with its npm dependencies and dist/ is there, while the
 * guest's /tmp and /root stay its own. hostFile: a file the host made beside the checkout.
 */
function probeSteps(hostFile: string): void {
  process.stdout.write(`# bundle: ${fileURLToPath(import.meta.url)}\n`);
  report(existsSync(`${process.env.LBGUARD_DIST}/plugins/check_ssh.cjs`), `the built plugins are seen in ${process.env.LBGUARD_DIST}`);
  // `lbguard run` (orchestratorSteps) loads its npm dependencies from the checkout's node_modules
  let yaml = '';
  try {
    yaml = createRequire(`${process.env.LBGUARD_DIST}/lbguard.mjs`).resolve('yaml');
  } catch (error) {
    yaml = (error as Error).message;
  }
  report(yaml.endsWith('/yaml/dist/index.js'), `dist/lbguard.mjs finds its npm dependencies: yaml at ${yaml}`);
  report(!existsSync(hostFile), `the host's ${hostFile} is not seen: the directory around the checkout is the guest's own`);
  const written = ['/tmp', '/root'].map((dir) => {
    writeFileSync(`${dir}/lbguard-guest-probe`, dir);
    return readFileSync(`${dir}/lbguard-guest-probe`, 'utf8');
  });
  report(written.join(' ') === '/tmp /root', 'the guest writes in its own /tmp and /root');
}

try {
  if (process.env.LBGUARD_VM_PROBE) {
    probeSteps(process.env.LBGUARD_VM_PROBE);
  } else {
    await tableSteps();
    await trafficSteps();
    await ftpSteps();
    await tftpSteps();
    await keepalivedSteps();
    await vrrpSteps();
    await ldirectordSteps();
    await orchestratorSteps();
  }
} catch (error) {
  report(false, `unexpected error: ${(error as Error).message}`, (error as Error).stack ?? '');
}
process.stdout.write(`1..${step}\n`);
process.exitCode = failed > 0 ? 1 : 0;
