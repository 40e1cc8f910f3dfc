import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inNamespace, waitForListenerIn } from './netns.ts';
import { type Daemon, freePort, requireBinary, startDaemon, waitForTcp } from './processes.ts';

/** ssh-keygen's key types and sizes for host keys */
export const HOST_KEY_TYPES = {
  ed25519: ['-t', 'ed25519'],
  ecdsa: ['-t', 'ecdsa', '-b', '256'],
  'ecdsa-384': ['-t', 'ecdsa', '-b', '384'],
  'ecdsa-521': ['-t', 'ecdsa', '-b', '521'],
  rsa: ['-t', 'rsa', '-b', '2048'],
} as const;
export type HostKeyType = keyof typeof HOST_KEY_TYPES;

export interface Sshd {
  readonly port: number;
  readonly dir: string;
  /** `SHA256:...` of the server's (first) host key, as `ssh-keygen -lf` prints it */
  readonly hostKeyFingerprint: string;
  /** the same for each of its host keys */
  readonly hostKeyFingerprints: Readonly<Partial<Record<HostKeyType, string>>>;
  /** a private key accepted for `user` */
  readonly userKeyPath: string;
  readonly user: string;
  readonly daemon: Daemon;
  /** stops the sshd process, keeping its directory and port so that start() brings it back */
  kill(): Promise<void>;
  start(): Promise<void>;
  /**
   * Another sshd with the same keys and config on a port of its own, the given sshd_config
   * keywords overriding (`{ KexAlgorithms: 'curve25519-sha256' }`); stop it, or stop() stops it.
   */
  variant(overrides: Readonly<Record<string, string>>): Promise<{ readonly port: number; readonly daemon: Daemon; stop(): Promise<void> }>;
  stop(): Promise<void>;
}

/**
 * A real OpenSSH server on 127.0.0.1 with its own host keys (one Ed25519 key unless `hostKeys`
 * says otherwise), config and authorized key, in a temporary directory; stop() kills that sshd
 * only and removes the directory.
 */
export async function startSshd(options: { port?: number; netns?: string; hostKeys?: readonly HostKeyType[] } = {}): Promise<Sshd> {
  const sshd = requireBinary('/usr/sbin/sshd', 'openssh-server');
  const keygen = requireBinary('/usr/bin/ssh-keygen', 'openssh-client');
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-sshd-'));
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKeyTypes = options.hostKeys ?? ['ed25519'];
  const hostKeyFingerprints: Partial<Record<HostKeyType, string>> = {};
  for (const type of hostKeyTypes) {
    const file = join(dir, type === 'ed25519' ? 'host_key' : `host_key_${type}`);
    execFileSync(keygen, ['-q', ...HOST_KEY_TYPES[type], '-N', '', '-f', file]);
    hostKeyFingerprints[type] = execFileSync(keygen, ['-lf', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1] as string;
  }
  execFileSync(keygen, ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user_key')]);
  execFileSync('cp', [join(dir, 'user_key.pub'), join(dir, 'authorized_keys')]);
  const user = execFileSync('id', ['-un'], { encoding: 'utf8' }).trim();
  const port = options.port ?? (await freePort());
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      ...hostKeyTypes.map((type) => `HostKey ${join(dir, type === 'ed25519' ? 'host_key' : `host_key_${type}`)}`),
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
  const launch = async (listenPort = port, overrides: readonly string[] = []) => {
    const started = startDaemon(...inNamespace(options.netns, [sshd, '-D', '-e', '-f', join(dir, 'sshd_config'), ...overrides]));
    try {
      await (options.netns ? waitForListenerIn(options.netns, listenPort) : waitForTcp(listenPort));
      await new Promise((r) => setTimeout(r, 50));
      if (!started.running()) throw new Error('sshd exited (is the port taken?)');
    } catch (error) {
      await started.stop();
      throw new Error(`sshd did not start: ${started.output()} (${(error as Error).message})`);
    }
    return started;
  };
  let daemon = await launch();
  const variants = new Set<Daemon>();
  return {
    port,
    dir,
    hostKeyFingerprint: hostKeyFingerprints[hostKeyTypes[0] as HostKeyType] as string,
    hostKeyFingerprints,
    userKeyPath: join(dir, 'user_key'),
    user,
    get daemon() {
      return daemon;
    },
    kill: () => daemon.stop(),
    async start() {
      daemon = await launch();
    },
    async variant(overrides) {
      // -p replaces the config file's Port (an -o Port would add to it)
      const settings = Object.entries({ ...overrides, PidFile: 'none' }).flatMap(([keyword, value]) => ['-o', `${keyword}=${value}`]);
      // A port below the ephemeral range, which other tests' outgoing connections cannot hold;
      // another listener may, so a taken one is tried again elsewhere.
      for (let attempt = 1; ; attempt++) {
        const variantPort = 20000 + Math.floor(Math.random() * 12000);
        let started: Daemon;
        try {
          started = await launch(variantPort, ['-p', String(variantPort), ...settings]);
        } catch (error) {
          if (attempt < 5 && /Address already in use/.test((error as Error).message)) continue;
          throw error;
        }
        variants.add(started);
        return {
          port: variantPort,
          daemon: started,
          stop: async () => {
            variants.delete(started);
            await started.stop();
          },
        };
      }
    },
    async stop() {
      await Promise.all([daemon.stop(), ...[...variants].map((v) => v.stop())]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
