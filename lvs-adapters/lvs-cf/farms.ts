import { type Config, type FarmConfig, protocolOf } from '../../orchestrator/config/schema.ts';
import { convertNannyEscapes } from '../../orchestrator/checks/command.ts';
import { backendPort } from '../../orchestrator/checks/backend-check.ts';
import { nativeCheck } from './send-program.ts';
import { type Entry, get, integerValue, type LvsCf, LvsCfError, SCHEDULERS, type ServerBlock, type VirtualBlock } from './lvs-cf.ts';

/**
 * lvs.cf ⇄ lbguard farms file. Importing keeps what lbguard can act on: each `virtual` becomes a
 * farm on the ipvsadm data plane with its scheduler, persistence, sorry server and real servers,
 * and its nanny check (send_program + expect, timeout, reentry, quiesce_server) becomes the farm's
 * check. Rendering writes the farms back as virtual blocks whose send_program runs our plugins in
 * their nanny mode (`--nanny`: always exit 0, print `OK` when up), since nanny counts a non-zero
 * exit as "up"; a plain TCP check is nanny's own (no send_program: nanny connects, docs/piranha.md).
 */

/** Where `lbguard render lvs.cf` points nanny; docs/piranha.md installs the plugins there. */
export interface RenderPaths {
  readonly plugins: string;
  /** `address = VIP DEVICE` needs the interface alias lvsd puts the VIP on */
  readonly device: string;
}

export const DEFAULT_PATHS: RenderPaths = { plugins: '/usr/local/bin', device: 'eth0:1' };

const NAMED_PORTS: Record<string, number> = { ftp: 21, 'ftp-data': 20, ssh: 22, tftp: 69, http: 80, https: 443 };
const METHOD = { nat: 'nat', direct: 'dr', tunnel: 'tun' } as const;
const NETWORK = { nat: 'nat', dr: 'direct', tun: 'tunnel' } as const;

function portOf(text: string | undefined, line: number): number | undefined {
  if (text === undefined) return undefined;
  if (/^[+-]?\d|^0[xX]/.test(text)) return integerValue(text);
  const port = NAMED_PORTS[text];
  if (port === undefined) throw new LvsCfError(line, `port "${text}": lbguard needs the number (it does not read /etc/services)`);
  return port;
}

const safeName = (name: string) => name.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'unnamed';

function lineOf(entries: readonly Entry[], key: string, fallback: number): number {
  return entries.findLast((e) => e.key === key)?.line ?? fallback;
}

function importServer(server: ServerBlock, defaultPort: number, alwaysPort: boolean) {
  const at = (key: string) => get(server.entries, key);
  const address = at('address');
  if (!address) throw new LvsCfError(server.line, `server ${server.name} has no address`);
  const port = portOf(at('port'), lineOf(server.entries, 'port', server.line)) ?? defaultPort;
  return {
    name: safeName(server.name),
    address,
    ...(port === defaultPort && !alwaysPort ? {} : { port }),
    weight: at('weight') === undefined ? 1 : integerValue(at('weight') ?? '1'),
    ...(at('active') === '0' ? { maintenance: true } : {}),
  };
}

