import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { type PluginRun, requireBinary, runCommand } from './processes.ts';

export interface IsolatedNamespace {
  readonly name: string;
  /** runs argv inside the namespace (no shell) */
  run(argv: readonly string[], options?: { timeoutMs?: number }): Promise<PluginRun>;
  remove(): void;
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
