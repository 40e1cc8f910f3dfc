// The read buffers of one relayed connection (read-buffers.ts ConnectionBuffers), driven the way the
// TCP relay drives them, through seeded random sequences of reads, writes that are done in their call
// or go on, and completions in order (reading waits while two writes hold buffers, as the relay
// does): a read never lands in a buffer a write still holds, a connection holds at most three
// buffers (two while it stays one size), and a read that fills a small buffer moves the connection to
// large ones. Choosing the newer held buffer, or giving back one a write holds, fails the first test.
import t from 'tap';
import { ConnectionBuffers, LARGE_READ_BUFFER_BYTES, READ_BUFFER_BYTES } from '../../lvs-adapters/userspace/read-buffers.ts';

/** a small deterministic generator (mulberry32): a failing sequence can be run again */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  readonly readIntoHeld: number;
  readonly mostBuffers: number;
  readonly reads: number;
  readonly large: boolean;
}

/** `steps` events on one connection; `fill` is the chance that a read fills its buffer */
function drive(seed: number, steps: number, fill: number): Run {
  const next = random(seed);
  const b = new ConnectionBuffers();
  let readIntoHeld = 0;
  let mostBuffers = 0;
  let reads = 0;
  for (let i = 0; i < steps; i++) {
    if (b.held.length > 0 && (b.full || next() < 0.4)) {
      // the oldest write is done (as onWritten); with two held, reading waits for this
      b.written();
    } else {
      // a read (as onRead): it lands in b.buffer, whose bytes are then written
      reads++;
      if (b.held.includes(b.buffer)) readIntoHeld++;
      const filled = next() < fill;
      if (!b.large && filled && b.buffer.length === READ_BUFFER_BYTES) b.large = true;
      if (next() < 0.6) {
        b.held.push(b.buffer);
        b.next();
      } else if (b.large && b.buffer.length === READ_BUFFER_BYTES) b.next();
    }
    mostBuffers = Math.max(mostBuffers, new Set([b.buffer, b.spare, ...b.held].filter(Boolean)).size);
  }
  b.giveBackAll();
  return { readIntoHeld, mostBuffers, reads, large: b.large };
}

t.test('200 random sequences of 2,000 events: no read lands in a held buffer', async (t) => {
  const runs = Array.from({ length: 200 }, (_, seed) => drive(seed + 1, 2000, seed % 2 ? 0.01 : 0));
  t.equal(runs.reduce((n, r) => n + r.readIntoHeld, 0), 0, 'no read into a buffer a write holds');
  t.ok(runs.every((r) => r.reads > 500), 'each sequence read often (the check is not vacuous)');
  const oneSize = runs.filter((r) => !r.large);
  t.ok(oneSize.length > 0 && oneSize.every((r) => r.mostBuffers <= 2), 'at most two buffers while the connection stays small');
  t.ok(runs.every((r) => r.mostBuffers <= 3), 'at most three while it moves to large ones');
});

t.test('a read that fills the small buffer moves the connection to large ones', async (t) => {
  const b = new ConnectionBuffers();
  t.equal(b.buffer.length, READ_BUFFER_BYTES, 'a connection starts small');
  b.large = true;
  b.next();
  t.equal(b.buffer.length, LARGE_READ_BUFFER_BYTES, 'the next read lands in a large buffer');
  b.held.push(b.buffer);
  b.next();
  t.equal(b.buffer.length, LARGE_READ_BUFFER_BYTES, 'and so does the one after a held write');
  b.written();
  t.equal(b.spare?.length, LARGE_READ_BUFFER_BYTES, 'the written one is kept as the spare');
  b.giveBackAll();
});
