// Two directors, a client and two backends, each in a network namespace of the caller's own, joined
// by a bridge in a sixth ("the switch"): one L2 segment 10.96.0.0/24 as a rack has it. Directors
// 10.96.0.1 and .2 run `lbguard run --node dN` (built dist/lbguard.mjs) with keepalived moving the
// virtual address 10.96.0.100 between them; the client (.3) fetches through it with curl and
// tftp-hpa; backends .11 and .12 run vsftpd and tftpd-hpa. Names carry the process id.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'tap';
import { stringify } from 'yaml';
import { addNamespaces, type L4Backend, removeNamespaces, startBackendFtp, startBackendTftp, writeBackendFiles } from './l4-topology.ts';
import { leaseRouterId } from './router-id.ts';
import { killProcessesMentioning, ROOT, requireBinary, runCommand, until } from './processes.ts';

const IP = '/usr/sbin/ip';

/**
 * The figures go to the output; the targets (4 s with advert-int 1, 1 s with VRRPv3 adverts of 0.2 s)
 * are held in `npm run bench` (bench/failover.bench.ts). On a shared machine under load, keepalived's
 * timers and every process the client starts slip by seconds, so what is asserted here is generous:
 * keepalived moved the role within takeoverMs, and FTP (passive, active) and TFTP were served
 * through the address within servedMs of the death. That the backup was ready before it was
 * master is asserted apart (it listens on the VIP before it holds it).
 */
export const assertFailover = (t: Test, served: FirstServed, takeoverMs: number, servedMs: number, what: string) => {
  t.comment(`${what}: keepalived MASTER ${served.takeover} ms, VIP seen ${served.vipMoved} ms, FTP passive ${served.ftpPassive} ms, active ${served.ftpActive} ms, TFTP ${served.tftp} ms after the death`);
  t.ok(served.takeover < takeoverMs, `${what}: keepalived moved the role within ${takeoverMs} ms (${served.takeover})`);
  for (const [kind, ms] of [['passive FTP', served.ftpPassive], ['active FTP', served.ftpActive], ['TFTP', served.tftp]] as const) {
    t.ok(ms < servedMs, `${what}: ${kind} served through the VIP ${ms} ms after the death (< ${servedMs})`);
  }
};


export interface DirectorProcess {
  readonly name: string;
  readonly ns: string;
  readonly pid: number;
  output(): string;
  running(): boolean;
  /** SIGTERM to lbguard, which stops its keepalived; SIGKILL to the group after 5 s */
  stop(): Promise<void>;
  /** SIGKILL to lbguard's whole process group (lbguard and its keepalived), as a crash or OOM kill */
  killGroup(): Promise<void>;
}

export interface VrrpSettings {
  readonly version: 2 | 3;
  readonly advertInt: number;
}

export interface FirstServed {
  /** ms from the death to the first whole transfer through the virtual address */
  readonly ftpPassive: number;
  readonly ftpActive: number;
  readonly tftp: number;
  /** ms from the death until the virtual address is seen on the other director (polled with ip) */
  readonly vipMoved: number;
  /** ms from the death until the other director's lbguard logged MASTER (keepalived's own part) */
  readonly takeover: number;
}

export interface PairStatus {
  readonly vrrp?: {
    state: string; node?: string; since: string; priority?: number; keepalived: { running: boolean; pid?: number; restarts: number };
    sync?: { engine: string; running: boolean; pid?: number; restarts: number; lastRole?: { state: string; at: string; ok: boolean; error?: string } };
  };
  readonly farms: { backends: { state: string }[] }[];
}

export interface PairOptions {
  /** a veth link `sync0` between the directors (10.96.9.1, .2) for conntrackd */
  readonly syncLink?: boolean;
  /** vsftpd's anon_max_rate on the backends (bytes/s): a download that lasts */
  readonly ftpRate?: number;
}

export interface FarmsOptions {
  /** userspace (default), or nftlb started by lbguard in each director, snat to the VIP */
  readonly dataplane?: 'userspace' | 'nftlb';
  /** vrrp.sync with conntrackd over sync0 (needs syncLink) */
  readonly sync?: boolean;
}

