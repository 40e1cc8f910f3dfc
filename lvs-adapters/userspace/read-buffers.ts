/**
 * The buffers relayed TCP connections read into. By default Node allocates a 64 KiB buffer for every
 * read and the garbage collector frees it later; at a few Gbit/s that is tens of thousands of mallocs
 * and frees a second, glibc trims and regrows its heap on the way, and each 4 KiB touched again is a
 * page fault. Here each connection of a relayed session (tcp-relay.ts) takes a buffer when it starts,
 * reads into it, and gives it back when it is closed; the next session takes it again.
 *
 * Two sizes: every connection starts with a small one (64 KiB); one whose read fills it (a bulk
 * transfer) moves to a large one (256 KiB), which takes a quarter of the reads and writes per byte
 * (measured through the bench's namespaces, 2026-12-05: 1 stream 6.71 against 5.27 Gbit/s, 0.66
 * against 0.89 CPU s per GiB). Interactive and request-response connections never fill theirs, so
 * a flood of them holds 64 KiB per connection, not 256.
 *
 * A buffer handed out is owned by one connection until given back; it must be given back only when
 * no read can land in it and no write still holds it, or two connections would share memory.
 */
export const READ_BUFFER_BYTES = 64 * 1024;
export const LARGE_READ_BUFFER_BYTES = 256 * 1024;

/** at most this many free buffers of each size are kept (8 MiB each); more are left to the garbage collector */
const KEEP_FREE = { small: 128, large: 32 };

const free = { small: [] as Buffer[], large: [] as Buffer[] };

/** A buffer for the next read: the one of its size given back last, or a new one. */
export function takeReadBuffer(large = false): Buffer {
  return large ? (free.large.pop() ?? Buffer.allocUnsafeSlow(LARGE_READ_BUFFER_BYTES)) : (free.small.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
}

/** A buffer no read or write uses any more. */
export function giveBackReadBuffer(buffer: Buffer): void {
  const size = buffer.length === LARGE_READ_BUFFER_BYTES ? 'large' : 'small';
  if (free[size].length < KEEP_FREE[size]) free[size].push(buffer);
}

/**
 * The read buffers of one relayed connection. A read's bytes are written from the buffer they landed
 * in; a write that goes on after its call holds that buffer (hold()) until it is done (written()),
 * and the next read must land elsewhere (next()). With two writes holding buffers the connection stops
 * reading, and its next read goes into the older write's buffer, free by the time reading resumes
 * (writes are done in order): at most two buffers a connection, plus one while it moves to the large
 * size.
 */
export class ConnectionBuffers {
  /** the buffer reads land in */
  buffer: Buffer = takeReadBuffer();
  /** where in `buffer` the last read landed (not 0 only for a client's bytes kept while dialing) */
  offset = 0;
  /** buffers held by writes that go on after their call, oldest first (one entry per write) */
  readonly held: Buffer[] = [];
  /** a free buffer of the connection's size, kept for a read that needs another */
  spare: Buffer | undefined;
  /** a read filled a small buffer: this connection's buffers are large ones */
  large = false;

  private get size(): number {
    return this.large ? LARGE_READ_BUFFER_BYTES : READ_BUFFER_BYTES;
  }

  /** two writes hold buffers: no reading until the older is done */
  get full(): boolean {
    return this.held.length >= 2;
  }

  /**
   * The buffer the next read lands in (what onread returns): the current one when free and of the
   * connection's size, else the spare, else a new one; the older write's while two hold buffers.
   */
  next(): Buffer {
    const [older, newer] = this.held;
    const current = this.buffer;
    let next: Buffer;
    if (older && newer && older !== newer) next = older;
    else if (current.length === this.size && !this.held.includes(current)) next = current;
    else if (this.spare?.length === this.size) next = this.spare;
    else next = takeReadBuffer(this.large);
    if (next === this.spare) this.spare = undefined;
    if (current !== next && !this.held.includes(current)) this.release(current);
    this.buffer = next;
    this.offset = 0;
    return next;
  }

  /** A buffer no read or write uses: kept as the spare when it is of the connection's size, else given back. */
  release(buffer: Buffer): void {
    if (this.spare && this.spare.length !== this.size) {
      giveBackReadBuffer(this.spare);
      this.spare = undefined;
    }
    if (!this.spare && buffer.length === this.size) this.spare = buffer;
    else giveBackReadBuffer(buffer);
  }

  /** The oldest write is done: its buffer is free unless read into or held again. */
  written(): void {
    const buffer = this.held.shift();
    if (buffer && buffer !== this.buffer && !this.held.includes(buffer)) this.release(buffer);
  }

  /** Every buffer, the connection closed (its queued writes are cancelled). */
  giveBackAll(): void {
    for (const buffer of new Set([this.buffer, this.spare, ...this.held])) if (buffer) giveBackReadBuffer(buffer);
    this.held.length = 0;
    this.spare = undefined;
  }
}
