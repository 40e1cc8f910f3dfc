import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { decodePacket, encodeAck, encodeError, OPCODE } from '../../plugins/tftp/codec.ts';
import type { Lease, ServerPool } from './pool.ts';
import { bindUdp, closeUdp, sweeper } from './udp.ts';

/** after the last block, how long the session stays for retransmissions of the final DATA or ACK */
const LINGER_MS = 2000;
const UNKNOWN_TID = encodeError(5, 'Unknown transfer ID');

/**
 * Sessions only ever send to IP addresses: answering the look-up at once spares each datagram the
 * deferred DNS callback dgram otherwise waits for.
 */
const literalAddress = (address: string, _family: unknown, callback: (error: Error | null, address: string, family: number) => void) =>
  callback(null, address, isIPv6(address) ? 6 : 4);

interface Session {
  readonly key: string;
  readonly lease: Lease;
  readonly request: Buffer;
  readonly client: { readonly address: string; readonly port: number };
  readonly backend: { readonly address: string; readonly port: number };
  /** the server's transfer ID (its session port), learned from its first answer */
  tid: number | undefined;
  /** faces the client: a fresh port, the client's ACKs and DATA come back to it */
  readonly toClient: Socket;
  /** faces the server: a fresh port, its DATA and ACKs come back to it; connected to its TID once known */
  readonly toServer: Socket;
  /** client datagrams waiting for toServer's connect (a tick) */
  waiting: Buffer[] | undefined;
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
  /** sweeps (one a second) since the last datagram: cheaper than reading the clock per datagram */
  quiet: number;
  finishing: boolean;
  fromClient: number;
  toClientBytes: number;
}

/**
 * TFTP on port 69 (RFC 1350 TIDs, RFC 2347/2348 options): a read or write request opens a session
 * with a fresh socket toward the chosen server and a fresh socket toward the client, so the client
 * talks to the session port exactly as it would to a TFTP server's. Datagrams from any other address
 * or port get ERROR 5 and go nowhere; malformed requests and packets are dropped and counted. A session
 * ends on ERROR, shortly after its last block, or after `idleMs` without a datagram.
 */
export class TftpService {
  private readonly sessions = new Map<string, Session>();
  private stopSweep: () => void = () => undefined;

  private constructor(private readonly socket: Socket, private readonly address: string, private readonly pool: ServerPool) {}

