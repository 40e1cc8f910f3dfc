import { isIP } from 'node:net';
import * as z from 'zod';
import { parseDuration } from './duration.ts';

/**
 * The farms file. Every object is strict: an unknown key is an error (a typo such as `intreval`
 * must not silently fall back to a default). Keys are the interface contract of issue 5.
 */

const hostname = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const address = z.string().refine((s) => isIP(s) !== 0 || hostname.test(s), { error: 'expected an IP address or host name' });

/** An integer with both bounds in its error: `expected 1..65535, got 70000`. */
function intIn(min: number, max: number) {
  const error = (issue: { input?: unknown }) => `expected ${min}..${max}, got ${JSON.stringify(issue.input)}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

const port = intIn(1, 65535);

const duration = (min: number, max: number) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined || ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `expected a duration from ${min}ms to ${max / 1000}s such as "2s" or "500ms", got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

const portRange = z.union([port, z.string()]).transform((value, ctx): PortRange => {
  if (typeof value === 'number') return { from: value, to: value };
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(value.trim());
  const from = Number(match?.[1]);
  const to = match?.[2] === undefined ? from : Number(match[2]);
  if (!match || from < 1 || to > 65535 || from > to) {
    ctx.addIssue({ code: 'custom', message: `expected a port or a range "a-b" within 1..65535, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return { from, to };
});

export const SERVICES = ['ftp', 'tftp', 'sftp', 'tcp', 'udp'] as const;

/** The transport a service runs on: UDP for TFTP and plain UDP, TCP for the others (FTP's control port, SSH, TCP). */
export const protocolOf = (service: (typeof SERVICES)[number]): 'tcp' | 'udp' => (service === 'tftp' || service === 'udp' ? 'udp' : 'tcp');
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq', 'lblc', 'lblcr', 'mh'] as const;
export const PROBES = ['ftp', 'tftp', 'ssh', 'tcp', 'command'] as const;

const optionValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]);

const check = z
  .strictObject({
    probe: z.enum(PROBES),
    /** the plugin's long options without dashes: `get: pub/check.txt`, `expect-content: OK` */
    options: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, 'expected a long option name without dashes'), optionValue).default({}),
    /** probe: command — the line as Farm Guardian, nanny or keepalived have it */
    command: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
    style: z.enum(['farmguardian', 'nanny', 'keepalived']).default('farmguardian'),
    expect: z.string().optional(),
    'use-regex': z.boolean().default(false),
    dynamic: z.boolean().default(false),
    interval: duration(100, 3_600_000).default(5000),
    timeout: duration(50, 600_000).default(3000),
    rise: intIn(1, 1000).default(2),
    fall: intIn(1, 1000).default(3),
    /** nanny's reentry: seconds a backend must keep passing before it is used again */
    reentry: duration(0, 86_400_000).default(0),
    'on-failure': z.enum(['quiesce', 'remove']).default('remove'),
    /** WARNING from a built-in probe (e.g. slow) still counts as healthy unless this is false */
    'warning-is-up': z.boolean().default(true),
  })
  .superRefine((c, ctx) => {
    if (c.probe === 'command' && c.command === undefined) ctx.addIssue({ code: 'custom', path: ['command'], message: 'probe "command" needs a command' });
    if (c.probe !== 'command' && c.command !== undefined) ctx.addIssue({ code: 'custom', path: ['command'], message: `only probe "command" takes a command (probe is "${c.probe}")` });
    if (c.timeout >= c.interval) ctx.addIssue({ code: 'custom', path: ['timeout'], message: `must be shorter than the interval (${c.interval}ms), got ${c.timeout}ms` });
  });

const backend = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'expected a name of letters, digits, "_", "." or "-"'),
  address,
  port: port.optional(),
  weight: intIn(0, 65535).default(1),
  /**
   * Most concurrent connections (TCP) or sessions (UDP, TFTP) the backend gets; over it, new ones go
   * to another backend. ipvsadm -x, keepalived uthreshold, nftlb est-connlimit. Absent = no limit.
   */
  'max-conns': intIn(1, 1_000_000).optional(),
  /** operator's maintenance flag: no new sessions, existing ones kept */
  maintenance: z.boolean().default(false),
});

const dataplane = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('userspace'),
    'passive-ports': portRange.optional(),
    'listen-address': address.optional(),
    'max-sessions': intIn(1, 1_000_000).optional(),
    /** sessions one client address may hold on one farm (default 256) */
    'client-sessions': intIn(1, 1_000_000).optional(),
    'idle-timeout': duration(1000, 86_400_000).optional(),
    /** a backend taken out (down, on-failure: remove) has its open sessions closed too (Zevenet's cut_conns) */
    'cut-connections': z.boolean().optional(),
    /** processes that accept for the plain TCP farms (the main one and workers-1 more); auto: one per CPU */
    workers: z.union([intIn(1, 64), z.literal('auto')], { error: (issue) => `expected a number of processes 1..64 or "auto", got ${JSON.stringify(issue.input)}` }).optional(),
    /** a connect to a backend not answered within this time fails (and is retried on another); default 1s */
    'connect-timeout': duration(10, 60_000).optional(),
    /** other backends tried after a failed connect, hidden from the client; default 2 */
    retries: intIn(0, 16).optional(),
    /** connects failing in a row that take a backend out at once, before its next check; 0: never; default 3 */
    'error-limit': intIn(0, 1000).optional(),
    /** at SIGTERM, how long open sessions may go on before they are cut; default 10s */
    'drain-timeout': duration(0, 3_600_000).optional(),
  }),
  z.strictObject({
    type: z.literal('ipvsadm'),
    method: z.enum(['nat', 'dr', 'tun']).default('nat'),
    ipvsadm: z.string().default('/sbin/ipvsadm'),
  }),
  z.strictObject({
    type: z.literal('nftlb'),
    url: z.url().default('http://127.0.0.1:5555'),
    'key-file': z.string().optional(),
    start: z.boolean().default(false),
    /** snat: replies come back through the balancer by itself; dnat: backends must route through it */
    mode: z.enum(['snat', 'dnat']).default('snat'),
    /** snat to this address instead of masquerading (nftlb's source-addr); a director pair syncing
     *  sessions needs one of its virtual addresses here, so that replies follow the pair */
    'source-address': z.string().refine((s) => isIP(s) !== 0, { error: 'expected an IP address' }).optional(),
  }),
  z.strictObject({
    type: z.literal('zevenet'),
    url: z.url(),
    'key-file': z.string(),
    farm: z.string().optional(),
    /** the appliance's certificate (PEM): appliances usually have a self-signed one */
    'ca-file': z.string().optional(),
  }),
  z.strictObject({ type: z.literal('none') }),
]);

const farm = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'expected a name of letters, digits, "_", "." or "-"'),
    service: z.enum(SERVICES),
    virtual: z
      .strictObject({ address, ports: z.array(portRange).min(1).optional(), fwmark: intIn(1, 0xffffffff).optional() })
      // both: a fwmark service whose marks the ipvsadm data plane sets for these ports
      .refine((v) => v.ports !== undefined || v.fwmark !== undefined, { error: 'give either ports or fwmark' }),
    scheduler: z.enum(SCHEDULERS).default('wlc'),
    persistence: z.strictObject({ timeout: intIn(1, 31_536_000), netmask: z.string().default('255.255.255.255') }).optional(),
    dataplane: dataplane.default({ type: 'none' }),
    check,
    sorry: z.strictObject({ address, port: port.optional() }).optional(),
    backends: z.array(backend).min(1),
  })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.backends.forEach((b, i) => {
      if (seen.has(b.name)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'name'], message: `duplicate backend name "${b.name}"` });
      seen.add(b.name);
    });
    if (f.dataplane.type === 'nftlb' && f.dataplane.mode === 'dnat' && f.dataplane['source-address'] !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['dataplane', 'source-address'], message: 'source-address is the snat mode\'s: in dnat mode the backends see the client\'s address' });
    }
    if (f.persistence && !/^(\d{1,3}\.){3}\d{1,3}$|^\d{1,3}$/.test(f.persistence.netmask)) {
      ctx.addIssue({ code: 'custom', path: ['persistence', 'netmask'], message: `expected a dotted netmask or a prefix length, got "${f.persistence.netmask}"` });
    }
  });

/**
 * The keepalived director pair (`lbguard render keepalived` writes it as a vrrp_instance; `lbguard run`
 * runs keepalived with it). Keys as keepalived.conf names them; defaults only where keepalived has one
 * (state BACKUP, priority 100, advert_int 1, vrrp_version 2). The password is never in this file: it
 * is read from a file or an environment variable. `peers` names both directors so that one file
 * serves the pair: each node takes its priority from its own entry (`lbguard run --node NAME`).
 */
const vrrpAddress = z.string().regex(/^[0-9A-Fa-f.:]+(\/\d{1,3})?( (brd|dev|scope|label) [A-Za-z0-9_.:-]+)*$/, 'expected "ADDRESS[/PREFIX] [dev IFACE] [label NAME] [scope SCOPE] [brd ADDRESS]"');
const vrrpPeer = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'expected a name of letters, digits, "_", "." or "-"'),
  /** an address of this director (how `lbguard run` finds which peer it is when --node is not given) */
  address: z.string().refine((s) => isIP(s) !== 0, { error: 'expected an IP address' }),
  priority: intIn(1, 254),
  /** this director's address on vrrp.sync.interface (default: address) */
  'sync-address': z.string().refine((s) => isIP(s) !== 0, { error: 'expected an IP address' }).optional(),
});
const interfaceName = z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/, 'expected a network interface name such as eth1 (a letter first, at most 15 characters)');
/**
 * Sessions kept across a failover, by the kernel's own replication. conntrackd (nftlb farms)
 * replicates the connection tracking entries and the FTP/TFTP helpers' expectations to the other
 * director over UDP, FT-FW mode. Its interface name goes into conntrackd.conf as a bare word: the
 * parser reads a name of at most four hexadecimal digits (e0, ab0) as a number and refuses the
 * file, so such names are refused here. ipvs (ipvsadm farms): the kernel's IPVS sync daemon,
 * master on the MASTER, backup elsewhere, multicast on the interface.
 */
const vrrpSync = z.discriminatedUnion('engine', [
  z.strictObject({
    engine: z.literal('conntrackd'),
    interface: interfaceName.refine((s) => !/^[0-9A-Fa-f]{1,4}$/.test(s), { error: (issue) => `conntrackd reads the interface name ${JSON.stringify(issue.input)} as a number: rename the link (ip link set NAME name sync0)` }),
    port: port.default(3780),
    /** helpers whose expectations are synced; default: those of the nftlb farms (ftp, tftp) */
    expectations: z.array(z.enum(['ftp', 'tftp', 'sip', 'h.245', 'q.931', 'ras'])).optional(),
    conntrackd: z.string().min(1).default('/usr/sbin/conntrackd'),
  }),
  z.strictObject({
    engine: z.literal('ipvs'),
    interface: interfaceName,
    /** the sync id both directors use (ipvsadm --syncid); default: the virtual-router-id */
    syncid: intIn(0, 255).optional(),
    /** default: the ipvsadm of the ipvsadm farms */
    ipvsadm: z.string().min(1).optional(),
  }),
], { error: (issue) => `expected conntrackd or ipvs, got ${JSON.stringify((issue.input as { engine?: unknown } | undefined)?.engine)}` });
export type VrrpSyncConfig = z.output<typeof vrrpSync>;
const vrrp = z
  .strictObject({
    interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'expected a network interface name such as eth0'),
    'virtual-router-id': intIn(1, 255),
    /** this director's priority when the file has no peers (with peers, each peer has its own) */
    priority: intIn(1, 254).optional(),
    state: z.enum(['MASTER', 'BACKUP']).default('BACKUP'),
    /** VRRP version: 3 allows sub-second advertisements */
    version: z.union([z.literal(2), z.literal(3)], { error: (issue) => `expected 2 or 3, got ${JSON.stringify(issue.input)}` }).default(2),
    /** seconds between advertisements: whole seconds with version 2, hundredths (0.01..40.95) with version 3 */
    'advert-int': z.number({ error: (issue) => `expected seconds such as 1 or 0.2, got ${JSON.stringify(issue.input)}` }).min(0.01, { error: (issue) => `expected at least 0.01 s, got ${JSON.stringify(issue.input)}` }).max(255, { error: (issue) => `expected at most 255 s, got ${JSON.stringify(issue.input)}` }).default(1),
    /** the addresses the pair moves; absent = the farms' virtual addresses */
    'virtual-ipaddress': z.array(vrrpAddress).min(1).optional(),
    /** both directors of the pair, each with its own priority */
    peers: z.array(vrrpPeer).min(2).max(8).optional(),
    /** PASS authentication (at most 8 characters): the file holding it, or the variable */
    'auth-password-file': z.string().min(1).optional(),
    'auth-password-env': z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
    /** the keepalived `lbguard run` starts for VRRP */
    keepalived: z.string().min(1).default('/usr/sbin/keepalived'),
    /** connection tracking synced between the two peers (nftlb farms) */
    sync: vrrpSync.optional(),
  })
  .superRefine((v, ctx) => {
    if (v['auth-password-file'] && v['auth-password-env']) ctx.addIssue({ code: 'custom', message: 'give auth-password-file or auth-password-env, not both' });
    const advert = v['advert-int'];
    if (v.version === 2 && !Number.isInteger(advert)) ctx.addIssue({ code: 'custom', path: ['advert-int'], message: `VRRP version 2 advertises in whole seconds, got ${advert}; set version: 3 for sub-second adverts` });
    if (v.version === 3 && (advert > 40.95 || Math.abs(advert * 100 - Math.round(advert * 100)) > 1e-9)) ctx.addIssue({ code: 'custom', path: ['advert-int'], message: `VRRP version 3 advertises in hundredths of a second up to 40.95, got ${advert}` });
    if (v.peers && v.priority !== undefined) ctx.addIssue({ code: 'custom', path: ['priority'], message: 'with peers, each peer has its own priority: drop vrrp.priority' });
    const names = new Set<string>();
    const addresses = new Set<string>();
    v.peers?.forEach((peer, i) => {
      if (names.has(peer.name)) ctx.addIssue({ code: 'custom', path: ['peers', i, 'name'], message: `duplicate peer name "${peer.name}"` });
      if (addresses.has(peer.address)) ctx.addIssue({ code: 'custom', path: ['peers', i, 'address'], message: `duplicate peer address ${peer.address}` });
      names.add(peer.name);
      addresses.add(peer.address);
    });
    if (v.sync?.engine === 'conntrackd' && v.peers?.length !== 2) ctx.addIssue({ code: 'custom', path: ['sync'], message: 'conntrackd syncs two directors: give exactly two vrrp.peers' });
    const syncAddresses = (v.peers ?? []).map((p) => p['sync-address'] ?? p.address);
    if (v.sync?.engine === 'conntrackd' && new Set(syncAddresses).size !== syncAddresses.length) ctx.addIssue({ code: 'custom', path: ['peers'], message: 'the peers need distinct sync-address (or address) values' });
  });

/** The addresses a pair moves: vrrp.virtual-ipaddress without prefix or options, else the farms' virtual addresses. */
export function pairAddresses(vrrpConfig: { 'virtual-ipaddress'?: readonly string[] | undefined }, farms: readonly { virtual: { address: string } }[]): string[] {
  const listed = vrrpConfig['virtual-ipaddress']?.map((a) => a.split(' ')[0]!.split('/')[0]!);
  return [...new Set(listed ?? farms.map((f) => f.virtual.address))];
}

export const configSchema = z
  .strictObject({
    status: z.strictObject({
      listen: z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port')
        .refine((s) => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, { error: (issue) => `expected host:port with a port up to 65535, got ${JSON.stringify(issue.input)}` })
        .default('127.0.0.1:9100'),
      /** a state-changing request (maintenance) needs `Authorization: Bearer` this file's token; absent: loopback only */
      'admin-token-file': z.string().min(1).optional(),
      /** reads (/status, /metrics) need this file's token or the admin one; absent: open */
      'read-token-file': z.string().min(1).optional(),
      /** HTTPS instead of HTTP (PEM files; the key readable by its owner only) */
      tls: z.strictObject({ 'cert-file': z.string().min(1), 'key-file': z.string().min(1) }).optional(),
    }).default({ listen: '127.0.0.1:9100' }),
    state: z.strictObject({ file: z.string().min(1).optional() }).default({}),
    concurrency: intIn(1, 10_000).default(256),
    vrrp: vrrp.optional(),
    farms: z.array(farm).min(1),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.farms.forEach((f, i) => {
      if (seen.has(f.name)) ctx.addIssue({ code: 'custom', path: ['farms', i, 'name'], message: `duplicate farm name "${f.name}"` });
      seen.add(f.name);
    });
    if (c.vrrp?.sync) checkSessionSync(c.vrrp, c.farms, ctx);
  });

/**
 * conntrackd replicates what the kernel tracks: only nftlb farms have their sessions there. A synced
 * session must also name an address the other director will hold: nftlb's masquerade puts this
 * director's own address in it, so each nftlb farm in snat mode snats to one of the pair's addresses.
 */
function checkSessionSync(v: { 'virtual-ipaddress'?: string[] | undefined; sync?: VrrpSyncConfig | undefined }, farms: readonly z.output<typeof farm>[], ctx: z.RefinementCtx): void {
  if (v.sync?.engine === 'ipvs') {
    if (!farms.some((f) => f.dataplane.type === 'ipvsadm')) ctx.addIssue({ code: 'custom', path: ['vrrp', 'sync'], message: 'the IPVS sync daemon syncs IPVS connections: no farm uses the ipvsadm data plane' });
    return;
  }
  if (!farms.some((f) => f.dataplane.type === 'nftlb')) {
    ctx.addIssue({ code: 'custom', path: ['vrrp', 'sync'], message: 'conntrackd syncs the kernel\'s connection tracking: no farm uses the nftlb data plane (the userspace one keeps its sessions in lbguard and cannot sync them)' });
  }
  const moving = pairAddresses(v, farms);
  farms.forEach((f, i) => {
    const plane = f.dataplane;
    if (plane.type !== 'nftlb' || plane.mode !== 'snat') return;
    const source = plane['source-address'];
    if (source === undefined) {
      ctx.addIssue({ code: 'custom', path: ['farms', i, 'dataplane', 'source-address'], message: `farm ${f.name}: with vrrp.sync, give source-address: one of the pair's addresses (${moving.join(', ')}); masquerading would put this director's own address in every synced session` });
    } else if (!moving.includes(source)) {
      ctx.addIssue({ code: 'custom', path: ['farms', i, 'dataplane', 'source-address'], message: `farm ${f.name}: source-address ${source} does not move with the pair (${moving.join(', ')}): the backends' replies to synced sessions would not reach the new master` });
    }
  });
}

export type Config = z.output<typeof configSchema>;
export type FarmConfig = Config['farms'][number];
export type VrrpConfig = NonNullable<Config['vrrp']>;
export type VrrpPeer = NonNullable<VrrpConfig['peers']>[number];
export type BackendConfig = FarmConfig['backends'][number];
export type CheckConfig = FarmConfig['check'];
