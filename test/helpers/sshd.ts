import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inNamespace, waitForListenerIn } from './netns.ts';
import { type Daemon, freePort, requireBinary, startDaemon, waitForTcp } from './processes.ts';

export interface Sshd {
  readonly port: number;
  readonly dir: string;
  /** `SHA256:...` of the server's host key */
  readonly hostKeyFingerprint: string;
  /** a private key accepted for `user` */
  readonly userKeyPath: string;
  readonly user: string;
  readonly daemon: Daemon;
  /** stops the sshd process, keeping its directory and port so that start() brings it back */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real OpenSSH server on 127.0.0.1 with its own host key, config and authorized key, in a
 * temporary directory; stop() kills that sshd only and removes the directory.
 */
export async function startSshd(options: { port?: number; netns?: string } = {}): Promise<Sshd> {
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const keygen = requireBinary('/usr/bin/ssh-keygen', 'openssh-client');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-sshd-'));
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user_key')]);
  execFileSync('cp', [join(dir, 'user_key.pub'), join(dir, 'authorized_keys')]);
  const hostKeyFingerprint = execFileSync(keygen, ['-lf', join(dir, 'host_key.pub')], { encoding: 'utf8' }).split(' ')[1] as string;
  const user = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  const port = options.port ?? (await freePort());
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const launch = async () => {
    const started = startDaemon(...inNamespace(options.netns, [sshd, '-D', '-e', '-f', join(dir, 'sshd_config')]));
    try {
      await (options.netns ? waitForListenerIn(options.netns, port) : waitForTcp(port));
      await new Promise((r) => setTimeout(r, 50));
      if (!started.running()) throw new Error('sshd exited (is the port taken?)');
    } catch (error) {
      await started.stop();
      throw new Error(`sshd did not start: ${started.output()} (${(error as Error).message})`);
    }
    return started;
  };
  let daemon = await launch();
  return {
    port,
    dir,
    hostKeyFingerprint,
    userKeyPath: join(dir, 'user_key'),
    user,
    get daemon() {
      return daemon;
    },
    kill: () => daemon.stop(),
    async start() {
      daemon = await launch();
    },
    async stop() {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
