import { type Socket, connect } from 'node:net';
import type { Lease, ServerPool } from './pool.ts';

export interface RelayOptions {
  /** no byte either way for this long ends the session */
  readonly idleMs: number;
}

/**
 * Full-duplex relay between two connected sockets: each side's reads pause while the other's writes
 * are buffered (backpressure, so memory per session stays bounded), an end from one side is passed on
 * as a half-close, and the session ends (both destroyed once) on error, idle timeout or when both
 * directions are done. Returns a function that ends it at once.
 */
export function relay(a: Socket, b: Socket, options: RelayOptions, onDone: (aRead: number, bRead: number) => void): () => void {
  let closed = 0;
  const destroyBoth = () => {
    a.destroy();
    b.destroy();
  };
  const oneWay = (from: Socket, to: Socket) => {
    from.on('data', (chunk: Buffer) => {
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => to.end());
    from.on('error', destroyBoth);
    from.on('close', () => {
      // closed without its end (reset, destroyed): the other side cannot finish either
      if (!from.readableEnded) to.destroy();
      if (++closed === 2) onDone(a.bytesRead, b.bytesRead);
    });
  };
  oneWay(a, b);
  oneWay(b, a);
  // writes reset the timer too, so the client side alone sees activity in both directions
  a.setTimeout(options.idleMs, destroyBoth);
  return destroyBoth;
}

/**
 * A new client connection on a TCP virtual service: choose a server, connect to it, relay. No
 * usable server, max-sessions reached or a failed connect closes the client's connection.
 */
export function forwardTcp(client: Socket, pool: ServerPool, options: RelayOptions): void {
  client.setNoDelay(true);
  const address = client.remoteAddress ?? '';
  let stop: (() => void) | undefined;
  const lease: Lease | undefined = pool.open(address, () => stop?.());
  if (!lease) {
    client.destroy();
    return;
  }
  const { address: host, port } = lease.server.spec;
  const backend = connect({ host, port, allowHalfOpen: true, noDelay: true });
  let connected = false;
  backend.once('connect', () => (connected = true));
  backend.once('error', () => connected || pool.countError('connect', lease.server));
  stop = relay(client, backend, options, (fromClient, toClient) => {
    lease.addBytes(fromClient, toClient);
    lease.close();
  });
}
