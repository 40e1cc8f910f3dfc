// The userspace balancer against the same transfers straight to the backend, through HAProxy 2.6
// (mode tcp, 1 thread) and through kernel nftables DNAT, in three namespaces of the bench's own
// (client 10.10.1.2 -- 10.10.1.1 balancer 10.10.2.1 -- 10.10.2.2 backend), made by topology() below.
// Medians of interleaved rounds; ratios are to HAProxy (TCP) and to direct (TFTP).
// The balancer is lbguard's daemon as an operator starts it: the built bundle (`npm run build`),
// `node dist/lbguard.mjs run -c farms.json`, with the bench's environment less GLIBC_TUNABLES (nothing
// set by hand; BENCH_MALLOC=1 adds a row of the same daemon with the systemd unit's malloc setting,
// to show it no longer matters).
// TCP: iperf3 1 and 8 streams (5 s), new connections per second with wrk (HTTP with Connection:
// close, 5 s), for the balancer alone and with `workers: auto` (BENCH_WORKERS: a number, auto, or
// 1 to leave that row out). BENCH_TASKSET=0 (or 0-1...) pins the lbguard daemons to those CPUs
// (taskset -c): `workers: auto` then starts one process per CPU it may use.
// TFTP: 200 concurrent tftp-hpa gets of 1 MiB (time, failures) and one 10 MiB get, through the
// balancer alone and with the same `workers` (TFTP sessions handed out by the main process).
// BENCH_USERSPACE=tcp|conn|tftp picks parts (conn: TCP connections/s only).
// BENCH_COMPARE=<another checkout, built> runs that tree's daemon alongside (own ports, TFTP on 1069)
// in the same rounds: an A/B of two versions under the same foreign load. BENCH_NODE_FLAGS and
// BENCH_COMPARE_FLAGS give node options to this tree's daemons and to the compared one (an A/B of
// flags: the same tree as BENCH_COMPARE); BENCH_PROF=DIR adds --cpu-prof into DIR.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids, ROOT, requireBinary } from '../test/helpers/processes.ts';
import { heading, median } from './lib.ts';

const IP = requireBinary('/usr/sbin/ip', 'iproute2');
const tag = `lbgb${process.pid % 100000}`;
const NS = { cli: `${tag}-cli`, lb: `${tag}-lb`, be: `${tag}-be` };
const CLI = '10.10.1.2', VIP = '10.10.1.1', LB_BE = '10.10.2.1', BE = '10.10.2.2';

const ip = (...args: string[]) => execFileSync(IP, args, { stdio: 'pipe' });
const inNs = (ns: string, argv: string[]) => [IP, ['netns', 'exec', ns, ...argv]] as const;

function topology(): void {
  for (const ns of Object.values(NS)) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  ip('link', 'add', `${tag}c`, 'netns', NS.cli, 'type', 'veth', 'peer', 'name', 'l0', 'netns', NS.lb);
  ip('link', 'add', `${tag}b`, 'netns', NS.be, 'type', 'veth', 'peer', 'name', 'l1', 'netns', NS.lb);
  ip('-n', NS.cli, 'link', 'set', `${tag}c`, 'name', 'c0');
  ip('-n', NS.be, 'link', 'set', `${tag}b`, 'name', 'b0');
  for (const [ns, dev, address] of [[NS.cli, 'c0', `${CLI}/24`], [NS.lb, 'l0', `${VIP}/24`], [NS.lb, 'l1', `${LB_BE}/24`], [NS.be, 'b0', `${BE}/24`]] as const) {
    ip('-n', ns, 'addr', 'add', address, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  ip('-n', NS.cli, 'route', 'add', 'default', 'via', VIP);
  ip('-n', NS.be, 'route', 'add', 'default', 'via', LB_BE);
  for (const ns of Object.values(NS)) {
    for (const setting of ['net.ipv4.ip_forward=1', 'net.ipv4.ip_local_port_range=10000 65000', 'net.ipv4.tcp_tw_reuse=1', 'net.ipv4.tcp_max_tw_buckets=1024']) {
      ip('netns', 'exec', ns, 'sysctl', '-qw', setting);
    }
  }
}

function removeTopology(): void {
  for (const ns of Object.values(NS)) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // not created
    }
  }
}

