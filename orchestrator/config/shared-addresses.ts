import { isIPv6 } from 'node:net';
import type { ConfigProblem } from './read.ts';
import { type FarmConfig, protocolOf } from './schema.ts';


/** An IPv6 address in its shortest form (2001:0db8:0:0::1 and 2001:db8::1 are one); others lower-cased. */
const canonical = (address: string): string => (isIPv6(address) ? new URL(`http://[${address}]`).hostname.slice(1, -1) : address.toLowerCase());

/** the address a farm's data plane takes its clients on: the userspace balancer may listen elsewhere */
function listenAddress(farm: FarmConfig): string {
  return canonical(farm.dataplane.type === 'userspace' ? (farm.dataplane['listen-address'] ?? farm.virtual.address) : farm.virtual.address);
}

/**
 * Two addresses take the same datagrams or connections: equal, or one is a wildcard: `::` takes
 * IPv4 too (Node listens dual-stack), `0.0.0.0` every IPv4 address.
 */
function overlapping(a: string, b: string): boolean {
  if (a === b || a === '::' || b === '::') return true;
  return (a === '0.0.0.0' && !isIPv6(b)) || (b === '0.0.0.0' && !isIPv6(a));
}

interface Claim {
  readonly farm: number;
  readonly name: string;
  readonly address: string;
  readonly protocol: 'tcp' | 'udp';
  readonly from: number;
  readonly to: number;
}

/**
 * Farms whose data planes would take the same clients: two farms on one address, protocol and port
 * (or overlapping port ranges), or one firewall mark. A data plane cannot send one client to two farms:
 * IPVS and nftlb would have the later farm overwrite the earlier one's service on every reconcile, and
 * the userspace balancer would hand the port to the later farm as it does on a reload. Farms without a
 * data plane (`none`) only watch, and may share.
 */
export function sharedAddressProblems(farms: readonly FarmConfig[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const claims: Claim[] = [];
  const marks = new Map<number, string>();
  farms.forEach((farm, i) => {
    if (farm.dataplane.type === 'none') return;
    const mark = farm.virtual.fwmark;
    if (mark !== undefined) {
      const holder = marks.get(mark);
      if (holder !== undefined) problems.push({ path: `farms[${i}].virtual.fwmark`, message: `farm ${farm.name}: firewall mark ${mark} is farm ${holder}'s already` });
      else marks.set(mark, farm.name);
    }
    for (const range of farm.virtual.ports ?? []) claims.push({ farm: i, name: farm.name, address: listenAddress(farm), protocol: protocolOf(farm.service), from: range.from, to: range.to });
  });
  // sorted by first port, each claim need only be compared with those whose range is still open
  claims.sort((a, b) => a.from - b.from || a.farm - b.farm);
  const open: Claim[] = [];
  const told = new Set<string>();
  for (const claim of claims) {
    for (let k = open.length - 1; k >= 0; k--) if (open[k]!.to < claim.from) open.splice(k, 1);
    for (const other of open) {
      if (other.farm === claim.farm || other.protocol !== claim.protocol || !overlapping(other.address, claim.address)) continue;
      const [first, later] = other.farm < claim.farm ? [other, claim] : [claim, other];
      const key = `${first.farm}/${later.farm}`;
      if (told.has(key)) continue;
      told.add(key);
      const port = Math.max(first.from, later.from);
      problems.push({
        path: `farms[${later.farm}].virtual.ports`,
        message: `farm ${later.name}: ${later.protocol.toUpperCase()} ${later.address} port ${port} is farm ${first.name}'s already (${first.address}); a data plane cannot send one client to two farms`,
      });
    }
    open.push(claim);
  }
  return problems;
}
