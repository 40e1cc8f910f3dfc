import { connect, createServer, isIPv4, type Server, type Socket } from 'node:net';
import { parseEpsv, parsePasv, portCommand } from '../../plugins/ftp/data-channel.ts';
import { epsvReply, finalReplyCode, LineSplitter, parseClientCommand, pasvReply } from './ftp-control.ts';
import { type DataTarget, type PassivePorts, plainAddress } from './passive-ports.ts';
import type { Lease, ServerPool } from './pool.ts';
import { relay } from './tcp-relay.ts';
import { dial, type DialPolicy } from './dial.ts';

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
  connecting = dial(options.pool, plainAddress(client.remoteAddress), ending, options.dial, {
    dialed: (result) => {
      client.off('close', gone);
      if (result.lease) ending.end = runFtp(client, result.lease, result.socket, options);
      else if (result.failure === 'aborted') client.destroy();
      else refuse(client);
    },
  });
}

/**
 * The session once its server is connected: returns what ends it at once. One FTP control session through the balancer. The client's commands and the server's replies are
 * read line by line: `227`/`229` answers are rewritten to the balancer's address and a port of its
 * passive range that leads to the server's data port; `PORT`/`EPRT` are rewritten to a port the
 * balancer opens toward the server, and it connects on to the client; a `PORT`/`EPRT` naming another
 * host than the client's is refused with 504 (FTP bounce). After `AUTH` is accepted (234) the channel
 * is TLS and unreadable: bytes pass raw, and the client's data connections on any passive port go
 * to the same port of its server (the passive ranges must then be equal).
 */
