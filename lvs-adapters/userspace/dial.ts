import { connect, type OnReadOpts, type Socket } from 'node:net';
import type { Cutter, Lease, RealServer, ServerPool } from './pool.ts';

export interface DialPolicy {
  /** a connect to a server not answered within this time is given up: a failure of that server */
  readonly connectTimeoutMs: number;
  /** servers tried after the first one's connect failed (HAProxy's `retries` with `option redispatch`) */
  readonly retries: number;
}

export const DEFAULT_DIAL: DialPolicy = { connectTimeoutMs: 1000, retries: 2 };

/** How a dial ended: connected (lease and socket), or why not. */
export type Dialed = { readonly lease: Lease; readonly socket: Socket } | { readonly lease?: undefined; readonly failure: 'no-server' | 'connect-failed' | 'aborted' };

const DIAL = Symbol('dial');
type DialSocket = Socket & { [DIAL]: Dial };

/**
 * Connects a new session to a server of the pool, hiding connect failures from the client: a
 * refused, reset or timed-out connect gives the lease back, is counted against that server (its
 * `error-limit` may take it out of the rotation at once) and the next server not yet tried is
 * chosen, at most `retries` times. Handlers are shared functions that find their dial through the
 * socket (no closures per connection on the path every session takes).
 */
class Dial {
  private readonly tried = new Set<RealServer>();
  private lease: Lease | undefined;
  private socket: Socket | undefined;
  private finished = false;

  constructor(
    private readonly pool: ServerPool,
    private readonly client: string,
    private readonly onCut: Cutter | undefined,
    private readonly policy: DialPolicy,
    private readonly caller: DialCaller,
  ) {}

  attempt(): void {
    const lease = this.pool.open(this.client, this.onCut, this.tried.size ? this.tried : undefined);
    if (!lease) return this.finish({ failure: this.tried.size ? 'connect-failed' : 'no-server' });
    this.lease = lease;
    this.tried.add(lease.server);
    const { address: host, port } = lease.server.spec;
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true, timeout: this.policy.connectTimeoutMs, onread: this.caller.onread }) as DialSocket;
    socket[DIAL] = this;
    this.socket = socket;
    socket.once('connect', onDialConnect);
    socket.on('error', onDialError);
    socket.on('timeout', onDialTimeout);
  }

  connected(socket: Socket): void {
    socket.setTimeout(0);
    socket.off('timeout', onDialTimeout);
    socket.off('error', onDialError);
    this.pool.connected(this.lease!.server);
    this.finish({ lease: this.lease!, socket });
  }

  failed(socket: Socket, reason: string): void {
    if (socket !== this.socket || this.finished) return;
    socket.destroy();
    const lease = this.lease!;
    this.lease = undefined;
    this.socket = undefined;
    lease.close();
    this.pool.connectFailed(lease.server, reason);
    if (this.tried.size > this.policy.retries) return this.finish({ failure: 'connect-failed' });
    this.attempt();
  }

  /** the client left (or the session was cut) while connecting: nothing is kept */
  abort(): void {
    if (this.finished) return;
    this.socket?.destroy();
    this.lease?.close();
    this.finish({ failure: 'aborted' });
  }

  private finish(result: Dialed): void {
    this.finished = true;
    this.caller.dialed(result);
  }
}

function onDialConnect(this: DialSocket): void {
  this[DIAL].connected(this);
}
function onDialError(this: DialSocket, error: NodeJS.ErrnoException): void {
  this[DIAL].failed(this, error.code ?? error.message);
}
function onDialTimeout(this: DialSocket): void {
  this[DIAL].failed(this, 'connect timed out');
}

/** Who waits for a dial: its dialed() is called exactly once. */
export interface DialCaller {
  dialed(result: Dialed): void;
  /** how the server's socket reads (net's `onread`), if not by 'data' events */
  readonly onread?: OnReadOpts;
}

/** Starts a dial for a session of `client`. Its abort() is for a client gone while it connects. */
export function dial(pool: ServerPool, client: string, onCut: Cutter | undefined, policy: DialPolicy, caller: DialCaller): { abort(): void } {
  const d = new Dial(pool, client, onCut, policy, caller);
  d.attempt();
  return d;
}
