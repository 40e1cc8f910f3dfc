// lbguard's farm model <-> nftlb's farm objects. FTP gets `helper ftp`, TFTP `helper tftp` (without the
// helper nftlb's snat breaks active FTP and TFTP); a backend at weight 0 is `off` (no new sessions,
// established ones kept: Zevenet's maintenance); a failed backend is `down` (Zevenet's fgDOWN).
import { isIP } from 'node:net';
import type { PortRange } from '../../orchestrator/config/schema.ts';
import type { RealServerSpec, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import type { NftlbBackend, NftlbFarm } from './client.ts';

export type NftlbMode = 'snat' | 'dnat';

type Fields = Record<string, string>;

const SCHEDULERS: Readonly<Record<string, { scheduler: string; param: string }>> = {
  rr: { scheduler: 'rr', param: 'none' },
  sh: { scheduler: 'hash', param: 'srcip' },
  dh: { scheduler: 'hash', param: 'dstip' },
  mh: { scheduler: 'symhash', param: 'none' },
};
/** nftlb has no connection-count schedulers: the weighted ones become its weighted random choice */
const WEIGHTED = { scheduler: 'weight', param: 'none' };

export function portsText(ports: readonly PortRange[]): string {
  return ports.map((p) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`)).join(',');
}

export function parsePorts(text: string): PortRange[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const [from, to = from] = part.split('-').map(Number);
      return { from: from!, to: to! };
    });
}

function helperOf(service: VirtualServiceSpec['service']): string {
  return service === 'ftp' || service === 'tftp' ? service : 'none';
}

/**
 * The farm-level fields nftlb gets for a virtual service (no backends). Throws what nftlb cannot do.
 * sourceAddress (snat): nftlb's source-addr, the address the backends see instead of this host's own.
 */
export function farmFields(spec: VirtualServiceSpec, mode: NftlbMode, sourceAddress?: string): Fields {
  const family = isIP(spec.address);
  if (family === 0) throw new Error(`farm ${spec.farm}: nftlb needs an IP address as the virtual address, got "${spec.address}"`);
  if (!spec.ports?.length) throw new Error(`farm ${spec.farm}: nftlb farms need virtual ports (fwmark farms are an IPVS feature)`);
  const sched = SCHEDULERS[spec.scheduler] ?? WEIGHTED;
  const fields: Fields = {
    name: spec.farm,
    family: family === 6 ? 'ipv6' : 'ipv4',
    'virtual-addr': spec.address,
    'virtual-ports': portsText(spec.ports),
    protocol: spec.protocol,
    mode,
    scheduler: sched.scheduler,
    'sched-param': sched.param,
    helper: helperOf(spec.service),
    persistence: 'none',
    state: 'up',
    ...(sourceAddress === undefined ? {} : { 'source-addr': sourceAddress }),
  };
  if (spec.persistence) {
    const mask = spec.persistence.netmask;
    if (mask !== '255.255.255.255' && mask !== '32') throw new Error(`farm ${spec.farm}: nftlb persists per source address only; persistence netmask ${mask} cannot be applied`);
    fields.persistence = 'srcip';
    fields['persist-ttl'] = String(spec.persistence.timeoutSeconds);
  }
  return fields;
}

/** True when nftlb holds every field we would send (nftlb pads some values with a space: "srcip "). */
export function farmHolds(observed: NftlbFarm, fields: Fields): boolean {
  return Object.entries(fields).every(([key, value]) => String(observed[key] ?? '').trim() === value);
}

/** Whether a backend port is one of the farm's virtual ports: then nftlb keeps the client's destination port. */
function samePort(spec: VirtualServiceSpec, port: number): boolean {
  return (spec.ports ?? []).some((p) => port >= p.from && port <= p.to);
}

export function backendFields(spec: VirtualServiceSpec, server: RealServerSpec): Fields {
  const fields: Fields = {
    name: server.name,
    'ip-addr': server.address,
    port: samePort(spec, server.port) ? '' : String(server.port),
    state: server.weight > 0 ? 'up' : 'off',
    // nftlb drops new connections to a backend over its limit (`ct count over N drop`); 0 = none
    'est-connlimit': String(server.maxConnections ?? 0),
  };
  // nftlb refuses weight 0; an `off` backend keeps the weight it had
  if (server.weight > 0) fields.weight = String(server.weight);
  return fields;
}

/** What a failed backend becomes: still declared (address kept, so no typo can create an empty one), `down`. */
export function downFields(server: RealServerSpec): Fields {
  return { name: server.name, 'ip-addr': server.address, state: 'down' };
}

/**
 * A virtual service read back from nftlb when we hold no spec for it (after a restart, or someone
 * else's farm): as close as nftlb's fields allow. SFTP reads back as plain tcp.
 */
export function serviceFromFarm(farm: NftlbFarm): VirtualServiceSpec {
  const text = (key: string) => String(farm[key] ?? '').trim();
  const protocol = text('protocol') === 'udp' ? 'udp' : 'tcp';
  const helper = text('helper');
  const service = helper === 'ftp' || helper === 'tftp' ? helper : protocol;
  const scheduler = Object.entries(SCHEDULERS).find(([, s]) => s.scheduler === text('scheduler') && s.param === text('sched-param'))?.[0] ?? 'wlc';
  const persistence = text('persistence') === 'srcip' ? { timeoutSeconds: Number(text('persist-ttl')) || 60, netmask: '255.255.255.255' } : undefined;
  return {
    farm: farm.name,
    service,
    protocol,
    address: text('virtual-addr'),
    ports: parsePorts(text('virtual-ports')),
    scheduler,
    ...(persistence ? { persistence } : {}),
  };
}

/**
 * The backends that take new sessions or are quiesced, as the orchestrator models them: `up` with
 * its weight, `off` at weight 0. `down` backends are absent (that is what removing one means here).
 * `portOf` gives back the port for backends that keep the destination port (nftlb's empty port).
 */
export function serversFromFarm(farm: NftlbFarm, portOf: (backend: NftlbBackend) => number): RealServerSpec[] {
  const servers: RealServerSpec[] = [];
  for (const backend of farm.backends ?? []) {
    const state = String(backend.state ?? '').trim();
    if (state === 'down') continue;
    const port = String(backend.port ?? '').trim();
    const limit = Number(String(backend['est-connlimit'] ?? '').trim()) || 0;
    servers.push({
      name: backend.name,
      address: String(backend['ip-addr'] ?? '').trim(),
      port: port === '' ? portOf(backend) : Number(port),
      weight: state === 'up' ? Number(backend.weight ?? 1) || 1 : 0,
      ...(limit > 0 ? { maxConnections: limit } : {}),
    });
  }
  return servers;
}