function runFtp(client: Socket, lease: Lease, upstream: Socket, options: FtpOptions): () => void {
  const { pool, passive } = options;
  const clientAddress = plainAddress(client.remoteAddress);
  const data = new Set<Socket>();
  /** active-mode listeners waiting for the server's data connection */
  const waiting = new Set<Server>();
  const endAll = () => {
    client.destroy();
    upstream.destroy();
    for (const socket of data) socket.destroy();
    for (const listener of waiting) listener.close();
    waiting.clear();
  };
  const backend = lease.server.spec;
  client.setNoDelay(true);
  upstream.on('error', endAll);

  let raw = false;
  let authPending = false;
  let tlsTarget: Omit<DataTarget, 'port'> | undefined;
  let queue = Promise.resolve();
  const clientLines = new LineSplitter(options.maxLine);
  const serverLines = new LineSplitter(options.maxLine);
  let fromClient = 0;
  let toClient = 0;
  /** PASV/EPSV sent and not yet answered: a 227/229 beyond them is unsolicited and refused */
  let passiveAsked = 0;
  /** this session's passive reservation: one at a time, a later PASV replaces it */
  let reservation: { port: number; target: DataTarget } | undefined;
  /** this session's active-mode listener: one at a time, a later PORT replaces it */
  let activeListener: Server | undefined;
  const releaseReservation = () => {
    if (reservation) passive.release(reservation.port, reservation.target);
    reservation = undefined;
  };

  // the reader is resumed by the 'drain' listener readLines sets once per direction (no listener per write)
  const send = (to: Socket, from: Socket, text: string) => {
    if (to.destroyed) return;
    if (!to.write(`${text}\r\n`, 'latin1') && to.writableLength > MAX_PENDING) from.pause();
  };

  /** Relays one data connection; its two sockets are charged to the descriptor budget (false: none left, closed). */
  const relayData = (clientSide: Socket, serverSide: Socket) => {
    data.add(clientSide).add(serverSide);
    relay(clientSide, serverSide, { idleMs: options.idleMs, countInto: lease }, () => {
      data.delete(clientSide);
      data.delete(serverSide);
      lease.giveDescriptors(2);
    });
  };

  const passiveData = (socket: Socket, target: DataTarget) => {
    if (!lease.takeDescriptors(2)) return socket.destroy();
    const toServer = connect({ host: target.host, port: target.port, localAddress: target.localAddress, allowHalfOpen: true });
    toServer.on('error', () => pool.countError('data-connect', lease.server));
    relayData(socket, toServer);
  };

  /**
   * Opens a port toward the server for an active-mode transfer (closing the one a previous PORT
   * opened, if unused); returns the command to send it, undefined when it cannot.
   */
  const activeData = (clientHost: string, clientPort: number): Promise<string | undefined> =>
    new Promise((resolve) => {
      activeListener?.close();
      if (!lease.takeDescriptors(1)) return resolve(undefined);
      const local = upstream.localAddress ?? '0.0.0.0';
      const listener = createServer({ allowHalfOpen: true }, (socket) => {
        listener.close();
        waiting.delete(listener);
        clearTimeout(timer);
        socket.on('error', () => undefined);
        if (plainAddress(socket.remoteAddress) !== plainAddress(backend.address) && plainAddress(socket.remoteAddress) !== plainAddress(local)) {
          pool.countError('data-stray', lease.server);
          return socket.destroy();
        }
        if (!lease.takeDescriptors(2)) return socket.destroy();
        const toClient = connect({ host: clientHost, port: clientPort, localAddress: client.localAddress, allowHalfOpen: true });
        toClient.on('error', () => pool.countError('data-connect', lease.server));
        relayData(toClient, socket);
      });
      activeListener = listener;
      const timer = setTimeout(() => {
        listener.close();
        waiting.delete(listener);
      }, ACTIVE_WAIT_MS);
      timer.unref();
      waiting.add(listener);
      listener.once('close', () => {
        clearTimeout(timer);
        lease.giveDescriptors(1);
        if (activeListener === listener) activeListener = undefined;
      });
      listener.once('error', () => resolve(undefined));
      listener.listen(0, local, () => {
        const address = listener.address();
        resolve(typeof address === 'object' && address ? portCommand(plainAddress(local), address.port) : undefined);
      });
    });

  const onClientLine = async (line: string) => {
    const command = parseClientCommand(line);
    if (command.kind === 'auth') authPending = true;
    if (command.kind === 'passive') passiveAsked++;
    if (command.kind === 'nul') {
      pool.countError('bad-command', lease.server);
      return send(client, upstream, '501 Syntax error: NUL byte in command.');
    }
    if (command.kind === 'bad-port') {
      pool.countError('bad-port', lease.server);
      return send(client, upstream, '501 Syntax error in parameters or arguments.');
    }
    if (command.kind !== 'port') return send(upstream, client, line);
    if (plainAddress(command.host) !== clientAddress) {
      pool.countError('bounce', lease.server);
      return send(client, upstream, '504 Command not implemented for that parameter (data address must be the client\'s own).');
    }
    const rewritten = await activeData(command.host, command.port);
    if (rewritten === undefined) return send(client, upstream, '425 Cannot open data connection.');
    send(upstream, client, rewritten);
  };

  const goRaw = () => {
    raw = true;
    tlsTarget = { client: clientAddress, host: backend.address, localAddress: upstream.localAddress, onSocket: passiveData };
    passive.setAffinity(tlsTarget); // until the control session ends
    const pending = clientLines.take();
    if (pending.length) upstream.write(pending);
  };

  const onServerLine = (line: string) => {
    const code = finalReplyCode(line);
    if (code === 227 || code === 229) {
      if (passiveAsked === 0) {
        // never asked for: a backend must not make the balancer reserve ports on its own
        pool.countError('unsolicited-passive', lease.server);
        return;
      }
      passiveAsked--;
      const serverPort = code === 227 ? parsePasv(line)?.port : parseEpsv(line);
      if (!serverPort) {
        pool.countError('bad-passive-reply', lease.server);
        return send(client, upstream, '425 Cannot open passive connection: the server\'s answer was not understood.');
      }
      // 227 carries an IPv4 address only: a client that reached the balancer over IPv6 must use EPSV
      // (RFC 2428), whatever the backend's own family
      if (code === 227 && !isIPv4(plainAddress(client.localAddress))) return send(client, upstream, '425 Cannot open passive connection: PASV has no IPv6 address, use EPSV.');
      // the address in the 227 is not used: data only ever goes to the configured backend
      releaseReservation(); // a new PASV replaces the last one (RFC 959)
      const target: DataTarget = { client: clientAddress, host: backend.address, port: serverPort, localAddress: upstream.localAddress, onSocket: passiveData };
      const reserved = passive.reserve(target);
      if (typeof reserved !== 'number') {
        pool.countError(reserved, lease.server);
        return send(client, upstream, reserved === 'passive-full'
          ? '425 Cannot open passive connection: all passive ports are in use.'
          : '425 Cannot open passive connection: this address holds its share of the passive ports.');
      }
      reservation = { port: reserved, target };
      return send(client, upstream, code === 227 ? pasvReply(plainAddress(client.localAddress), reserved) : epsvReply(reserved));
    }
    if (code !== undefined && authPending) {
      authPending = false;
      if (code === 234) {
        goRaw();
        return send(client, upstream, line);
      }
    }
    send(client, upstream, line);
  };

  const tooLong = (offender: Socket) => {
    pool.countError('line-too-long', lease.server);
    client.end(offender === client ? '500 Command line too long.\r\n' : '421 The server sent a reply line too long; closing.\r\n');
    endAll();
  };

  /** One direction: lines to `onLine` in order (raw bytes once TLS began), reads paused while `to` is full. */
  const readLines = (from: Socket, to: Socket, lines: LineSplitter, onLine: (line: string) => void | Promise<void>, count: (bytes: number) => void) => {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (raw) {
        if (!to.write(chunk)) from.pause();
        return;
      }
      const complete = lines.push(chunk);
      if (complete === false) return tooLong(from);
      // one queue for both directions: a server line waits for a client line being handled (an EPRT listener opening)
      for (const line of complete) queue = queue.then(() => onLine(line)).catch(endAll);
    });
    to.on('drain', () => from.resume());
  };
  readLines(client, upstream, clientLines, onClientLine, (bytes) => (fromClient += bytes));
  readLines(upstream, client, serverLines, onServerLine, (bytes) => (toClient += bytes));
  client.on('end', () => void queue.then(() => upstream.end()));
  upstream.on('end', () => void queue.then(() => client.end()));
  let closed = 0;
  const onClose = (socket: Socket, other: Socket) => () => {
    if (!socket.readableEnded) other.destroy();
    if (++closed < 2) return;
    if (tlsTarget) passive.dropAffinity(clientAddress, tlsTarget);
    releaseReservation();
    activeListener?.close();
    lease.addBytes(fromClient, toClient);
    lease.close();
  };
  client.on('close', onClose(client, upstream));
  upstream.on('close', onClose(upstream, client));
  const idle = () => {
    if (data.size > 0) return client.setTimeout(options.idleMs, idle); // a transfer runs: the control channel may rest
    endAll();
  };
  client.setTimeout(options.idleMs, idle);
  return endAll;
}
