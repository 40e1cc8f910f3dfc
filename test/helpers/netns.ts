import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { type PluginRun, requireBinary, runCommand, until } from './processes.ts';

export interface IsolatedNamespace {
  readonly name: string;
  /** runs argv inside the namespace (no shell) */
  run(argv: readonly string[], options?: { timeoutMs?: number }): Promise<PluginRun>;
  remove(): void;
}

/**
 * The command and arguments that run `argv` inside namespace `ns` (or on the host without one).
 * `ip netns exec` becomes the command (exec, no fork): the PID started is the daemon's own.
 */
export function inNamespace(ns: string | undefined, argv: readonly string[]): [string, string[]] {
  if (ns === undefined) return [argv[0] as string, argv.slice(1)];
  return [requireBinary('/usr/sbin/ip', 'iproute2'), ['netns', 'exec', ns, ...argv]];
}

/** Waits until something listens on TCP `port` inside namespace `ns` (ss run there). */
export async function waitForListenerIn(ns: string, port: number, timeoutMs = 5000): Promise<void> {
  const [command, args] = inNamespace(ns, [requireBinary('/usr/bin/ss', 'iproute2'), '-Hltn', `sport = :${port}`]);
  await until(`a listener on port ${port} in ${ns}`, () => (execFileSync(command, args, { encoding: 'utf8' }).trim() ? true : undefined), timeoutMs);
}

/**
 * A network namespace of the test's own with only loopback up, and a resolv.conf (bind-mounted by
 * `ip netns exec`) that names 127.0.0.1: name look-ups fail at once and nothing leaves the machine,
 * and any address but loopback is unreachable. For "no route" and "unresolvable host" situations.
 */
export function isolatedNamespace(label: string): IsolatedNamespace {
  const ip = requireBinary('/usr/sbin/ip', 'iproute2');
  const name = `lbg-${label}-${process.pid}`;
  execFileSync(ip, ['netns', 'add', name]);
  execFileSync(ip, ['-n', name, 'link', 'set', 'lo', 'up']);
  const etc = `/etc/netns/${name}`;
  mkdirSync(etc, { recursive: true });
  writeFileSync(`${etc}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  return {
    name,
    run: (argv, options = {}) => runCommand(ip, ['netns', 'exec', name, ...argv], options),
    remove() {
      execFileSync(ip, ['netns', 'del', name]);
      rmSync(etc, { recursive: true, force: true });
    },
  };
}
