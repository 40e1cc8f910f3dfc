import { readdirSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { decodePacket, encodeAck, encodeError, MAX_REQUEST_BYTES, OPCODE } from '../../plugins/tftp/codec.ts';
import { type Client, type ClientKey, type ClientPort, clientAt, openClientPort } from './client-port.ts';
import { type Listener, listenUdp } from './listeners.ts';
import type { Lease, ServerPool } from './pool.ts';
import { openServerSocket, type ServerSocket } from './server-socket.ts';
import { sweeper } from './udp.ts';

/** after the last block, how long the session stays for retransmissions of the final DATA or ACK */
const LINGER_MS = 2000;
const UNKNOWN_TID = encodeError(5, 'Unknown transfer ID');
/**
 * Sweeps (one a second) a server may leave unanswered what the balancer sent it (a request, an ACK, a
 * client's DATA) before it is taken for dead: within the clients' own retransmission time (tftp-hpa
 * and atftp wait 5 s), so they never see it.
 */
const SERVER_SILENT_SWEEPS = 2;
const WRITE_LOST = encodeError(0, 'The server stopped answering; a write cannot be resumed elsewhere');
/** RFC 1350's block size: what a client that asks for no options gets */
const PLAIN_BLOCK = 512;
/** RFC 2348's block size for Ethernet: 1500 less the IP, UDP and TFTP headers */
const ETHERNET_BLOCK = 1468;

/**
 * The block size asked of the server for a client that asked for no options (a third of the
 * datagrams on the server's side): the smallest MTU among this host's interfaces (loopback aside)
 * less the IP, UDP and TFTP headers, so that the server's blocks are not fragmented on an overlay
 * or tunnel, and at most Ethernet's 1468. 512 (no gain) turns wide reads off.
 */
export function wideBlockSize(ipv6: boolean, netDir = '/sys/class/net'): number {
  let mtu = 1500;
  try {
    for (const name of readdirSync(netDir)) {
      if (name === 'lo') continue;
      const value = Number(readFileSync(join(netDir, name, 'mtu'), 'utf8'));
      if (Number.isInteger(value) && value > 0) mtu = Math.min(mtu, value);
    }
  } catch {
    // no sysfs (not Linux): Ethernet's
  }
  return Math.max(PLAIN_BLOCK, Math.min(ETHERNET_BLOCK, mtu - (ipv6 ? 40 : 20) - 8 - 4));
}

const blksizeOption = (size: number) => Buffer.from(`blksize\0${size}\0`, 'latin1');

/** a client's address and port */
export interface Peer {
  readonly address: string;
  readonly port: number;
}

/** Offers a new request (the datagram as read, and its client) to another process: true when taken. */
export type HandOff = (message: Buffer, from: Peer) => boolean;

interface Session {
  readonly key: ClientKey;
  lease: Lease;
  /** RRQ or WRQ */
  readonly op: 'RRQ' | 'WRQ';
  /** the request as the client sent it, and as it went to the server (with blksize when wide) */
  readonly clientRequest: Buffer;
  request: Buffer;
  readonly client: Client;
  /** the port toward the client: its address's (shared by that address's sessions) */
  readonly clientPort: ClientPort;
  backend: Peer;
  /** the server's transfer ID (its session port), learned from its first answer */
  tid: number | undefined;
  /** faces the server: a fresh port, its DATA and ACKs come back to it; connected to its TID once known */
  toServer: ServerSocket;
  blksize: number;
  /** reads are relayed one block ahead (not with an RFC 7440 window, which the two ends keep themselves) */
  readAhead: boolean;
  /** the last DATA sent to the client, and its block number */
  sent: Buffer | undefined;
  sentBlock: number;
  /** the server's next block, held until the client ACKs `sent` */
  next: Buffer | undefined;
  /** the client has ACKed `sent` and waits for the next block */
  clientWaiting: boolean;
  /**
   * Wide: a read whose client asked for no options is asked of the server with a wide blksize and cut
   * back into 512-byte blocks for the client (`wide` below holds the server's bytes not yet sent).
   */
  wide: Wide | undefined;
  /** sweeps (one a second) since the last datagram: cheaper than reading the clock per datagram */
  quiet: number;
  /** sweeps since the balancer sent the server something it has not answered (undefined: nothing owed) */
  owed: number | undefined;
  /** blocks taken from the server (ACKed to it) since the start, whatever server sent them */
  taken: number;
  /**
   * Resuming a read on another server: its blocks up to `skipTo` (counted in `seen`) were delivered
   * already and are ACKed and dropped; its OACK is answered here, not passed to the client.
   */
  resume: { readonly skipTo: number; seen: number } | undefined;
  /** servers this session tried (a switch does not go back to one) */
  readonly tried: Set<Lease['server']>;
  finishing: boolean;
  /** bytes from and to the client not yet added to the counters (once a sweep, and at the end) */
  fromClient: number;
  toClientBytes: number;
}

interface Wide {
  /** the block size asked of the server */
  readonly asked: number;
  /** the server's block size: 512 until its OACK grants more */
  blksize: number;
  /** the last block taken from the server (ACKed, or owed an ACK) */
  block: number;
  /** the ACK of `block` waits until the client has taken enough of `bytes` */
  ackOwed: boolean;
  /** the server's last block has come */
  done: boolean;
  /** the final (short) block went to the client */
  finalSent: boolean;
  bytes: Buffer;
  offset: number;
}

/** Adds what a session moved since the last count to its server's counters (each sweep and at its end). */
function countBytes(s: Session): void {
  s.lease.addBytes(s.fromClient, s.toClientBytes);
  s.fromClient = 0;
  s.toClientBytes = 0;
}

/**
 * TFTP on port 69 (RFC 1350 TIDs, RFC 2347/2348 options): a read or write request opens a session
 * with a fresh socket toward the chosen server. Toward clients, the sessions of one client address
 * answer from one port (client-port.ts), as one TFTP server's transfers may: the client's port (its
 * TID) tells them apart, and the port moves their datagrams in batches. Clients on other addresses
 * get other ports, so that a flood of one port (its queue overflowing) holds up one address's
 * transfers only. Datagrams from a client without a session there get ERROR 5 and go nowhere;
 * malformed requests and packets are dropped and counted. A session ends on ERROR, shortly after
 * its last block, or after `idleMs` without a datagram.
 */
export class TftpService {
  private readonly sessions = new Map<ClientKey, Session>();
  /** the ports toward clients by client address, each open while that address has sessions */
  private readonly clientPorts = new Map<string, { port: ClientPort; sessions: number }>();
  /** the once-a-second sweep, running while sessions are open */
  private stopSweep: (() => void) | undefined;

  /** wide reads' block size toward IPv4 and IPv6 servers (from the interfaces' MTU at start) */
  private readonly wideBlock = { 4: wideBlockSize(false), 6: wideBlockSize(true) };

  private listener: Listener | undefined;

  private constructor(
    private readonly address: string,
    private readonly pool: ServerPool,
    private readonly idleMs: number,
    /** sends what the service port answers itself (no server for a request) */
    private answer: (message: Buffer, to: Peer) => void,
    /** another process may take a new request: true when it did (workers, tftp-handoff.ts) */
    private readonly handOff?: HandOff,
  ) {}

  /** The service on address:port (69), its sessions in this process or, given `handOff`, handed out. */
  static async start(address: string, port: number, pool: ServerPool, idleMs: number, handOff?: HandOff): Promise<TftpService> {
    const service = new TftpService(address, pool, idleMs, () => undefined, handOff);
    const listener = await listenUdp(address, port, (message, from) => service.onRequest(message, from));
    service.listener = listener;
    service.answer = (message, to) => listener.socket.send(message, to.port, to.address);
    return service;
  }

  /**
   * Sessions of requests another process read on the service port and handed here (a worker):
   * `answer` gets what that port must send back.
   */
  static detached(address: string, pool: ServerPool, idleMs: number, answer: (message: Buffer, to: Peer) => void): TftpService {
    return new TftpService(address, pool, idleMs, answer);
  }

  /** Sends from the service port (a worker's answer to a request handed to it). */
  answerFrom(message: Buffer, to: Peer): void {
    if (this.listener?.listening) this.answer(message, to);
  }

  /** A request read on the service port by another process. */
  accept(message: Buffer, from: Peer): void {
    this.onRequest(message, from);
  }

  private sweep(): void {
    for (const session of this.sessions.values()) {
      countBytes(session);
      if (++session.quiet * 1000 > (session.finishing ? LINGER_MS : this.idleMs)) this.end(session);
    }
    for (const session of this.sessions.values()) {
      if (session.owed !== undefined && !session.finishing && ++session.owed >= SERVER_SILENT_SWEEPS) this.serverSilent(session);
    }
  }

  get listening(): boolean {
    return this.listener?.listening ?? false;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  private onRequest(message: Buffer, from: Peer): void {
    let packet;
    try {
      packet = decodePacket(message);
    } catch {
      this.pool.countError('malformed');
      return;
    }
    if (packet.op !== 'RRQ' && packet.op !== 'WRQ') {
      this.pool.countError('stray');
      return;
    }
    const client = clientAt(from.address, from.port);
    const key = client.key;
    const existing = this.sessions.get(key);
    if (existing) {
      // the client sent its request again: pass it on only while the server has not answered
      if (existing.tid === undefined) existing.toServer.send(existing.request, existing.backend.port);
      return;
    }
    if (this.handOff?.(message, from)) return;
    let session: Session | undefined;
    const lease = this.pool.open(from.address, () => session && this.end(session));
    if (!lease) {
      this.answer(encodeError(0, 'No server available'), from);
      return;
    }
    const backend = { address: lease.server.spec.address, port: lease.server.spec.port };
    const asked = this.wideBlock[isIPv6(backend.address) ? 6 : 4];
    const option = blksizeOption(asked);
    const wide = asked > PLAIN_BLOCK && packet.op === 'RRQ' && packet.options.size === 0 && message.length + option.length <= MAX_REQUEST_BYTES;
    session = {
      key,
      lease,
      op: packet.op,
      owed: 0,
      taken: 0,
      resume: undefined,
      tried: new Set([lease.server]),
      clientRequest: message,
      request: wide ? Buffer.concat([message, option]) : message,
      wide: wide ? { asked, blksize: PLAIN_BLOCK, block: 0, ackOwed: false, done: false, finalSent: false, bytes: Buffer.alloc(0), offset: 0 } : undefined,
      client,
      clientPort: this.clientPortFor(from.address),
      backend,
      tid: undefined,
      toServer: undefined as unknown as ServerSocket, // just below: its events need the session
      blksize: 512, // until the server's OACK says otherwise
      readAhead: packet.op === 'RRQ' && !wide,
      sent: undefined,
      sentBlock: 0,
      next: undefined,
      clientWaiting: wide,
      quiet: 0,
      finishing: false,
      fromClient: message.length,
      toClientBytes: 0,
    };
    const s = session;
    this.sessions.set(key, s);
    this.stopSweep ??= sweeper(() => this.sweep());
    s.toServer = this.serverSocket(s);
    s.toServer.send(s.request, backend.port);
  }

  /** A fresh socket toward the session's server (at its start, and when it moves to another). */
  private serverSocket(s: Session): ServerSocket {
    return openServerSocket(s.backend.address, {
      onDatagram: (message, port) => this.onServerPacket(s, message, port),
      onStray: () => this.pool.countError('stray', s.lease.server),
      onError: () => this.pool.countError('socket', s.lease.server),
    });
  }

  /**
   * The server left unanswered what it was sent. A request goes to the next server; a read under
   * way is resumed there (the same request again, the blocks already delivered read and dropped);
   * a write cannot be (the client's bytes are gone): the client gets an ERROR at once.
   */
  private serverSilent(s: Session): void {
    const failed = s.lease.server;
    const resumable = s.tid === undefined || (s.op === 'RRQ' && (s.readAhead || s.wide !== undefined));
    const lease = resumable ? this.pool.open(s.client.address, () => this.end(s), s.tried) : undefined;
    if (!lease && s.tid === undefined) {
      // no other server for a request: this one may only be slow (tftpd-hpa forking for a storm of
      // requests answered some after 2-3 s). The request waits for it as the client would, the
      // client's retransmissions passed on, until the idle timeout. Neither an ERROR nor a failure
      // counted toward error-limit (a storm's silences come many to a sweep): either would refuse
      // transfers the server was about to serve. Its checks judge whether it is down.
      s.owed = undefined;
      return;
    }
    this.pool.connectFailed(failed, 'no TFTP answer');
    if (!lease) {
      const error = s.op === 'WRQ' ? WRITE_LOST : encodeError(0, 'The server stopped answering');
      s.toClientBytes += error.length;
      this.toClient(s, error);
      s.owed = undefined;
      s.finishing = true; // lingers so the ERROR leaves before the sockets close
      return;
    }
    this.pool.countError('tftp-resume');
    s.tried.add(lease.server);
    s.lease.close();
    s.lease = lease;
    s.backend = { address: lease.server.spec.address, port: lease.server.spec.port };
    // a fresh socket toward the new server: the old one is connected to the dead server's TID
    s.toServer.close();
    s.toServer = this.serverSocket(s);
    if (s.tid !== undefined) {
      s.tid = undefined;
      s.next = undefined; // taken from the dead server but not ACKed: the new one sends it again
      if (s.wide) s.wide.ackOwed = false;
      s.resume = { skipTo: s.taken, seen: 0 };
    }
    s.owed = 0;
    s.toServer.send(s.request, s.backend.port);
  }

  /**
   * Resuming: the new server's OACK (answered here) and its blocks already delivered (ACKed and
   * dropped). True when the packet was handled so; false once the transfer has caught up.
   */
  private resuming(s: Session, resume: NonNullable<Session['resume']>, op: number, message: Buffer): boolean {
    if (op === OPCODE.OACK) {
      let size = NaN;
      try {
        const oack = decodePacket(message);
        size = Number(oack.op === 'OACK' ? (oack.options.get('blksize') ?? 512) : NaN);
      } catch {
        // judged below
      }
      const agreed = s.wide ? s.wide.blksize : s.blksize;
      if (size !== agreed) {
        // the new server will not cut the file the same way: the client cannot be given the rest
        this.toClient(s, encodeError(0, 'The server stopped answering; another one cannot resume the transfer'));
        s.finishing = true;
        return true;
      }
      this.toServer(s, encodeAck(0));
      if (resume.skipTo === 0) s.resume = undefined;
      return true;
    }
    if (op !== OPCODE.DATA) return false;
    if (resume.seen >= resume.skipTo) {
      s.resume = undefined;
      return false;
    }
    const block = message.readUInt16BE(2);
    if (block === ((resume.seen + 1) & 0xffff)) resume.seen++;
    else if (block !== (resume.seen & 0xffff)) return true;
    this.toServer(s, encodeAck(block));
    if (resume.seen >= resume.skipTo) s.resume = undefined;
    return true;
  }

  /** A datagram from the session's server (its address): `message` is the socket's until this returns. */
  private onServerPacket(s: Session, message: Buffer, port: number): void {
    s.owed = undefined;
    if (s.tid === undefined && s.wide && message.length >= 2 && message.readUInt16BE(0) === OPCODE.ERROR) {
      // the server refused the blksize option (RFC 2347 ERROR 8, or older servers): ask as the client did
      s.wide = undefined;
      s.readAhead = true;
      s.clientWaiting = false;
      s.request = s.clientRequest;
      s.toServer.send(s.request, s.backend.port);
      return;
    }
    if (s.tid === undefined) {
      s.tid = port;
      // it answered: error-limit counts silent requests in a row, not over the server's lifetime
      this.pool.connected(s.lease.server);
      s.toServer.connect(port);
    } else if (port !== s.tid) {
      this.pool.countError('stray', s.lease.server);
      s.toServer.send(UNKNOWN_TID, port);
      return;
    }
    if (message.length < 4) return this.pool.countError('malformed', s.lease.server);
    const op = message.readUInt16BE(0);
    if (s.resume && this.resuming(s, s.resume, op, message)) return;
    if (s.wide && (op === OPCODE.DATA || op === OPCODE.OACK)) return this.wideFromServer(s, s.wide, op, message);
    if (op === OPCODE.DATA) {
      if (message.length - 4 < s.blksize) s.finishing = true;
    } else if (op === OPCODE.OACK) {
      try {
        const oack = decodePacket(message);
        const options = oack.op === 'OACK' ? oack.options : new Map<string, string>();
        const size = Number(options.get('blksize') ?? 512);
        s.blksize = Number.isInteger(size) ? size : 512;
        if (Number(options.get('windowsize') ?? 1) > 1) s.readAhead = false;
      } catch {
        return this.pool.countError('malformed', s.lease.server);
      }
    } else if (op !== OPCODE.ACK && op !== OPCODE.ERROR) {
      return this.pool.countError('malformed', s.lease.server);
    }
    s.quiet = 0;
    if (op === OPCODE.DATA && s.readAhead) return this.serverData(s, message);
    s.toClientBytes += message.length;
    this.toClient(s, message);
    if (op === OPCODE.ERROR) s.finishing = true; // lingers so the ERROR leaves before the sockets close
  }

  /**
   * Read-ahead: each block is ACKed to the server as it is passed to the client, so the server's next
   * block is already here when the client's ACK comes, and goes out at once. The lock-step round
   * trip the client waits on is then client to balancer only, as it would be client to server.
   */
  private serverData(s: Session, message: Buffer): void {
    const block = message.readUInt16BE(2);
    const following = (s.sentBlock + 1) & 0xffff;
    // what is kept (`sent`, `next`) is a copy: `message` is the socket's
    if (s.sent === undefined || (block === following && s.clientWaiting)) this.deliver(s, Buffer.from(message), block);
    else if (block === following) s.next = Buffer.from(message);
    else if (block === s.sentBlock) this.toServer(s, encodeAck(block)); // our ACK was lost: the server sent it again
  }

  private deliver(s: Session, message: Buffer, block: number): void {
    s.next = undefined;
    s.taken++;
    this.sendData(s, message, block);
    this.toServer(s, encodeAck(block));
  }

  /** A DATA to the client, kept as `sent` until it ACKs it (read-ahead and wide reads). */
  private sendData(s: Session, packet: Buffer, block: number): void {
    s.sent = packet;
    s.sentBlock = block;
    s.clientWaiting = false;
    s.toClientBytes += packet.length;
    this.toClient(s, packet);
  }

  /**
   * The client's ACK of `block` while we hold `sent`: true when it took `sent` and waits for the next;
   * when it ACKs the one before again, it did not get `sent`, which goes again.
   */
  private tookSent(s: Session, sent: Buffer, block: number): boolean {
    if (block === s.sentBlock) return true;
    if (block === ((s.sentBlock - 1) & 0xffff)) {
      s.toClientBytes += sent.length;
      this.toClient(s, sent);
    }
    return false;
  }

  /** Wide: the server's OACK or DATA. Its bytes are kept until the client has taken them. */
  private wideFromServer(s: Session, wide: Wide, op: number, message: Buffer): void {
    s.quiet = 0;
    if (op === OPCODE.OACK) {
      if (wide.block !== 0) return;
      let size = NaN;
      try {
        const oack = decodePacket(message);
        size = Number(oack.op === 'OACK' ? oack.options.get('blksize') : NaN);
      } catch {
        // judged below
      }
      if (!Number.isInteger(size) || size < PLAIN_BLOCK || size > wide.asked) return this.pool.countError('malformed', s.lease.server);
      wide.blksize = size;
      this.toServer(s, encodeAck(0));
      return;
    }
    const block = message.readUInt16BE(2);
    if (block === wide.block) {
      if (!wide.ackOwed && block !== 0) this.toServer(s, encodeAck(block)); // our ACK was lost: the server sent it again
      return;
    }
    if (block !== ((wide.block + 1) & 0xffff) || wide.done) return;
    wide.block = block;
    s.taken++;
    const data = message.subarray(4);
    // kept until the client has taken it: a copy (`message` is the socket's)
    wide.bytes = wide.offset === wide.bytes.length ? Buffer.from(data) : Buffer.concat([wide.bytes.subarray(wide.offset), data]);
    wide.offset = 0;
    if (data.length < wide.blksize) wide.done = true;
    // at most one block of the server's held back: more waits for its ACK
    if (wide.done || wide.bytes.length < wide.blksize) this.toServer(s, encodeAck(block));
    else wide.ackOwed = true;
    if (s.clientWaiting) this.wideDeliver(s, wide);
  }

  /** Wide: the client's next 512-byte block, if the server's bytes make one (or the last, shorter one). */
  private wideDeliver(s: Session, wide: Wide): void {
    const left = wide.bytes.length - wide.offset;
    if (left < PLAIN_BLOCK && !wide.done) {
      s.clientWaiting = true;
      return;
    }
    const size = Math.min(PLAIN_BLOCK, left);
    const block = (s.sentBlock + 1) & 0xffff;
    const packet = Buffer.allocUnsafe(4 + size);
    packet.writeUInt16BE(OPCODE.DATA, 0);
    packet.writeUInt16BE(block, 2);
    wide.bytes.copy(packet, 4, wide.offset, wide.offset + size);
    wide.offset += size;
    this.sendData(s, packet, block);
    if (size < PLAIN_BLOCK) {
      wide.finalSent = true;
      s.finishing = true; // lingers for the client's final ACK and its retransmissions
    }
    if (wide.ackOwed && wide.bytes.length - wide.offset < wide.blksize) {
      wide.ackOwed = false;
      this.toServer(s, encodeAck(wide.block));
    }
  }

  private toServer(s: Session, message: Buffer): void {
    // an answer is owed, but not to the ACK of a server's last block
    if (!s.finishing && !s.wide?.done) s.owed ??= 0;
    s.toServer.send(message);
  }

  /** The port toward clients on `address`, opened with its first session (end() closes it with the last). */
  private clientPortFor(address: string): ClientPort {
    let entry = this.clientPorts.get(address);
    if (!entry) {
      const port: ClientPort = openClientPort(this.address, (m, k, f) => this.onClientDatagram(port, m, k, f), (count) => {
        for (let i = 0; i < count; i++) this.pool.countError('socket');
      });
      entry = { port, sessions: 0 };
      this.clientPorts.set(address, entry);
    }
    entry.sessions++;
    return entry.port;
  }

  private toClient(s: Session, packet: Buffer): void {
    s.clientPort.send(packet, s.client);
  }

  /** A datagram on a port toward clients: its session's, or ERROR 5 for a client without one there. */
  private onClientDatagram(port: ClientPort, message: Buffer, key: ClientKey, from: () => Client): void {
    const s = this.sessions.get(key);
    if (s?.clientPort === port) return this.onClientPacket(s, message);
    this.pool.countError('stray');
    port.send(UNKNOWN_TID, from());
  }

  /** `message` is the port's until this returns: what is passed on is a copy. */
  private onClientPacket(s: Session, message: Buffer): void {
    if (s.tid === undefined) return; // nothing to answer yet: the server has not chosen its port
    if (message.length < 4) return this.pool.countError('malformed', s.lease.server);
    const op = message.readUInt16BE(0);
    if (op === OPCODE.DATA) {
      if (message.length - 4 < s.blksize) s.finishing = true;
    } else if (op !== OPCODE.ACK && op !== OPCODE.ERROR) {
      return this.pool.countError('malformed', s.lease.server);
    }
    s.quiet = 0;
    s.fromClient += message.length;
    if (op === OPCODE.ACK && s.wide) {
      if (s.sent && this.tookSent(s, s.sent, message.readUInt16BE(2)) && !s.wide.finalSent) this.wideDeliver(s, s.wide);
      return;
    }
    if (op === OPCODE.ACK && s.readAhead && s.sent) {
      if (!this.tookSent(s, s.sent, message.readUInt16BE(2))) return;
      if (s.next) this.deliver(s, s.next, s.next.readUInt16BE(2));
      else s.clientWaiting = true;
      return;
    }
    this.toServer(s, message);
    if (op === OPCODE.ERROR) s.finishing = true; // lingers so the ERROR leaves before the sockets close
  }

  private end(s: Session): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    s.toServer.close();
    const entry = this.clientPorts.get(s.client.address);
    if (entry && --entry.sessions === 0) {
      entry.port.close();
      this.clientPorts.delete(s.client.address);
    }
    countBytes(s);
    s.lease.close();
    if (this.sessions.size === 0) {
      // no session left: nothing to sweep for until the next one
      this.stopSweep?.();
      this.stopSweep = undefined;
    }
  }

  /** Stops taking requests (a successor may take the port over); open transfers run on. */
  close(): Promise<void> {
    return this.listener?.close() ?? Promise.resolve();
  }

  /** Ends every open transfer at once. */
  cut(): void {
    for (const session of [...this.sessions.values()]) this.end(session);
  }
}
