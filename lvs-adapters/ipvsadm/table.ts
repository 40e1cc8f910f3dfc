// The IPVS table as ipvsadm shows it: parsed from `ipvsadm -Sn` (the rule form, what we diff
// against) and `ipvsadm -Ln --thresholds` (the listing, where the connection limits are), and
// written back as ipvsadm argv in the same rule form. Formats: ipvsadm(8) and ipvsadm.c of ipvsadm
// 1.29 (print_service_entry, list_service); fixtures from a real 6.1 kernel in test/fixtures/ipvs/.

export type Forward = 'masq' | 'route' | 'tunnel';
export type ServiceKind = 'tcp' | 'udp' | 'sctp' | 'fwmark';

export interface IpvsDest {
  readonly address: string;
  readonly port: number;
  readonly forward: Forward;
  readonly weight: number;
  /**
   * `-x`: most connections before the kernel sends no more new ones (0/absent = no limit) and
   * `-y`: the count it must fall below to get new ones again (0/absent = the kernel's 3/4 of -x).
   * ipvsadm -Sn does not print them (ipvsadm 1.31): they are read from `ipvsadm -Ln --thresholds`.
   */
  readonly upperThreshold?: number;
  readonly lowerThreshold?: number;
  /** only from `-Ln` */
  readonly activeConn?: number;
  readonly inactConn?: number;
}

export interface IpvsService {
  readonly kind: ServiceKind;
  /** tcp/udp/sctp: the virtual address and port */
  readonly address?: string;
  readonly port?: number;
  /** fwmark services */
  readonly fwmark?: number;
  readonly ipv6?: boolean;
  readonly scheduler: string;
  /** `-b` scheduler flags such as sh-fallback,sh-port */
  readonly flags?: readonly string[];
  /** seconds; absent = not persistent */
  readonly persistent?: number;
  /** persistence granularity; absent = 255.255.255.255 (v4) / 128 (v6) */
  readonly netmask?: string;
  readonly pe?: string;
  readonly ops?: boolean;
  readonly dests: readonly IpvsDest[];
}

export class IpvsParseError extends Error {
  override name = 'IpvsParseError';
}

const KIND_FLAG: Record<Exclude<ServiceKind, 'fwmark'>, string> = { tcp: '-t', udp: '-u', sctp: '--sctp-service' };
const FLAG_KIND: Record<string, ServiceKind> = { '-t': 'tcp', '-u': 'udp', '--sctp-service': 'sctp', '-f': 'fwmark' };
const FORWARD_FLAG: Record<Forward, string> = { masq: '-m', route: '-g', tunnel: '-i' };

/** `10.0.0.1:21` / `[2001:db8::1]:80`, as ipvsadm prints and takes them. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function splitHostPort(text: string): { address: string; port: number } {
  const match = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(text) ?? /^([^:\s]+)(?::(\d+))?$/.exec(text) ?? /^([0-9A-Fa-f:]+)$/.exec(text);
  if (!match?.[1]) throw new IpvsParseError(`"${text}" is not address[:port]`);
  return { address: match[1].toLowerCase(), port: match[2] === undefined ? 0 : Number(match[2]) };
}

/** The argv that names a virtual service: `-t 10.0.0.1:21`, `-f 1`, `-f 7 -6`. */
export function serviceArgs(service: Pick<IpvsService, 'kind' | 'address' | 'port' | 'fwmark' | 'ipv6'>): string[] {
  if (service.kind === 'fwmark') return service.ipv6 ? ['-f', String(service.fwmark), '-6'] : ['-f', String(service.fwmark)];
  return [KIND_FLAG[service.kind], hostPort(service.address ?? '', service.port ?? 0)];
}

/** One string per virtual service, equal for equal services: the map key used when diffing. */
export function serviceKey(service: Pick<IpvsService, 'kind' | 'address' | 'port' | 'fwmark' | 'ipv6'>): string {
  return serviceArgs(service).join(' ');
}

export function destKey(dest: Pick<IpvsDest, 'address' | 'port'>): string {
  return hostPort(dest.address, dest.port);
}

const FULL_MASK = new Set(['255.255.255.255', '128']);

/** `-A|-E <service> -s sched [-p N [-M mask]] [-b flags] [--pe x] [-o]`: always the full spec. */
export function serviceRule(command: '-A' | '-E', service: IpvsService): string[] {
  const argv = [command, ...serviceArgs(service), '-s', service.scheduler];
  if (service.persistent !== undefined) {
    argv.push('-p', String(service.persistent));
    if (service.netmask !== undefined && !FULL_MASK.has(service.netmask)) argv.push('-M', service.netmask);
  }
  if (service.flags?.length) argv.push('-b', service.flags.join(','));
  if (service.pe) argv.push('--pe', service.pe);
  if (service.ops) argv.push('-o');
  return argv;
}

