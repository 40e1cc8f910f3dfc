import { type OnReadOpts, Socket, type SocketConstructorOpts } from 'node:net';
import { dial, type DialCaller, type Dialed, type DialPolicy } from './dial.ts';
import type { Lease, ServerPool } from './pool.ts';
import { giveBackReadBuffer, takeReadBuffer } from './read-buffers.ts';

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
  /**
   * Read buffers (read-buffers.ts) of each side: the one it reads into now, where known, and one a
   * write to the other side still holds (free again when that side drains).
   */
  bufferA: Buffer | undefined;
  bufferB: Buffer | undefined;
  heldA: Buffer | undefined;
  heldB: Buffer | undefined;
  /** both sockets read into relay buffers (onRead), not by 'data' events */
  intoBuffers = false;

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
    // both sockets are closed: no read lands in their buffers, and closing cancelled their writes
    for (const buffer of [this.bufferA, this.bufferB, this.heldA, this.heldB]) if (buffer) giveBackReadBuffer(buffer);
    this.bufferA = this.bufferB = this.heldA = this.heldB = undefined;
    this.lease?.close();
    this.onDone?.();
  }
}

const RELAY = Symbol('relay');
type RelaySocket = Socket & { [RELAY]: Relay };

function listen(socket: RelaySocket, relay: Relay): void {
  socket[RELAY] = relay;
  // a socket that reads into relay buffers has no 'data' events (onRead has its bytes)
  if (!relay.intoBuffers) socket.on('data', onData);
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

/**
 * A read of a socket that reads into relay buffers (READ_INTO_BUFFERS): the bytes are written to the
 * other side at once. Most writes finish in the call (the kernel took every byte) and the buffer is
 * free for the next read; a write that goes on afterwards keeps it, and the next read gets another.
 * Returning false pauses the reading until the other side drains (backpressure, as onData). Node calls
 * this with the socket as `this`.
 */
function onRead(this: RelaySocket, bytes: number, into: Uint8Array): boolean {
  const relay = this[RELAY];
  const buffer = into as Buffer;
  // the client, while its server is being connected to
  if (!relay.b) {
    const more = (relay as PendingRelay).keepEarly(buffer, bytes);
    giveBackReadBuffer(buffer);
    relay.bufferA = buffer;
    return more;
  }
  const to = relay.peer(this);
  const more = to.write(buffer.subarray(0, bytes));
  const fromA = this === relay.a;
  if (to.writableLength > 0) {
    // one held buffer per side is remembered; an older one is left to the garbage collector
    if (fromA) [relay.heldA, relay.bufferA] = [buffer, undefined];
    else [relay.heldB, relay.bufferB] = [buffer, undefined];
  } else {
    // given back now and taken again by the next read (takeReadBuffer right after this returns)
    giveBackReadBuffer(buffer);
    if (fromA) relay.bufferA = buffer;
    else relay.bufferB = buffer;
  }
  return more;
}

/** how relayed sockets read (net's `onread`); one object for all of them: the callbacks find their relay through the socket */
const READ_INTO_BUFFERS: OnReadOpts = { buffer: takeReadBuffer, callback: onRead };

/** a socket's buffered writes went out: the other side may read again */
function resumePeer(this: RelaySocket): void {
  const relay = this[RELAY];
  // what this socket wrote came from the other side's buffers: none is held any more
  const held = this === relay.a ? relay.heldB : relay.heldA;
  if (held) {
    giveBackReadBuffer(held);
    if (this === relay.a) relay.heldB = undefined;
    else relay.heldA = undefined;
  }
  relay.peer(this).resume();
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

/** the client's bytes kept while its server is being connected to: past this, its reading pauses */
const EARLY_BYTES = 64 * 1024;

/**
 * A TCP session while its server is being connected to. The client's socket goes on reading, so
 * that a reset or an end is seen (a reset aborts the connect); what it sends meanwhile is copied
 * aside (its read buffer must go on) and written to the server first.
 */
class PendingRelay extends Relay implements DialCaller {
  readonly onread = READ_INTO_BUFFERS;
  override intoBuffers = true;
  early: Buffer[] = [];
  earlyBytes = 0;
  clientEnded = false;

  keepEarly(buffer: Buffer, bytes: number): boolean {
    this.early.push(Buffer.from(buffer.subarray(0, bytes)));
    this.earlyBytes += bytes;
    return this.earlyBytes < EARLY_BYTES;
  }

  dialed(result: Dialed): void {
    const client = this.a as RelaySocket;
    client.off('close', onClientGone);
    client.off('error', onClientGone);
    client.off('end', onClientEnd);
    this.dialing = undefined;
    if (!result.lease) {
      client.destroy();
      return;
    }
    this.lease = result.lease;
    this.counts = result.lease;
    const server = result.socket;
    for (const chunk of this.early) server.write(chunk);
    this.start(server);
    if (this.clientEnded) server.end();
    // reading paused at EARLY_BYTES goes on
    else if (this.earlyBytes >= EARLY_BYTES) client.resume();
    this.early = [];
  }
}

type RelayClientSocket = Socket & { [MADE_FOR_RELAY]?: true };
const MADE_FOR_RELAY = Symbol('into-buffers');

/**
 * The socket of an accepted connection for forwardTcp, made from its handle: it reads into relay
 * buffers (listeners' acceptWith makes it: net.Server has no `onread` option), half-open, TCP_NODELAY.
 */
export function relaySocket(handle: object): Socket {
  const socket = new Socket({ handle, allowHalfOpen: true, onread: READ_INTO_BUFFERS } as SocketConstructorOpts) as RelayClientSocket;
  socket.setNoDelay(true);
  socket[MADE_FOR_RELAY] = true;
  return socket;
}

/** the client closed or failed while its server was being connected to */
function onClientGone(this: RelaySocket): void {
  this[RELAY].dialing?.abort();
}
/** the client ended its side while its server was being connected to: the server gets the end after the bytes */
function onClientEnd(this: RelaySocket): void {
  (this[RELAY] as PendingRelay).clientEnded = true;
}

/**
 * A new client connection on a TCP virtual service: choose a server, connect to it (a refused or
 * timed-out connect is retried on the next server, see dial.ts), relay. No usable server,
 * max-sessions reached or every try failed closes the client's connection. `client` is a socket
 * relaySocket made (a plain one would have its bytes read by no one); its address is read (a
 * getpeername) only when persistence or source hashing needs it.
 */
export function forwardTcp(client: Socket, pool: ServerPool, options: RelayOptions & { readonly dial: DialPolicy }): void {
  if (!(client as RelayClientSocket)[MADE_FOR_RELAY]) throw new TypeError('forwardTcp: the socket was not made by relaySocket');
  const address = pool.needsClientAddress ? (client.remoteAddress ?? '') : '';
  const relay = new PendingRelay(client, idleSweep(options.idleMs));
  const socket = client as RelaySocket;
  socket[RELAY] = relay;
  socket.on('close', onClientGone);
  socket.on('error', onClientGone);
  socket.on('end', onClientEnd);
  relay.dialing = dial(pool, address, relay, options.dial, relay);
}