/** The farm's check: a known plugin's send_program becomes the native probe (send-program.ts). */
function importCheck(block: VirtualBlock, probe: string, notes: string[]) {
  const at = (key: string) => get(block.entries, key);
  const seconds = at('timeout') === undefined ? 10 : integerValue(at('timeout') ?? '10');
  // nanny gives the program the whole interval; lbguard wants the timeout strictly shorter
  const nannyTimeoutMs = Math.max(seconds * 1000 - 100, 50);
  const sendProgram = at('send_program');
  // nanny turns \n, \r, \t, \\ and quotes in expect into the characters before it compares
  const expect = at('expect');
  const native = sendProgram === undefined ? undefined : nativeCheck(sendProgram);
  const line = lineOf(block.entries, 'send_program', block.line);
  if (native) {
    notes.push(`line ${line}: send_program "${sendProgram}" is lbguard's ${native.probe} probe${Object.keys(native.options).length ? ` (${Object.entries(native.options).map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}: checked in-process, same target${native.timeoutSeconds ? ` and -t ${native.timeoutSeconds}` : ''}; expect is not needed`);
  }
  const timeoutMs = native?.timeoutSeconds === undefined ? nannyTimeoutMs : Math.min(native.timeoutSeconds * 1000, nannyTimeoutMs);
  return {
    ...(native ? { probe: native.probe, ...(Object.keys(native.options).length ? { options: native.options } : {}) }
      : sendProgram ? { probe: 'command', command: sendProgram, style: 'nanny', ...(expect !== undefined ? { expect: convertNannyEscapes(expect) } : {}) } : { probe }),
    interval: `${seconds}s`,
    timeout: `${timeoutMs}ms`,
    rise: 1,
    fall: 1,
    reentry: `${at('reentry') === undefined ? 180 : integerValue(at('reentry') ?? '180')}s`,
    'on-failure': at('quiesce_server') === '1' ? 'quiesce' : 'remove',
  };
}

function importVirtual(block: VirtualBlock, globals: readonly Entry[], notes: string[]) {
  const at = (key: string) => get(block.entries, key);
  const vip = at('address')?.split(' ')[0];
  if (!vip) throw new LvsCfError(block.line, `virtual ${block.name} has no address`);
  const port = portOf(at('port'), lineOf(block.entries, 'port', block.line)) ?? 80;
  const protocol = at('protocol') ?? 'tcp';
  const fwmark = at('fwmark') === undefined ? 0 : integerValue(at('fwmark') ?? '0');
  const service = port === 21 ? 'ftp' : port === 69 ? 'tftp' : port === 22 ? 'sftp' : protocol;
  const persistent = at('persistent') === undefined ? 0 : integerValue(at('persistent') ?? '0');
  const pmask = at('pmask');
  const probe = service === 'ftp' ? 'ftp' : service === 'tftp' ? 'tftp' : service === 'sftp' ? 'ssh' : 'tcp';
  const ipvsadm = get(globals, 'ipvsadm');
  const network = (get(globals, 'network') ?? 'nat') as keyof typeof METHOD;
  return {
    name: safeName(block.name),
    service,
    virtual: fwmark > 0 ? { address: vip, fwmark } : { address: vip, ports: [port] },
    scheduler: at('scheduler') ?? 'wlc',
    ...(persistent > 0 ? { persistence: { timeout: persistent, ...(pmask && pmask !== '255.255.255.255' ? { netmask: pmask } : {}) } } : {}),
    dataplane: { type: 'ipvsadm', method: METHOD[network], ...(ipvsadm ? { ipvsadm } : {}) },
    check: importCheck(block, probe, notes),
    ...(at('sorry_server') ? { sorry: { address: at('sorry_server') } } : {}),
    // a fwmark farm has no virtual port to default to: every backend says its port
    backends: block.servers.map((s) => importServer(s, port, fwmark > 0)),
  };
}

export interface ImportResult {
  /** the farms file, as it would be written in YAML */
  readonly config: { vrrp?: ReturnType<typeof importPair>; farms: ReturnType<typeof importVirtual>[] };
  /** what was in the file but has no place in lbguard (heartbeat, failover services, …) */
  readonly notes: string[];
}

/** pulse's settings that keepalived's VRRP takes over (importPair), or that need nothing (network...). */
const PAIR_KEYS = new Set(['primary', 'backup', 'backup_active', 'heartbeat', 'keepalive', 'deadtime', 'heartbeat_port']);

/**
 * pulse's pair (primary, backup, backup_active = 1) as vrrp.peers: keepalived elects by priority, so
 * the primary gets the higher one; keepalive is the advert interval. pulse declares the peer dead
 * after `deadtime`; keepalived's backup after 3 advert intervals plus a skew of
 * (256 - priority) / 256 of one, so only deadtime = 3 x keepalive is kept exactly.
 */
function importPair(cf: LvsCf, notes: string[]) {
  const at = (key: string) => get(cf.globals, key);
  const line = (key: string) => lineOf(cf.globals, key, 0);
  const primary = at('primary');
  const backup = at('backup');
  if (!primary || !backup || at('backup_active') !== '1') {
    if (primary && backup) notes.push(`line ${line('backup_active')}: the backup is not active (backup_active = 1 is not set): imported as one director, without vrrp:`);
    return undefined;
  }
  const device = cf.blocks.map((b) => get(b.entries, 'address')?.split(' ')[1]).find((d) => d !== undefined);
  const iface = device?.split(':')[0] ?? 'eth0';
  const keepalive = at('keepalive') === undefined ? 2 : Math.max(1, integerValue(at('keepalive') ?? '2'));
  const deadtime = at('deadtime') === undefined ? 5 : integerValue(at('deadtime') ?? '5');
  notes.push(`line ${line('primary')}: primary ${primary} and backup ${backup} are vrrp.peers primary (priority 150) and backup (priority 100): each director runs lbguard run --node primary|backup, which runs keepalived`);
  notes.push(`vrrp.interface ${iface}${device ? ` (from the virtual addresses' device ${device})` : ' (lvs.cf names no device: check it)'}; vrrp.virtual-router-id 51 is a choice: give each pair on the segment its own`);
  notes.push(`line ${line('keepalive')}: keepalive ${keepalive} is vrrp.advert-int ${keepalive}`);
  const takeover = 3 * keepalive;
  if (deadtime === takeover) notes.push(`line ${line('deadtime')}: deadtime ${deadtime} is kept: keepalived's backup takes over after 3 adverts (${takeover} s) plus under one advert of skew`);
  else notes.push(`line ${line('deadtime')}: deadtime ${deadtime} cannot be kept: keepalived's backup takes over after 3 adverts (${takeover} s with advert-int ${keepalive}) plus under one advert of skew; set advert-int to about ${Math.max(1, Math.round(deadtime / 3))} for a takeover near ${deadtime} s`);
  if (at('heartbeat_port') !== undefined) notes.push(`line ${line('heartbeat_port')}: heartbeat_port ${at('heartbeat_port')} is not used: VRRP is IP protocol 112, multicast to 224.0.0.18 (let it through between the directors)`);
  return {
    interface: iface,
    'virtual-router-id': 51,
    'advert-int': keepalive,
    peers: [
      { name: 'primary', address: primary, priority: 150 },
      { name: 'backup', address: backup, priority: 100 },
    ],
  };
}

export function farmsFromLvsCf(cf: LvsCf): ImportResult {
  const notes: string[] = [];
  const kept = new Set(['network', 'ipvsadm', 'serial_no', 'service']);
  const vrrp = importPair(cf, notes);
  for (const entry of cf.globals) {
    if (kept.has(entry.key) || (vrrp && PAIR_KEYS.has(entry.key))) continue;
    notes.push(`line ${entry.line}: ${entry.key} (pulse/heartbeat setting) is not imported`);
  }
  const farms = [];
  for (const block of cf.blocks) {
    if (block.kind === 'failover') notes.push(`line ${block.line}: failover ${block.name} (a fos service, not LVS) is not imported`);
    else if (get(block.entries, 'active') === '0') notes.push(`line ${block.line}: virtual ${block.name} is inactive (active = 0) and is not imported`);
    else if (block.servers.length === 0) notes.push(`line ${block.line}: virtual ${block.name} has no server and is not imported`);
    else farms.push(importVirtual(block, cf.globals, notes));
  }
  return { config: vrrp ? { vrrp, farms } : { farms }, notes };
}

const entry = (key: string, ...values: (string | number)[]): Entry => ({ key, values: values.map(String), line: 0 });

/** check.options as long options: `{get: f, verbose: true}` -> `--get f --verbose`. */
export function pluginArgs(farm: FarmConfig): string[] {
  const args: string[] = [];
  for (const [name, raw] of Object.entries(farm.check.options)) {
    for (const item of Array.isArray(raw) ? raw : [raw]) {
      if (item === false) continue;
      args.push(`--${name}`);
      if (item !== true) args.push(String(item));
    }
  }
  return args;
}

export const PLUGIN = { ftp: 'check_ftp', tftp: 'check_tftp', ssh: 'check_ssh', tcp: 'check_tcp' } as const;

/** The send_program and expect of a farm's check; undefined for a plain TCP probe (nanny's own connect check). */
function sendProgram(farm: FarmConfig, paths: RenderPaths): { program: string; expect: string } | undefined {
  const check = farm.check;
  if (check.probe === 'command') {
    const program = Array.isArray(check.command) ? check.command.join(' ') : (check.command ?? '');
    return { program, expect: check.expect ?? 'OK' };
  }
  if (check.probe === 'tcp') {
    if (Object.keys(check.options).length > 0) throw new Error(`farm ${farm.name}: nanny's own TCP check takes no options; drop check.options or use a command check`);
    return undefined;
  }
  const seconds = Math.max(1, Math.floor(check.timeout / 1000));
  const program = [`${paths.plugins}/${PLUGIN[check.probe]}`, '--nanny', '-H', '%h', '-p', '%p', '-t', String(seconds), ...pluginArgs(farm)].join(' ');
  return { program, expect: 'OK' };
}

/** What nanny's convert_str() turns back into `text`: backslash, CR, LF and tab as escapes (one line in lvs.cf). */
function nannyEscaped(text: string): string {
  const escapes: Record<string, string> = { '\\': '\\\\', '\r': '\\r', '\n': '\\n', '\t': '\\t' };
  return text.replace(/[\\\r\n\t]/g, (ch) => escapes[ch] ?? ch);
}

function renderVirtual(farm: FarmConfig, paths: RenderPaths): VirtualBlock {
  const fail = (message: string): never => {
    throw new Error(`farm ${farm.name}: ${message}`);
  };
  if (!(SCHEDULERS as readonly string[]).includes(farm.scheduler)) fail(`pulse knows the schedulers ${SCHEDULERS.join(', ')}, not "${farm.scheduler}"`);
  const first = farm.backends[0];
  const port = farm.virtual.ports?.[0]?.from ?? (first ? backendPort(farm, first) : 0);
  const check = sendProgram(farm, paths);
  if (check && Buffer.byteLength(check.program) > 254) fail(`the send_program is ${Buffer.byteLength(check.program)} bytes; nanny keeps 255 at most`);
  if (check && (/["\t]/.test(check.program) || /["]/.test(check.expect))) fail('nanny cannot take a double quote in send_program or expect, nor a tab in send_program');
  const seconds = Math.max(1, Math.ceil(farm.check.interval / 1000));
  const entries: Entry[] = [
    entry('active', 1),
    entry('address', farm.virtual.address, paths.device),
    ...(farm.virtual.fwmark !== undefined ? [entry('fwmark', farm.virtual.fwmark)] : []),
    entry('protocol', protocolOf(farm.service)),
    entry('port', port),
    entry('scheduler', farm.scheduler),
    ...(farm.persistence ? [entry('persistent', farm.persistence.timeout)] : []),
    ...(farm.persistence && farm.persistence.netmask !== '255.255.255.255' ? [entry('pmask', farm.persistence.netmask)] : []),
    ...(farm.sorry ? [entry('sorry_server', farm.sorry.address)] : []),
    ...(check ? [entry('send_program', `"${check.program}"`), entry('expect', `"${nannyEscaped(check.expect)}"`), entry('use_regex', 0)] : []),
    entry('load_monitor', 'none'),
    entry('timeout', seconds),
    entry('reentry', Math.ceil(farm.check.reentry / 1000)),
    entry('quiesce_server', farm.check['on-failure'] === 'quiesce' ? 1 : 0),
  ];
  const servers: ServerBlock[] = farm.backends.map((b) => ({
    name: b.name,
    line: 0,
    entries: [
      entry('address', b.address),
      entry('active', b.maintenance ? 0 : 1),
      entry('weight', b.weight),
      ...(backendPort(farm, b) !== port ? [entry('port', backendPort(farm, b))] : []),
    ],
  }));
  return { kind: 'virtual', name: farm.name, entries, servers, line: 0 };
}

/** The farms of a farms file as lvs.cf. All farms share one `network` (pulse has one per file). */
export function lvsCfFromConfig(config: Config, paths: RenderPaths = DEFAULT_PATHS): LvsCf {
  const methods = new Set(config.farms.map((f) => (f.dataplane.type === 'ipvsadm' ? f.dataplane.method : 'nat')));
  if (methods.size > 1) throw new Error(`lvs.cf has one forwarding method for all virtuals; the farms use ${[...methods].join(' and ')}`);
  const method = ([...methods][0] ?? 'nat') as keyof typeof NETWORK;
  const ipvsadm = config.farms.map((f) => (f.dataplane.type === 'ipvsadm' ? f.dataplane.ipvsadm : undefined)).find((p) => p && p !== '/sbin/ipvsadm');
  return {
    globals: [entry('serial_no', 1), entry('service', 'lvs'), entry('network', NETWORK[method]), ...(ipvsadm ? [entry('ipvsadm', ipvsadm)] : [])],
    blocks: config.farms.map((f) => renderVirtual(f, paths)),
  };
}
