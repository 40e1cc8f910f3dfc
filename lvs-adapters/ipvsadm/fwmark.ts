import { isIP } from 'node:net';
import type { FarmState, VirtualServiceSpec } from '../../orchestrator/dataplane/types.ts';
import { markedPorts, type Method } from './farm-map.ts';
import { runChecked, runTool, type ToolRunner } from '../../orchestrator/tools/run-tool.ts';

/**
 * The firewall marks of fwmark farms, in an nftables table of lbguard's own (`inet lbguard_ipvs`),
 * replaced as a whole in one nft transaction: creating the table if absent, deleting it and
 * declaring it again is atomic, so re-applying is idempotent and never leaves a half-marked VIP.
 */
export const MARK_TABLE = 'lbguard_ipvs';

function portList(ranges: readonly { from: number; to: number }[]): string {
  const items = ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`));
  return items.length === 1 ? (items[0] ?? '') : `{ ${items.join(', ')} }`;
}

/** One rule per fwmark farm: `ip daddr VIP tcp dport { 20-21, 1024-65535 } meta mark set 0x…`. */
export function markRules(services: readonly VirtualServiceSpec[]): string[] {
  return services
    .filter((s) => s.fwmark !== undefined && markedPorts(s).length > 0)
    .sort((a, b) => (a.fwmark ?? 0) - (b.fwmark ?? 0) || a.farm.localeCompare(b.farm))
    .map((s) => {
      const family = isIP(s.address) === 6 ? 'ip6' : 'ip';
      const mark = `0x${(s.fwmark ?? 0).toString(16).padStart(8, '0')}`;
      return `${family} daddr ${s.address} ${s.protocol} dport ${portList(markedPorts(s))} meta mark set ${mark} comment "farm ${s.farm}"`;
    });
}

/**
 * TFTP through IPVS-NAT: a tftpd answers a request from a new port, and that first DATA packet
 * matches no IPVS connection (the kernel knows client -> VIP:69 only), so IPVS forwards it with
 * the backend's own address as source. tftp-hpa's client takes it anyway; a client that checks the
 * answer comes from the address it asked (our check_tftp, RFC 1350's transfer ID) drops it and
 * times out. This source NAT makes that packet leave as the VIP; conntrack then carries the rest
 * of the transfer (the client's ACKs to VIP:port are translated back to the backend). Caveat: the
 * backends' other UDP from unprivileged ports through the director leaves as the VIP as well.
 */
export function snatRules(farms: readonly FarmState[], method: Method): string[] {
  if (method !== 'nat') return [];
  return farms
    .filter((f) => f.service.service === 'tftp' && f.service.fwmark !== undefined && f.servers.length > 0)
    .sort((a, b) => a.service.farm.localeCompare(b.service.farm))
    .flatMap((f) => {
      const family = isIP(f.service.address) === 6 ? 'ip6' : 'ip';
      const sources = [...new Set(f.servers.map((s) => s.address.toLowerCase()).filter((a) => (isIP(a) === 6 ? 'ip6' : 'ip') === family))];
      if (sources.length === 0) return [];
      const set = sources.length === 1 ? sources[0] : `{ ${sources.join(', ')} }`;
      return [`${family} saddr ${set} udp sport 1024-65535 snat ${family} to ${f.service.address} comment "farm ${f.service.farm}: a transfer's first packet"`];
    });
}

/** The nft script that makes the table hold exactly `rules` and `snat` (none: the table is removed). */
export function markScript(rules: readonly string[], snat: readonly string[] = []): string {
  const lines = [`table inet ${MARK_TABLE} {}`, `delete table inet ${MARK_TABLE}`];
  if (rules.length > 0 || snat.length > 0) {
    lines.push(
      `table inet ${MARK_TABLE} {`,
      '\tchain prerouting {',
      '\t\ttype filter hook prerouting priority mangle; policy accept;',
      ...rules.map((rule) => `\t\t${rule}`),
      '\t}',
      ...(snat.length > 0 ? ['\tchain postrouting {', '\t\ttype nat hook postrouting priority srcnat; policy accept;', ...snat.map((rule) => `\t\t${rule}`), '\t}'] : []),
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function applyMarks(nft: string, rules: readonly string[], snat: readonly string[] = [], run: ToolRunner = runTool): Promise<void> {
  await runChecked(`nft -f - (table inet ${MARK_TABLE})`, nft, ['-f', '-'], { input: markScript(rules, snat), missing: 'Debian: apt-get install nftables' }, run);
}
