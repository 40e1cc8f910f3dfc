import { connect, createServer, isIPv4, type Server, type Socket } from 'node:net';
import { parseEpsv, parsePasv, portCommand } from '../../plugins/ftp/data-channel.ts';
import { epsvReply, finalReplyCode, LineSplitter, parseClientCommand, pasvReply } from './ftp-control.ts';
import { type DataTarget, type PassivePorts, plainAddress } from './passive-ports.ts';
import type { Lease, ServerPool } from './pool.ts';
import { dial, type DialPolicy, socketConnector } from './dial.ts';
import { relaySockets } from './socket-relay.ts';

export interface FtpOptions {
  readonly pool: ServerPool;
  readonly passive: PassivePorts;
  readonly idleMs: number;
  /** longest control line kept; a longer one ends the session (a 1 MB line is refused, not buffered) */
  readonly maxLine: number;
  readonly dial: DialPolicy;
}

/** control bytes waiting for a slow reader before the writer is paused */
const MAX_PENDING = 64 * 1024;
/** an active-mode listener not connected to within this time is closed */
const ACTIVE_WAIT_MS = 30_000;
/** a refused client that does not close after the 421 is closed after this time */
const REFUSED_LINGER_MS = 5000;

/**
 * Answers 421 and closes. What the client still sends is read and dropped: unread, its FIN would
 * never be seen and the half-closed socket would stay open for good.
 */
function refuse(client: Socket): void {
  client.resume();
  client.setTimeout(REFUSED_LINGER_MS, () => client.destroy());
  client.end('421 No server available, closing control connection.\r\n');
}

/**
 * A new FTP control connection: its server is connected to first (a refused or timed-out connect is
 * retried on the next server, see dial.ts), then the session runs; no server, or every try failed,
 * is answered 421.
 */
export function forwardFtp(client: Socket, options: FtpOptions): void {
  client.on('error', () => undefined);
  // what ends the session: the client alone while connecting, every socket once it runs
  const ending: { end: () => void; cut(): void } = { end: () => void client.destroy(), cut: () => ending.end() };
  let connecting: { abort(): void } | undefined;
  const gone = () => connecting?.abort();
  client.once('close', gone);
  connecting = dial(options.pool, plainAddress(client.remoteAddress), ending, options.dial, socketConnector, {
    dialed: (result) => {
      client.off('close', gone);
      if (result.lease) ending.end = new FtpSession(client, result.lease, result.socket, options).endAll;
      else if (result.failure === 'aborted') client.destroy();
      else refuse(client);
    },
  });
}

/**
 * One FTP control session through the balancer, once its server is connected. The client's commands
 * and the server's replies are read line by line: `227`/`229` answers are rewritten to the balancer's
 * address and a port of its passive range that leads to the server's data port; `PORT`/`EPRT` are
 * rewritten to a port the balancer opens toward the server, and it connects on to the client; a
 * `PORT`/`EPRT` naming another host than the client's is refused with 504 (FTP bounce). After `AUTH`
 * is accepted (234) the channel is TLS and unreadable: bytes pass raw, and the client's data
 * connections on any passive port go to the same port of its server (the passive ranges must then be
 * equal).
 */
class FtpSession {
  private readonly clientAddress: string;
  private readonly backend: Lease['server']['spec'];
  /** the sockets of this session's data connections */
  private readonly data = new Set<Socket>();
  /** active-mode listeners waiting for the server's data connection */
  private readonly waiting = new Set<Server>();
  private readonly clientLines: LineSplitter;
  private readonly serverLines: LineSplitter;
  /** after AUTH was accepted: bytes pass unread */
  private raw = false;
  private authPending = false;
  private tlsTarget: Omit<DataTarget, 'port'> | undefined;
  /** one queue for both directions: a server line waits for a client line being handled (an EPRT listener opening) */
  private queue = Promise.resolve();
  private fromClient = 0;
  private toClient = 0;
  /** PASV/EPSV sent and not yet answered: a 227/229 beyond them is unsolicited and refused */
  private passiveAsked = 0;
  /** this session's passive reservation: one at a time, a later PASV replaces it */
  private reservation: { port: number; target: DataTarget } | undefined;
  /** this session's active-mode listener: one at a time, a later PORT replaces it */
  private activeListener: Server | undefined;
  /** control sockets closed so far (the session ends at 2) */
  private closed = 0;

