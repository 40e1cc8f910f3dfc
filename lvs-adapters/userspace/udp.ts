import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

/** A UDP socket bound to address:port (0 = any free port), ready to use. */
export function bindUdp(address: string, port: number): Promise<Socket> {
  const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4' });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/**
 * dgram's `lookup` for sockets that only ever send to IP addresses: answered at once, which spares
 * each datagram the deferred DNS callback dgram otherwise waits for. A literal with a colon is IPv6:
 * no full address parse per datagram.
 */
export const literalAddress = (address: string, _options: unknown, callback: (error: Error | null, address: string, family: number) => void) =>
  callback(null, address, address.includes(':') ? 6 : 4);

/** The key of a UDP peer (a client, a service port) in the maps of flows, sessions and ports. */
export const peerKey = (peer: { readonly address: string; readonly port: number }): string => `${peer.address}|${peer.port}`;

export function closeUdp(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}

/**
 * Calls each session's expiry check once a second (one timer per relay instead of one timer reset
 * per datagram).
 */
export function sweeper(check: (now: number) => void): () => void {
  const timer = setInterval(() => check(Date.now()), 1000);
  timer.unref();
  return () => clearInterval(timer);
}
