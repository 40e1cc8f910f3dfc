/**
 * Choosing a real server for a new session: the farm's `scheduler`, with IPVS's names and meaning:
 * `rr` round robin, `wrr` weighted round robin (smooth: no burst to the heaviest), `lc` least
 * connections, `wlc` least connections relative to weight, `sh` source hash. `sed` and `nq` are
 * served as `wlc`; `dh`, `mh`, `lblc` and `lblcr` as `sh` (one balancer, no destination cache).
 * Servers of weight 0 are quiesced and servers at their connection limit are overloaded (IPVS's
 * upper threshold): neither is chosen. The caller passes only servers still in the service.
 */
export interface Schedulable {
  readonly name: string;
  readonly weight: number;
  /** sessions open now */
  readonly active: number;
  /** most sessions at once; absent or 0 = no limit */
  readonly maxConnections?: number | undefined;
}

/** The methods the picker has: every IPVS scheduler name maps onto one of them (pickMethod). */
export type PickMethod = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sh';

export function pickMethod(name: string): PickMethod {
  switch (name) {
    case 'rr':
    case 'wrr':
    case 'lc':
    case 'wlc':
    case 'sh':
      return name;
    case 'sed':
    case 'nq':
      return 'wlc';
    case 'dh':
    case 'mh':
    case 'lblc':
    case 'lblcr':
      return 'sh';
    default:
      throw new Error(`scheduler "${name}" is unknown to the userspace balancer (use rr, wrr, lc, wlc or sh)`);
  }
}

/** May take a new session: not quiesced, not at its connection limit. */
export function takesSessions(server: Schedulable): boolean {
  return server.weight > 0 && !(server.maxConnections && server.active >= server.maxConnections);
}

/** FNV-1a over the address text: stable across restarts, spreads 127.0.0.x and 10.x alike. */
export function hashAddress(address: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < address.length; i++) {
    h ^= address.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Picks the server of each new session by the farm's scheduler (the farms file's word, after IPVS). */
export class ServerPicker {
  private next = 0;
  /** smooth wrr: each server's running credit, by name */
  private readonly credit = new Map<string, number>();

  constructor(readonly kind: PickMethod) {}

  /** Walks the list in place (no copy per session: this runs for every new connection). */
  pick<T extends Schedulable>(servers: readonly T[], client: string): T | undefined {
    switch (this.kind) {
      case 'rr':
        return this.roundRobin(servers);
      case 'wrr':
        return this.smoothWeighted(servers);
      case 'lc':
      case 'wlc': {
        let best: T | undefined;
        for (const s of servers) {
          if (!takesSessions(s)) continue;
          // wlc: s.active / s.weight < best.active / best.weight without division
          if (!best || (this.kind === 'lc' ? s.active < best.active : s.active * best.weight < best.active * s.weight)) best = s;
        }
        return best;
      }
      case 'sh':
        return sourceHash(servers, client);
    }
  }

  /** IPVS rr: from where the last pick left off, the next server that takes sessions. */
  private roundRobin<T extends Schedulable>(servers: readonly T[]): T | undefined {
    const n = servers.length;
    for (let i = 0; i < n; i++) {
      const at = (this.next + i) % n;
      const server = servers[at]!;
      if (takesSessions(server)) {
        this.next = at + 1;
        return server;
      }
    }
    return undefined;
  }

  private smoothWeighted<T extends Schedulable>(servers: readonly T[]): T | undefined {
    let total = 0;
    let best: T | undefined;
    let bestCredit = -Infinity;
    for (const server of servers) {
      if (!takesSessions(server)) continue;
      const credit = (this.credit.get(server.name) ?? 0) + server.weight;
      this.credit.set(server.name, credit);
      total += server.weight;
      if (credit > bestCredit) {
        best = server;
        bestCredit = credit;
      }
    }
    if (best) this.credit.set(best.name, bestCredit - total);
    return best;
  }
}

/**
 * IPVS `sh`: a client address always lands on the same server while the set of servers holds. A
 * server at its limit passes the client to the next slot's server (IPVS's sh-fallback), so the
 * other clients keep theirs.
 */
function sourceHash<T extends Schedulable>(servers: readonly T[], client: string): T | undefined {
  const slots: T[] = [];
  for (const server of servers) for (let i = 0; i < Math.min(server.weight, 16); i++) slots.push(server);
  const start = hashAddress(client) % (slots.length || 1);
  for (let i = 0; i < slots.length; i++) {
    const server = slots[(start + i) % slots.length]!;
    if (takesSessions(server)) return server;
  }
  return undefined;
}
