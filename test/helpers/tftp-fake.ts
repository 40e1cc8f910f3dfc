import { createSocket, type Socket } from 'node:dgram';
import { decodePacket, encodeData, encodeError, encodeNetascii, encodeOack, MalformedPacket } from '../../plugins/tftp/codec.ts';

/**
 * A TFTP server for the tests that misbehaves on request. It serves reads the RFC way (a new port per
 * transfer, OACK, windows, its own retransmission timer) unless told to lose, repeat, stall, lie or
 * answer from elsewhere, and it counts what it sent and what the client answered.
 */
export interface FakeTftpBehaviour {
  readonly files: Readonly<Record<string, Buffer | string>>;
  /** answer every request with this ERROR */
  readonly error?: { readonly code: number; readonly message: string };
  /** never send an OACK: start with DATA at 512 bytes, as an RFC 1350 server */
  readonly ignoreOptions?: boolean;
  /** ERROR 8 to a request that carries options */
  readonly refuseOptions?: boolean;
  /** replace the OACK the server would send */
  readonly oack?: ReadonlyMap<string, string>;
  /** the first transmission of DATA block 1 is lost */
  readonly dropFirstData?: boolean;
  /** the client's first ACK of this block is lost (the server retransmits the block) */
  readonly dropFirstAckOf?: number;
  /** every DATA goes out twice */
  readonly duplicateData?: boolean;
  /** the Sorcerer's Apprentice bug: a duplicate ACK makes it send the next block again */
  readonly sorcerer?: boolean;
  /** before DATA block N, a third port sends a forged DATA block N to the client */
  readonly strayBeforeBlock?: number;
  /** from DATA block N on, the blocks come from another port than the one that started the transfer */
  readonly switchPortAtBlock?: number;
  /** sent instead of the first answer */
  readonly malformed?: Buffer;
  /** nothing after this block (no retransmission either) */
  readonly stallAfterBlock?: number;
  /** do not even answer the request */
  readonly silent?: boolean;
  /** the server's own retransmission interval (default 200 ms) */
  readonly retransmitMs?: number;
}

export interface FakeTftpStats {
  requests: { filename: string; mode: string; options: Map<string, string> }[];
  dataSent: number;
  /** ACKs per block number, as the client sent them */
  acks: Map<number, number>;
  /** ERRORs the client sent to the transfer's port */
  errors: { code: number; message: string }[];
  /** ERRORs the client sent to a stray or switched port */
  strayErrors: { code: number; message: string; port: number }[];
  malformedFromClient: number;
}

export interface FakeTftpServer {
  readonly port: number;
  readonly stats: FakeTftpStats;
  close(): Promise<void>;
}

