import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { CheckFailure } from './errors.ts';
import { type AddressFamily, isSocketPath, literalAddress, type Resolved, resolveHost } from './host.ts';
import { CRITICAL, type State } from './state.ts';
import type { Trace } from './trace.ts';

/** strerror(3) texts, so connect failures read as they do from the C plugins. */
const STRERROR: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ENETUNREACH: 'Network is unreachable',
  EHOSTUNREACH: 'No route to host',
  ETIMEDOUT: 'Connection timed out',
  ECONNRESET: 'Connection reset by peer',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EACCES: 'Permission denied',
  ENOENT: 'No such file or directory',
  EPERM: 'Operation not permitted',
};

export function strerror(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  return (code && STRERROR[code]) || (error instanceof Error ? error.message : String(error));
}

export interface TcpTarget {
  readonly host: string;
  readonly port: number;
  readonly family: AddressFamily;
  /** state for "connection refused" (check_tcp's -r); CRITICAL by default */
  readonly refusedState?: State;
  /** state when the name does not resolve */
  readonly unresolvedState?: State;
  /** TCP_NODELAY (default true: probes write short commands and wait for the answer) */
  readonly noDelay?: boolean;
}

/** A failed connect in the C plugins' words: `connect to address H and port P: Connection refused`. */
export function connectFailure(target: TcpTarget, error: unknown, path?: string): CheckFailure {
  const where = path ? `socket ${path}` : `address ${target.host} and port ${target.port}`;
  const state = (error as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? target.refusedState ?? CRITICAL : CRITICAL;
  return new CheckFailure(`connect to ${where}: ${strerror(error)}`, state);
}

/**
 * Opens a TCP (or Unix socket) connection that is destroyed if the signal aborts. Failures become
 * CheckFailure with the C plugins' wording: `connect to address H and port P: Connection refused`.
 * An address (the usual -H, every backend of a farms file) connects at once, without the resolver.
 */
export function connectTcp(target: TcpTarget, signal: AbortSignal, trace: Trace): Promise<Socket> {
  if (isSocketPath(target.host)) {
    trace.enter('connecting');
    return openSocket(target, { path: target.host }, signal);
  }
  let literal: Resolved | undefined;
  try {
    literal = literalAddress(target.host, target.family, target.unresolvedState);
  } catch (error) {
    return Promise.reject(error);
  }
  return literal ? connectTo(target, literal, signal, trace) : resolveAndConnect(target, signal, trace);
}

async function resolveAndConnect(target: TcpTarget, signal: AbortSignal, trace: Trace): Promise<Socket> {
  trace.enter('resolving the host name');
  return connectTo(target, await resolveHost(target.host, target.family, signal, target.unresolvedState), signal, trace);
}

function connectTo(target: TcpTarget, resolved: Resolved, signal: AbortSignal, trace: Trace): Promise<Socket> {
  trace.enter('connecting');
  trace.note(2, `connecting to ${resolved.address} port ${target.port}`);
  return openSocket(target, endpointOf(target, resolved), signal);
}

/** Where a TCP connect to `target` at its resolved address goes (net.connect's options). */
export function endpointOf(target: TcpTarget, resolved: Resolved): NetConnectOpts {
  return { host: resolved.address, port: target.port, family: resolved.family, noDelay: target.noDelay ?? true };
}

function openSocket(target: TcpTarget, endpoint: NetConnectOpts, signal: AbortSignal): Promise<Socket> {
  const path = 'path' in endpoint ? endpoint.path : undefined;
  return new Promise<Socket>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const socket = connect(endpoint);
    // One listener for the socket's whole life: before the connect it fails the attempt, after it
    // closes the caller's socket (the attempt settled, rejecting again does nothing).
    signal.addEventListener('abort', () => {
      socket.destroy();
      reject(signal.reason);
    }, { once: true });
    // Kept after the connect as well: a late error must not crash the process (readers add their own).
    socket.on('error', (error) => {
      socket.destroy();
      reject(connectFailure(target, error, path));
    });
    socket.once('connect', () => resolve(socket));
  });
}
