import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Daemon, killProcessesMentioning, requireBinary, startDaemon } from './processes.ts';

const IP = '/usr/sbin/ip';

export interface L4Backend {
  readonly ns: string;
  readonly address: string;
  /** `pub/who.txt` over FTP holds `backendN`, `who.txt` over TFTP holds `tftp-backendN` */
  readonly label: string;
  ftp?: Daemon;
  tftp?: Daemon;
}

export interface L4Topology {
  readonly client: string;
  readonly balancer: string;
  readonly clientAddress: string;
  /** an address of the balancer on the client side: the virtual address */
  readonly vip: string;
  readonly backends: readonly L4Backend[];
  readonly dir: string;
  startFtp(backend: L4Backend): void;
  startTftp(backend: L4Backend): void;
  remove(): Promise<void>;
}

/** Stops the backends' daemons (by PID) and deletes the namespaces named. */
export async function removeNamespaces(backends: readonly L4Backend[], namespaces: readonly string[]): Promise<void> {
  for (const b of backends) {
    await b.ftp?.stop();
    await b.tftp?.stop();
  }
  for (const ns of namespaces) {
    // what the daemons forked and let go of (a vsftpd session in its own session id, mid-transfer)
    // still runs in the namespace: every process there is this test's, and none outlives it. A
    // session forked while they are killed is caught by the next pass.
    for (let pass = 0; pass < 5; pass++) {
      let pids: string[];
      try {
        pids = execFileSync(IP, ['netns', 'pids', ns], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split('\n').filter(Boolean);
      } catch {
        break; // never made
      }
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    try {
      execFileSync(IP, ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // never made
    }
  }
}

/** Fresh namespaces (any left over by an earlier run of the same process id deleted), loopback up. */
export function addNamespaces(namespaces: readonly string[]): void {
  for (const ns of namespaces) {
    try {
      execFileSync(IP, ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // none left over
    }
    execFileSync(IP, ['netns', 'add', ns]);
    execFileSync(IP, ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
}

/**
 * Backend N's files under dir: `ftpN/pub/who.txt` (`backendN`), `tftpN/who.txt` (`tftp-backendN`),
 * and `vsftpdN.conf` (anonymous, passive 40000-40100 and active, listening on address only).
 */
export function writeBackendFiles(dir: string, n: number, address: string, vsftpdExtra: readonly string[] = []): void {
  mkdirSync('/var/run/vsftpd/empty', { recursive: true });
  const ftpRoot = join(dir, `ftp${n}`);
  const tftpRoot = join(dir, `tftp${n}`);
  mkdirSync(join(ftpRoot, 'pub'), { recursive: true });
  mkdirSync(tftpRoot, { recursive: true });
  writeFileSync(join(ftpRoot, 'pub', 'who.txt'), `backend${n}\n`);
  writeFileSync(join(tftpRoot, 'who.txt'), `tftp-backend${n}\n`);
  chmodSync(join(ftpRoot, 'pub', 'who.txt'), 0o644);
  chmodSync(join(tftpRoot, 'who.txt'), 0o644);
  chmodSync(tftpRoot, 0o755);
  chmodSync(join(ftpRoot, 'pub'), 0o755);
  chmodSync(ftpRoot, 0o555);
  writeFileSync(
    join(dir, `vsftpd${n}.conf`),
    [
      'listen=YES', 'listen_ipv6=NO', `listen_address=${address}`, 'background=NO',
      'anonymous_enable=YES', `anon_root=${ftpRoot}`, 'no_anon_password=YES', 'local_enable=NO', 'write_enable=NO',
      'pasv_enable=YES', 'pasv_min_port=40000', 'pasv_max_port=40100', 'port_enable=YES', 'connect_from_port_20=NO',
      'seccomp_sandbox=NO', 'secure_chroot_dir=/var/run/vsftpd/empty', 'xferlog_enable=NO', 'max_per_ip=0', 'max_clients=0',
      `vsftpd_log_file=${join(dir, `vsftpd${n}.log`)}`, ...vsftpdExtra, '',
    ].join('\n'),
  );
}

/** vsftpd of a backend whose files writeBackendFiles wrote (N is the last character of its label). */
export function startBackendFtp(dir: string, backend: L4Backend, vsftpd = '/usr/sbin/vsftpd'): Daemon {
  return startDaemon(IP, ['netns', 'exec', backend.ns, vsftpd, join(dir, `vsftpd${backend.label.slice(-1)}.conf`)]);
}

/** tftpd-hpa of that backend, on its address, port 69. */
export function startBackendTftp(dir: string, backend: L4Backend, tftpd = '/usr/sbin/in.tftpd'): Daemon {
  return startDaemon(IP, ['netns', 'exec', backend.ns, tftpd, '--foreground', '--listen', '--address', `${backend.address}:69`, '--secure', join(dir, `tftp${backend.label.slice(-1)}`)]);
}

/**
 * The topology of a real L4 farm, in namespaces of the test's own: client 10.97.1.2 -- balancer
 * 10.97.1.1 (the virtual address) | bridge 10.97.2.1 -- backends 10.97.2.11 and 10.97.2.12, each
 * running vsftpd (passive and active) and tftpd-hpa over a directory whose file names the backend.
 * remove() stops only the daemons it started (by PID) and deletes the namespaces.
 */
export function l4Topology(): L4Topology {
  requireBinary(IP, 'iproute2');
  const vsftpd = requireBinary('/usr/sbin/vsftpd', 'vsftpd');
  const tftpd = requireBinary('/usr/sbin/in.tftpd', 'tftpd-hpa');
  const tag = String(process.pid % 100000);
  const client = `lbg${tag}c`;
  const balancer = `lbg${tag}l`;
  const bes = [`lbg${tag}b1`, `lbg${tag}b2`];
  const all = [client, balancer, ...bes];
  const ip = (...args: string[]) => execFileSync(IP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-l4-'));
  chmodSync(dir, 0o755);
  const backends: L4Backend[] = [];
  const remove = async () => {
    await removeNamespaces(backends, all);
    await killProcessesMentioning(dir);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    addNamespaces(all);
    ip('link', 'add', 'c0', 'netns', client, 'type', 'veth', 'peer', 'name', 'l0', 'netns', balancer);
    ip('-n', client, 'addr', 'add', '10.97.1.2/24', 'dev', 'c0');
    ip('-n', client, 'link', 'set', 'c0', 'up');
    ip('-n', client, 'route', 'add', 'default', 'via', '10.97.1.1');
    ip('-n', balancer, 'addr', 'add', '10.97.1.1/24', 'dev', 'l0');
    ip('-n', balancer, 'link', 'set', 'l0', 'up');
    ip('-n', balancer, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', balancer, 'link', 'set', 'br0', 'up');
    ip('-n', balancer, 'addr', 'add', '10.97.2.1/24', 'dev', 'br0');
    ip('netns', 'exec', balancer, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    bes.forEach((ns, i) => {
      const n = i + 1;
      const address = `10.97.2.1${n}`;
      ip('link', 'add', 'b0', 'netns', ns, 'type', 'veth', 'peer', 'name', `lb${n}`, 'netns', balancer);
      ip('-n', balancer, 'link', 'set', `lb${n}`, 'master', 'br0');
      ip('-n', balancer, 'link', 'set', `lb${n}`, 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'b0');
      ip('-n', ns, 'link', 'set', 'b0', 'up');
      ip('-n', ns, 'route', 'add', 'default', 'via', '10.97.2.1');
      writeBackendFiles(dir, n, address);
      backends.push({ ns, address, label: `backend${n}` });
    });
  } catch (error) {
    void remove();
    throw error;
  }
  return {
    client,
    balancer,
    clientAddress: '10.97.1.2',
    vip: '10.97.1.1',
    backends,
    dir,
    startFtp(backend) {
      backend.ftp = startBackendFtp(dir, backend, vsftpd);
    },
    startTftp(backend) {
      backend.tftp = startBackendTftp(dir, backend, tftpd);
    },
    remove,
  };
}
