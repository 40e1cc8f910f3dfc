import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { TcpHandle } from './tcp-handles.ts';
import { bindUdp, closeUdp } from './udp.ts';

/**
 * The listening sockets of every userspace balancer in this process, by protocol, address and
 * port. A balancer that asks for a socket another one still holds takes it over: from then on the
 * socket's connections (datagrams) go to the newcomer, and the first one's close() leaves it open.
 * That is how a reload that replaces a balancer (new data-plane settings) or moves a farm between
 * two never leaves the port without a listener. A socket let go of keeps listening for a moment
 * (RELEASE_GRACE_MS, still served by its last holder) in case a successor asks for it, then closes.
 */
const RELEASE_GRACE_MS = 250;

export interface Listener {
  /** the TCP socket, which worker processes may share */
  readonly server?: Server;
  /** still listening, and for this holder */
  readonly listening: boolean;
  /** Lets go of the socket: closed once no successor took it within the grace (resolves then). */
  close(): Promise<void>;
}

/** What a holder does with each accepted connection: given its TCP handle (see acceptWith). */
export type OnConnection = (handle: TcpHandle) => void;

/** Node's own kind of socket for an accepted handle: half-open allowed, TCP_NODELAY (FTP's sessions) */
export const plainSocket = (handle: TcpHandle): Socket => new Socket({ handle, allowHalfOpen: true } as object).setNoDelay(true);

/**
 * Has `server` give each connection it accepts to `onConnection` as its TCP handle: the plain TCP
 * farms' relay works on handles (tcp-relay.ts), with no net.Socket made. The listening handle's
 * accept callback is replaced; what Node's does is kept where it matters here: a failed accept
 * (EMFILE) is an 'error' on the server. The server's count of connections is not kept (not used).
 */
export function acceptWith(server: Server, onConnection: () => OnConnection): void {
  const handle = (server as Server & { _handle: { onconnection: unknown } | null })._handle;
  if (!handle) return;
  handle.onconnection = (status: number, client: TcpHandle | undefined) => {
    if (status < 0 || !client) {
      const code = status < 0 ? getSystemErrorName(status) : undefined;
      server.emit('error', Object.assign(new Error(`accept: ${code ?? 'no handle'}`), { code }));
      return;
    }
    try {
      onConnection()(client);
    } catch (error) {
      // a holder that failed on this connection: it is closed, the listener and the process go on
      client.close();
      server.emit('error', error);
    }
  };
}

interface Held {
  readonly server: Server | undefined;
  readonly udp: UdpSocket | undefined;
  /** closes the socket itself */
  readonly shut: () => void;
  holder: object;
  handler: (...args: never[]) => void;
  release: NodeJS.Timeout | undefined;
  /** the release's waiters: resolved when the socket closed or was taken over */
  readonly settled: (() => void)[];
  closed: boolean;
}

const held = new Map<string, Held>();

/** A holder's view of a socket: listening while it holds it. */
function holderOf(key: string, entry: Held, handler: Held['handler']): Listener {
  if (entry.release) {
    // taken over while being let go of: it stays open, and its last holder's close() is done
    clearTimeout(entry.release);
    entry.release = undefined;
    for (const done of entry.settled.splice(0)) done();
  }
  const me = {};
  entry.holder = me;
  entry.handler = handler;
  return {
    server: entry.server,
    get listening() {
      return !entry.closed && entry.holder === me;
    },
    close: () => {
      if (entry.holder !== me || entry.closed) return Promise.resolve();
      return new Promise<void>((resolve) => {
        entry.settled.push(resolve);
        if (entry.release) return;
        entry.release = setTimeout(() => {
          entry.release = undefined;
          entry.closed = true;
          held.delete(key);
          entry.shut();
          for (const done of entry.settled.splice(0)) done();
        }, RELEASE_GRACE_MS);
      });
    },
  };
}

/** The socket held under `key`, if one is open: a newcomer takes it over. */
function heldOpen(key: string): Held | undefined {
  const entry = held.get(key);
  return entry && !entry.closed ? entry : undefined;
}

/** Listens on a TCP port; each connection's handle goes to `onConnection` (plainSocket makes a net.Socket of it). */
export async function listenTcp(address: string, port: number, onConnection: OnConnection): Promise<Listener> {
  const key = `tcp|${address}|${port}`;
  const existing = heldOpen(key);
  if (existing) return holderOf(key, existing, onConnection);
  const server: Server = createServer({ allowHalfOpen: true, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen({ port, host: address, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // closing stops the listening at once; the connections it accepted run on by themselves
  const entry: Held = { server, udp: undefined, shut: () => server.close(), holder: {}, handler: onConnection, release: undefined, settled: [], closed: false };
  acceptWith(server, () => entry.handler as OnConnection);
  // an accept that fails (EMFILE) must not end the process; the socket goes on listening
  server.on('error', () => undefined);
  held.set(key, entry);
  return holderOf(key, entry, onConnection);
}

export async function listenUdp(address: string, port: number, onMessage: (message: Buffer, from: RemoteInfo) => void): Promise<Listener & { readonly socket: UdpSocket }> {
  const key = `udp|${address}|${port}`;
  const existing = heldOpen(key);
  if (existing?.udp) return Object.assign(holderOf(key, existing, onMessage), { socket: existing.udp });
  const socket = await bindUdp(address, port);
  const entry: Held = { server: undefined, udp: socket, shut: () => closeUdp(socket), holder: {}, handler: onMessage, release: undefined, settled: [], closed: false };
  socket.on('message', (message, from) => (entry.handler as typeof onMessage)(message, from));
  socket.on('error', () => undefined);
  held.set(key, entry);
  return Object.assign(holderOf(key, entry, onMessage), { socket });
}