export interface DirectorPair {
  readonly vip: string;
  /** the pair's virtual-router-id (names lbguard's runtime directories: /run/lbguard/sync-ID-dN) */
  readonly routerId: number;
  readonly directors: readonly { name: string; ns: string; address: string }[];
  readonly client: string;
  readonly dir: string;
  /**
   * The pair's one farms file. Priorities close to 255 keep keepalived's skew small: a backup takes
   * over 3 adverts + (256 - priority)/256 of one after the last advert it heard.
   */
  farmsFile(settings: VrrpSettings, priorities?: readonly number[], options?: FarmsOptions): string;
  /** starts d1, then d2 once d1 is MASTER; resolves when d2 is BACKUP and both see every backend up */
  startBoth(file: string, limitMs?: number): Promise<DirectorProcess[]>;
  /** waits until director index reports state */
  waitState(index: number, state: string, limitMs?: number): Promise<void>;
  startDirector(index: number, file: string): DirectorProcess;
  /** a director's JSON /status */
  status(index: number): Promise<PairStatus>;
  /** what `lbguard status` prints in that director's namespace */
  table(index: number): Promise<string>;
  holdsVip(index: number): boolean;
  /** the VIP's service ports a director listens on (ss), as `ADDRESS:PORT tcp|udp` */
  listening(index: number): Promise<string[]>;
  linkDown(index: number): void;
  linkUp(index: number): void;
  /** whole transfers from the client: resolves with who served, or rejects with curl/tftp's complaint */
  ftp(active: boolean, timeoutMs?: number, connectMs?: number): Promise<string>;
  /** runs argv in the client's namespace (no shell) */
  inClient(argv: string[], timeoutMs: number): ReturnType<typeof runCommand>;
  tftp(timeoutMs?: number): Promise<string>;
  /**
   * From `death` (Date.now()), tries each kind of transfer until one succeeds, bounded by limitMs;
   * `other` is the director taking over (its log tells when keepalived made it MASTER).
   */
  firstServed(death: number, limitMs: number, other: number, otherProcess: DirectorProcess): Promise<FirstServed>;
  remove(): Promise<void>;
}

