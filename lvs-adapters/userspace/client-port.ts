import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import { literalAddress } from './udp.ts';

/**
 * A port of the TFTP relay toward its clients, shared by the sessions of one client address:
 * sessions are told apart by the client's address and port (its TID), as a TFTP server tells its
 * transfers apart. On IPv4, with the addon built (native/udp-batch.c), datagrams are read and sent
 * in batches (recvmmsg/sendmmsg): one system call and one JavaScript call for up to 64 datagrams,
 * where Node's dgram makes one of each per datagram. Elsewhere (IPv6, no addon) a dgram socket.
 */

/** a client: the key sessions are found by, and what a send needs */
export interface Client {
  readonly address: string;
  readonly port: number;
  readonly key: ClientKey;
  /** the IPv4 address as a number (NaN for IPv6) */
  readonly address4: number;
}

/** IPv4: address * 65536 + port (no string built per datagram); IPv6: "address|port" */
export type ClientKey = number | string;

/**
 * A datagram from a client. `message` is valid only during the call (the next batch is read into
 * the same memory): whatever keeps it copies it. `from()` builds the client's address, for a reply
 * to one the sessions do not know.
 */
export type OnClientDatagram = (message: Buffer, key: ClientKey, from: () => Client) => void;

export interface ClientPort {
  readonly port: number;
  /** true when datagrams move in batches (the addon) */
  readonly batched: boolean;
  /** Sends `packet` to `to` (copied at once: the caller may reuse it). */
  send(packet: Buffer, to: Client): void;
  close(): void;
}

export const ipv4Number = (address: string): number => {
  const parts = address.split('.');
  return ((Number(parts[0]) * 256 + Number(parts[1])) * 256 + Number(parts[2])) * 256 + Number(parts[3]);
};

