import type { Socket } from 'node:net';
import { dial, type DialCaller, type Dialed, type DialPolicy } from './dial.ts';
import type { Lease, ServerPool } from './pool.ts';

export interface RelayOptions {
  /** no byte either way for this long ends the session */
  readonly idleMs: number;
}

/**
 * One relayed connection pair. The socket event handlers below are shared functions that find their
 * session through the socket (RELAY): a new connection costs no closures, which matters at
 * thousands of connections a second.
 */
class Relay {
  b!: Socket;
  closed = 0;
  /** bytes read on both sides at the last idle sweep, and sweeps since they last moved */
  seen = 0;
  quiet = 0;
  /** bytes of each side already added to `counts` */
  countedA = 0;
  countedB = 0;
  /** the session this relay is: closed when it ends */
  lease: Lease | undefined;
  /** whose byte counters this relay's traffic goes to (its own lease, or an FTP control session's) */
  counts: Lease | undefined;
  onDone: (() => void) | undefined;
  /** aborts the connect to a server while it runs (the client left first) */
  dialing: { abort(): void } | undefined;

  constructor(readonly a: Socket, private readonly sweep: IdleSweep) {}

  start(b: Socket): void {
    this.b = b;
    listen(this.a as RelaySocket, this);
    listen(b as RelaySocket, this);
    this.sweep.add(this);
  }

  peer(socket: Socket): Socket {
    return socket === this.a ? this.b : this.a;
  }

  /** ends the session at once (cut-connections, idle, an error on either side) */
  cut(): void {
    this.a.destroy();
    this.b?.destroy();
  }

  /** adds what was read since the last count to the counters: /metrics moves during a long transfer */
  account(): void {
    const aRead = this.a.bytesRead;
    const bRead = this.b?.bytesRead ?? 0;
    this.counts?.addBytes(aRead - this.countedA, bRead - this.countedB);
    this.countedA = aRead;
    this.countedB = bRead;
  }

  done(): void {
    this.sweep.delete(this);
    this.account();
    this.lease?.close();
    this.onDone?.();
  }
}

const RELAY = Symbol('relay');
type RelaySocket = Socket & { [RELAY]: Relay };

function listen(socket: RelaySocket, relay: Relay): void {
  socket[RELAY] = relay;
  socket.on('data', onData);
  socket.on('drain', resumePeer);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
}

function onData(this: RelaySocket, chunk: Buffer): void {
  const to = this[RELAY].peer(this);
  // backpressure: this side waits until the other has written its buffer out
  if (!to.write(chunk)) this.pause();
}
/** a socket's buffered writes went out: the other side may read again */
function resumePeer(this: RelaySocket): void {
  this[RELAY].peer(this).resume();
}
/** an end from one side is passed on as a half-close */
function onEnd(this: RelaySocket): void {
  this[RELAY].peer(this).end();
}
function onError(this: RelaySocket): void {
  this[RELAY].cut();
}
function onClose(this: RelaySocket): void {
  const relay = this[RELAY];
  // closed without its end (reset, destroyed): the other side cannot finish either
  if (!this.readableEnded) relay.peer(this).destroy();
  if (++relay.closed === 2) relay.done();
}

/**
 * Idle relays, found by one sweep a second per idle timeout instead of a timer per socket that every
 * read and write would re-arm: a session whose sockets read no byte for `idleMs` is ended. The
 * sweep's timer runs only while relays are open.
 */
class IdleSweep {
  private readonly open = new Set<Relay>();
  private timer: NodeJS.Timeout | undefined;
  private readonly everyMs: number;
  private readonly sweeps: number;

  constructor(idleMs: number) {
    this.everyMs = Math.min(1000, Math.max(10, idleMs));
    this.sweeps = Math.max(1, Math.round(idleMs / this.everyMs));
  }

  add(relay: Relay): void {
    this.open.add(relay);
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.everyMs);
    this.timer.unref();
  }

  delete(relay: Relay): void {
    this.open.delete(relay);
    if (this.open.size > 0 || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    for (const relay of this.open) {
      const read = relay.a.bytesRead + relay.b.bytesRead;
      if (read !== relay.seen) {
        relay.seen = read;
        relay.quiet = 0;
        relay.account();
      } else if (++relay.quiet >= this.sweeps) relay.cut();
    }
  }
}

const sweeps = new Map<number, IdleSweep>();
function idleSweep(idleMs: number): IdleSweep {
  let sweep = sweeps.get(idleMs);
  if (!sweep) sweeps.set(idleMs, (sweep = new IdleSweep(idleMs)));
  return sweep;
}

/**
 * Full-duplex relay between two connected sockets: each side's reads pause while the other's writes
 * are buffered (backpressure, so memory per session stays bounded), an end from one side is passed on
 * as a half-close, and the session ends (both destroyed once) on error, idle timeout or when both
 * directions are done. With `countInto`, the bytes read on each side are added to that session's
 * counters as they go (once a sweep), not only at the end. Returns a function that ends it at once.
 */
export function relay(a: Socket, b: Socket, options: RelayOptions & { readonly countInto?: Lease }, onDone: () => void): () => void {
  const relay = new Relay(a, idleSweep(options.idleMs));
  relay.counts = options.countInto;
  relay.onDone = onDone;
  relay.start(b);
  return () => relay.cut();
}

/** A TCP session while its server is being connected to: the client's bytes wait in its socket. */
class PendingRelay extends Relay implements DialCaller {
  dialed(result: Dialed): void {
    const client = this.a as RelaySocket;
    client.off('close', onClientGone);
    client.off('error', onClientGone);
    this.dialing = undefined;
    if (!result.lease) {
      client.destroy();
      return;
    }
    this.lease = result.lease;
    this.counts = result.lease;
    this.start(result.socket);
  }
}

/** the client closed or failed while its server was being connected to */
function onClientGone(this: RelaySocket): void {
  this[RELAY].dialing?.abort();
}

/**
 * A new client connection on a TCP virtual service: choose a server, connect to it (a refused or
 * timed-out connect is retried on the next server, see dial.ts), relay. No usable server,
 * max-sessions reached or every try failed closes the client's connection. The listening server
 * sets TCP_NODELAY on the client's socket; its address is read (a getpeername) only when
 * persistence or source hashing needs it.
 */
export function forwardTcp(client: Socket, pool: ServerPool, options: RelayOptions & { readonly dial: DialPolicy }): void {
  const address = pool.needsClientAddress ? (client.remoteAddress ?? '') : '';
  const relay = new PendingRelay(client, idleSweep(options.idleMs));
  const socket = client as RelaySocket;
  socket[RELAY] = relay;
  socket.on('close', onClientGone);
  socket.on('error', onClientGone);
  relay.dialing = dial(pool, address, relay, options.dial, relay);
}
