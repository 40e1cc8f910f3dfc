import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { ipv4Number, loadUdpBatch, type UdpBatch } from './client-port.ts';
import { literalAddress } from './udp.ts';

/**
 * A TFTP session's socket toward its server: a fresh port per session (the server tells transfers
 * apart by it), sending to the server's service port until the server answers from its own port
 * (its TID), then connected to that port. Only the server's address is listened to: a datagram from
 * any other goes to `onStray`. On IPv4 with the addon built (native/udp-batch.c), datagrams are read
 * into one area shared by every session and handed over once per event-loop turn; elsewhere (IPv6,
 * no addon) a dgram socket.
 */
export interface ServerSocket {
  /** true when the addon carries it */
  readonly native: boolean;
  /**
   * Sends to the server's `port`, or, given no port, to the TID it is connected to. `packet` may be
   * reused once this returns (a client's datagram is the client port's memory).
   */
  send(packet: Buffer, port?: number): void;
  /** From now on only the server's `port` is heard (sends before this takes effect are kept in order). */
  connect(port: number): void;
  close(): void;
}

/**
 * A datagram from the server's address: `message` is valid only during the call (the next turn's
 * datagrams are read into the same memory): whatever keeps it copies it.
 */
export type OnServerDatagram = (message: Buffer, port: number) => void;

export interface ServerSocketEvents {
  readonly onDatagram: OnServerDatagram;
  /** a datagram from another address */
  readonly onStray: () => void;
  /** a send the kernel refused, or an error queued on the socket (an ICMP unreachable) */
  readonly onError: () => void;
}

/** a datagram's bytes at most: UDP's largest payload over IPv4 */
const SLOT = 65536;
/** what the addon writes in a datagram's length when it read an error instead */
const SOCKET_ERROR = 0xffffffff;

/**
 * The addon's server sockets of this process: the area they are read into and the sockets by id,
 * so that one call a turn finds each datagram's session.
 */
class NativeServers {
  private readonly recv: Buffer;
  private readonly words: Uint32Array;
  private readonly open = new Map<number, NativeServerSocket>();
  private nextId = 1;

  constructor(readonly addon: UdpBatch) {
    this.recv = Buffer.allocUnsafeSlow(addon.SLOTS * SLOT);
    const meta = Buffer.alloc(addon.SLOTS * 16);
    this.words = new Uint32Array(meta.buffer, meta.byteOffset, addon.SLOTS * 4);
    addon.serverInit(this.recv, meta, SLOT, (count) => this.onBatch(count));
  }

  add(socket: NativeServerSocket): number {
    const id = this.nextId;
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    this.open.set(id, socket);
    return id;
  }

  remove(id: number): void {
    this.open.delete(id);
  }

  private onBatch(count: number): void {
    const words = this.words;
    for (let i = 0; i < count; i++) {
      // a socket closed earlier in this turn: its datagrams go nowhere
      const socket = this.open.get(words[i * 4]!);
      const length = words[i * 4 + 1]!;
      if (socket) socket.received(this.recv.subarray(i * SLOT, i * SLOT + (length === SOCKET_ERROR ? 0 : length)), length === SOCKET_ERROR, words[i * 4 + 2]!, words[i * 4 + 3]!);
    }
  }
}

let servers: NativeServers | undefined;

class NativeServerSocket implements ServerSocket {
  readonly native = true;
  private readonly handle: object;
  private readonly id: number;
  private readonly server4: number;
  private closed = false;

  constructor(
    private readonly servers: NativeServers,
    server: string,
    private readonly events: ServerSocketEvents,
  ) {
    this.server4 = ipv4Number(server);
    this.id = servers.add(this);
    this.handle = servers.addon.serverOpen(this.id);
  }

  received(message: Buffer, failed: boolean, port: number, address4: number): void {
    if (this.closed) return;
    if (failed) return this.events.onError();
    if (address4 !== this.server4) return this.events.onStray();
    this.events.onDatagram(message, port);
  }

  send(packet: Buffer, port?: number): void {
    if (this.closed) return;
    const refused = port === undefined ? this.servers.addon.serverSend(this.handle, packet, 0, 0) : this.servers.addon.serverSend(this.handle, packet, this.server4, port);
    if (refused !== 0) this.events.onError();
  }

  connect(port: number): void {
    if (!this.closed && this.servers.addon.serverConnect(this.handle, this.server4, port) !== 0) this.events.onError();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.servers.remove(this.id);
    this.servers.addon.serverClose(this.handle);
  }
}

class DgramServerSocket implements ServerSocket {
  readonly native = false;
  private readonly socket: Socket;
  /** sends made while connect() is under way (dgram connects a tick later) */
  private waiting: Buffer[] | undefined;
  private closed = false;
  private readonly afterSend: (error: Error | null) => void;

  constructor(
    private readonly server: string,
    events: ServerSocketEvents,
  ) {
    this.socket = createSocket({ type: isIPv4(server) ? 'udp4' : 'udp6', lookup: literalAddress });
    this.socket.on('error', events.onError);
    this.afterSend = (error) => error && events.onError();
    this.socket.on('message', (message, from) => (from.address === server ? events.onDatagram(message, from.port) : events.onStray()));
  }

  send(packet: Buffer, port?: number): void {
    if (this.closed) return;
    // dgram may send later than this call (a full buffer): its own copy
    const copy = Buffer.from(packet);
    if (port !== undefined) this.socket.send(copy, port, this.server, this.afterSend);
    else if (this.waiting) this.waiting.push(copy);
    else this.socket.send(copy, this.afterSend);
  }

  connect(port: number): void {
    if (this.closed) return;
    this.waiting = [];
    // connected, the kernel keeps other senders away and each send skips the address look-up
    this.socket.connect(port, this.server, () => {
      const queued = this.waiting ?? [];
      this.waiting = undefined;
      for (const packet of queued) this.socket.send(packet, this.afterSend);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.removeAllListeners('message');
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** A socket toward the TFTP server at `server` (an IP address), on a free port. */
export function openServerSocket(server: string, events: ServerSocketEvents, options: { native?: boolean } = {}): ServerSocket {
  const addon = options.native === false || !isIPv4(server) ? undefined : loadUdpBatch();
  if (addon) return new NativeServerSocket((servers ??= new NativeServers(addon)), server, events);
  return new DgramServerSocket(server, events);
}