const ipv4Text = (value: number): string => `${Math.floor(value / 0x1000000)}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;

/** The client at address:port, keyed as the port keys its datagrams. */
export function clientAt(address: string, port: number): Client {
  if (isIPv4(address)) {
    const address4 = ipv4Number(address);
    return { address, port, key: address4 * 65536 + port, address4 };
  }
  return { address, port, key: `${address}|${port}`, address4: NaN };
}

/** native/udp-batch.c: client ports (batched), and server sockets (server-socket.ts) */
export interface UdpBatch {
  readonly SLOTS: number;
  open(address: string, recv: Buffer, rmeta: Buffer, send: Buffer, smeta: Buffer, slot: number, onBatch: (count: number) => void): object;
  port(handle: object): number;
  flush(handle: object, count: number): number;
  close(handle: object): void;
  serverInit(recv: Buffer, meta: Buffer, slot: number, onBatch: (count: number) => void): void;
  serverOpen(id: number): object;
  /** 0, or the errno of a refused send; address 0 and port 0: to the connected peer */
  serverSend(handle: object, packet: Buffer, address4: number, port: number): number;
  serverConnect(handle: object, address4: number, port: number): number;
  serverClose(handle: object): void;
}

let addon: UdpBatch | null | undefined;

/** The addon, where it was built: beside the bundle (dist/) or in native/build when run from source. */
export function loadUdpBatch(): UdpBatch | undefined {
  if (addon === undefined) {
    const require = createRequire(import.meta.url);
    addon = null;
    for (const path of ['./udp_batch.node', '../../native/build/Release/udp_batch.node']) {
      try {
        addon = require(path) as UdpBatch;
        break;
      } catch {
        // not here
      }
    }
  }
  return addon ?? undefined;
}

/** a datagram's bytes at most: UDP's largest payload over IPv4 */
const SLOT = 65536;
/** answers to a batch leave this many at a time (a power of two) */
const FLUSH_EVERY = 16;

/**
 * The memory every batched port of this process reads into and sends from: one set, however many
 * ports (a port per client address), since one port's batch is handled to the end before another's
 * is read. Sends queue here for one port at a time: another port's send flushes the queue first.
 */
class Arenas {
  readonly slots: number;
  /** not zero-filled: the kernel touches only the pages datagrams land in */
  readonly recv: Buffer;
  readonly out: Buffer;
  readonly rmeta: Buffer;
  readonly smeta: Buffer;
  /** length, address and port of each datagram read and to send, as the addon reads and writes them */
  readonly rwords: Uint32Array;
  private readonly swords: Uint32Array;
  private owner: BatchedPort | undefined;
  private queued = 0;
  private flushSoon: NodeJS.Immediate | undefined;

  constructor(private readonly native: UdpBatch) {
    this.slots = native.SLOTS;
    this.recv = Buffer.allocUnsafeSlow(this.slots * SLOT);
    this.out = Buffer.allocUnsafeSlow(this.slots * SLOT);
    this.rmeta = Buffer.alloc(this.slots * 12);
    this.smeta = Buffer.alloc(this.slots * 12);
    this.rwords = new Uint32Array(this.rmeta.buffer, this.rmeta.byteOffset, this.slots * 3);
    this.swords = new Uint32Array(this.smeta.buffer, this.smeta.byteOffset, this.slots * 3);
  }

  enqueue(port: BatchedPort, packet: Buffer, to: Client, inBatch: boolean): void {
    if ((this.owner !== port && this.queued > 0) || this.queued === this.slots) this.flush();
    this.owner = port;
    const slot = this.queued++;
    packet.copy(this.out, slot * SLOT);
    this.swords[slot * 3] = packet.length;
    this.swords[slot * 3 + 1] = to.address4;
    this.swords[slot * 3 + 2] = to.port;
    // a send outside a batch (a server's block): with the rest of this turn's, once the loop's
    // poll phase has run its callbacks
    if (!inBatch && !this.flushSoon) this.flushSoon = setImmediate(() => this.flush());
  }

  /** Sends what is queued (all of it `owner`'s). */
  flush(): void {
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.flushSoon = undefined;
    const owner = this.owner;
    const count = this.queued;
    this.queued = 0;
    this.owner = undefined;
    if (owner && count > 0) owner.sent(this.native.flush(owner.handle, count), count);
  }

  /** Sends what `port` has queued, if anything (before it closes). */
  flushFor(port: BatchedPort): void {
    if (this.owner === port) this.flush();
  }
}

let arenas: Arenas | undefined;

class BatchedPort implements ClientPort {
  readonly batched = true;
  readonly port: number;
  readonly handle: object;
  private readonly arenas: Arenas;
  private reading = false;
  private closed = false;
  /** the datagram of the batch being handled, for `sender` */
  private current = 0;
  /** the current datagram's client, built only when asked for (a stray's ERROR): one function, not one per datagram */
  private readonly sender = (): Client => {
    const words = this.arenas.rwords;
    const address4 = words[this.current * 3 + 1]!;
    const port = words[this.current * 3 + 2]!;
    return { address: ipv4Text(address4), port, key: address4 * 65536 + port, address4 };
  };

  constructor(
    private readonly native: UdpBatch,
    address: string,
    private readonly onDatagram: OnClientDatagram,
    private readonly onDropped: (count: number) => void,
  ) {
    this.arenas = arenas ??= new Arenas(native);
    const { recv, rmeta, out, smeta } = this.arenas;
    this.handle = native.open(address, recv, rmeta, out, smeta, SLOT, (count) => this.onBatch(count));
    this.port = native.port(this.handle);
  }

  private onBatch(count: number): void {
    const { rwords: words, recv } = this.arenas;
    this.reading = true;
    try {
      for (let i = 0; i < count && !this.closed; i++) {
        const length = words[i * 3]!;
        const address4 = words[i * 3 + 1]!;
        const port = words[i * 3 + 2]!;
        this.current = i;
        this.onDatagram(recv.subarray(i * SLOT, i * SLOT + length), address4 * 65536 + port, this.sender);
        // the first clients of a large batch need not wait for the last one's answer
        if ((i & (FLUSH_EVERY - 1)) === FLUSH_EVERY - 1) this.arenas.flush();
      }
    } finally {
      this.reading = false;
      // what the batch answered leaves in one call
      this.arenas.flush();
    }
  }

  send(packet: Buffer, to: Client): void {
    if (this.closed) return;
    if (packet.length > SLOT || Number.isNaN(to.address4)) return this.onDropped(1);
    this.arenas.enqueue(this, packet, to, this.reading);
  }

  /** what a flush of this port's queue sent, of how many */
  sent(taken: number, count: number): void {
    if (taken < count) this.onDropped(count - taken);
  }

  close(): void {
    if (this.closed) return;
    this.arenas.flushFor(this);
    this.closed = true;
    this.native.close(this.handle);
  }
}

class DgramPort implements ClientPort {
  readonly batched = false;
  private closed = false;

  /** a send the kernel refused (dgram reports it to the send's callback only) */
  private readonly afterSend: (error: Error | null) => void;

  constructor(
    private readonly socket: Socket,
    onDatagram: OnClientDatagram,
    onError: () => void,
  ) {
    socket.on('error', onError);
    this.afterSend = (error) => error && onError();
    socket.on('message', (message, from) => {
      const client = clientAt(from.address, from.port);
      onDatagram(message, client.key, () => client);
    });
  }

  /** 0 until bound (a tick after opening) */
  get port(): number {
    try {
      return this.socket.address().port;
    } catch {
      return 0;
    }
  }

  send(packet: Buffer, to: Client): void {
    // dgram may send later than this call (a full buffer), and `packet` may be another socket's memory
    if (!this.closed) this.socket.send(Buffer.from(packet), to.port, to.address, this.afterSend);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/**
 * A port on `address` (any free port number) toward clients. `onDropped` counts datagrams the
 * kernel did not take (a full socket buffer: TFTP retransmits) or that could not be sent.
 */
export function openClientPort(address: string, onDatagram: OnClientDatagram, onDropped: (count: number) => void, options: { batched?: boolean } = {}): ClientPort {
  const native = options.batched === false || !isIPv4(address) ? undefined : loadUdpBatch();
  if (native) return new BatchedPort(native, address, onDatagram, onDropped);
  const socket = createSocket({ type: isIPv4(address) ? 'udp4' : 'udp6', lookup: literalAddress });
  socket.bind(0, address);
  return new DgramPort(socket, onDatagram, () => onDropped(1));
}
