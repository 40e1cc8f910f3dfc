import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inNamespace, waitForListenerIn } from './netns.ts';
import { type Daemon, freePort, freePortRange, requireBinary, startDaemon, waitForTcp } from './processes.ts';

export interface VsftpdOptions {
  /** allow PORT/EPRT (active mode); default true */
  readonly activeMode?: boolean;
  /** the address announced in PASV replies (vsftpd's pasv_address); default: the control address */
  readonly pasvAddress?: string;
  /** implicit TLS from the first byte (vsftpd's implicit_ssl) */
  readonly implicitTls?: boolean;
  /** offer AUTH TLS with a self-signed certificate; default true */
  readonly tls?: boolean;
  /** the control port; default: a free one */
  readonly port?: number;
  /** run inside this network namespace (on its 127.0.0.1) */
  readonly netns?: string;
  /** in a process group of its own, to be killed whole as in production */
  readonly processGroup?: boolean;
  /** bytes per second per anonymous transfer (vsftpd's anon_max_rate): the server paces it, not the client's buffers */
  readonly anonMaxRate?: number;
}

/** The local account the test logs in with, and the files both it and anonymous can read. */
export interface Vsftpd {
  readonly port: number;
  readonly dir: string;
  readonly user: string;
  readonly password: string;
  /** `hello.txt`'s content, in the anonymous root and the user's home */
  readonly helloContent: string;
  readonly pasvPorts: readonly [number, number];
  readonly daemon: Daemon;
  stop(): Promise<void>;
}

const HELLO = 'hello from vsftpd\n';

/** A system account with a password, created for one test process and removed by stop(). */
export interface FtpUser {
  readonly name: string;
  readonly password: string;
  readonly home: string;
  remove(): void;
}

let users = 0;

/**
 * Deletes the accounts of test processes that are gone: an account is removed at its process's exit,
 * which a process killed by tap's timeout never reaches. Its name carries the PID; a PID running
 * again (reused) keeps its accounts.
 */
function removeOrphanedUsers(userdel: string): void {
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return;
  }
  for (const match of passwd.matchAll(/^(lbgftp(\d+)n\d+):/gm)) {
    if (existsSync(`/proc/${match[2]}`)) continue;
    try {
      execFileSync(userdel, [match[1]!], { stdio: 'ignore' });
    } catch {
      // removed by another test process meanwhile
    }
  }
}

