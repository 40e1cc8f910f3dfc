import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadUdpBatch } from '../../lvs-adapters/userspace/client-port.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * A daemon or tool the system tests need. Missing means the test FAILS (with the apt package to
 * install): tests never skip, so a machine without the daemon cannot pass silently.
 */
export function requireBinary(path: string, aptPackage: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new Error(`${path} is missing: apt-get install ${aptPackage} (.ci/run installs it)`);
  }
}

/**
 * The TFTP relay's UDP addon (native/udp-batch.c), which the build makes: missing, the test FAILS
 * as for a missing daemon, never skips (the relay would fall back to dgram unseen).
 */
export function requireUdpBatch(): void {
  if (!loadUdpBatch()) throw new Error('native/build/Release/udp_batch.node is missing: npm run build makes it (node-gyp needs g++, make and python3: scripts/setup-debian.sh)');
}

/**
 * `count` consecutive TCP ports free on every address a moment ago (an FTP passive range), taken
 * below the kernel's ephemeral range (32768 and up here), where no connection of another test takes
 * a local port: a range starting at a freePort() had its next ports in the ephemeral range, and any
 * of them could be held by another test's connection.
 */
export async function freePortRange(count: number): Promise<number> {
  const hold = (port: number) => new Promise<ReturnType<typeof createServer> | undefined>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (12000 - count));
    const held = await Promise.all(Array.from({ length: count }, (_, i) => hold(base + i)));
    await Promise.all(held.map((server) => server && new Promise((resolve) => server.close(resolve))));
    if (held.every(Boolean)) return base;
  }
  throw new Error(`no ${count} consecutive free ports found in 20000-32000`);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/**
 * `count` distinct free ports on 127.0.0.1: all are held at once before any is let go, so no two are
 * the same (freePort() called in a row may hand out a port it just gave back).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export interface RefusingPort {
  readonly port: number;
  release(): Promise<void>;
}

// Binds a TCP socket to 127.0.0.1 port 0 without listen() and without SO_REUSEADDR, prints the
// port and holds it until its stdin closes (the test's end, or the test process's death).
const HOLD_PORT = 'use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!\\n"; bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!\\n"; my ($port) = unpack_sockaddr_in(getsockname($s)); $| = 1; print "$port\\n"; <STDIN>;';

/**
 * A TCP port on 127.0.0.1 that refuses connections until release(), and that no other process can
 * take meanwhile (freePort's can be taken between its close and the test's connect): a socket
 * bound there without listening, so a SYN gets a reset, and without SO_REUSEADDR, so another bind
 * to it fails. Node binds TCP only with SO_REUSEADDR, so perl (Essential in Debian) holds it.
 */
export async function refusingPort(): Promise<RefusingPort> {
  const perl = requireBinary('/usr/bin/perl', 'perl-base');
  const holder = spawn(perl, ['-e', HOLD_PORT], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => holder.once('close', () => resolve()));
  let said = '';
  holder.stderr?.on('data', (d) => (said += d));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    holder.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    holder.once('error', reject);
    void exited.then(() => reject(new Error(`perl could not hold a port: ${said.trim() || 'no output'}`)));
  });
  return {
    port,
    async release() {
      holder.stdin?.end();
      const timer = setTimeout(() => holder.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function waitForTcp(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => { socket.destroy(); resolve(false); });
      socket.connect(port, host);
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Asks `get` every 50 ms until it gives a value (a throw counts as not yet); fails after timeoutMs. */
export async function until<T>(what: string, get: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await (async () => get())().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The live processes whose command line contains `text` (a test's own temporary directory, say). */
export function processesMentioning(text: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(text)) found.push({ pid: Number(entry), cmdline: cmdline.split('\0').join(' ').trim() });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * SIGKILLs, by PID, every process whose command line names `dir`, a directory of the test's own
 * (mkdtemp): what its daemons forked and let go of, in a session and a namespace of its own. A
 * process forked meanwhile is caught by the next of up to five passes.
 */
export async function killProcessesMentioning(dir: string): Promise<void> {
  for (let pass = 0; pass < 5; pass++) {
    const left = processesMentioning(dir);
    if (left.length === 0) return;
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The pids of a process's children (Linux /proc; none once it is gone). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface Daemon {
  readonly pid: number;
  readonly output: () => string;
  readonly running: () => boolean;
  /** its exit code once it exited (null when a signal ended it) */
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Starts a daemon in the foreground, keeping its PID; stop() kills that PID only (TERM, then KILL).
 * `processGroup`: in a process group of its own, which a test may kill whole (`kill -KILL -PID`).
 */
export function startDaemon(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; processGroup?: boolean } = {}): Daemon {
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, detached: options.processGroup ?? false });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid,
    exited,
    output: () => output,
    running: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface PluginRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly firstLine: string;
  readonly ms: number;
}

/** Runs a built plugin bundle (`dist/plugins/NAME.cjs`) or any executable, never through a shell. */
export async function runCommand(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<PluginRun> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(command, args, { env: options.env ?? process.env, timeout: options.timeoutMs ?? 30000, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr, firstLine: stdout.split('\n')[0] ?? '', ms: performance.now() - started });
    });
  });
}

export function pluginPath(name: string): string {
  return join(ROOT, 'dist', 'plugins', `${name}.cjs`);
}

export async function runPlugin(name: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<PluginRun> {
  return runCommand(process.execPath, [pluginPath(name), ...args], options);
}

/** monitoring-plugins' C plugins, for side-by-side compatibility tests */
export function cPlugin(name: string): string {
  return requireBinary(`/usr/lib/nagios/plugins/${name}`, 'monitoring-plugins-basic');
}
