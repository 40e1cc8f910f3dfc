/**
 * The buffers relayed TCP connections read into. By default Node allocates a 64 KiB buffer for every
 * read and the garbage collector frees it later; at a few Gbit/s that is tens of thousands of mallocs
 * and frees a second, glibc trims and regrows its heap on the way, and each 4 KiB touched again is a
 * page fault. Here each connection of a relayed session (tcp-relay.ts) takes one buffer when it
 * starts, reads into it for its whole life, and gives it back when it is closed; the next session
 * takes it again. Only the pages a read touched are resident.
 *
 * A buffer handed out is owned by one connection until given back; it must be given back only when
 * no read can land in it and no write still holds it, or two connections would share memory.
 */
export const READ_BUFFER_BYTES = 64 * 1024;

/** at most this many free buffers are kept (8 MiB); more are left to the garbage collector */
const KEEP_FREE = 128;

const free: Buffer[] = [];

/** A buffer for the next read: the one given back last, or a new one. */
export function takeReadBuffer(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
}

/** A buffer no read or write uses any more. */
export function giveBackReadBuffer(buffer: Buffer): void {
  if (free.length < KEEP_FREE) free.push(buffer);
}

