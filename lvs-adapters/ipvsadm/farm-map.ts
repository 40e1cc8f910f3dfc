import { isIP } from 'node:net';
import type { PortRange } from '../../orchestrator/config/schema.ts';
import type { FarmState, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import type { Forward, IpvsDest, IpvsService } from './table.ts';

/**
 * How one lbguard farm becomes IPVS virtual services:
 * - `virtual.fwmark` → one `-f MARK` service (`-f MARK -6` for an IPv6 address); real servers get
 *   port 0, so each connection keeps the port the client asked for (FTP data ports, TFTP transfer
 *   ports). The marks themselves come from nft rules (fwmark.ts).
 * - `virtual.ports` → one `-t|-u VIP:PORT` service per listed port; the first port goes to the
 *   backend's port (NAT only: DR and TUN keep the service's port), further ports to the same port
 *   number (e.g. FTP's 20 next to 21). A port range cannot be an IPVS service: it needs a fwmark.
 */
export type Method = 'nat' | 'dr' | 'tun';

const FORWARD: Record<Method, Forward> = { nat: 'masq', dr: 'route', tun: 'tunnel' };

export function forwardOf(method: Method): Forward {
  return FORWARD[method];
}

export class FarmMappingError extends Error {
  override name = 'FarmMappingError';
}

/** `24` → `255.255.255.0` for IPv4; dotted masks and IPv6 prefix lengths are kept. */
export function ipvsNetmask(netmask: string, ipv6: boolean): string {
  if (ipv6 || !/^\d{1,2}$/.test(netmask)) return netmask;
  const bits = Number(netmask);
  const value = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

function persistence(spec: VirtualServiceSpec, ipv6: boolean): Pick<IpvsService, 'persistent' | 'netmask'> {
  if (!spec.persistence) return {};
  const netmask = ipvsNetmask(spec.persistence.netmask, ipv6);
  const full = ipv6 ? netmask === '128' : netmask === '255.255.255.255';
  return full ? { persistent: spec.persistence.timeoutSeconds } : { persistent: spec.persistence.timeoutSeconds, netmask };
}

function singlePorts(spec: VirtualServiceSpec): number[] {
  const ports = spec.ports ?? [];
  if (ports.length === 0) throw new FarmMappingError(`farm ${spec.farm}: give virtual.ports or virtual.fwmark`);
  return ports.map((range) => {
    if (range.from !== range.to) throw new FarmMappingError(`farm ${spec.farm}: the port range ${range.from}-${range.to} cannot be an IPVS service; give virtual.fwmark (the adapter then marks the range with nftables)`);
    return range.from;
  });
}

export function farmServices(farm: FarmState, method: Method): IpvsService[] {
  const spec = farm.service;
  const ipv6 = isIP(spec.address) === 6;
  const forward = FORWARD[method];
  const base = { scheduler: spec.scheduler, ...persistence(spec, ipv6) };
  const dests = (port: (serverPort: number) => number): IpvsDest[] => {
    const seen = new Set<string>();
    const out: IpvsDest[] = [];
    for (const server of farm.servers) {
      const limit = server.maxConnections ? { upperThreshold: server.maxConnections } : {};
      const dest: IpvsDest = { address: server.address.toLowerCase(), port: port(server.port), forward, weight: server.weight, ...limit };
      const key = `${dest.address} ${dest.port}`;
      if (seen.has(key)) continue; // IPVS holds one entry per address:port; the first backend wins
      seen.add(key);
      out.push(dest);
    }
    return out;
  };
  if (spec.fwmark !== undefined) {
    return [{ kind: 'fwmark', fwmark: spec.fwmark, ipv6, ...base, dests: dests(() => 0) }];
  }
  // DR and TUN do not rewrite the port: ipvsadm itself sets a -g/-i real server's port to the
  // service's (so -e with another port finds "No such destination"); only NAT maps ports
  return singlePorts(spec).map((port, index) => ({
    kind: spec.protocol,
    address: spec.address.toLowerCase(),
    port,
    ...base,
    dests: dests((serverPort) => (index === 0 && forward === 'masq' ? serverPort : port)),
  }));
}

/** What an FTP or TFTP fwmark service needs marked when the farm names no ports itself. */
export function markedPorts(spec: VirtualServiceSpec): readonly PortRange[] {
  if (spec.fwmark === undefined) return [];
  if (spec.ports?.length) return spec.ports;
  if (spec.service === 'ftp') return [{ from: 20, to: 21 }, { from: 1024, to: 65535 }]; // control, active data, passive range
  if (spec.service === 'tftp') return [{ from: 69, to: 69 }, { from: 1024, to: 65535 }]; // request, transfer ports
  return []; // the operator's firewall sets the mark
}