  constructor(
    private readonly client: Socket,
    private readonly lease: Lease,
    private readonly upstream: Socket,
    private readonly options: FtpOptions,
  ) {
    this.clientAddress = plainAddress(client.remoteAddress);
    this.backend = lease.server.spec;
    this.clientLines = new LineSplitter(options.maxLine);
    this.serverLines = new LineSplitter(options.maxLine);
    client.setNoDelay(true);
    upstream.on('error', this.endAll);
    this.readLines(client, upstream, this.clientLines, (line) => this.onClientLine(line), (bytes) => (this.fromClient += bytes));
    this.readLines(upstream, client, this.serverLines, (line) => this.onServerLine(line), (bytes) => (this.toClient += bytes));
    client.on('end', () => void this.queue.then(() => upstream.end()));
    upstream.on('end', () => void this.queue.then(() => client.end()));
    client.on('close', () => this.onControlClose(client, upstream));
    upstream.on('close', () => this.onControlClose(upstream, client));
    client.setTimeout(options.idleMs, this.onIdle);
  }

  /** ends the session at once: both control sockets, every data connection, every waiting listener */
  readonly endAll = (): void => {
    this.client.destroy();
    this.upstream.destroy();
    for (const socket of this.data) socket.destroy();
    for (const listener of this.waiting) listener.close();
    this.waiting.clear();
  };

  /** the control channel was quiet for idleMs: ended, unless a transfer runs (it may rest meanwhile) */
  private readonly onIdle = (): void => {
    if (this.data.size > 0) {
      this.client.setTimeout(this.options.idleMs, this.onIdle);
      return;
    }
    this.endAll();
  };

  private onControlClose(socket: Socket, other: Socket): void {
    if (!socket.readableEnded) other.destroy();
    if (++this.closed < 2) return;
    if (this.tlsTarget) this.options.passive.dropAffinity(this.clientAddress, this.tlsTarget);
    this.releaseReservation();
    this.activeListener?.close();
    this.lease.addBytes(this.fromClient, this.toClient);
    this.lease.close();
  }

  private releaseReservation(): void {
    if (this.reservation) this.options.passive.release(this.reservation.port, this.reservation.target);
    this.reservation = undefined;
  }

  /** A line to `to`; the reader is resumed by the 'drain' listener readLines sets once per direction (no listener per write). */
  private send(to: Socket, from: Socket, text: string): void {
    if (to.destroyed) return;
    if (!to.write(`${text}\r\n`, 'latin1') && to.writableLength > MAX_PENDING) from.pause();
  }

  /** Relays one data connection; its two sockets are charged to the descriptor budget (taken by the caller). */
  private relayData(clientSide: Socket, serverSide: Socket): void {
    this.data.add(clientSide).add(serverSide);
    relaySockets(clientSide, serverSide, { idleMs: this.options.idleMs, countInto: this.lease }, () => {
      this.data.delete(clientSide);
      this.data.delete(serverSide);
      this.lease.giveDescriptors(2);
    });
  }

  /** a client's connection on the passive port reserved for this session: relayed to the server's data port */
  private readonly passiveData = (socket: Socket, target: DataTarget): void => {
    if (!this.lease.takeDescriptors(2)) {
      socket.destroy();
      return;
    }
    const toServer = connect({ host: target.host, port: target.port, localAddress: target.localAddress, allowHalfOpen: true });
    toServer.on('error', () => this.options.pool.countError('data-connect', this.lease.server));
    this.relayData(socket, toServer);
  };