export function createFtpUser(home: string): FtpUser {
  const useradd = requireBinary('/usr/sbin/useradd', 'passwd');
  const userdel = requireBinary('/usr/sbin/userdel', 'passwd');
  const chpasswd = requireBinary('/usr/sbin/chpasswd', 'passwd');
  if (users === 0) removeOrphanedUsers(userdel);
  const name = `lbgftp${process.pid}n${users++}`;
  const password = `pw-${Math.random().toString(36).slice(2, 12)}`;
  try {
    execFileSync(userdel, [name], { stdio: 'ignore' });
  } catch {
    // no leftover account from an earlier run with the same PID: the usual case
  }
  execFileSync(useradd, ['-M', '-d', home, '-s', '/bin/sh', name]);
  execFileSync(chpasswd, [], { input: `${name}:${password}\n` });
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    try {
      execFileSync(userdel, [name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  process.once('exit', remove);
  return { name, password, home, remove };
}

/**
 * vsftpd's passive ports: ten consecutive ports below the kernel's ephemeral range. Two ports taken
 * from there were too few: a third PASV while two transfers ran, or a port held at that moment by
 * another test's outgoing connection, got vsftpd's `500 OOPS` (curl: `Bad PASV/EPSV response: 500`),
 * as status-page-traffic saw in a full run. vsftpd tries a few ports of its range at random when
 * one is busy: with 9 of 10 held, 6 of 10 gets still worked; with 10, a held port seldom matters.
 */
async function passivePorts(): Promise<[number, number]> {
  const first = await freePortRange(PASSIVE_PORTS);
  return [first, first + PASSIVE_PORTS - 1];
}

const PASSIVE_PORTS = 10;

/**
 * A real vsftpd on 127.0.0.1 with its own config, certificate, anonymous root and local user, all in
 * a temporary directory; stop() kills that vsftpd only, deletes the account and the directory.
 */
export async function startVsftpd(options: VsftpdOptions = {}): Promise<Vsftpd> {
  const vsftpd = requireBinary('/usr/sbin/vsftpd', 'vsftpd');
  const openssl = requireBinary('/usr/bin/openssl', 'openssl');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-vsftpd-'));
  chmodSync(dir, 0o755);
  const anon = join(dir, 'anon');
  const home = join(dir, 'home');
  const empty = join(dir, 'empty');
  for (const d of [anon, home, empty]) mkdirSync(d, { mode: 0o755 });
  writeFileSync(join(anon, 'hello.txt'), HELLO);
  writeFileSync(join(home, 'hello.txt'), HELLO);
  const user = createFtpUser(home);
  const uid = Number(execFileSync('id', ['-u', user.name], { encoding: 'utf8' }));
  chownSync(home, uid, -1);
  chownSync(join(home, 'hello.txt'), uid, -1);
  execFileSync(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const port = options.port ?? (await freePort());
  const pasvPorts = await passivePorts();
  const tls = options.tls ?? true;
  const config = [
    'listen=YES',
    'listen_ipv6=NO',
    'listen_address=127.0.0.1',
    `listen_port=${port}`,
    'background=NO',
    'anonymous_enable=YES',
    `anon_root=${anon}`,
    'no_anon_password=YES',
    'local_enable=YES',
    'write_enable=YES',
    'local_umask=022',
    'chroot_local_user=NO',
    `secure_chroot_dir=${empty}`,
    'pasv_enable=YES',
    `pasv_min_port=${pasvPorts[0]}`,
    `pasv_max_port=${pasvPorts[1]}`,
    ...(options.pasvAddress ? [`pasv_address=${options.pasvAddress}`] : []),
    ...(options.anonMaxRate ? [`anon_max_rate=${options.anonMaxRate}`] : []),
    `port_enable=${options.activeMode === false ? 'NO' : 'YES'}`,
    'connect_from_port_20=NO',
    'pam_service_name=vsftpd',
    'seccomp_sandbox=NO',
    'isolate=NO',
    'isolate_network=NO',
    'xferlog_enable=NO',
    `vsftpd_log_file=${join(dir, 'vsftpd.log')}`,
    'max_per_ip=0',
    'max_clients=0',
    ...(tls || options.implicitTls
      ? [
          'ssl_enable=YES',
          `rsa_cert_file=${join(dir, 'cert.pem')}`,
          `rsa_private_key_file=${join(dir, 'key.pem')}`,
          'allow_anon_ssl=YES',
          'force_local_logins_ssl=NO',
          'force_local_data_ssl=NO',
          'force_anon_logins_ssl=NO',
          'force_anon_data_ssl=NO',
          'ssl_tlsv1=NO',
          'ssl_sslv2=NO',
          'ssl_sslv3=NO',
          ...(options.implicitTls ? ['implicit_ssl=YES'] : []),
        ]
      : []),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'vsftpd.conf'), config, { mode: 0o600 });
  const daemon = startDaemon(...inNamespace(options.netns, [vsftpd, join(dir, 'vsftpd.conf')]), { processGroup: options.processGroup });
  const cleanup = async () => {
    await daemon.stop();
    user.remove();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await (options.netns ? waitForListenerIn(options.netns, port) : waitForTcp(port));
  } catch (error) {
    const output = daemon.output();
    await cleanup();
    throw new Error(`vsftpd did not start: ${output} (${(error as Error).message})`);
  }
  return { port, dir, user: user.name, password: user.password, helloContent: HELLO, pasvPorts, daemon, stop: cleanup };
}
