import { connect, type Socket } from 'node:net';
import type { Cutter, Lease, RealServer, ServerPool } from './pool.ts';

export interface DialPolicy {
  /** a connect to a server not answered within this time is given up: a failure of that server */
  readonly connectTimeoutMs: number;
  /** servers tried after the first one's connect failed (HAProxy's `retries` with `option redispatch`) */
  readonly retries: number;
}

export const DEFAULT_DIAL: DialPolicy = { connectTimeoutMs: 1000, retries: 2 };

/** How a dial ended: connected (lease and connection), or why not. */
export type Dialed<C> = { readonly lease: Lease; readonly socket: C } | { readonly lease?: undefined; readonly failure: 'no-server' | 'connect-failed' | 'aborted' };

/**
 * How one connect attempt is made: a net.Socket (FTP, socketConnector below) or a TCP handle (plain
 * TCP farms, tcp-relay.ts). `open` starts connecting and later calls the dial's connected() or
 * failed() once with what it returned, and gives up by itself after `timeoutMs`; `drop` closes a
 * connection that failed or is no longer wanted.
 */
export interface Connector<C> {
  open(host: string, port: number, timeoutMs: number, dial: Dial<C>): C;
  drop(connection: C): void;
}

/**
 * Connects a new session to a server of the pool, hiding connect failures from the client: a
 * refused, reset or timed-out connect gives the lease back, is counted against that server (its
 * `error-limit` may take it out of the rotation at once) and the next server not yet tried is
 * chosen, at most `retries` times.
 */
export class Dial<C> {
  private readonly tried = new Set<RealServer>();
  private lease: Lease | undefined;
  private connection: C | undefined;
  private finished = false;

  constructor(
    private readonly pool: ServerPool,
    private readonly client: string,
    private readonly onCut: Cutter | undefined,
    private readonly policy: DialPolicy,
    private readonly connector: Connector<C>,
    private readonly caller: DialCaller<C>,
  ) {}

  attempt(): void {
    const lease = this.pool.open(this.client, this.onCut, this.tried.size ? this.tried : undefined);
    if (!lease) return this.finish({ failure: this.tried.size ? 'connect-failed' : 'no-server' });
    this.lease = lease;
    this.tried.add(lease.server);
    const { address: host, port } = lease.server.spec;
    this.connection = this.connector.open(host, port, this.policy.connectTimeoutMs, this);
  }

  /** the attempt's connection is up */
  connected(connection: C): void {
    if (connection !== this.connection || this.finished) return;
    this.pool.connected(this.lease!.server);
    this.finish({ lease: this.lease!, socket: connection });
  }

  /** the attempt's connect failed (refused, reset, timed out): the next server, if one is left */
  failed(connection: C, reason: string): void {
    if (connection !== this.connection || this.finished) return;
    this.connector.drop(connection);
    const lease = this.lease!;
    this.lease = undefined;
    this.connection = undefined;
    lease.close();
    this.pool.connectFailed(lease.server, reason);
    if (this.tried.size > this.policy.retries) return this.finish({ failure: 'connect-failed' });
    this.attempt();
  }

  /** the client left (or the session was cut) while connecting: nothing is kept */
  abort(): void {
    if (this.finished) return;
    if (this.connection !== undefined) this.connector.drop(this.connection);
    this.lease?.close();
    this.finish({ failure: 'aborted' });
  }

  private finish(result: Dialed<C>): void {
    this.finished = true;
    this.caller.dialed(result);
  }
}

/** Who waits for a dial: its dialed() is called exactly once. */
export interface DialCaller<C> {
  dialed(result: Dialed<C>): void;
}

const DIAL = Symbol('dial');
type DialSocket = Socket & { [DIAL]: Dial<Socket> };

/** net.Socket connections (half-open allowed, TCP_NODELAY). Handlers are shared functions that find their dial through the socket. */
export const socketConnector: Connector<Socket> = {
  open(host, port, timeoutMs, dial) {
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true, timeout: timeoutMs }) as DialSocket;
    socket[DIAL] = dial;
    socket.once('connect', onDialConnect);
    socket.on('error', onDialError);
    socket.on('timeout', onDialTimeout);
    return socket;
  },
  drop: (socket) => void socket.destroy(),
};

function onDialConnect(this: DialSocket): void {
  this.setTimeout(0);
  this.off('timeout', onDialTimeout);
  this.off('error', onDialError);
  this[DIAL].connected(this);
}
function onDialError(this: DialSocket, error: NodeJS.ErrnoException): void {
  this[DIAL].failed(this, error.code ?? error.message);
}
function onDialTimeout(this: DialSocket): void {
  this[DIAL].failed(this, 'connect timed out');
}

/** Starts a dial for a session of `client`. Its abort() is for a client gone while it connects. */
export function dial<C>(pool: ServerPool, client: string, onCut: Cutter | undefined, policy: DialPolicy, connector: Connector<C>, caller: DialCaller<C>): { abort(): void } {
  const d = new Dial(pool, client, onCut, policy, connector, caller);
  d.attempt();
  return d;
}