async function bound(sockets: Set<Socket>): Promise<Socket> {
  const socket = createSocket('udp4');
  sockets.add(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return socket;
}

export async function startFakeTftp(behaviour: FakeTftpBehaviour): Promise<FakeTftpServer> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const stats: FakeTftpStats = { requests: [], dataSent: 0, acks: new Map(), errors: [], strayErrors: [], malformedFromClient: 0 };
  const main = await bound(sockets);
  const rexmit = behaviour.retransmitMs ?? 200;

  const watchStray = (socket: Socket) =>
    socket.on('message', (message) => {
      if (message.length >= 4 && message.readUInt16BE(0) === 5) {
        stats.strayErrors.push({ code: message.readUInt16BE(2), message: message.toString('latin1', 4).replace(/\0$/, ''), port: socket.address().port });
      }
    });

  main.on('message', (message, client) => {
    let request;
    try {
      request = decodePacket(message);
    } catch {
      return;
    }
    if (request.op !== 'RRQ') return;
    stats.requests.push({ filename: request.filename, mode: request.mode, options: new Map(request.options) });
    void serve(request.filename, request.mode, request.options, client.port);
  });

  async function serve(filename: string, mode: string, asked: ReadonlyMap<string, string>, clientPort: number): Promise<void> {
    const session = await bound(sockets);
    let onAck: (packet: { block: number }) => void = () => undefined;
    let onError: () => void = () => undefined;
    session.on('message', (message) => {
      let packet;
      try {
        packet = decodePacket(message);
      } catch (error) {
        if (error instanceof MalformedPacket) stats.malformedFromClient++;
        return;
      }
      if (packet.op === 'ERROR') {
        stats.errors.push({ code: packet.code, message: packet.message });
        onError();
      } else if (packet.op === 'ACK') {
        onAck(packet);
      }
    });
    const to = (socket: Socket, packet: Buffer) => socket.send(packet, clientPort, '127.0.0.1');
    if (behaviour.silent) return;
    if (behaviour.malformed) return to(session, behaviour.malformed);
    if (behaviour.error) return to(session, encodeError(behaviour.error.code, behaviour.error.message));
    if (behaviour.refuseOptions && asked.size) return to(session, encodeError(8, 'Option negotiation refused'));
    const file = behaviour.files[filename];
    if (file === undefined) return to(session, encodeError(1, 'File not found'));
    const raw = Buffer.from(file);
    const content = mode === 'netascii' ? encodeNetascii(raw) : raw;
    let blksize = 512;
    let windowsize = 1;
    let oack: Map<string, string> | undefined;
    if (asked.size && !behaviour.ignoreOptions) {
      oack = new Map(behaviour.oack ?? []);
      if (!behaviour.oack) {
        for (const [name, value] of asked) {
          if (name === 'blksize') oack.set(name, String((blksize = Math.min(Number(value), 65464))));
          else if (name === 'windowsize') oack.set(name, String((windowsize = Math.min(Number(value), 64))));
          else if (name === 'tsize') oack.set(name, String(content.length));
          else if (name === 'timeout') oack.set(name, value);
        }
      }
    }
    const blocks = Math.floor(content.length / blksize) + 1;
    const stray = behaviour.strayBeforeBlock === undefined ? undefined : await bound(sockets);
    if (stray) watchStray(stray);
    const switched = behaviour.switchPortAtBlock === undefined ? undefined : await bound(sockets);
    if (switched) watchStray(switched);
    let base = oack ? 0 : 1; // first block not yet acknowledged (0: the OACK)
    let sentFirst = false;
    let strayDone = false;
    let retries = 0;
    let timer: NodeJS.Timeout | undefined;
    const seenAcks = new Set<number>();

    const sendBlock = (block: number) => {
      if (behaviour.stallAfterBlock !== undefined && block > behaviour.stallAfterBlock) return;
      if (stray && !strayDone && block === behaviour.strayBeforeBlock) {
        strayDone = true;
        to(stray, encodeData(block, Buffer.from('forged data from another port')));
      }
      if (block === 1 && behaviour.dropFirstData && !sentFirst) {
        sentFirst = true;
        return;
      }
      const data = encodeData(block, content.subarray((block - 1) * blksize, block * blksize));
      const from = switched && block >= (behaviour.switchPortAtBlock as number) ? switched : session;
      for (let copy = behaviour.duplicateData ? 2 : 1; copy > 0; copy--) {
        stats.dataSent++;
        to(from, data);
      }
    };
    const sendWindow = () => {
      clearTimeout(timer);
      if (base === 0 && oack) to(session, encodeOack(oack));
      else for (let block = base; block < base + windowsize && block <= blocks; block++) sendBlock(block);
      if (behaviour.stallAfterBlock !== undefined && base > behaviour.stallAfterBlock) return;
      timer = setTimeout(() => {
        timers.delete(timer!);
        if (++retries <= 5) sendWindow();
      }, rexmit);
      timers.add(timer);
    };

    onAck = (packet) => {
      stats.acks.set(packet.block, (stats.acks.get(packet.block) ?? 0) + 1);
      if (packet.block === behaviour.dropFirstAckOf && stats.acks.get(packet.block) === 1) return;
      const duplicate = seenAcks.has(packet.block);
      seenAcks.add(packet.block);
      if (packet.block >= blocks) {
        clearTimeout(timer);
        return;
      }
      if (duplicate && behaviour.sorcerer) {
        sendBlock(packet.block + 1);
        return;
      }
      if (packet.block >= base) {
        base = packet.block + 1;
        retries = 0;
        sendWindow();
      }
    };
    onError = () => clearTimeout(timer);
    sendWindow();
  }

  return {
    port: main.address().port,
    stats,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      const open = [...sockets];
      sockets.clear();
      await Promise.all(open.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    },
  };
}