/**
 * `-a|-e <service> -r addr:port -m|-g|-i -w N [-x MAX]`: `-e` is not a partial update, so all of it,
 * always — and `-x 0` when there is no limit, so an edit lifts one set before. `-y` is never given:
 * the kernel then lets a full server take new connections again below 3/4 of `-x`.
 */
export function destRule(command: '-a' | '-e', service: IpvsService, dest: IpvsDest): string[] {
  const argv = [command, ...serviceArgs(service), '-r', destKey(dest), FORWARD_FLAG[dest.forward], '-w', String(dest.weight)];
  const upper = dest.upperThreshold ?? 0;
  if (upper > 0 || command === '-e') argv.push('-x', String(upper));
  return argv;
}

interface MutableService {
  kind: ServiceKind;
  address?: string;
  port?: number;
  fwmark?: number;
  ipv6?: boolean;
  scheduler: string;
  flags?: string[];
  persistent?: number;
  netmask?: string;
  pe?: string;
  ops?: boolean;
  dests: IpvsDest[];
}

function number(text: string | undefined, what: string, line: number): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new IpvsParseError(`line ${line}: ${what} "${text ?? ''}" is not a number`);
  return Number(text);
}

/** Reads the service-naming options at argv[at..]; returns the service identity and the next index. */
function readServiceArgs(argv: readonly string[], at: number, line: number): { id: Pick<MutableService, 'kind' | 'address' | 'port' | 'fwmark' | 'ipv6'>; next: number } {
  const flag = argv[at] ?? '';
  const kind = FLAG_KIND[flag];
  if (!kind) throw new IpvsParseError(`line ${line}: expected -t, -u, --sctp-service or -f, got "${flag}"`);
  if (kind === 'fwmark') {
    const fwmark = number(argv[at + 1], 'fwmark', line);
    const ipv6 = argv[at + 2] === '-6';
    return { id: { kind, fwmark, ipv6 }, next: at + (ipv6 ? 3 : 2) };
  }
  const { address, port } = splitHostPort(argv[at + 1] ?? '');
  return { id: { kind, address, port }, next: at + 2 };
}

/** Parses `ipvsadm -Sn` (also `ipvsadm-save -n`). Lines of other forms are an error, not skipped. */
export function parseSave(text: string): IpvsService[] {
  const services = new Map<string, MutableService>();
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const argv = raw.trim().split(/\s+/).filter(Boolean);
    if (argv.length === 0 || argv[0]?.startsWith('#')) return;
    if (argv[0] === 'ipvsadm') argv.shift();
    const command = argv[0];
    if (command !== '-A' && command !== '-a') throw new IpvsParseError(`line ${line}: expected a -A or -a rule, got "${raw.trim()}"`);
    const { id, next } = readServiceArgs(argv, 1, line);
    const key = serviceKey(id);
    if (command === '-A') {
      const service: MutableService = { ...id, scheduler: 'wlc', dests: [] };
      for (let at = next; at < argv.length; at++) {
        const option = argv[at];
        const value = argv[at + 1];
        switch (option) {
          case '-s': service.scheduler = value ?? ''; at++; break;
          case '-p': service.persistent = number(value, 'persistence timeout', line); at++; break;
          case '-M': service.netmask = value ?? ''; at++; break;
          case '-b': service.flags = (value ?? '').split(',').filter(Boolean); at++; break;
          case '--pe': service.pe = value ?? ''; at++; break;
          case '-o': service.ops = true; break;
          default: throw new IpvsParseError(`line ${line}: unknown service option "${option}"`);
        }
      }
      services.set(key, service);
      return;
    }
    const service = services.get(key);
    if (!service) throw new IpvsParseError(`line ${line}: real server for ${key}, which no -A line declared`);
    let dest: { address: string; port: number } | undefined;
    let forward: Forward = 'route';
    let weight = 1;
    const thresholds: { upperThreshold?: number; lowerThreshold?: number } = {};
    for (let at = next; at < argv.length; at++) {
      const option = argv[at];
      if (option === '-r') dest = splitHostPort(argv[++at] ?? '');
      else if (option === '-m') forward = 'masq';
      else if (option === '-g') forward = 'route';
      else if (option === '-i') forward = 'tunnel';
      else if (option === '-w') weight = number(argv[++at], 'weight', line);
      else if (option === '-x') thresholds.upperThreshold = number(argv[++at], 'upper threshold', line);
      else if (option === '-y') thresholds.lowerThreshold = number(argv[++at], 'lower threshold', line);
      else if (option?.startsWith('--tun-')) {
        // tunnel details: not part of what lbguard manages; skip the value if any
        if (option !== '--tun-nocsum' && option !== '--tun-csum' && option !== '--tun-remcsum') at++;
      } else throw new IpvsParseError(`line ${line}: unknown real-server option "${option}"`);
    }
    if (!dest) throw new IpvsParseError(`line ${line}: -a without -r`);
    service.dests.push({ ...dest, forward, weight, ...limits(thresholds.upperThreshold, thresholds.lowerThreshold) });
  });
  return [...services.values()];
}

