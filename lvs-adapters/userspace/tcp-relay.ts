// The relay of plain TCP farms (tcp, sftp), on Node's TCP handles (tcp-handles.ts says why).
//
// Each connection of a session reads into a buffer of its own (read-buffers.ts): a read's bytes are
// written to the other connection from that buffer, and usually the kernel takes them all in the
// call and the next read lands in the same buffer. A write that goes on after its call holds its
// buffer: the next read goes into a second one, and with both held the reading waits until the
// older write is done (backpressure: a connection holds at most two buffers). An EOF is passed on as a half-close once the bytes before it are out; the
// session ends when both directions are shut, on a reset or error of either side, when it is idle,
// or when it is cut.
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import { dial, type Connector, type Dial, type Dialed, type DialPolicy } from './dial.ts';
import { idleSweep, type IdleSweep, Sweepable } from './idle-sweep.ts';
import type { Lease, ServerPool } from './pool.ts';
import { giveBackReadBuffer, takeReadBuffer } from './read-buffers.ts';
import { connectTo, errorName, isEof, newTcpHandle, peerAddress, type Request, readBytes, shutdownOf, type TcpHandle, writeTo } from './tcp-handles.ts';

export interface RelayOptions {
  /** no byte either way for this long ends the session */
  readonly idleMs: number;
  readonly dial: DialPolicy;
}

/**
 * While its server is being connected to, the client's bytes are kept at the front of its read
 * buffer (reads land after them); with less room than this left, its reading pauses.
 */
const EARLY_ROOM = 16 * 1024;

const SIDE = Symbol('side');
type Handle = TcpHandle & { [SIDE]?: Side };

/** One connection of a session: its handle, its read buffer, and how far its direction got. */
class Side {
  other!: Side;
  /** bytes read so far */
  bytes = 0;
  /** where in `buffer` the last read landed (not 0 only for the client's bytes kept while dialing) */
  offset = 0;
  /** writes of this side's bytes to the other that go on after their call (each holds its buffer) */
  pending = 0;
  /** EOF read: nothing more comes from this side */
  ended = false;
  /** its write half is shut (the other side's EOF passed on) */
  shut = false;
  /** the buffer reads land in */
  buffer: Buffer = takeReadBuffer();
  /** the other buffer, taken at the first write that went on after its call */
  spare: Buffer | undefined;

  constructor(
    readonly session: Session,
    readonly handle: Handle,
  ) {
    handle[SIDE] = this;
    handle.onread = onRead;
    handle.useUserBuffer(this.buffer);
  }

  /** reads again after a write or a pause, unless the side is done or both buffers are held */
  resume(): void {
    if (!this.ended && !this.session.closing && this.pending < 2) this.handle.readStart();
  }

  /** The next read goes into the other buffer (this one is held by a write); returned for onread. */
  swap(): Buffer {
    const next = this.spare ?? takeReadBuffer();
    this.spare = this.buffer;
    this.buffer = next;
    this.offset = 0;
    return next;
  }
}

/** A client connection and, once dialed, its server's. */
class Session extends Sweepable {
  readonly client: Side;
  server: Side | undefined;
  lease: Lease | undefined;
  dialing: { abort(): void } | undefined;
  /** the client's bytes kept at the front of its first buffer while dialing */
  early = 0;
  private readonly earlyIn: Buffer;
  closing = false;

  constructor(
    client: Handle,
    private readonly sweep: IdleSweep,
  ) {
    super();
    this.client = new Side(this, client);
    this.earlyIn = this.client.buffer;
  }

  bytesA(): number {
    return this.client.bytes;
  }

  bytesB(): number {
    return this.server?.bytes ?? 0;
  }

  counts(): Lease | undefined {
    return this.lease;
  }

  /** A client read while dialing: its bytes stay where they landed, the next read goes after them. */
  keepEarly(bytes: number): Uint8Array {
    const client = this.client;
    this.early = client.offset + bytes;
    if (client.buffer.length - this.early < EARLY_ROOM) {
      // full: no reading until the server is connected; then the reads go to the other buffer
      client.handle.readStop();
      return client.swap();
    }
    client.offset = this.early;
    return client.buffer.subarray(this.early);
  }

  dialed(result: Dialed<Handle>): void {
    this.dialing = undefined;
    if (!result.lease) return this.cut();
    this.lease = result.lease;
    const client = this.client;
    const server = new Side(this, result.socket);
    this.server = server;
    client.other = server;
    server.other = client;
    server.handle.setNoDelay(true);
    server.handle.readStart();
    this.sweep.add(this);
    if (this.early > 0) {
      // reads go on after these bytes in the same buffer, or (paused full) into the other one
      const status = writeTo(server.handle, this.earlyIn.subarray(0, this.early), onWritten, client);
      if (typeof status === 'number') return this.cut();
      if (status === 'pending') client.pending++;
      if (client.buffer !== this.earlyIn) client.resume();
    }
    if (client.ended) this.passEnd(client);
  }

  /** `side` read its EOF: the other side's write half is shut once the bytes before it are out */
  passEnd(side: Side): void {
    // the last direction: the other side ended already, its end reached `side` (shut) and no byte of
    // `side` is on its way to it. Closing both sends the other side its FIN as a shutdown would,
    // one system call and one callback fewer (nothing unread, so no reset).
    if (side.other.ended && side.shut && side.pending === 0) return this.cut();
    if (shutdownOf(side.other.handle, onShut, side.other) < 0) this.cut();
  }

