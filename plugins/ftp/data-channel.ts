import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { CheckFailure } from '../runtime/errors.ts';
import { printable } from '../runtime/outcome.ts';
import { strerror } from '../runtime/tcp.ts';
import type { Trace } from '../runtime/trace.ts';
import { type ControlChannel, describeError } from './control.ts';

export type DataMode = 'passive' | 'active';

export interface DataChannelOptions {
  readonly mode: DataMode;
  readonly allowPasvRedirect: boolean;
  /** TLS options of the control connection, reused (with its session) on the data connection */
  readonly tls: ConnectionOptions;
  /** how long a data connection may take to open before the phase fails with its own message */
  readonly budgetMs: () => number;
}

/** A data connection being set up: passive ones are open already, active ones come in later. */
export interface DataChannel {
  readonly description: string;
  connection(): Promise<Socket>;
  close(): void;
}

const withoutMappedPrefix = (address: string) => address.replace(/^::ffff:/i, '');
/**
 * For the addresses of our own sockets and of PASV/EPSV replies, always plain literals: node:net's
 * isIPv6 compiles a regular expression so large that its first call costs several ms of a start-up.
 */
const isIPv6 = (address: string) => address.includes(':');
const endpoint = (host: string, port: number) => (isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

/** `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`, RFC 959 */
export function parsePasv(message: string): { host: string; port: number } | undefined {
  const match = /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/.exec(message);
  if (!match) return undefined;
  const n = match.slice(1).map(Number);
  if (n.some((v) => v > 255)) return undefined;
  return { host: n.slice(0, 4).join('.'), port: (n[4] as number) * 256 + (n[5] as number) };
}

/** `229 Entering Extended Passive Mode (|||port|)`, RFC 2428 */
export function parseEpsv(message: string): number | undefined {
  const match = /\((.)\1\1(\d{1,5})\1\)/.exec(message);
  const port = match ? Number(match[2]) : NaN;
  return port > 0 && port < 65536 ? port : undefined;
}

/** `PORT h1,h2,h3,h4,p1,p2` or, for IPv6, `EPRT |2|addr|port|` */
export function portCommand(address: string, port: number): string {
  if (isIPv6(address)) return `EPRT |2|${address}|${port}|`;
  return `PORT ${address.split('.').join(',')},${port >> 8},${port & 255}`;
}

function bounded<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), Math.max(ms, 1));
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function connectData(host: string, port: number, ms: number, signal: AbortSignal): Promise<Socket> {
  const where = `passive data connection to ${endpoint(host, port)}`;
  let socket: Socket | undefined;
  const opened = new Promise<Socket>((resolve, reject) => {
    socket = connect({ host, port });
    socket.once('connect', () => {
      // late errors surface through whoever reads the socket; this keeps them from crashing the process
      socket?.on('error', () => undefined);
      resolve(socket as Socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      reject(new CheckFailure(error.code === 'ECONNREFUSED' ? `${where} refused` : `${where} failed: ${strerror(error)}`));
    });
    signal.addEventListener('abort', () => socket?.destroy(), { once: true });
  });
  return bounded(opened, ms, () => {
    socket?.destroy();
    return new CheckFailure(`${where} timed out`);
  });
}

async function openPassive(control: ControlChannel, options: DataChannelOptions, signal: AbortSignal, trace: Trace): Promise<DataChannel> {
  const controlHost = withoutMappedPrefix(control.socket.remoteAddress ?? '');
  let host = controlHost;
  let port: number | undefined;
  if (isIPv6(controlHost)) {
    const reply = await control.send('EPSV').catch((error: unknown) => Promise.reject(new CheckFailure(`EPSV failed: ${describeError(error)}`)));
    port = parseEpsv(reply.message);
    if (port === undefined) throw new CheckFailure(`cannot parse the EPSV reply: ${printable(reply.message)}`);
  } else {
    const reply = await control.send('PASV').catch((error: unknown) => Promise.reject(new CheckFailure(`PASV failed: ${describeError(error)}`)));
    const target = parsePasv(reply.message);
    if (!target) throw new CheckFailure(`cannot parse the PASV reply: ${printable(reply.message)}`);
    if (target.host !== controlHost && !options.allowPasvRedirect) {
      throw new CheckFailure(`PASV reply points to ${endpoint(target.host, target.port)}, not to the control host ${controlHost}: refused (--allow-pasv-redirect follows it)`);
    }
    ({ host, port } = target);
  }
  trace.enter(`opening the passive data connection to ${endpoint(host, port)}`);
  const socket = await connectData(host, port, options.budgetMs(), signal);
  return {
    description: `passive ${endpoint(host, port)}`,
    connection: async () => socket,
    close: () => socket.destroy(),
  };
}

async function openActive(control: ControlChannel, options: DataChannelOptions, signal: AbortSignal, trace: Trace): Promise<DataChannel> {
  const localAddress = withoutMappedPrefix(control.socket.localAddress ?? '127.0.0.1');
  const controlHost = withoutMappedPrefix(control.socket.remoteAddress ?? '');
  const server: Server = createServer();
  const close = () => server.close();
  signal.addEventListener('abort', close, { once: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, localAddress, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const where = endpoint(localAddress, port);
  // Only the server we talk to may connect; anyone else who finds the port is turned away.
  const accepted = new Promise<Socket>((resolve, reject) => {
    server.on('connection', (socket) => {
      if (withoutMappedPrefix(socket.remoteAddress ?? '') !== controlHost && !options.allowPasvRedirect) {
        socket.destroy();
        return;
      }
      socket.on('error', () => undefined);
      server.close();
      resolve(socket);
    });
    server.once('close', () => reject(new CheckFailure(`active data connection to ${where} closed before the server connected`)));
  });
  accepted.catch(() => undefined);
  try {
    await control.send(portCommand(localAddress, port));
  } catch (error) {
    close();
    throw new CheckFailure(`active mode refused by the server: ${describeError(error)}`);
  }
  return {
    description: `active ${where}`,
    connection: () => {
      trace.enter(`waiting for the server to open the active data connection to ${where}`);
      return bounded(accepted, options.budgetMs(), () => new CheckFailure(`active data connection: the server did not connect to ${where} in time`));
    },
    close: () => {
      close();
      accepted.then((socket) => socket.destroy(), () => undefined);
    },
  };
}

/** PASV/EPSV (connects now) or PORT/EPRT (listens now, the server connects after the command). */
export async function openDataChannel(control: ControlChannel, options: DataChannelOptions, signal: AbortSignal, trace: Trace): Promise<DataChannel> {
  return options.mode === 'active' ? openActive(control, options, signal, trace) : openPassive(control, options, signal, trace);
}

/** With PROT P the data connection is a TLS client too, resuming the control session. */
export async function protect(socket: Socket, control: ControlChannel, tls: ConnectionOptions, signal: AbortSignal): Promise<Socket> {
  if (!control.secure) return socket;
  // node:tls only for the checks that use it: loading it is a good part of a start-up
  const { connect: tlsConnect } = await import('node:tls');
  const secured = tlsConnect({ ...tls, socket, session: control.tlsSession });
  signal.addEventListener('abort', () => secured.destroy(), { once: true });
  await new Promise<void>((resolve, reject) => {
    secured.once('secureConnect', () => resolve());
    secured.once('error', (error) => reject(new CheckFailure(`TLS on the data connection failed: ${describeError(error)}`)));
  });
  return secured;
}
