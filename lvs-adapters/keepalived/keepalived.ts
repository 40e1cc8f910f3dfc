// keepalived.conf ⇄ lbguard farms: `virtual_server` blocks (IP PORT or fwmark) whose real servers
// run our plugins as MISC_CHECK, plus the vrrp_instance of the farms file's `vrrp:` (the director
// pair); and the reverse, reading those blocks back into farms. keepalived substitutes nothing in misc_path, so each real server's
// address and port are written into it (keepalived.conf(5) MISC_CHECK,
// keepalived/check/check_misc.c; docs/keepalived.md).
import { readFileSync } from 'node:fs';
import { type Config, type FarmConfig, protocolOf, type VrrpConfig, type VrrpPeer } from '../../orchestrator/config/schema.ts';
import { splitCommandLine, substituteTarget } from '../../orchestrator/checks/command-line.ts';
import { backendPort } from '../../orchestrator/checks/backend-check.ts';
import { PLUGIN, pluginArgs } from '../lvs-cf/farms.ts';

export interface KeepalivedOptions {
  readonly plugins: string;
  /** where vrrp.auth-password-env is looked up (default process.env) */
  readonly env?: NodeJS.ProcessEnv;
  /** with vrrp.peers: the director this file is rendered for (its priority) */
  readonly node?: VrrpPeer;
}

export const DEFAULT_OPTIONS: KeepalivedOptions = {
  plugins: '/usr/local/bin',
};

/**
 * The PASS password of vrrp: from its file (one line) or its variable. Errors name where it was
 * looked for, never the value. keepalived reads at most 8 characters of a PASS password, as one word.
 */
