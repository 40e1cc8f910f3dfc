// Piranha's lvs.cf, read the way pulse/lvsd read it (piranha 0.8.6 lvsconfig.c: getNextToks, parseConfiguration,
// parseVirtualServer; lvs.cf(5)) and
// written back so that they read it again: one `key = value` per line with blanks around `=`,
// `virtual NAME {` / `failover NAME {` / `server NAME {` blocks, `}` alone on a line, comments as
// whole lines. What pulse would refuse is refused here too, with the line number.

export interface Entry {
  readonly key: string;
  /** value tokens as written; a quoted token keeps its quote characters, as lvsconfig.c stores it */
  readonly values: readonly string[];
  readonly line: number;
}

export interface ServerBlock {
  readonly name: string;
  readonly entries: readonly Entry[];
  readonly line: number;
}

export interface VirtualBlock {
  readonly kind: 'virtual' | 'failover';
  readonly name: string;
  readonly entries: readonly Entry[];
  readonly servers: readonly ServerBlock[];
  readonly line: number;
}

export interface LvsCf {
  readonly globals: readonly Entry[];
  readonly blocks: readonly VirtualBlock[];
}

export class LvsCfError extends Error {
  override name = 'LvsCfError';
  constructor(readonly line: number, message: string) {
    super(`lvs.cf line ${line}: ${message}`);
  }
}

export const SCHEDULERS = ['lc', 'rr', 'wlc', 'wrr', 'lblc', 'lblcr', 'dh', 'sh'] as const;

type Kind = 'int' | 'bool' | 'port' | 'host' | 'text' | 'pair' | 'any' | readonly string[];

const GLOBAL_KEYS: Record<string, Kind> = {
  serial_no: 'int', service: ['lvs', 'fos'], primary: 'host', primary_private: 'host', primary_shared: 'text',
  backup: 'host', backup_active: 'bool', backup_private: 'host', backup_shared: 'text', heartbeat: 'bool',
  heartbeat_port: 'port', keepalive: 'int', deadtime: 'int', reservation_conflict_action: ['nothing', 'preempt'],
  network: ['direct', 'nat', 'tunnel'], nat_router: 'pair', nat_nmask: 'text', active_cmd: 'text', inactive_cmd: 'text',
  monitor_links: 'int', debug_level: 'text', hard_shutdown: 'bool', ipvsadm: 'text', rsh_command: ['rsh', 'ssh'],
  syncdaemon: 'bool', syncd_iface: 'text', syncd_id: 'int', tcp_timeout: 'int', tcpfin_timeout: 'int', udp_timeout: 'int',
  sync: 'bool',
};

const VIRTUAL_KEYS: Record<string, Kind> = {
  active: 'bool', address: 'pair', sorry_server: 'host', vip_nmask: 'text', fwmark: 'int', protocol: ['tcp', 'udp'],
  port: 'port', scheduler: SCHEDULERS, persistent: 'int', pmask: 'text', client_monitor: 'text', send_program: 'text',
  send: 'text', expect: 'text', use_regex: 'bool', timeout: 'int', reentry: 'int', load_monitor: 'text',
  quiesce_server: 'bool', start_cmd: 'text', stop_cmd: 'text', master: 'text', dirs: 'any',
};

const SERVER_KEYS: Record<string, Kind> = { address: 'host', active: 'bool', weight: 'int', port: 'port' };

/** Splits a line on blanks; a token opening with " or ' runs to the same quote (no escapes). */
function tokenize(text: string, line: number): string[] {
  const tokens: string[] = [];
  let at = 0;
  while (at < text.length) {
    while (at < text.length && (text[at] === ' ' || text[at] === '\t')) at++;
    if (at >= text.length) break;
    const quote = text[at];
    if (quote === '"' || quote === "'") {
      const end = text.indexOf(quote, at + 1);
      if (end < 0) throw new LvsCfError(line, `the value opened with ${quote} is not closed on the same line`);
      tokens.push(text.slice(at, end + 1));
      at = end + 1;
    } else {
      let end = at;
      while (end < text.length && text[end] !== ' ' && text[end] !== '\t') end++;
      tokens.push(text.slice(at, end));
      at = end;
    }
  }
  return tokens;
}

