/**
 * Choosing a real server for a new session, with IPVS's scheduler names and meaning:
 * `rr` round robin, `wrr` weighted round robin (smooth: no burst to the heaviest), `lc` least
 * connections, `wlc` least connections relative to weight, `sh` source hash. `sed` and `nq` are
 * served as `wlc`; `dh`, `mh`, `lblc` and `lblcr` as `sh` (one balancer, no destination cache).
 * Servers of weight 0 are quiesced: never chosen. The caller passes only servers it may use.
 */
export interface Schedulable {
  readonly name: string;
  readonly weight: number;
  /** sessions open now */
  readonly active: number;
}

export type SchedulerName = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sh';

export function schedulerKind(name: string): SchedulerName {
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

/** FNV-1a over the address text: stable across restarts, spreads 127.0.0.x and 10.x alike. */
export function hashAddress(address: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < address.length; i++) {
    h ^= address.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Scheduler {
  private next = 0;
  /** smooth wrr: each server's running credit, by name */
  private readonly credit = new Map<string, number>();

  constructor(readonly kind: SchedulerName) {}

  pick<T extends Schedulable>(servers: readonly T[], client: string): T | undefined {
    const usable = servers.filter((s) => s.weight > 0);
    if (usable.length === 0) return undefined;
    switch (this.kind) {
      case 'rr':
        return usable[this.next++ % usable.length];
      case 'wrr':
        return this.smoothWeighted(usable);
      case 'lc':
        return usable.reduce((best, s) => (s.active < best.active ? s : best));
      case 'wlc':
        // a.active / a.weight < b.active / b.weight without division
        return usable.reduce((best, s) => (s.active * best.weight < best.active * s.weight ? s : best));
      case 'sh':
        return sourceHash(usable, client);
    }
  }

  private smoothWeighted<T extends Schedulable>(usable: readonly T[]): T {
    let total = 0;
    let best: T = usable[0]!;
    let bestCredit = -Infinity;
    for (const server of usable) {
      const credit = (this.credit.get(server.name) ?? 0) + server.weight;
      this.credit.set(server.name, credit);
      total += server.weight;
      if (credit > bestCredit) {
        best = server;
        bestCredit = credit;
      }
    }
    this.credit.set(best.name, bestCredit - total);
    return best;
  }
}

/** IPVS `sh`: a client address always lands on the same server while the set of servers holds. */
function sourceHash<T extends Schedulable>(usable: readonly T[], client: string): T {
  const slots: T[] = [];
  for (const server of usable) for (let i = 0; i < Math.min(server.weight, 16); i++) slots.push(server);
  return slots[hashAddress(client) % slots.length]!;
}