  static async start(address: string, port: number, pool: ServerPool, idleMs: number): Promise<TftpService> {
    const service = new TftpService(await bindUdp(address, port), address, pool);
    service.socket.on('message', (message, from) => service.onRequest(message, from));
    service.stopSweep = sweeper(() => {
      for (const session of service.sessions.values()) {
        if (++session.quiet * 1000 > (session.finishing ? LINGER_MS : idleMs)) service.end(session);
      }
    });
    return service;
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  private onRequest(message: Buffer, from: RemoteInfo): void {
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
    const key = `${from.address}|${from.port}`;
    const existing = this.sessions.get(key);
    if (existing) {
      // the client sent its request again: pass it on only while the server has not answered
      if (existing.tid === undefined) existing.toServer.send(existing.request, existing.backend.port, existing.backend.address);
      return;
    }
    let session: Session | undefined;
    const lease = this.pool.open(from.address, () => session && this.end(session));
    if (!lease) {
      this.socket.send(encodeError(0, 'No server available'), from.port, from.address);
      return;
    }
    const backend = { address: lease.server.spec.address, port: lease.server.spec.port };
    const family = (a: string) => (isIPv6(a) ? 'udp6' : 'udp4');
    session = {
      key,
      lease,
      request: message,
      client: { address: from.address, port: from.port },
      backend,
      tid: undefined,
      waiting: [],
      toClient: createSocket({ type: family(this.address), lookup: literalAddress }),
      toServer: createSocket({ type: family(backend.address), lookup: literalAddress }),
      blksize: 512, // until the server's OACK says otherwise
      readAhead: packet.op === 'RRQ',
      sent: undefined,
      sentBlock: 0,
      next: undefined,
      clientWaiting: false,
      quiet: 0,
      finishing: false,
      fromClient: message.length,
      toClientBytes: 0,
    };
    const s = session;
    this.sessions.set(key, s);
    s.toClient.on('error', () => this.pool.countError('socket', lease.server));
    s.toServer.on('error', () => this.pool.countError('socket', lease.server));
    s.toClient.on('message', (m, r) => this.onClientPacket(s, m, r));
    s.toServer.on('message', (m, r) => this.onServerPacket(s, m, r));
    s.toClient.bind(0, this.address);
    s.toServer.send(message, backend.port, backend.address);
  }

  private onServerPacket(s: Session, message: Buffer, from: RemoteInfo): void {
    if (from.address !== s.backend.address) return this.pool.countError('stray', s.lease.server);
    if (s.tid === undefined) {
      s.tid = from.port;
      // connected, the kernel keeps other senders away and each send skips the address look-up
      s.toServer.connect(from.port, from.address, () => {
        for (const queued of s.waiting ?? []) s.toServer.send(queued);
        s.waiting = undefined;
      });
    } else if (from.port !== s.tid) {
      this.pool.countError('stray', s.lease.server);
      s.toServer.send(UNKNOWN_TID, from.port, from.address);
      return;
    }
    if (message.length < 4) return this.pool.countError('malformed', s.lease.server);
    const op = message.readUInt16BE(0);
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
    s.toClient.send(message, s.client.port, s.client.address);
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
    if (s.sent === undefined || (block === following && s.clientWaiting)) this.deliver(s, message, block);
    else if (block === following) s.next = message;
    else if (block === s.sentBlock) this.toServer(s, encodeAck(block)); // our ACK was lost: the server sent it again
  }

  private deliver(s: Session, message: Buffer, block: number): void {
    s.sent = message;
    s.sentBlock = block;
    s.next = undefined;
    s.clientWaiting = false;
    s.toClientBytes += message.length;
    s.toClient.send(message, s.client.port, s.client.address);
    this.toServer(s, encodeAck(block));
  }

  private clientAck(s: Session, sent: Buffer, block: number): void {
    if (block === s.sentBlock) {
      if (s.next) this.deliver(s, s.next, s.next.readUInt16BE(2));
      else s.clientWaiting = true;
    } else if (block === ((s.sentBlock - 1) & 0xffff)) {
      // the client did not get the last block (it ACKs the one before again): send it again
      s.toClientBytes += sent.length;
      s.toClient.send(sent, s.client.port, s.client.address);
    }
  }

  private toServer(s: Session, message: Buffer): void {
    if (s.waiting) s.waiting.push(message);
    else s.toServer.send(message);
  }

  private onClientPacket(s: Session, message: Buffer, from: RemoteInfo): void {
    if (from.port !== s.client.port || from.address !== s.client.address) {
      this.pool.countError('stray', s.lease.server);
      s.toClient.send(UNKNOWN_TID, from.port, from.address);
      return;
    }
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
    if (op === OPCODE.ACK && s.readAhead && s.sent) return this.clientAck(s, s.sent, message.readUInt16BE(2));
    this.toServer(s, message);
    if (op === OPCODE.ERROR) s.finishing = true; // lingers so the ERROR leaves before the sockets close
  }

  private end(s: Session): void {
    if (this.sessions.get(s.key) !== s) return;
    this.sessions.delete(s.key);
    closeUdp(s.toClient);
    closeUdp(s.toServer);
    s.lease.addBytes(s.fromClient, s.toClientBytes);
    s.lease.close();
  }

  async close(): Promise<void> {
    this.stopSweep();
    for (const session of [...this.sessions.values()]) this.end(session);
    closeUdp(this.socket);
  }
}