const daemons: ChildProcess[] = [];
/** what each daemon printed so far (a failed round shows the balancer's own account) */
const printed = new Map<number, () => string>();
/** each balancer's status port, by pid: its /metrics tell why a get failed */
const statusPorts = new Map<number, number>();
/** the environment an operator's shell would give: the bench's, with no malloc setting */
const { GLIBC_TUNABLES: _unset, ...plainEnv } = process.env;
function daemon(ns: string, argv: string[], ready?: RegExp | ((output: string) => boolean), env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const [command, args] = inNs(ns, argv);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  daemons.push(child);
  let output = '';
  if (child.pid !== undefined) printed.set(child.pid, () => output);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (ready ? reject(new Error(`${argv[0]} not ready: ${output}`)) : resolve(child)), ready ? 20_000 : 500);
    const onData = (d: Buffer) => {
      output += d;
      if (ready && (typeof ready === 'function' ? ready(output) : ready.test(output))) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')} exited ${code}: ${output}`));
    });
  });
}

function run(ns: string, argv: string[], timeoutMs = 120_000): string {
  const [command, args] = inNs(ns, argv);
  return execFileSync(command, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
}

/** wrk's requests per second (one new connection each) and how many it made */
function connRate(host: string, port: number): { rate: number; requests: number } {
  const out = run(NS.cli, ['wrk', '-t2', '-c64', '-d5s', '-H', 'Connection: close', `http://${host}:${port}/`]);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const requests = /(\d+) requests in/.exec(out);
  if (!rate || !requests) throw new Error(`wrk: ${out}`);
  return { rate: Number(rate[1]), requests: Number(requests[1]) };
}

/** n concurrent tftp-hpa gets of `file`: seconds for all and how many did not arrive intact. */
async function tftpGets(host: string, port: number, file: string, n: number, expect: Buffer, dir: string): Promise<{ seconds: number; failures: number }> {
  const client = requireBinary('/usr/bin/tftp', 'tftp-hpa');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const said = Array.from({ length: n }, () => '');
  const ended = Array.from({ length: n }, () => 0);
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      new Promise<void>((resolve) => {
        const [command, args] = inNs(NS.cli, [client, '-m', 'binary', host, String(port), '-c', 'get', file, join(dir, String(i))]);
        const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout!.on('data', (d: Buffer) => (said[i] += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (said[i] += d.toString()));
        child.once('close', () => {
          ended[i] = (performance.now() - started) / 1000;
          resolve();
        });
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const why = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    let intact = false;
    try {
      intact = readFileSync(join(dir, String(i))).equals(expect);
    } catch {
      // not written
    }
    if (intact) continue;
    const reason = said[i]!.trim().replace(/\s+/g, ' ') || 'no message';
    why.set(reason, [...(why.get(reason) ?? []), ended[i]!]);
  }
  const failures = [...why.values()].reduce((sum, times) => sum + times.length, 0);
  // what the clients said and when they ended, so that failures can be told apart (timed out, refused, short file)
  const told = [...why].slice(0, 5).map(([reason, times]) => `${times.length} x '${reason}' (ended ${Math.min(...times).toFixed(0)}-${Math.max(...times).toFixed(0)} s)`);
  if (failures) console.log(`(${host}:${port} ${file}: ${failures} of ${n} failed: ${told.join('; ')})`);
  return { seconds, failures };
}

/**
 * CPU seconds (user + system) and minor page faults of a process and its children (the balancer's
 * workers and the checks it runs) so far.
 */
function usage(pid: number): { cpuSeconds: number; faults: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const own = { cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100, faults: Number(fields[7]) };
  for (const child of childPids(pid)) {
    const theirs = usage(child);
    own.cpuSeconds += theirs.cpuSeconds;
    own.faults += theirs.faults;
  }
  return own;
}

/**
 * Runs `work` and returns its result with what `pid` used meanwhile: CPU seconds, its share of one
 * core, minor faults (NaN without a pid: direct, nft).
 */
async function withCpu<T>(pid: number | undefined, work: () => T | Promise<T>): Promise<T & { cpu: number; cpuSeconds: number; faults: number }> {
  const before = pid === undefined ? undefined : usage(pid);
  const t0 = performance.now();
  const result = await work();
  const after = pid === undefined ? undefined : usage(pid);
  const cpuSeconds = before && after ? after.cpuSeconds - before.cpuSeconds : NaN;
  return { ...result, cpuSeconds, cpu: cpuSeconds / ((performance.now() - t0) / 1000), faults: before && after ? after.faults - before.faults : NaN };
}

export default async function userspaceBench(): Promise<void> {
  const parts = (process.env.BENCH_USERSPACE ?? 'tcp,tftp').split(',');
  for (const [path, pkg] of [['/usr/bin/iperf3', 'iperf3'], ['/usr/bin/wrk', 'wrk'], ['/usr/sbin/haproxy', 'haproxy'], ['/usr/sbin/nginx', 'nginx-light'], ['/usr/sbin/nft', 'nftables'], ['/usr/sbin/in.tftpd', 'tftpd-hpa']] as const) requireBinary(path, pkg);
  const work = mkdtempSync(join(tmpdir(), 'lbguard-bench-userspace-'));
  chmodSync(work, 0o755);
  const root = join(work, 'tftproot');
  mkdirSync(root, { mode: 0o755 });
  const oneMiB = randomBytes(1 << 20);
  const tenMiB = randomBytes(10 << 20);
  writeFileSync(join(root, '1M.bin'), oneMiB, { mode: 0o644 });
  writeFileSync(join(root, '10M.bin'), tenMiB, { mode: 0o644 });
  writeFileSync(join(root, 'tftp_check.txt'), 'OK\n', { mode: 0o644 });
  writeFileSync(join(work, 'nginx.conf'), `daemon off; worker_processes 1; pid ${work}/nginx.pid; error_log stderr;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${work}; proxy_temp_path ${work}; fastcgi_temp_path ${work}; uwsgi_temp_path ${work}; scgi_temp_path ${work};
  server { listen ${BE}:80 reuseport; location / { return 200 "ok\\n"; } } }
`);
  writeFileSync(join(work, 'haproxy.cfg'), `global
  maxconn 8000
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen iperf
  bind ${VIP}:7006
  server be ${BE}:5201
listen http
  bind ${VIP}:8006
  server be ${BE}:80
`);
  writeFileSync(join(work, 'dnat.nft'), `table ip lbgbench {
  chain pre { type nat hook prerouting priority dstnat;
    ip daddr ${VIP} tcp dport 7001 dnat to ${BE}:5201
    ip daddr ${VIP} tcp dport 8001 dnat to ${BE}:80
  }
  chain post { type nat hook postrouting priority srcnat;
    ct status dnat oifname "l1" masquerade
  }
}
`);
  // the farms files of the daemons: the checks an operator would have, but iperf3's server is
  // checked by a command that always passes: a probe connecting to it while a test sets up its
  // streams fails or stalls that test (a command probe forks the daemon: 20 ms of its event loop
  // each on a busy machine, hence every 5 s)
  const check = (probe: 'tcp' | 'tftp' | 'command', interval: string) => ({ probe, interval, timeout: '1s', rise: 1, fall: 1, ...(probe === 'command' ? { command: ['/bin/true'] } : {}) });
  const farm = (name: string, service: 'tcp' | 'tftp', port: number, target: number, dataplane: object) => ({
    name, service, virtual: { address: VIP, ports: [port] }, scheduler: service === 'tcp' ? 'wlc' : 'rr', dataplane: { type: 'userspace', ...dataplane },
    // TFTP: tftpd-hpa's listening process forks for each of 200 requests at once and may leave one
    // check unanswered past its 1 s: three failures in a row take the server out, not one
    check: service === 'tftp' ? { ...check('tftp', '2s'), fall: 3 } : target === 5201 ? check('command', '5s') : check('tcp', '2s'),
    backends: [{ name: 'be', address: BE, port: target }],
  });
  /** farms on ports base+4 (iperf), base+1004 (http) and, given, TFTP on `tftp` */
  const farmsAt = (base: number, tftp: number | undefined, dataplane: object = {}) => [
    farm('iperf', 'tcp', 7000 + base, 5201, dataplane),
    farm('http', 'tcp', 8000 + base, 80, dataplane),
    ...(tftp ? [farm('tftp', 'tftp', tftp, 69, dataplane)] : []),
  ];
  let statusPort = 9300;
  try {
    topology();
    await daemon(NS.be, ['iperf3', '-s', '-B', BE]);
    await daemon(NS.be, ['/usr/sbin/nginx', '-c', join(work, 'nginx.conf')]);
    await daemon(NS.be, ['/usr/sbin/in.tftpd', '--foreground', '--listen', '--address', `${BE}:69`, '--secure', root]);
    const haproxy = await daemon(NS.lb, ['/usr/sbin/haproxy', '-db', '-f', join(work, 'haproxy.cfg')]);
    run(NS.lb, ['/usr/sbin/nft', '-f', join(work, 'dnat.nft')]);
    /**
     * `lbguard run` of a tree's built bundle in the balancer's namespace, ready once every backend
     * is in its data plane; `env` defaults to the operator's plain one.
     */
    const startBalancer = (tree: string, farms: object[], flags = '', env: NodeJS.ProcessEnv = plainEnv) => {
      const status = statusPort++;
      const file = join(work, `farms-${status}.json`);
      writeFileSync(file, JSON.stringify({ status: { listen: `127.0.0.1:${status}` }, farms }));
      const pin = process.env.BENCH_TASKSET ? ['taskset', '-c', process.env.BENCH_TASKSET] : [];
      const nice = process.env.BENCH_NICE ? ['nice', '-n', process.env.BENCH_NICE] : [];
      const prof = process.env.BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROF] : [];
      const added = (output: string) => (output.match(/"kind":"add-server"/g) ?? []).length >= farms.length;
      return daemon(NS.lb, [...pin, ...nice, process.execPath, ...flags.split(' ').filter(Boolean), ...prof, join(tree, 'dist', 'lbguard.mjs'), 'run', '-c', file], added, env).then((child) => {
        if (child.pid !== undefined) statusPorts.set(child.pid, status);
        return child;
      });
    };
    const flags = process.env.BENCH_NODE_FLAGS;
    const balancer = await startBalancer(ROOT, farmsAt(4, 69), flags);
    // the same daemon with worker processes for the TCP farms (`workers: auto`: one process per CPU)
    const workers = process.env.BENCH_WORKERS ?? 'auto';
    const withWorkers = workers !== '1' ? await startBalancer(ROOT, farmsAt(24, 2069, { workers: workers === 'auto' ? workers : Number(workers) }), flags) : undefined;
    // the same daemon given the systemd unit's malloc setting by hand: its speed should not depend on it
    const withMalloc = process.env.BENCH_MALLOC ? await startBalancer(ROOT, farmsAt(34, undefined), flags, { ...plainEnv, GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=33554432' }) : undefined;
    const compare = process.env.BENCH_COMPARE;
    const other = compare ? await startBalancer(compare, farmsAt(14, 1069), process.env.BENCH_COMPARE_FLAGS) : undefined;

    const targets = [
      { name: 'direct', iperf: [BE, 5201], http: [BE, 80] },
      { name: 'nft DNAT', iperf: [VIP, 7001], http: [VIP, 8001] },
      { name: 'HAProxy 1 thread', iperf: [VIP, 7006], http: [VIP, 8006], pid: haproxy.pid },
      { name: 'lbguard userspace', iperf: [VIP, 7004], http: [VIP, 8004], pid: balancer.pid },
      ...(withWorkers ? [{ name: `lbguard userspace, workers: ${workers}`, iperf: [VIP, 7024], http: [VIP, 8024], pid: withWorkers.pid }] : []),
      ...(withMalloc ? [{ name: 'lbguard userspace, GLIBC_TUNABLES by hand', iperf: [VIP, 7034], http: [VIP, 8034], pid: withMalloc.pid }] : []),
      ...(other ? [{ name: `lbguard ${compare}`, iperf: [VIP, 7014], http: [VIP, 8014], pid: other.pid }] : []),
    ] as { name: string; iperf: readonly [string, number]; http: readonly [string, number]; pid?: number | undefined }[];
    // rounds visit every target in turn, so load from elsewhere falls on all alike; medians are reported
    const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
    const samples = new Map(targets.map((t) => [t.name, { one: [] as number[], eight: [] as number[], conns: [] as number[], cpu: [] as number[], usPerConn: [] as number[], cpuPerGiB: [] as number[], faultsPerGiB: [] as number[] }]));
    for (let round = 0; round < (parts.includes('tcp') || parts.includes('conn') ? rounds : 0); round++) {
      for (const target of targets) {
        const [host, port] = target.iperf;
        const stream = (streams: number) => (JSON.parse(run(NS.cli, ['iperf3', '-c', host, '-p', String(port), '-t', '5', '-O', '1', '-P', String(streams), '-J'])) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e9;
        const sample = samples.get(target.name)!;
        if (!parts.includes('conn')) {
          const one = await withCpu(target.pid, () => ({ gbits: stream(1) }));
          // GiB moved in the 6 s (1 omitted + 5 measured) the CPU was read over
          const gib = (one.gbits * 6e9) / 8 / 2 ** 30;
          sample.one.push(one.gbits);
          sample.cpuPerGiB.push(one.cpuSeconds / gib);
          sample.faultsPerGiB.push(one.faults / gib);
          sample.eight.push(stream(8));
        }
        const conns = await withCpu(target.pid, () => connRate(target.http[0], target.http[1]));
        sample.conns.push(conns.rate);
        sample.cpu.push(conns.cpu);
        sample.usPerConn.push((conns.cpuSeconds * 1e6) / conns.requests);
      }
    }
    const medianOr = (values: number[]) => (values.length ? median(values) : NaN);
    const rows = [...samples].filter(([, s]) => s.conns.length).map(([name, s]) => ({ name, one: medianOr(s.one), eight: medianOr(s.eight), conns: median(s.conns), cpu: median(s.cpu), usPerConn: median(s.usPerConn), cpuPerGiB: medianOr(s.cpuPerGiB), faultsPerGiB: medianOr(s.faultsPerGiB) }));
    for (const r of rows.filter((r) => r.name.startsWith('lbguard'))) console.log(`\n(${r.name} used ${(r.cpu * 100).toFixed(0)} % of a core during its conn/s runs, median)`);
    const hap = rows.find((r) => r.name === 'HAProxy 1 thread');
    if (hap) {
      heading(`userspace balancer: TCP (namespaces, medians of ${rounds} interleaved rounds of 5 s each${process.env.BENCH_TASKSET ? `; lbguard on CPUs ${process.env.BENCH_TASKSET}` : ''})`);
      console.log('| target | 1 stream Gbit/s | 8 streams Gbit/s | new conn/s (wrk, Connection: close) | ratio to HAProxy 1 thread (1 stream / 8 / conn/s) |');
      console.log('|---|---|---|---|---|');
    }
    // '-' where a part was not run (conn only)
    const f = (n: number, digits = 2) => (Number.isNaN(n) ? '-' : n.toFixed(digits));
    if (hap) for (const r of rows) console.log(`| ${r.name} | ${f(r.one)} | ${f(r.eight)} | ${f(r.conns, 0)} | ${f(r.one / hap.one)} / ${f(r.eight / hap.eight)} / ${f(r.conns / hap.conns)} |`);
    // what the proxies spent per unit of work (their processes and children): steadier than rates on a busy machine
    if (hap) {
      heading('userspace balancer: CPU per unit of work (user + system of the proxy, medians)');
      console.log('| target | CPU us per connection | ratio to HAProxy | CPU s per GiB, 1 stream | ratio to HAProxy | page faults per GiB, 1 stream |');
      console.log('|---|---|---|---|---|---|');
      for (const r of rows.filter((r) => !Number.isNaN(r.usPerConn))) console.log(`| ${r.name} | ${f(r.usPerConn, 0)} | ${f(r.usPerConn / hap.usPerConn)} | ${f(r.cpuPerGiB)} | ${f(r.cpuPerGiB / hap.cpuPerGiB)} | ${f(r.faultsPerGiB, 0)} |`);
    }

    if (!parts.includes('tftp')) return;
    const dl = join(work, 'dl');
    const tftpTargets = [
      { name: 'direct', host: BE, port: 69, pid: undefined },
      { name: 'lbguard userspace', host: VIP, port: 69, pid: balancer.pid },
      ...(withWorkers ? [{ name: `lbguard userspace, workers: ${workers}`, host: VIP, port: 2069, pid: withWorkers.pid }] : []),
      ...(other ? [{ name: `lbguard ${compare}`, host: VIP, port: 1069, pid: other.pid }] : []),
    ];
    // one get through each first, so that no target pays for a cold start (JIT, page cache) in the figures
    for (const target of tftpTargets) await tftpGets(target.host, target.port, '1M.bin', 1, oneMiB, dl);
    // interleaved rounds as for TCP (BENCH_TFTP_ROUNDS, default 3: one round of 200 gets moved by 10 %)
    const tftpRounds = Number(process.env.BENCH_TFTP_ROUNDS ?? 3);
    const tftp = new Map(tftpTargets.map((t) => [t.name, { many: [] as number[], manyFailures: 0, cpu: [] as number[], usPerBlock: [] as number[], ten: [] as number[], tenFailures: 0 }]));
    for (let round = 0; round < tftpRounds; round++) {
      for (const target of tftpTargets) {
        const got = await withCpu(target.pid, () => tftpGets(target.host, target.port, '1M.bin', 200, oneMiB, dl));
        const sample = tftp.get(target.name)!;
        sample.many.push(got.seconds);
        sample.manyFailures += got.failures;
        // a balancer's failures: what it logged of the TFTP farm's servers (a check that failed under the load?)
        const log = target.pid === undefined ? '' : (printed.get(target.pid)?.() ?? '');
        const said = log.split('\n').flatMap((l) => (l.includes('tftp') ? (/"msg":"([^"]*)"/.exec(l)?.slice(1) ?? []) : []));
        if (got.failures) console.log(`(${target.name} logged: ${said.slice(-4).join(' | ') || 'nothing about tftp'})`);
        const metrics = got.failures && target.pid !== undefined ? run(NS.lb, ['curl', '-s', `http://127.0.0.1:${statusPorts.get(target.pid)}/metrics`]) : '';
        const errors = metrics.split('\n').filter((l) => l.startsWith('lbguard_dataplane_traffic_errors_total') && l.includes('farm="tftp"'));
        if (got.failures) console.log(`(${target.name} counted: ${errors.join(' | ') || 'no TFTP errors'})`);
        sample.cpu.push(got.cpu);
        // the balancer's CPU per 512-byte block a client received (2,049 per 1 MiB get)
        sample.usPerBlock.push((got.cpuSeconds * 1e6) / (200 * 2049));
      }
    }
    for (let round = 0; round < Math.max(3, tftpRounds); round++) {
      for (const target of tftpTargets) {
        const got = await tftpGets(target.host, target.port, '10M.bin', 1, tenMiB, dl);
        const sample = tftp.get(target.name)!;
        sample.ten.push(got.seconds);
        sample.tenFailures += got.failures;
      }
    }
    const direct = tftp.get('direct')!;
    heading(`userspace balancer: TFTP (tftp-hpa client, blksize 512; medians of ${tftpRounds} round(s) for 200 gets, ${Math.max(3, tftpRounds)} for 10 MiB)`);
    // the daemon reads and sends its clients' datagrams in batches only with the addon beside it
    console.log(existsSync(join(ROOT, 'dist', 'udp_batch.node')) ? 'client ports: recvmmsg/sendmmsg (dist/udp_batch.node)' : 'client ports: dgram (dist/udp_batch.node not built)');
    console.log('| target | 200 concurrent x 1 MiB s (failures) | ratio to direct | one 10 MiB get s (failures) | ratio to direct |');
    console.log('|---|---|---|---|---|');
    for (const [name, r] of tftp) {
      const cpu = name === 'direct' ? '' : ` (at ${(median(r.cpu) * 100).toFixed(0)} % of a core, ${median(r.usPerBlock).toFixed(1)} us of CPU per client block)`;
      console.log(`| ${name} | ${median(r.many).toFixed(2)} (${r.manyFailures}) | ${(median(r.many) / median(direct.many)).toFixed(2)}${cpu} | ${median(r.ten).toFixed(2)} (${r.tenFailures}) | ${(median(r.ten) / median(direct.ten)).toFixed(2)} |`);
    }
    balancer.kill('SIGTERM');
    await new Promise((r) => balancer.once('exit', r));
  } finally {
    // up to 5 s (BENCH_STOP_MS) to stop, then SIGKILL: the daemons write their --cpu-prof on the way
    // out, and a busy one draining its sessions can take longer
    const running = daemons.filter((child) => child.exitCode === null && child.signalCode === null);
    for (const child of running) child.kill('SIGTERM');
    await Promise.race([Promise.all(running.map((child) => new Promise((r) => child.once('exit', r)))), new Promise((r) => setTimeout(r, Number(process.env.BENCH_STOP_MS ?? 5000)))]);
    for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    removeTopology();
    rmSync(work, { recursive: true, force: true });
  }
}
