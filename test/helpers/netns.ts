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

export interface LinkedNamespaces {
  /** 10.96.N.1: where the server under test runs */
  readonly server: IsolatedNamespace & { readonly address: string };
  /** 10.96.N.2: another host, as the server sees it */
  readonly client: IsolatedNamespace & { readonly address: string };
  remove(): void;
}

/**
 * Two namespaces of the test's own joined by a veth pair (10.96.N.1 and 10.96.N.2, N from the pid):
 * a peer the server sees as another host, not loopback.
 */
export function linkedNamespaces(label: string): LinkedNamespaces {
  const ip = requireBinary('/usr/sbin/ip', 'iproute2');
  const server = isolatedNamespace(`${label}s`);
  let client: IsolatedNamespace | undefined;
  try {
    client = isolatedNamespace(`${label}c`);
    const net = `10.96.${process.pid % 250}`;
    execFileSync(ip, ['link', 'add', 'v0', 'netns', server.name, 'type', 'veth', 'peer', 'name', 'v1', 'netns', client.name]);
    execFileSync(ip, ['-n', server.name, 'addr', 'add', `${net}.1/24`, 'dev', 'v0']);
    execFileSync(ip, ['-n', client.name, 'addr', 'add', `${net}.2/24`, 'dev', 'v1']);
    execFileSync(ip, ['-n', server.name, 'link', 'set', 'v0', 'up']);
    execFileSync(ip, ['-n', client.name, 'link', 'set', 'v1', 'up']);
    const pair = { server: { ...server, address: `${net}.1` }, client: { ...client, address: `${net}.2` } };
    return { ...pair, remove: () => { server.remove(); client?.remove(); } };
  } catch (error) {
    server.remove();
    client?.remove();
    throw error;
  }
}
