import { createServer, type Server, type Socket } from 'node:net';
import type { PortRange } from '../../orchestrator/config/schema.ts';

/** Where a data connection accepted on a passive port goes. */
export interface DataTarget {
  /** only this client address may use the port */
  readonly client: string;
  readonly host: string;
  readonly port: number;
  /** connect from this address (the backend checks it against the control connection's) */
  readonly localAddress: string | undefined;
  readonly onSocket: (socket: Socket, target: DataTarget) => void;
}

/** a reserved port not used within this time is freed */
const RESERVATION_MS = 30_000;
const MAX_PORTS = 4096;

/** Why no port was reserved: every port taken, or this client holds its part of the range already. */
export type NoPort = 'passive-full' | 'passive-client-limit';

export const plainAddress = (address: string | undefined) => (address ?? '').replace(/^::ffff:/i, '');

/**
 * The balancer's passive range on one address, every port listening from the start. A PASV/EPSV
 * answer reserves one port for one data connection of one client; a client whose control channel
 * went TLS (unreadable) has an affinity instead: any port of the range leads to the same port on
 * its server, as LVS does with a firewall mark over the passive range. Anything else is closed.
 */
export class PassivePorts {
  private readonly servers: Server[] = [];
  private readonly reserved = new Map<number, { target: DataTarget; expires: number }>();
  /** live reservations per client address: one client may hold a quarter of the range at most */
  private readonly perClient = new Map<string, number>();
  private readonly affinity = new Map<string, Omit<DataTarget, 'port'>>();
  private cursor = 0;
  refused = 0;
  /** reservations one client address may hold at once */
  readonly clientLimit: number;

  private constructor(readonly address: string, readonly range: PortRange) {
    this.clientLimit = Math.max(1, Math.floor((range.to - range.from + 1) / 4));
  }

  static async open(address: string, range: PortRange): Promise<PassivePorts> {
    const count = range.to - range.from + 1;
    if (count > MAX_PORTS) throw new Error(`passive-ports ${range.from}-${range.to} has ${count} ports; the userspace balancer listens on each, give at most ${MAX_PORTS}`);
    const ports = new PassivePorts(address, range);
    try {
      for (let port = range.from; port <= range.to; port++) ports.servers.push(await ports.listen(port));
    } catch (error) {
      await ports.close();
      throw new Error(`cannot listen on passive port of ${address} ${range.from}-${range.to}: ${(error as Error).message}`);
    }
    return ports;
  }

  private listen(port: number): Promise<Server> {
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(port, socket));
    return new Promise((resolve, reject) => {
      server.once('error', reject).listen(port, this.address, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  /**
   * A free port of the range for one data connection of `target.client`; the reason instead when all
   * are taken or the client holds `clientLimit` already. The session gives it back with release()
   * as soon as a later PASV replaces it or its control connection ends.
   */
  reserve(target: DataTarget, now = Date.now()): number | NoPort {
    if ((this.perClient.get(target.client) ?? 0) >= this.clientLimit) {
      this.dropExpired(target.client, now);
      if ((this.perClient.get(target.client) ?? 0) >= this.clientLimit) return 'passive-client-limit';
    }
    const count = this.range.to - this.range.from + 1;
    for (let i = 0; i < count; i++) {
      const port = this.range.from + ((this.cursor + i) % count);
      const held = this.reserved.get(port);
      if (held && held.expires > now) continue;
      if (held) this.forget(port, held.target);
      this.cursor = (this.cursor + i + 1) % count;
      this.reserved.set(port, { target, expires: now + RESERVATION_MS });
      this.perClient.set(target.client, (this.perClient.get(target.client) ?? 0) + 1);
      return port;
    }
    return 'passive-full';
  }

  /** Gives a reservation back, if `target` still holds `port` (not yet used, not reserved anew). */
  release(port: number, target: DataTarget): void {
    const held = this.reserved.get(port);
    if (held?.target === target) this.forget(port, target);
  }

  /** reservations live now (tests, /metrics) */
  get reservations(): number {
    return this.reserved.size;
  }

  private forget(port: number, target: DataTarget): void {
    this.reserved.delete(port);
    const left = (this.perClient.get(target.client) ?? 1) - 1;
    if (left > 0) this.perClient.set(target.client, left);
    else this.perClient.delete(target.client);
  }

  private dropExpired(client: string, now: number): void {
    for (const [port, held] of this.reserved) if (held.target.client === client && held.expires <= now) this.forget(port, held.target);
  }

  /** TLS fallback: this client's data connections on any passive port go to the same port of `target.host`. */
  setAffinity(target: Omit<DataTarget, 'port'>): void {
    this.affinity.set(target.client, target);
  }

  dropAffinity(client: string, target: Omit<DataTarget, 'port'>): void {
    if (this.affinity.get(client) === target) this.affinity.delete(client);
  }

  private accept(port: number, socket: Socket): void {
    socket.on('error', () => undefined);
    const from = plainAddress(socket.remoteAddress);
    const now = Date.now();
    const held = this.reserved.get(port);
    if (held && held.expires > now && held.target.client === from) {
      this.forget(port, held.target);
      return held.target.onSocket(socket, held.target);
    }
    const tls = this.affinity.get(from);
    if (tls) return tls.onSocket(socket, { ...tls, port });
    this.refused++;
    socket.destroy();
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
