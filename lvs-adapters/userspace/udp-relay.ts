import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type Listener, listenUdp } from './listeners.ts';
import type { Lease, ServerPool } from './pool.ts';
import { closeUdp, peerKey, sweeper } from './udp.ts';

interface Flow {
  readonly lease: Lease;
  readonly upstream: Socket;
  readonly address: string;
  readonly port: number;
  last: number;
}

/**
 * Generic UDP on one address and port: each client address:port is a flow with a socket of its own
 * toward the server chosen for it (source persistence: the flow keeps its server; with `persistence`
 * the client's other ports follow), replies go back from the service's own socket. Flows end after
 * `idleMs` without a datagram.
 */
export class UdpService {
  private readonly flows = new Map<string, Flow>();
  /** the once-a-second sweep, running while flows are open */
  private stopSweep: (() => void) | undefined;

  private socket!: Socket;
  private listener!: Listener;

  private constructor(
    private readonly pool: ServerPool,
    private readonly idleMs: number,
  ) {}

  static async start(address: string, port: number, pool: ServerPool, idleMs: number): Promise<UdpService> {
    const service = new UdpService(pool, idleMs);
    const listener = await listenUdp(address, port, (message, from) => service.fromClient(message, from));
    service.listener = listener;
    service.socket = listener.socket;
    return service;
  }

  private sweep(now: number): void {
    for (const [key, flow] of this.flows) if (now - flow.last > this.idleMs) this.end(key, flow);
  }

  private fromClient(message: Buffer, from: RemoteInfo): void {
    const key = peerKey(from);
    let flow = this.flows.get(key);
    if (!flow) {
      const lease = this.pool.open(from.address, () => this.end(key, this.flows.get(key)));
      if (!lease) return;
      const { address, port } = lease.server.spec;
      const upstream = createSocket(isIPv6(address) ? 'udp6' : 'udp4');
      upstream.on('error', () => this.pool.countError('upstream', lease.server));
      upstream.on('message', (reply, sender) => {
        if (sender.port !== port || sender.address !== address) return this.pool.countError('stray', lease.server);
        const current = this.flows.get(key);
        if (current) current.last = Date.now();
        lease.addBytes(0, reply.length);
        this.socket.send(reply, from.port, from.address);
      });
      flow = { lease, upstream, address, port, last: Date.now() };
      this.flows.set(key, flow);
      this.stopSweep ??= sweeper((now) => this.sweep(now));
    }
    flow.last = Date.now();
    flow.lease.addBytes(message.length, 0);
    flow.upstream.send(message, flow.port, flow.address);
  }

  private end(key: string, flow: Flow | undefined): void {
    if (!flow) return;
    this.flows.delete(key);
    closeUdp(flow.upstream);
    flow.lease.close();
    if (this.flows.size > 0) return;
    // no flow left: nothing to sweep for until the next one
    this.stopSweep?.();
    this.stopSweep = undefined;
  }

  get sessions(): number {
    return this.flows.size;
  }

  get listening(): boolean {
    return this.listener.listening;
  }

  /** Lets go of the port (a successor may take it over); flows answer through it, so they end too. */
  close(): Promise<void> {
    this.cut();
    return this.listener.close();
  }

  cut(): void {
    for (const [key, flow] of this.flows) this.end(key, flow);
  }
}
