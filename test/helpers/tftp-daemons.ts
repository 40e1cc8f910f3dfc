import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRequest } from '../../plugins/tftp/codec.ts';
import { type Daemon, requireBinary, startDaemon } from './processes.ts';

export const TFTPD_HPA = '/usr/sbin/in.tftpd';
export const ATFTPD = '/opt/lbguard-test/atftpd/usr/sbin/atftpd';
export const TFTP_CLIENT = '/usr/bin/tftp';

const isV6 = (host: string) => host.includes(':');

/** A UDP port on 127.0.0.1 (or ::1) that was free a moment ago (bound to port 0, then closed). */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  return (await freeUdpPorts(1, host))[0]!;
}

/** `count` UDP ports free on `host`, distinct: their sockets are held together until all are known. */
export async function freeUdpPorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = createSocket(isV6(host) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, host, () => resolve());
      });
      return socket;
    }),
  );
  const ports = sockets.map((socket) => socket.address().port);
  await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
  return ports;
}

/**
 * A UDP port on 127.0.0.1 where nothing answers, held until close(): a socket bound without
 * SO_REUSEADDR that reads nothing, so no tftpd of another test can take the port meanwhile.
 */
export async function silentUdpPort(): Promise<{ port: number; close(): Promise<void> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  socket.on('message', () => {}); // requests are dropped unanswered
  return { port: socket.address().port, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

/** Sends RRQs for a file that does not exist until an answer comes back: UDP has no connect to wait for. */
export async function waitForTftp(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<void> {
  const socket = createSocket(isV6(host) ? 'udp6' : 'udp4');
  try {
    const until = Date.now() + timeoutMs;
    const answered = new Promise<void>((resolve) => {
      socket.on('message', (message) => {
        if (message.length >= 2 && message.readUInt16BE(0) === 5) resolve();
      });
    });
    while (Date.now() < until) {
      socket.send(encodeRequest('RRQ', 'lbguard-readiness-probe', 'octet'), port, host);
      const ok = await Promise.race([answered.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 100))]);
      if (ok) return;
    }
    throw new Error(`no TFTP server answers on ${host} port ${port} after ${timeoutMs} ms`);
  } finally {
    socket.close();
  }
}

export interface TftpServerDir {
  readonly dir: string;
  readonly port: number;
  readonly daemon: Daemon;
  stop(): Promise<void>;
}

/** A world-readable temporary directory with the given files: the daemons drop to nobody before reading. */
function serveDir(files: Readonly<Record<string, Buffer | string>>): string {
  const dir = mkdtempSync(join(tmpdir(), 'lbguard-tftp-'));
  chmodSync(dir, 0o755);
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content);
    chmodSync(join(dir, name), 0o644);
  }
  return dir;
}

async function start(binary: string, args: (port: number, dir: string) => string[], files: Readonly<Record<string, Buffer | string>>, host = '127.0.0.1', processGroup = false): Promise<TftpServerDir> {
  const dir = serveDir(files);
  const port = await freeUdpPort(host);
  const daemon = startDaemon(binary, args(port, dir), { processGroup });
  const stop = async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForTftp(port, host);
  } catch (error) {
    await stop();
    throw new Error(`${binary} did not start: ${daemon.output()} (${(error as Error).message})`);
  }
  return { dir, port, daemon, stop };
}

/**
 * tftpd-hpa in the foreground on 127.0.0.1 (or ::1), serving a temporary directory (chrooted with
 * --secure); it forks a child per transfer. `processGroup`: in a group of its own, to be killed whole.
 */
export function startTftpdHpa(files: Readonly<Record<string, Buffer | string>>, extra: readonly string[] = [], host = '127.0.0.1', processGroup = false): Promise<TftpServerDir> {
  const binary = requireBinary(TFTPD_HPA, 'tftpd-hpa');
  const address = (port: number) => (isV6(host) ? `[${host}]:${port}` : `${host}:${port}`);
  return start(binary, (port, dir) => ['--foreground', '--listen', '--address', address(port), '--secure', ...extra, dir], files, host, processGroup);
}

/** atftpd 0.8 (RFC 7440 windowsize) in the foreground on 127.0.0.1, logging to its stdout. */
export function startAtftpd(files: Readonly<Record<string, Buffer | string>>, extra: readonly string[] = []): Promise<TftpServerDir> {
  const binary = requireBinary(ATFTPD, 'atftpd (unpacked by .ci/run into /opt/lbguard-test/atftpd)');
  return start(binary, (port, dir) => ['--daemon', '--no-fork', '--port', String(port), '--bind-address', '127.0.0.1', '--logfile', '-', ...extra, dir], files);
}
