import { connect, type Socket } from 'node:net';
import { CheckFailure } from './errors.ts';
import { type AddressFamily, isSocketPath, resolveHost } from './host.ts';
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
 */
export async function connectTcp(target: TcpTarget, signal: AbortSignal, trace: Trace): Promise<Socket> {
  trace.enter('resolving the host name');
  const path = isSocketPath(target.host) ? target.host : undefined;
  const resolved = path ? undefined : await resolveHost(target.host, target.family, signal, target.unresolvedState);
  trace.enter('connecting');
  if (resolved) trace.note(2, `connecting to ${resolved.address} port ${target.port}`);
  return new Promise<Socket>((resolve, reject) => {
    const socket = path ? connect({ path }) : connect({ host: resolved!.address, port: target.port, family: resolved!.family });
    socket.setNoDelay(true);
    const onAbort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', (error) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(connectFailure(target, error, path));
    });
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      // Readers attach their own error listeners; this one only keeps a late error from crashing the process.
      socket.on('error', () => undefined);
      signal.removeEventListener('abort', onAbort);
      // From here on the socket belongs to the caller; destroy it on abort so nothing is left open.
      signal.addEventListener('abort', () => socket.destroy(), { once: true });
      resolve(socket);
    });
  });
}