const LIST_SERVICE = /^(TCP|UDP|SCTP)\s+(\S+)\s+(\S+)(.*)$/;
const LIST_FWMARK = /^FWM\s+(\d+)(\s+IPv6)?\s+(\S+)(.*)$/;
/** `  -> 10.0.1.2:21                  10         0          0          0` (Uthreshold Lthreshold ActiveConn InActConn) */
const THRESHOLD_DEST = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/;

/** Thresholds as IpvsDest holds them: a 0 (no limit, or the kernel's default) is left out. */
function limits(upper: number | undefined, lower: number | undefined): Pick<IpvsDest, 'upperThreshold' | 'lowerThreshold'> {
  return { ...(upper ? { upperThreshold: upper } : {}), ...(lower ? { lowerThreshold: lower } : {}) };
}

function listFlags(service: MutableService, rest: string, line: number): void {
  const words = rest.trim().split(/\s+/).filter(Boolean);
  for (let at = 0; at < words.length; at++) {
    const word = words[at] ?? '';
    if (word.startsWith('(') && word.endsWith(')')) service.flags = word.slice(1, -1).split(',').filter(Boolean);
    else if (word === 'persistent') service.persistent = number(words[++at], 'persistence timeout', line);
    else if (word === 'mask') service.netmask = words[++at] ?? '';
    else if (word === 'pe') service.pe = words[++at] ?? '';
    else if (word === 'ops') service.ops = true;
    else throw new IpvsParseError(`line ${line}: unexpected "${word}" in the service line`);
  }
}

export interface DestThresholds {
  readonly address: string;
  readonly port: number;
  readonly upperThreshold: number;
  readonly lowerThreshold: number;
}

/** Parses `ipvsadm -Ln --thresholds`: per service key, its real servers' -x and -y (0 = none). */
export function parseThresholds(text: string): Map<string, DestThresholds[]> {
  const services = parseListing(text, 'ipvsadm -Ln --thresholds', THRESHOLD_DEST, (dest) => ({
    ...splitHostPort(dest[1] ?? ''),
    forward: 'route' as Forward,
    weight: 0,
    upperThreshold: Number(dest[2]),
    lowerThreshold: Number(dest[3]),
  }));
  return new Map(services.map((s) => [serviceKey(s), s.dests.map((d) => ({ address: d.address, port: d.port, upperThreshold: d.upperThreshold ?? 0, lowerThreshold: d.lowerThreshold ?? 0 }))]));
}

/** The -Sn table with each real server's thresholds from `-Ln --thresholds` written in. */
export function withThresholds(services: readonly IpvsService[], thresholds: ReadonlyMap<string, readonly DestThresholds[]>): IpvsService[] {
  return services.map((service) => {
    const byDest = new Map((thresholds.get(serviceKey(service)) ?? []).map((d) => [destKey(d), d]));
    return {
      ...service,
      dests: service.dests.map((dest) => {
        const limit = byDest.get(destKey(dest));
        const { upperThreshold: _u, lowerThreshold: _l, ...rest } = dest;
        return limit ? { ...rest, ...limits(limit.upperThreshold, limit.lowerThreshold) } : dest;
      }),
    };
  });
}

/** The listing forms of ipvsadm: the same service lines, real-server lines of the given form. */
function parseListing(text: string, what: string, destLine: RegExp, toDest: (match: RegExpExecArray) => IpvsDest): IpvsService[] {
  const services: MutableService[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '' || raw.startsWith('IP Virtual Server version') || raw.startsWith('Prot LocalAddress') || /^\s+-> RemoteAddress/.test(raw)) return;
    // real-server lines first: with 1,000 of them, the service patterns need not be tried on each
    const dest = destLine.exec(raw);
    const tcp = dest ? null : LIST_SERVICE.exec(raw);
    const fwm = dest || tcp ? null : LIST_FWMARK.exec(raw);
    if (dest) {
      const service = services.at(-1);
      if (!service) throw new IpvsParseError(`line ${line}: real server before any service`);
      service.dests.push(toDest(dest));
    } else if (tcp) {
      const { address, port } = splitHostPort(tcp[2] ?? '');
      const service: MutableService = { kind: (tcp[1] ?? '').toLowerCase() as ServiceKind, address, port, scheduler: tcp[3] ?? '', dests: [] };
      listFlags(service, tcp[4] ?? '', line);
      services.push(service);
    } else if (fwm) {
      const service: MutableService = { kind: 'fwmark', fwmark: Number(fwm[1]), ipv6: fwm[2] !== undefined, scheduler: fwm[3] ?? '', dests: [] };
      listFlags(service, fwm[4] ?? '', line);
      services.push(service);
    } else {
      throw new IpvsParseError(`line ${line}: not an ${what} line: "${raw}"`);
    }
  });
  return services;
}
