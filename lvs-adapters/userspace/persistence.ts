import { isIPv4 } from 'node:net';

/**
 * ipvsadm's `-p timeout -M netmask`: clients whose addresses are equal under the netmask go to the
 * same real server while their entry lives. An entry lives while a session of the group is open and
 * `timeout` seconds after the last one ended, as IPVS's persistence templates do.
 */
export class PersistenceTable {
  /** `open`: sessions of the group running now; an entry with open sessions does not expire */
  private readonly entries = new Map<string, { server: string; expires: number; open: number }>();
  private readonly mask: number | undefined;

  constructor(readonly timeoutMs: number, netmask: string, private readonly maxEntries = 100_000) {
    this.mask = parseNetmask(netmask);
  }

  key(client: string): string {
    const address = client.replace(/^::ffff:/i, '');
    if (this.mask === undefined || !isIPv4(address)) return address;
    const n = address.split('.').reduce((acc, part) => (acc << 8) | Number(part), 0) & this.mask;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }

  lookup(client: string, now = Date.now()): string | undefined {
    const key = this.key(client);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.open === 0 && entry.expires <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.server;
  }

  /** A session of `client` opens on `server`: the entry holds while it runs. */
  opened(client: string, server: string, now = Date.now()): void {
    const key = this.key(client);
    const entry = this.entries.get(key);
    if (entry && entry.server === server) {
      entry.open++;
      entry.expires = now + this.timeoutMs;
      return;
    }
    if (!entry && this.entries.size >= this.maxEntries) this.sweep(now);
    if (!entry && this.entries.size >= this.maxEntries) return; // full of live entries: the scheduler decides
    this.entries.set(key, { server, expires: now + this.timeoutMs, open: 1 });
  }

  /** A session of `client` ended: the entry lives `timeout` from now. */
  closed(client: string, server: string, now = Date.now()): void {
    const entry = this.entries.get(this.key(client));
    if (!entry || entry.server !== server) return;
    entry.open = Math.max(0, entry.open - 1);
    entry.expires = now + this.timeoutMs;
  }

  remember(client: string, server: string, now = Date.now()): void {
    this.opened(client, server, now);
    this.closed(client, server, now);
  }

  forget(server: string): void {
    for (const [key, entry] of this.entries) if (entry.server === server) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  sweep(now = Date.now()): void {
    for (const [key, entry] of this.entries) if (entry.open === 0 && entry.expires <= now) this.entries.delete(key);
  }
}

/** `255.255.255.0` or `24` to a 32-bit mask; undefined for a full mask (the address itself). */
export function parseNetmask(netmask: string): number | undefined {
  let mask: number;
  if (/^\d{1,2}$/.test(netmask)) {
    const bits = Number(netmask);
    if (bits > 32) throw new Error(`netmask /${bits} is longer than 32 bits`);
    mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
  } else {
    const parts = netmask.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`netmask "${netmask}" is not a dotted IPv4 mask`);
    mask = parts.reduce((acc, p) => (acc << 8) | p, 0);
  }
  return mask === -1 ? undefined : mask;
}