  /**
   * Ends the session at once (also its normal end): both connections close. libuv closes a TCP
   * handle's descriptor in the call and stops its reads and writes (writes still queued are
   * cancelled later, touching no byte), so the buffers and the lease are given back at once, with
   * no close callback to wait for.
   */
  cut(): void {
    if (this.closing) return;
    this.closing = true;
    this.dialing?.abort();
    this.client.handle.close();
    this.server?.handle.close();
    if (this.server) this.sweep.delete(this);
    this.account();
    for (const side of [this.client, this.server]) {
      if (!side) continue;
      giveBackReadBuffer(side.buffer);
      if (side.spare) giveBackReadBuffer(side.spare);
    }
    this.lease?.close();
  }
}

/** A read of either side (Node calls it with the handle as `this`); returns the next read's buffer when it changes. */
function onRead(this: Handle): Uint8Array | undefined {
  const side = this[SIDE]!;
  const session = side.session;
  const bytes = readBytes();
  if (bytes > 0) {
    side.bytes += bytes;
    if (!session.server) return session.keepEarly(bytes);
    const start = side.offset;
    const status = writeTo(side.other.handle, side.buffer.subarray(start, start + bytes), onWritten, side);
    if (typeof status === 'number') {
      session.cut();
      return undefined;
    }
    if (status === 'pending') {
      // with both buffers held, no reading until the older write is done
      if (++side.pending === 2) this.readStop();
      return side.swap();
    }
    if (start === 0) return undefined;
    side.offset = 0;
    return side.buffer;
  }
  if (bytes === 0) return undefined;
  if (isEof(bytes)) {
    side.ended = true;
    if (session.server) session.passEnd(side);
    return undefined;
  }
  // reset or another error: the other side cannot finish either (while dialing: the dial is given up)
  session.cut();
  return undefined;
}

/** a write that went on after its call is done: the side whose bytes it wrote reads again */
function onWritten(this: Request<Side>, status: number): void {
  const side = this.context;
  if (status < 0) return side.session.cut();
  // reading waited for this write only when both buffers were held
  if (side.pending-- === 2) side.resume();
}

function onShut(this: Request<Side>, status: number): void {
  const side = this.context;
  const session = side.session;
  side.shut = true;
  if (status < 0 || (session.client.shut && session.server?.shut)) session.cut();
}


/** A connect attempt of the handle connector: its dial, and the timer that gives it up. */
interface Attempt {
  readonly dial: Dial<Handle>;
  readonly handle: Handle;
  timer: NodeJS.Timeout | undefined;
  /** dropped by the dial (failed, timed out, aborted): a look-up that answers late connects nothing */
  dropped: boolean;
}
const ATTEMPT = Symbol('attempt');
type AttemptHandle = Handle & { [ATTEMPT]?: Attempt };

function startConnect(attempt: Attempt, host: string, port: number): void {
  const error = connectTo(attempt.handle, host, port, onConnect, attempt);
  // a connect refused in the call (no route...) fails after it, as net's does: the dial is not re-entered
  if (error < 0) process.nextTick(failAttempt, attempt, errorName(error));
}
function onConnect(this: Request<Attempt>, status: number): void {
  const attempt = this.context;
  clearTimeout(attempt.timer);
  if (status < 0) attempt.dial.failed(attempt.handle, errorName(status));
  else attempt.dial.connected(attempt.handle);
}
function failAttempt(attempt: Attempt, reason: string): void {
  attempt.dial.failed(attempt.handle, reason);
}

/** Connects TCP handles to servers (a name is looked up first, as net does); gives up after the connect timeout. */
const handleConnector: Connector<Handle> = {
  open(host, port, timeoutMs, dial) {
    const handle = newTcpHandle() as AttemptHandle;
    const attempt: Attempt = { dial, handle, timer: undefined, dropped: false };
    handle[ATTEMPT] = attempt;
    attempt.timer = setTimeout(failAttempt, timeoutMs, attempt, 'connect timed out');
    if (isIP(host)) startConnect(attempt, host, port);
    else
      lookup(host, (error, address) => {
        if (error) failAttempt(attempt, error.code ?? error.message);
        else if (!attempt.dropped) startConnect(attempt, address, port);
      });
    return handle;
  },
  drop(handle) {
    const attempt = (handle as AttemptHandle)[ATTEMPT];
    if (attempt) {
      attempt.dropped = true;
      clearTimeout(attempt.timer);
    }
    handle.close();
  },
};

/**
 * A new client connection on a TCP virtual service (its handle, from listeners' acceptWith): choose
 * a server, connect to it (a refused or timed-out connect is retried on the next server, see
 * dial.ts), relay. No usable server, max-sessions reached or every try failed closes the client's
 * connection. Meanwhile the client is read: its bytes are kept for the server, its EOF waits for
 * them, and its reset gives the connect up. Its address is read (a getpeername) only when
 * persistence or source hashing needs it.
 */
export function forwardTcp(client: TcpHandle, pool: ServerPool, options: RelayOptions): void {
  const address = pool.needsClientAddress ? peerAddress(client) : '';
  client.setNoDelay(true);
  const session = new Session(client, idleSweep(options.idleMs));
  session.client.handle.readStart();
  session.dialing = dial(pool, address, session, options.dial, handleConnector, session);
}