/** strtol(tok, &end, 0) consuming the whole token: decimal, 0x hex or 0 octal. */
function isInteger(token: string): boolean {
  return /^[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.test(token);
}

export function integerValue(token: string): number {
  const sign = token.startsWith('-') ? -1 : 1;
  const bare = token.replace(/^[+-]/, '');
  if (/^0[xX]/.test(bare)) return sign * parseInt(bare.slice(2), 16);
  if (/^0[0-7]+$/.test(bare)) return sign * parseInt(bare, 8);
  return sign * Number(bare);
}

function checkValue(key: string, kind: Kind, values: string[], line: number): void {
  const want = kind === 'pair' ? 2 : kind === 'any' ? values.length : 1;
  if (values.length < want) throw new LvsCfError(line, `${key} needs ${want === 2 ? 'two values (address and device, e.g. "192.0.2.1 eth0:1")' : 'a value'}`);
  if (values.length > want) throw new LvsCfError(line, `${key} takes ${want === 2 ? 'two values' : 'one value'}; quote a value that has blanks in it`);
  const value = values[0] ?? '';
  if (Array.isArray(kind)) {
    if (!kind.includes(value)) throw new LvsCfError(line, `${key} must be one of ${kind.join(', ')}, got "${value}"`);
  } else if (kind === 'int' && !isInteger(value)) {
    throw new LvsCfError(line, `${key} must be a number, got "${value}"`);
  } else if (kind === 'bool' && value !== '0' && value !== '1') {
    throw new LvsCfError(line, `${key} must be 0 or 1, got "${value}"`);
  } else if (kind === 'port' && !isInteger(value) && !/^[A-Za-z][A-Za-z0-9-]*$/.test(value)) {
    throw new LvsCfError(line, `${key} must be a port number or service name, got "${value}"`);
  }
}

interface OpenVirtual { kind: 'virtual' | 'failover'; name: string; entries: Entry[]; servers: ServerBlock[]; line: number }
interface OpenServer { name: string; entries: Entry[]; line: number }

export function parseLvsCf(text: string): LvsCf {
  const globals: Entry[] = [];
  const blocks: VirtualBlock[] = [];
  let virtual: OpenVirtual | undefined;
  let server: OpenServer | undefined;
  text.split(/\r?\n|\r/).forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const tokens = tokenize(raw, line);
    const [first = '', second, third] = tokens;
    if (first === '}') {
      if (tokens.length > 1) throw new LvsCfError(line, '"}" must be alone on its line');
      if (server && virtual) {
        virtual.servers.push(server);
        server = undefined;
      } else if (virtual) {
        blocks.push(virtual);
        virtual = undefined;
      } else throw new LvsCfError(line, '"}" closes no block');
      return;
    }
    if (first === 'virtual' || first === 'failover' || first === 'server') {
      if (tokens.length !== 3 || third !== '{') throw new LvsCfError(line, `expected "${first} NAME {" (three words, blanks around the name)`);
      if (first === 'server') {
        if (!virtual || server) throw new LvsCfError(line, 'a server block belongs directly inside a virtual or failover block');
        server = { name: second ?? '', entries: [], line };
      } else {
        if (virtual) throw new LvsCfError(line, `${first} blocks cannot be nested; is a "}" missing?`);
        virtual = { kind: first, name: second ?? '', entries: [], servers: [], line };
      }
      return;
    }
    if (first.includes('=') || second !== '=') throw new LvsCfError(line, `expected "${first.split('=')[0]} = value": lvs.cf needs blanks around "="`);
    const keys = server ? SERVER_KEYS : virtual ? VIRTUAL_KEYS : GLOBAL_KEYS;
    const kind = keys[first];
    const where = server ? 'a server block' : virtual ? `a ${virtual.kind} block` : 'the global section';
    if (!kind) throw new LvsCfError(line, `unknown key "${first}" in ${where}`);
    const values = tokens.slice(2);
    checkValue(first, kind, values, line);
    (server ?? virtual ?? { entries: globals }).entries.push({ key: first, values, line });
  });
  if (server || virtual) throw new LvsCfError((server ?? virtual)?.line ?? 0, `the ${server ? 'server' : virtual?.kind} block opened here is never closed`);
  return { globals, blocks };
}

/** A value as lvsd uses it: strip_quotes() drops one leading and one trailing double quote. */
export function value(entry: Entry | undefined): string | undefined {
  if (!entry) return undefined;
  return entry.values.map((v) => v.replace(/^"/, '').replace(/"$/, '')).join(' ');
}

export function get(entries: readonly Entry[], key: string): string | undefined {
  return value(entries.findLast((e) => e.key === key));
}

/** A token as lvs.cf must have it: blanks or quotes inside mean double quotes around it. */
export function token(text: string): string {
  if (/^".*"$/.test(text)) return text;
  if (/^'.*'$/.test(text)) return `"${text.slice(1, -1)}"`; // single quotes would reach nanny verbatim
  return /[\s"']/.test(text) || text === '' ? `"${text}"` : text;
}

function entryLine(entry: Pick<Entry, 'key' | 'values'>, indent: string): string {
  return `${indent}${entry.key} = ${entry.values.map(token).join(' ')}`;
}

/** Writes the file; every value of a virtual, `port` included, comes before its server blocks. */
export function renderLvsCf(cf: LvsCf): string {
  const out: string[] = cf.globals.map((e) => entryLine(e, ''));
  for (const block of cf.blocks) {
    out.push(`${block.kind} ${block.name} {`);
    out.push(...block.entries.map((e) => entryLine(e, '\t')));
    for (const server of block.servers) {
      out.push(`\tserver ${server.name} {`, ...server.entries.map((e) => entryLine(e, '\t\t')), '\t}');
    }
    out.push('}');
  }
  return `${out.join('\n')}\n`;
}