export function vrrpPassword(vrrp: VrrpConfig, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let password: string | undefined;
  let source: string;
  if (vrrp['auth-password-file']) {
    source = `vrrp.auth-password-file ${vrrp['auth-password-file']}`;
    try {
      password = readFileSync(vrrp['auth-password-file'], 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new Error(`${source}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  } else if (vrrp['auth-password-env']) {
    source = `vrrp.auth-password-env ${vrrp['auth-password-env']}`;
    password = env[vrrp['auth-password-env']];
    if (password === undefined) throw new Error(`${source}: the variable is not set`);
  } else return undefined;
  if (password.length < 1 || password.length > 8) throw new Error(`${source}: keepalived's PASS authentication takes 1 to 8 characters, the password has ${password.length}`);
  if (/[\s"'#!{}]/.test(password)) throw new Error(`${source}: the password must be one word without quotes, "#", "!" or braces (keepalived.conf syntax)`);
  return password;
}

/** The farms file's vrrp: as keepalived's vrrp_instance (the password read now, see vrrpPassword). */
function vrrpInstance(config: Config, vrrp: VrrpConfig, options: Pick<KeepalivedOptions, 'env' | 'node'>): string[] {
  const addresses = vrrp['virtual-ipaddress'] ?? [...new Set(config.farms.map((f) => f.virtual.address))];
  const password = vrrpPassword(vrrp, options.env);
  const { node } = options;
  if (vrrp.peers && !node) throw new Error('vrrp.peers: say which director this is for (--node NAME)');
  return [
    node
      ? `# director ${node.name} of the pair ${vrrp.peers?.map((p) => `${p.name} (${p.address}, priority ${p.priority})`).join(', ')}`
      : '# the director pair: the other director has the same virtual_router_id, its own priority and state',
    'vrrp_instance lbguard {',
    `    state ${vrrp.state}`,
    `    interface ${vrrp.interface}`,
    `    virtual_router_id ${vrrp['virtual-router-id']}`,
    `    priority ${node?.priority ?? vrrp.priority ?? 100}`,
    ...(vrrp.version === 3 ? ['    version 3'] : []),
    `    advert_int ${vrrp['advert-int']}`,
    ...(password === undefined ? [] : ['    authentication {', '        auth_type PASS', `        auth_pass ${password}`, '    }']),
    '    virtual_ipaddress {',
    ...addresses.map((v) => `        ${v}`),
    '    }',
    '}',
    '',
  ];
}

/**
 * What `lbguard run` gives keepalived: VRRP only (lbguard checks the backends and drives the data
 * plane itself), every state change written to notifyFifo as `INSTANCE "lbguard" MASTER 150`.
 */
export function renderVrrpOnly(config: Config, notifyFifo: string, options: Pick<KeepalivedOptions, 'env' | 'node'> = {}): string {
  if (!config.vrrp) throw new Error('the farms file has no vrrp: section');
  if (/[\s"'#!{}]/.test(notifyFifo)) throw new Error(`the notify FIFO path ${notifyFifo} must be one word`);
  return [
    '# written by lbguard run: keepalived moves the virtual addresses, lbguard reads its state from the FIFO',
    'global_defs {',
    `    vrrp_notify_fifo ${notifyFifo}`,
    '    fifo_write_vrrp_states_on_reload',
    '}',
    '',
    ...vrrpInstance(config, config.vrrp, options),
  ].join('\n');
}

const METHOD = { nat: 'NAT', dr: 'DR', tun: 'TUN' } as const;

/** A word as keepalived's misc_path splitter reads it back: single quotes around blanks and quotes. */
function word(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/** The argv of one real server's check, its address and port written in. */
export function checkArgv(farm: FarmConfig, address: string, port: number, options: KeepalivedOptions): string[] {
  const check = farm.check;
  if (check.probe === 'command') {
    const line = Array.isArray(check.command) ? check.command.map(word).join(' ') : (check.command ?? '');
    let argv = splitCommandLine(check.style === 'nanny' ? 'nanny' : 'keepalived', line);
    if (check.style === 'nanny') {
      // nanny judges stdout, keepalived the exit code: --nanny (always exit 0) must go (and the old
      // nanny-check wrapper, from lvs.cf files written before the plugins had --nanny), and any
      // other send_program has no exit code keepalived could read
      if (argv[0]?.endsWith('/nanny-check') && argv.length > 1) argv = argv.slice(1);
      else if (argv.includes('--nanny')) argv = argv.filter((a) => a !== '--nanny');
      else throw new Error(`farm ${farm.name}: a nanny send_program is judged by its output, which MISC_CHECK does not read; give the farm a probe, or a keepalived-style command`);
    }
    return substituteTarget('keepalived', argv, { address, port });
  }
  // misc_dynamic reads exit 2 as "up, weight 0", so a Nagios CRITICAL would keep the server: our
  // plugins answer it with --misc-dynamic (OK: the configured weight, WARNING: weight 1, else 1 =
  // down); the C check_tcp has no such mode
  if (check.dynamic && check.probe === 'tcp') throw new Error(`farm ${farm.name}: dynamic (misc_dynamic) needs a probe whose plugin has --misc-dynamic (ftp, tftp, ssh); the C check_tcp's CRITICAL (exit 2) would read as "up, weight 0"`);
  const plugin = check.probe === 'tcp' ? ['/usr/lib/nagios/plugins/check_tcp'] : [`${options.plugins}/${PLUGIN[check.probe]}`, ...(check.dynamic ? ['--misc-dynamic'] : [])];
  return [...plugin, '-H', address, '-p', String(port), '-t', String(Math.max(1, Math.floor(check.timeout / 1000))), ...pluginArgs(farm)];
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

function virtualServer(farm: FarmConfig, port: number | undefined, options: KeepalivedOptions): string[] {
  const method = farm.dataplane.type === 'ipvsadm' ? farm.dataplane.method : 'nat';
  const head = port === undefined ? `virtual_server fwmark ${farm.virtual.fwmark}` : `virtual_server ${farm.virtual.address} ${port}`;
  const out = [`# farm ${farm.name} ${farm.virtual.address}`, `${head} {`, `    delay_loop ${seconds(farm.check.interval)}`, `    lvs_sched ${farm.scheduler}`, `    lvs_method ${METHOD[method]}`];
  if (port !== undefined) out.push(`    protocol ${protocolOf(farm.service).toUpperCase()}`);
  if (farm.persistence) {
    out.push(`    persistence_timeout ${farm.persistence.timeout}`);
    if (farm.persistence.netmask !== '255.255.255.255') out.push(`    persistence_granularity ${farm.persistence.netmask}`);
  }
  out.push('    quorum 1');
  if (farm.sorry) out.push(`    sorry_server ${farm.sorry.address} ${farm.sorry.port ?? backendPort(farm, farm.backends[0]!)}`);
  if (farm.check['on-failure'] === 'quiesce') out.push('    inhibit_on_failure');
  if (farm.check.fall > 1) out.push(`    retry ${farm.check.fall - 1}`, `    delay_before_retry ${seconds(farm.check.interval)}`);
  for (const backend of farm.backends) {
    const rport = backendPort(farm, backend);
    const argv = checkArgv(farm, backend.address, port === undefined || port === farm.virtual.ports?.[0]?.from ? rport : port, options);
    out.push(
      '',
      `    real_server ${backend.address}${port === undefined ? '' : ` ${port === farm.virtual.ports?.[0]?.from ? rport : port}`} {`,
      `        weight ${backend.maintenance ? 0 : backend.weight}`,
      ...(backend['max-conns'] ? [`        uthreshold ${backend['max-conns']}`] : []),
      '        MISC_CHECK {',
      `            misc_path "${argv.map(word).join(' ')}"`,
      `            misc_timeout ${seconds(farm.check.timeout) + 1}`,
      ...(farm.check.dynamic ? ['            misc_dynamic'] : []),
      '        }',
      '    }',
    );
  }
  out.push('}', '');
  return out;
}

export function renderKeepalived(config: Config, options: KeepalivedOptions = DEFAULT_OPTIONS): string {
  const out = ['global_defs {', '    script_user root', '    enable_script_security', '}', ''];
  for (const farm of config.farms) {
    if (farm.virtual.fwmark !== undefined) {
      out.push(...virtualServer(farm, undefined, options));
      continue;
    }
    for (const range of farm.virtual.ports ?? []) {
      if (range.from !== range.to) throw new Error(`farm ${farm.name}: keepalived cannot balance the port range ${range.from}-${range.to}; give virtual.fwmark`);
      out.push(...virtualServer(farm, range.from, options));
    }
  }
  if (config.vrrp) out.push(...vrrpInstance(config, config.vrrp, options));
  return out.join('\n');
}

// ---- reading keepalived.conf back ------------------------------------------------------------

interface Node {
  readonly words: string[];
  readonly children: Node[];
  readonly line: number;
}

export class KeepalivedParseError extends Error {
  override name = 'KeepalivedParseError';
}

/** keepalived's layout: one statement per line, `{` opens a block, `}` closes, `#` and `!` comment. */
export function parseKeepalived(text: string): Node[] {
  const root: Node = { words: [], children: [], line: 0 };
  const stack: Node[] = [root];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const words: string[] = [];
    const re = /"([^"]*)"|'([^']*)'|([{}])|([^\s{}"'#!]+)|([#!].*)/g;
    for (let m = re.exec(raw); m; m = re.exec(raw)) {
      if (m[5] !== undefined) break;
      if (m[3] === '{') {
        const node: Node = { words: [...words], children: [], line };
        stack.at(-1)?.children.push(node);
        stack.push(node);
        words.length = 0;
      } else if (m[3] === '}') {
        if (words.length) stack.at(-1)?.children.push({ words: [...words], children: [], line });
        words.length = 0;
        if (stack.length === 1) throw new KeepalivedParseError(`line ${line}: "}" closes no block`);
        stack.pop();
      } else words.push(m[1] ?? m[2] ?? m[4] ?? '');
    }
    if (words.length) stack.at(-1)?.children.push({ words, children: [], line });
  });
  if (stack.length > 1) throw new KeepalivedParseError(`line ${stack.at(-1)?.line}: the block opened here is never closed`);
  return root.children;
}

const first = (node: Node, key: string) => node.children.find((c) => c.words[0] === key);
const arg = (node: Node, key: string, index = 1) => first(node, key)?.words[index];

const FROM_METHOD: Record<string, string> = { NAT: 'nat', DR: 'dr', TUN: 'tun' };
const SERVICE_BY_PORT: Record<number, string> = { 21: 'ftp', 69: 'tftp', 22: 'sftp' };

/** misc_path with this server's address and port turned back into %h / %p, so one line serves all. */
function generalize(path: string, address: string, port: string): string {
  return splitCommandLine('keepalived', path)
    .map((w, i) => (i > 0 && w === address ? '%h' : i > 0 && w === port ? '%p' : word(w)))
    .join(' ');
}

/** A vrrp_instance as the farms file's vrrp: (the password stays out: it would be printed). */
function vrrpFromKeepalived(node: Node, notes: string[]): Record<string, unknown> {
  const block = first(node, 'virtual_ipaddress');
  const addresses = block?.children.map((c) => c.words.join(' ')) ?? [];
  if (first(node, 'authentication')) notes.push(`line ${node.line}: vrrp_instance ${node.words[1] ?? ''}: the auth_pass is not imported; put it in a file readable by root only and set vrrp.auth-password-file`);
  // virtual_router_id -> virtual-router-id, advert_int -> advert-int
  const number = (key: string) => (arg(node, key) === undefined ? {} : { [key.replace(/_/g, '-')]: Number(arg(node, key)) });
  return {
    ...(arg(node, 'interface') ? { interface: arg(node, 'interface') } : {}),
    ...number('virtual_router_id'),
    ...number('priority'),
    ...(arg(node, 'state') ? { state: arg(node, 'state')?.toUpperCase() } : {}),
    ...number('advert_int'),
    ...number('version'),
    ...(addresses.length ? { 'virtual-ipaddress': addresses } : {}),
  };
}

export function farmsFromKeepalived(text: string): { config: { vrrp?: Record<string, unknown>; farms: unknown[] }; notes: string[] } {
  const notes: string[] = [];
  const farms: unknown[] = [];
  let vrrp: Record<string, unknown> | undefined;
  let pendingName: string | undefined;
  const names = new Set<string>();
  const lines = text.split('\n');
  for (const node of parseKeepalived(text)) {
    if (node.words[0] === 'vrrp_instance') {
      if (vrrp) notes.push(`line ${node.line}: a further vrrp_instance ${node.words[1] ?? ''} is not imported (the farms file holds one director pair)`);
      else vrrp = vrrpFromKeepalived(node, notes);
      continue;
    }
    if (node.words[0] !== 'virtual_server') {
      if (node.words[0] !== 'global_defs') notes.push(`line ${node.line}: ${node.words[0]} is not imported`);
      continue;
    }
    if (node.words[1] === 'group') {
      notes.push(`line ${node.line}: virtual_server group ${node.words[2] ?? ''} is not imported (write one farm per address, or a fwmark)`);
      continue;
    }
    // `# farm NAME VIP` above a block written by renderKeepalived names the farm (and a fwmark's VIP)
    const label = /^# farm (\S+) (\S+)/.exec(lines[node.line - 2] ?? '');
    pendingName = label?.[1];
    const fwmark = node.words[1] === 'fwmark' ? Number(node.words[2]) : undefined;
    const address = fwmark === undefined ? node.words[1] : undefined;
    const vport = fwmark === undefined ? Number(node.words[2]) : undefined;
    const protocol = (arg(node, 'protocol') ?? 'TCP').toLowerCase();
    const reals = node.children.filter((c) => c.words[0] === 'real_server');
    const misc = reals.map((r) => first(r, 'MISC_CHECK'));
    const path = misc[0] && arg(misc[0], 'misc_path');
    const firstReal = reals[0];
    // a fwmark real server has no port in keepalived.conf: the check's -p tells it
    const portInPath = (i: number) => /(?:^| )-p (\d+)(?: |$)/.exec((misc[i] && arg(misc[i]!, 'misc_path')) ?? '')?.[1];
    const rport = firstReal?.words[2] ?? portInPath(0) ?? String(vport ?? '');
    const service = SERVICE_BY_PORT[vport ?? Number(rport)] ?? protocol;
    const name = pendingName ?? `vs-${fwmark !== undefined ? `fwmark-${fwmark}` : `${address}-${vport}`}`;
    if (names.has(name)) {
      notes.push(`line ${node.line}: a further virtual_server of farm ${name} (one farm per port list) is folded into it`);
      const farm = farms.find((f) => (f as { name: string }).name === name) as { virtual: { ports?: number[] } } | undefined;
      if (vport !== undefined) farm?.virtual.ports?.push(vport);
      continue;
    }
    names.add(name);
    const delay = Number(arg(node, 'delay_loop') ?? 60);
    const miscTimeout = misc[0] && arg(misc[0], 'misc_timeout');
    const timeoutMs = Math.min(Math.max(50, (Number(miscTimeout ?? delay) - 1) * 1000), delay * 1000 - 1);
    if (!path) {
      const checkers = [...new Set(reals.flatMap((r) => r.children.filter((c) => /_CHECK$|^HTTP_GET$|^SSL_GET$/.test(c.words[0] ?? '')).map((c) => c.words[0])))];
      notes.push(`line ${node.line}: virtual_server without MISC_CHECK${checkers.length ? ` (${checkers.join(', ')})` : ''}: imported with lbguard's TCP check`);
    }
    farms.push({
      name,
      service,
      virtual: fwmark !== undefined ? { address: label?.[2] ?? '0.0.0.0', fwmark } : { address, ports: [vport] },
      scheduler: arg(node, 'lvs_sched') ?? arg(node, 'lb_algo') ?? 'wlc',
      ...(first(node, 'persistence_timeout') ? { persistence: { timeout: Number(arg(node, 'persistence_timeout') ?? 360), ...(arg(node, 'persistence_granularity') ? { netmask: arg(node, 'persistence_granularity') } : {}) } } : {}),
      dataplane: { type: 'ipvsadm', method: FROM_METHOD[(arg(node, 'lvs_method') ?? arg(node, 'lb_kind') ?? 'NAT').toUpperCase()] ?? 'nat' },
      check: {
        ...(path && firstReal
          ? { probe: 'command', style: 'keepalived', command: generalize(path, firstReal.words[1] ?? '', rport), dynamic: misc[0] ? first(misc[0], 'misc_dynamic') !== undefined : false }
          : { probe: 'tcp' }),
        interval: `${delay}s`,
        timeout: `${timeoutMs}ms`,
        fall: Number(arg(node, 'retry') ?? 0) + 1,
        'on-failure': first(node, 'inhibit_on_failure') ? 'quiesce' : 'remove',
      },
      ...(arg(node, 'sorry_server') ? { sorry: { address: arg(node, 'sorry_server'), ...(arg(node, 'sorry_server', 2) ? { port: Number(arg(node, 'sorry_server', 2)) } : {}) } } : {}),
      backends: reals.map((r, i) => ({
        name: `rs${i + 1}-${(r.words[1] ?? '').replace(/[^A-Za-z0-9]/g, '-')}`,
        address: r.words[1],
        ...(r.words[2] !== undefined && (fwmark !== undefined || Number(r.words[2]) !== vport) ? { port: Number(r.words[2]) } : {}),
        ...(fwmark !== undefined && r.words[2] === undefined && portInPath(i) ? { port: Number(portInPath(i)) } : {}),
        weight: Number(arg(r, 'weight') ?? 1),
        ...(Number(arg(r, 'uthreshold') ?? 0) > 0 ? { 'max-conns': Number(arg(r, 'uthreshold')) } : {}),
      })),
    });
  }
  if (farms.some((f) => (f as { virtual: { address: string } }).virtual.address === '0.0.0.0')) {
    notes.push('a fwmark virtual_server has no address in keepalived.conf: its farm gets 0.0.0.0; set virtual.address to the VIP the marks are set for');
  }
  return { config: vrrp ? { vrrp, farms } : { farms }, notes };
}
