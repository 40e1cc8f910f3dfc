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

  const send = (to: Socket, from: Socket, text: string) => {
    if (to.destroyed) return;
    if (!to.write(`${text}\r\n`, 'latin1') && to.writableLength > MAX_PENDING) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  };

  const relayData = (clientSide: Socket, serverSide: Socket) => {
    data.add(clientSide).add(serverSide);
    relay(clientSide, serverSide, { idleMs: options.idleMs, countInto: lease }, () => {
      data.delete(clientSide);
      data.delete(serverSide);
    });
  };

  const passiveData = (socket: Socket, target: DataTarget) => {
    const toServer = connect({ host: target.host, port: target.port, localAddress: target.localAddress, allowHalfOpen: true });
    toServer.on('error', () => pool.countError('data-connect', lease.server));
    relayData(socket, toServer);
  };

  /** Opens a port toward the server for an active-mode transfer; returns the command to send it. */
  const activeData = (clientHost: string, clientPort: number): Promise<string | undefined> =>
    new Promise((resolve) => {
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
        const toClient = connect({ host: clientHost, port: clientPort, localAddress: client.localAddress, allowHalfOpen: true });
        toClient.on('error', () => pool.countError('data-connect', lease.server));
        relayData(toClient, socket);
      });
      const timer = setTimeout(() => {
        listener.close();
        waiting.delete(listener);
      }, ACTIVE_WAIT_MS);
      timer.unref();
      waiting.add(listener);
      listener.once('close', () => clearTimeout(timer));
      listener.once('error', () => resolve(undefined));
      listener.listen(0, local, () => {
        const address = listener.address();
        resolve(typeof address === 'object' && address ? portCommand(plainAddress(local), address.port) : undefined);
      });
    });

  const onClientLine = async (line: string) => {
    const command = parseClientCommand(line);
    if (command.kind === 'auth') authPending = true;
    if (command.kind === 'bad-port') return send(client, upstream, '501 Syntax error in parameters or arguments.');
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
      const serverPort = code === 227 ? parsePasv(line)?.port : parseEpsv(line);
      if (!serverPort) return send(client, upstream, line);
      // 227 carries an IPv4 address only: a client that reached the balancer over IPv6 must use EPSV
      // (RFC 2428), whatever the backend's own family
      if (code === 227 && !isIPv4(plainAddress(client.localAddress))) return send(client, upstream, '425 Cannot open passive connection: PASV has no IPv6 address, use EPSV.');
      const reserved = passive.reserve({ client: clientAddress, host: backend.address, port: serverPort, localAddress: upstream.localAddress, onSocket: passiveData });
      if (reserved === undefined) {
        pool.countError('passive-full', lease.server);
        return send(client, upstream, '425 Cannot open passive connection: all passive ports are in use.');
      }
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
    if (offender === client) client.end('500 Command line too long.\r\n');
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