export function directorPair(options: PairOptions = {}): DirectorPair {
  requireBinary(IP, 'iproute2');
  const vsftpd = requireBinary('/usr/sbin/vsftpd', 'vsftpd');
  const tftpd = requireBinary('/usr/sbin/in.tftpd', 'tftpd-hpa');
  const curl = requireBinary('/usr/bin/curl', 'curl');
  const tftpClient = requireBinary('/usr/bin/tftp', 'tftp-hpa');
  requireBinary('/usr/sbin/keepalived', 'keepalived');
  const nsenter = requireBinary('/usr/bin/nsenter', 'util-linux');
  const tag = String(process.pid % 100000);
  const sw = `lbp${tag}s`;
  const client = `lbp${tag}c`;
  const directors = [1, 2].map((n) => ({ name: `d${n}`, ns: `lbp${tag}d${n}`, address: `10.96.0.${n}` }));
  const backendNs = [1, 2].map((n) => `lbp${tag}b${n}`);
  const all = [sw, client, ...directors.map((d) => d.ns), ...backendNs];
  const vip = '10.96.0.100';
  const ip = (...args: string[]) => execFileSync(IP, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-pair-'));
  const backends: L4Backend[] = [];
  const started: DirectorProcess[] = [];
  // a router id no other running test holds: it names lbguard's runtime directories on the host
  const routerLease = leaseRouterId();
  const routerId = routerLease.id;

  const remove = async () => {
    for (const d of started) await d.stop();
    await removeNamespaces(backends, all);
    // vsftpd (isolate_network, its default) runs each session's unprivileged process in a network
    // namespace of its own, which `ip netns pids` of the backend's does not list; one whose client
    // vanished mid-transfer stayed blocked in a send for TCP's retry time. Its command line names
    // this pair's vsftpdN.conf.
    await killProcessesMentioning(dir);
    rmSync(dir, { recursive: true, force: true });
    // what a director killed with SIGKILL could not clean (lbguard's keepalived runtime directory)
    for (const d of directors) {
      for (const kind of ['vrrp', 'sync']) rmSync(`/run/lbguard/${kind}-${routerId}-${d.name}`, { recursive: true, force: true });
    }
    routerLease.release();
  };

  const plug = (ns: string, port: string, address: string) => {
    ip('link', 'add', 'e0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', sw);
    ip('-n', sw, 'link', 'set', port, 'master', 'br0');
    ip('-n', sw, 'link', 'set', port, 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'e0');
    ip('-n', ns, 'link', 'set', 'e0', 'up');
  };
  try {
    addNamespaces(all);
    ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', sw, 'link', 'set', 'br0', 'up');
    plug(client, 'pc', '10.96.0.3');
    directors.forEach((d, i) => plug(d.ns, `pd${i + 1}`, d.address));
    // nftlb forwards: the kernel routes between client and backends
    for (const d of directors) ip('netns', 'exec', d.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    if (options.syncLink) {
      ip('link', 'add', 'sync0', 'netns', directors[0]!.ns, 'type', 'veth', 'peer', 'name', 'sync0', 'netns', directors[1]!.ns);
      directors.forEach((d, i) => {
        ip('-n', d.ns, 'addr', 'add', `10.96.9.${i + 1}/24`, 'dev', 'sync0');
        ip('-n', d.ns, 'link', 'set', 'sync0', 'up');
      });
    }
    backendNs.forEach((ns, i) => {
      const n = i + 1;
      const address = `10.96.0.1${n}`;
      plug(ns, `pb${n}`, address);
      writeBackendFiles(dir, n, address, options.ftpRate ? [`anon_max_rate=${options.ftpRate}`] : []);
      const backend: L4Backend = { ns, address, label: `backend${n}` };
      backend.ftp = startBackendFtp(dir, backend, vsftpd);
      backend.tftp = startBackendTftp(dir, backend, tftpd);
      backends.push(backend);
    });
  } catch (error) {
    void remove();
    throw error;
  }

  // nsenter joins the network namespace only: `ip netns exec` also remounts /sys, a cost per attempt
  const inClient = (argv: string[], timeoutMs: number) => runCommand(nsenter, [`--net=/run/netns/${client}`, ...argv], { timeoutMs });
  let fetches = 0;
  const ftp = async (active: boolean, timeoutMs = 3000, connectMs = timeoutMs) => {
    const seconds = (timeoutMs / 1000).toFixed(2);
    const run = await inClient([curl, '-sS', '--connect-timeout', (connectMs / 1000).toFixed(2), '--max-time', seconds, ...(active ? ['-P', '10.96.0.3'] : []), `ftp://${vip}/pub/who.txt`], timeoutMs + 1000);
    if (run.code !== 0 || !/^backend\d$/.test(run.stdout.trim())) throw new Error(`curl ${run.code}: ${run.stderr.trim()}`);
    return run.stdout.trim();
  };
  const tftp = async (timeoutMs = 3000) => {
    const file = join(dir, `got-${fetches++}`);
    // tftp-hpa waits 5 s before it sends the request again: a lost first request is retried by us
    const run = await inClient([tftpClient, '-m', 'binary', vip, '-c', 'get', 'who.txt', file], timeoutMs);
    let got = '';
    try {
      got = readFileSync(file, 'utf8').trim();
      rmSync(file);
    } catch {
      // nothing came
    }
    if (!/^tftp-backend\d$/.test(got)) throw new Error(`tftp ${run.code}: ${run.stdout}${run.stderr}`.trim());
    return got;
  };
  const holdsVip = (index: number) => ip('-n', directors[index]!.ns, '-4', 'addr', 'show', 'dev', 'e0').includes(`inet ${vip}/`);
  // polled while transfers are timed: never block the event loop that times them
  const holdsVipSoon = async (index: number) => (await runCommand(IP, ['-n', directors[index]!.ns, '-4', 'addr', 'show', 'dev', 'e0'], { timeoutMs: 5000 })).stdout.includes(`inet ${vip}/`);

  /**
   * A new attempt every 250 ms (at most 3 at once): a connection whose first packet went to the dead
   * director is retried by the kernel only after 1 s (tftp-hpa after 5 s), so each attempt gives up
   * on its connection after 0.5 s and one attempt at a time would measure the client's retry timer,
   * not the failover. The first attempt to complete wins. (More at once cost more than they give:
   * each spawn holds this process's event loop a while.)
   */
  const firstSuccess = async (death: number, limitMs: number, attempt: () => Promise<unknown>): Promise<number> => {
    let won: number | undefined;
    const running = new Set<Promise<void>>();
    while (won === undefined && Date.now() - death < limitMs) {
      if (running.size < 3) {
        const one: Promise<void> = attempt().then(
          () => {
            won ??= Date.now() - death;
          },
          () => undefined,
        ).finally(() => running.delete(one));
        running.add(one);
      }
      await Promise.race([new Promise((r) => setTimeout(r, 250)), ...running]);
    }
    await Promise.all(running);
    if (won === undefined) throw new Error(`nothing served within ${limitMs} ms of the death`);
    return won;
  };

  return {
    vip,
    routerId,
    directors,
    client,
    dir,
    farmsFile({ version, advertInt }, priorities = [254, 250], farmsOptions = {}) {
      const check = { interval: '2s', timeout: '1500ms', rise: 1, fall: 3 };
      const nftlb = farmsOptions.dataplane === 'nftlb';
      const dataplane = nftlb ? { type: 'nftlb', start: true, 'source-address': vip } : { type: 'userspace', 'passive-ports': '50000-50099' };
      const backendList = backends.map((b) => ({ name: b.label, address: b.address }));
      const farms = {
        vrrp: {
          interface: 'e0',
          'virtual-router-id': routerId,
          version,
          'advert-int': advertInt,
          'virtual-ipaddress': [`${vip}/24`],
          peers: directors.map((d, i) => ({ name: d.name, address: d.address, priority: priorities[i]!, ...(farmsOptions.sync ? { 'sync-address': `10.96.9.${i + 1}` } : {}) })),
          ...(farmsOptions.sync ? { sync: { engine: 'conntrackd', interface: 'sync0' } } : {}),
        },
        farms: [
          { name: 'ftp', service: 'ftp', virtual: { address: vip, ports: [21] }, scheduler: 'rr', dataplane, check: { probe: 'ftp', ...check }, backends: backendList },
          { name: 'tftp', service: 'tftp', virtual: { address: vip, ports: [69] }, scheduler: 'rr', dataplane, check: { probe: 'tftp', options: { file: 'who.txt' }, ...check }, backends: backendList },
        ],
      };
      const file = join(dir, `farms-v${version}-${advertInt}-${priorities.join('-')}${nftlb ? '-nftlb' : ''}${farmsOptions.sync ? '-sync' : ''}.yaml`);
      writeFileSync(file, stringify(farms));
      return file;
    },
    async startBoth(file, limitMs = 40_000) {
      const d1 = this.startDirector(0, file);
      await this.waitState(0, 'MASTER', limitMs);
      const d2 = this.startDirector(1, file);
      await this.waitState(1, 'BACKUP', limitMs);
      for (const index of [0, 1]) {
        await until(`every backend up on ${directors[index]!.name}`, async () => ((await this.status(index)).farms.every((f) => f.backends.every((b) => b.state === 'up')) ? true : undefined), limitMs);
      }
      return [d1, d2];
    },
    async waitState(index, state, limitMs = 40_000) {
      let last = 'no answer';
      await until(`${directors[index]!.name} ${state}`, async () => {
        try {
          last = (await this.status(index)).vrrp?.state ?? 'no vrrp';
        } catch (error) {
          last = (error as Error).message;
          return undefined;
        }
        return last === state ? true : undefined;
      }, limitMs).catch((error: Error) => {
        const output = started.findLast((d) => d.name === directors[index]!.name)?.output() ?? '';
        throw new Error(`${error.message} (last seen: ${last}); its last lines:\n${output.split('\n').slice(-8).join('\n')}`);
      });
    },
    startDirector(index, file) {
      const d = directors[index]!;
      // detached: lbguard leads a process group of its own (with its keepalived), as under systemd
      const child: ChildProcess = spawn(IP, ['netns', 'exec', d.ns, process.execPath, ...(process.env.PAIR_PROF ? ['--report-on-signal', '--report-signal=SIGUSR2', '--report-directory', process.env.PAIR_PROF] : []), join(ROOT, 'dist', 'lbguard.mjs'), 'run', '-c', file, '--node', d.name, '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      let output = '';
      child.stdout?.on('data', (c) => (output += c));
      child.stderr?.on('data', (c) => (output += c));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const running = () => child.exitCode === null && child.signalCode === null;
      const pid = child.pid!;
      const process_: DirectorProcess = {
        name: d.name,
        ns: d.ns,
        pid,
        output: () => output,
        running,
        async stop() {
          if (!running()) return;
          child.kill('SIGTERM');
          const timer = setTimeout(() => process.kill(-pid, 'SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        },
        async killGroup() {
          process.kill(-pid, 'SIGKILL');
          await exited;
        },
      };
      started.push(process_);
      return process_;
    },
    async status(index) {
      const json = await runCommand(IP, ['netns', 'exec', directors[index]!.ns, curl, '-sS', '--max-time', '5', 'http://127.0.0.1:9100/status'], { timeoutMs: 10_000 });
      if (json.code !== 0) throw new Error(`status of ${directors[index]!.name}: curl ${json.code} ${json.stderr.trim()}`);
      return JSON.parse(json.stdout) as PairStatus;
    },
    async table(index) {
      const run = await runCommand(IP, ['netns', 'exec', directors[index]!.ns, process.execPath, join(ROOT, 'dist', 'lbguard.mjs'), 'status'], { timeoutMs: 30_000 });
      if (run.code !== 0) throw new Error(`lbguard status in ${directors[index]!.name}: exit ${run.code} ${run.stderr}`);
      return run.stdout;
    },
    holdsVip,
    async listening(index) {
      const run = await runCommand(IP, ['netns', 'exec', directors[index]!.ns, 'ss', '-Hltun'], { timeoutMs: 10_000 });
      const wanted = new Set([`${vip}:21`, `${vip}:69`]);
      return run.stdout.split('\n').flatMap((line) => {
        const [proto, , , , local] = line.trim().split(/\s+/);
        return local && wanted.has(local) ? [`${local} ${proto}`] : [];
      }).sort();
    },
    linkDown(index) {
      ip('-n', directors[index]!.ns, 'link', 'set', 'e0', 'down');
    },
    linkUp(index) {
      ip('-n', directors[index]!.ns, 'link', 'set', 'e0', 'up');
    },
    ftp,
    inClient,
    tftp,
    async firstServed(death, limitMs, other, otherProcess) {
      const [ftpPassive, ftpActive, tftpMs, vipMoved] = await Promise.all([
        firstSuccess(death, limitMs, () => ftp(false, 2000, 500)),
        firstSuccess(death, limitMs, () => ftp(true, 2000, 500)),
        firstSuccess(death, limitMs, () => tftp(700)),
        (async () => {
          while (!(await holdsVipSoon(other))) {
            if (Date.now() - death > limitMs) throw new Error(`the VIP did not move within ${limitMs} ms`);
            await new Promise((r) => setTimeout(r, 50));
          }
          return Date.now() - death;
        })(),
      ]);
      const master = otherProcess.output().split('\n').flatMap((line) => {
        const entry = /"event":"vrrp-state"/.test(line) ? (JSON.parse(line) as { time: number; to: string }) : undefined;
        return entry && entry.to === 'MASTER' && entry.time >= death ? [entry.time - death] : [];
      });
      if (!master.length) throw new Error(`${otherProcess.name} logged no MASTER since the death`);
      return { ftpPassive, ftpActive, tftp: tftpMs, vipMoved, takeover: master[0]! };
    },
    remove,
  };
}
