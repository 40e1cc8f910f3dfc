import type { Socket } from 'node:net';
import { idleSweep, type IdleSweep, Sweepable } from './idle-sweep.ts';
import type { Lease } from './pool.ts';

/**
 * One relayed pair of net.Sockets (FTP's data connections and its control connection after TLS).
 * The socket event handlers below are shared functions that find their pair through the socket
 * (PAIR): a pair costs no closures.
 */
class SocketPair extends Sweepable {
  closed = 0;

  constructor(
    readonly a: Socket,
    readonly b: Socket,
    private readonly sweep: IdleSweep,
    /** whose byte counters this pair's traffic goes to */
    private readonly countInto: Lease | undefined,
    private readonly onDone: () => void,
  ) {
    super();
  }

  bytesA(): number {
    return this.a.bytesRead;
  }

  bytesB(): number {
    return this.b.bytesRead;
  }

  counts(): Lease | undefined {
    return this.countInto;
  }

  peer(socket: Socket): Socket {
    return socket === this.a ? this.b : this.a;
  }

  cut(): void {
    this.a.destroy();
    this.b.destroy();
  }

  done(): void {
    this.sweep.delete(this);
    this.account();
    this.onDone();
  }
}

const PAIR = Symbol('pair');
type PairSocket = Socket & { [PAIR]: SocketPair };

function onData(this: PairSocket, chunk: Buffer): void {
  // backpressure: this side waits until the other has written its buffer out
  if (!this[PAIR].peer(this).write(chunk)) this.pause();
}
/** a socket's buffered writes went out: the other side may read again */
function resumePeer(this: PairSocket): void {
  this[PAIR].peer(this).resume();
}
/** an end from one side is passed on as a half-close */
function onEnd(this: PairSocket): void {
  this[PAIR].peer(this).end();
}
function onError(this: PairSocket): void {
  this[PAIR].cut();
}
function onClose(this: PairSocket): void {
  const pair = this[PAIR];
  // closed without its end (reset, destroyed): the other side cannot finish either
  if (!this.readableEnded) pair.peer(this).destroy();
  if (++pair.closed === 2) pair.done();
}

/**
 * Full-duplex relay between two connected sockets: each side's reads pause while the other's writes
 * are buffered (backpressure, so memory per session stays bounded), an end from one side is passed on
 * as a half-close, and the session ends (both destroyed once) on error, idle timeout or when both
 * directions are done. With `countInto`, the bytes read on each side are added to that session's
 * counters as they go (once a sweep), not only at the end. Returns a function that ends it at once.
 */
export function relaySockets(a: Socket, b: Socket, options: { readonly idleMs: number; readonly countInto?: Lease }, onDone: () => void): () => void {
  const sweep = idleSweep(options.idleMs);
  const pair = new SocketPair(a, b, sweep, options.countInto, onDone);
  for (const socket of [a, b] as PairSocket[]) {
    socket[PAIR] = pair;
    socket.on('data', onData);
    socket.on('drain', resumePeer);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
  }
  sweep.add(pair);
  return () => pair.cut();
}