  /**
   * Opens a port toward the server for an active-mode transfer (closing the one a previous PORT
   * opened, if unused); resolves to the command to send it, undefined when it cannot.
   */
  private activeData(clientHost: string, clientPort: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      this.activeListener?.close();
      if (!this.lease.takeDescriptors(1)) return resolve(undefined);
      const local = this.upstream.localAddress ?? '0.0.0.0';
      const listener = createServer({ allowHalfOpen: true }, (socket) => {
        listener.close();
        this.waiting.delete(listener);
        clearTimeout(timer);
        this.serverConnectedForActive(socket, local, clientHost, clientPort);
      });
      this.activeListener = listener;
      const timer = setTimeout(() => {
        listener.close();
        this.waiting.delete(listener);
      }, ACTIVE_WAIT_MS);
      timer.unref();
      this.waiting.add(listener);
      listener.once('close', () => {
        clearTimeout(timer);
        this.lease.giveDescriptors(1);
        if (this.activeListener === listener) this.activeListener = undefined;
      });
      listener.once('error', () => resolve(undefined));
      listener.listen(0, local, () => {
        const address = listener.address();
        resolve(typeof address === 'object' && address ? portCommand(plainAddress(local), address.port) : undefined);
      });
    });
  }

  /** the server connected to the active-mode port: only it may (a stray is counted and closed); relayed on to the client */
  private serverConnectedForActive(socket: Socket, local: string, clientHost: string, clientPort: number): void {
    socket.on('error', () => undefined);
    const from = plainAddress(socket.remoteAddress);
    if (from !== plainAddress(this.backend.address) && from !== plainAddress(local)) {
      this.options.pool.countError('data-stray', this.lease.server);
      socket.destroy();
      return;
    }
    if (!this.lease.takeDescriptors(2)) {
      socket.destroy();
      return;
    }
    const toClient = connect({ host: clientHost, port: clientPort, localAddress: this.client.localAddress, allowHalfOpen: true });
    toClient.on('error', () => this.options.pool.countError('data-connect', this.lease.server));
    this.relayData(toClient, socket);
  }

  private async onClientLine(line: string): Promise<void> {
    const { client, upstream, lease } = this;
    const pool = this.options.pool;
    const command = parseClientCommand(line);
    if (command.kind === 'auth') this.authPending = true;
    if (command.kind === 'passive') this.passiveAsked++;
    if (command.kind === 'nul') {
      pool.countError('bad-command', lease.server);
      return this.send(client, upstream, '501 Syntax error: NUL byte in command.');
    }
    if (command.kind === 'bad-port') {
      pool.countError('bad-port', lease.server);
      return this.send(client, upstream, '501 Syntax error in parameters or arguments.');
    }
    if (command.kind !== 'port') return this.send(upstream, client, line);
    if (plainAddress(command.host) !== this.clientAddress) {
      pool.countError('bounce', lease.server);
      return this.send(client, upstream, '504 Command not implemented for that parameter (data address must be the client\'s own).');
    }
    const rewritten = await this.activeData(command.host, command.port);
    if (rewritten === undefined) return this.send(client, upstream, '425 Cannot open data connection.');
    this.send(upstream, client, rewritten);
  }

  /** AUTH accepted: from now on bytes pass unread, and passive data goes to the same port of the server */
  private goRaw(): void {
    this.raw = true;
    this.tlsTarget = { client: this.clientAddress, host: this.backend.address, localAddress: this.upstream.localAddress, onSocket: this.passiveData };
    this.options.passive.setAffinity(this.tlsTarget); // until the control session ends
    const pending = this.clientLines.take();
    if (pending.length) this.upstream.write(pending);
  }

  private onServerLine(line: string): void {
    const { client, upstream } = this;
    const code = finalReplyCode(line);
    if (code === 227 || code === 229) return this.onPassiveReply(code, line);
    if (code !== undefined && this.authPending) {
      this.authPending = false;
      if (code === 234) this.goRaw();
    }
    this.send(client, upstream, line);
  }

  /** A 227/229: the server's data port behind a port of the balancer's passive range, told to the client. */
  private onPassiveReply(code: 227 | 229, line: string): void {
    const { client, upstream, lease } = this;
    const pool = this.options.pool;
    if (this.passiveAsked === 0) {
      // never asked for: a backend must not make the balancer reserve ports on its own
      pool.countError('unsolicited-passive', lease.server);
      return;
    }
    this.passiveAsked--;
    const serverPort = code === 227 ? parsePasv(line)?.port : parseEpsv(line);
    if (!serverPort) {
      pool.countError('bad-passive-reply', lease.server);
      return this.send(client, upstream, '425 Cannot open passive connection: the server\'s answer was not understood.');
    }
    // 227 carries an IPv4 address only: a client that reached the balancer over IPv6 must use EPSV
    // (RFC 2428), whatever the backend's own family
    if (code === 227 && !isIPv4(plainAddress(client.localAddress))) return this.send(client, upstream, '425 Cannot open passive connection: PASV has no IPv6 address, use EPSV.');
    // the address in the 227 is not used: data only ever goes to the configured backend
    this.releaseReservation(); // a new PASV replaces the last one (RFC 959)
    const target: DataTarget = { client: this.clientAddress, host: this.backend.address, port: serverPort, localAddress: upstream.localAddress, onSocket: this.passiveData };
    const reserved = this.options.passive.reserve(target);
    if (typeof reserved !== 'number') {
      pool.countError(reserved, lease.server);
      return this.send(client, upstream, reserved === 'passive-full'
        ? '425 Cannot open passive connection: all passive ports are in use.'
        : '425 Cannot open passive connection: this address holds its share of the passive ports.');
    }
    this.reservation = { port: reserved, target };
    this.send(client, upstream, code === 227 ? pasvReply(plainAddress(client.localAddress), reserved) : epsvReply(reserved));
  }

  private tooLong(offender: Socket): void {
    this.options.pool.countError('line-too-long', this.lease.server);
    this.client.end(offender === this.client ? '500 Command line too long.\r\n' : '421 The server sent a reply line too long; closing.\r\n');
    this.endAll();
  }

  /** One direction: lines to `onLine` in order (raw bytes once TLS began), reads paused while `to` is full. */
  private readLines(from: Socket, to: Socket, lines: LineSplitter, onLine: (line: string) => void | Promise<void>, count: (bytes: number) => void): void {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (this.raw) {
        if (!to.write(chunk)) from.pause();
        return;
      }
      const complete = lines.push(chunk);
      if (complete === false) return this.tooLong(from);
      for (const line of complete) this.queue = this.queue.then(() => onLine(line)).catch(this.endAll);
    });
    to.on('drain', () => from.resume());
  }
}
