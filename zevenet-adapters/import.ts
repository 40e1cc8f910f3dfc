// `lbguard import zevenet URL` and `lbguard import nftlb URL`: the L4xNAT farms an appliance (through its
// API v4.0) or an nftlb daemon holds, printed as a farms file, so that a Zevenet user starts from what
// they have. The key comes from --key-file or the environment (never the command line); the printed
// file names the key file, never the key. Farms lbguard cannot check (plain UDP, HTTP profiles) are
// left out with a note on stderr.
import { stringify } from 'yaml';
import { portFromList } from '../plugins/runtime/port-list.ts';
import { readTextFile } from '../plugins/runtime/read-file.ts';
import { readApiKey } from './key.ts';
import { KEY_ENV as NFTLB_KEY_ENV } from './nftlb/adapter.ts';
import { NftlbClient, type NftlbFarm } from './nftlb/client.ts';
import { ZEVENET_KEY_ENV } from './zevenet/adapter.ts';
import { ZevenetClient, type ZevenetL4Farm } from './zevenet/client.ts';

export interface ImportOptions {
  readonly url: string;
  readonly keyFile?: string;
  readonly caFile?: string;
  readonly ca?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Imported {
  readonly text: string;
  readonly notes: string[];
}

type Service = 'ftp' | 'tftp' | 'sftp' | 'tcp';
type FarmEntry = Record<string, unknown>;

const PROBE: Record<Service, string> = { ftp: 'ftp', tftp: 'tftp', sftp: 'ssh', tcp: 'tcp' };

/** Zevenet's algorithms in lbguard's scheduler names (prio has none: weighted it is). */
const ZEVENET_SCHEDULERS: Readonly<Record<string, string>> = { weight: 'wrr', roundrobin: 'rr', hash_srcip: 'sh', hash_srcip_srcport: 'sh', symhash: 'mh', leastconn: 'lc' };
/** nftlb's schedulers (with sched-param) in lbguard's names. */
const NFTLB_SCHEDULERS: Readonly<Record<string, string>> = { rr: 'rr', weight: 'wrr', 'hash/srcip': 'sh', 'hash/dstip': 'dh', symhash: 'mh' };

/** "20,21", "1024:65535" (Zevenet), "1000-2000" (nftlb), "*": lbguard's port list. */
export function portsOf(text: string): (number | string)[] {
  if (text.trim() === '*' || text.trim() === '') return ['1-65535'];
  return text.split(',').map((part) => {
    const [from, to] = part.trim().split(/[:-]/);
    return to === undefined || to === from ? Number(from) : `${from}-${to}`;
  });
}

const SERVICE_PORT: Record<Service, number> = { ftp: 21, tftp: 69, sftp: 22, tcp: 0 };

/** A backend without a port is checked on the service's port in the farm's list, else its first (as our plugins pick it). */
function checkPort(vport: string, service: Service): number | undefined {
  try {
    return portFromList(vport.trim() || '*', SERVICE_PORT[service]);
  } catch {
    return undefined;
  }
}

function serviceOf(protocol: string, helper: string, ports: readonly (number | string)[]): Service | undefined {
  if (protocol === 'ftp' || helper === 'ftp') return 'ftp';
  if (protocol === 'tftp' || helper === 'tftp') return 'tftp';
  if (protocol === 'udp') return undefined;
  return ports.length === 1 && ports[0] === 22 ? 'sftp' : 'tcp';
}

function farmEntry(name: string, service: Service, vip: string, ports: (number | string)[], scheduler: string, dataplane: Record<string, unknown>, backends: FarmEntry[]): FarmEntry {
  return { name, service, virtual: { address: vip, ports }, scheduler, dataplane, check: { probe: PROBE[service] }, backends };
}

function farmsText(source: string, farms: FarmEntry[], notes: string[]): Imported {
  const header = `# imported from ${source} by lbguard import: check each farm's check, then lbguard check -c FILE\n`;
  return { text: header + stringify({ farms }, { lineWidth: 0 }), notes };
}

/** The appliance's L4xNAT farms, each driven through the appliance (dataplane zevenet). */
export async function importZevenet(options: ImportOptions): Promise<Imported> {
  const client = new ZevenetClient({ url: options.url, ca: options.ca, key: () => readApiKey('Zevenet', options.keyFile, ZEVENET_KEY_ENV, options.env) });
  const notes: string[] = [];
  const farms: FarmEntry[] = [];
  for (const summary of await client.farms()) {
    if (summary.profile !== 'l4xnat') {
      notes.push(`farm ${summary.farmname}: left out (profile ${summary.profile}; lbguard drives L4xNAT farms)`);
      continue;
    }
    const farm: ZevenetL4Farm = await client.l4Farm(summary.farmname);
    const ports = portsOf(String(farm.params.vport ?? ''));
    const service = serviceOf(farm.params.protocol, '', ports);
    if (!service) {
      notes.push(`farm ${summary.farmname}: left out (protocol ${farm.params.protocol}: no lbguard check for plain UDP)`);
      continue;
    }
    const scheduler = ZEVENET_SCHEDULERS[farm.params.algorithm] ?? 'wrr';
    const dataplane = { type: 'zevenet', url: options.url, 'key-file': options.keyFile ?? '/etc/lbguard/zevenet.key', farm: summary.farmname, ...(options.caFile ? { 'ca-file': options.caFile } : {}) };
    const fallback = checkPort(String(farm.params.vport ?? ''), service);
    const backends = farm.backends.map((b) => ({
      name: `bck${b.id}`,
      address: b.ip,
      ...(b.port !== null && b.port !== '' && b.port !== undefined ? { port: Number(b.port) } : fallback ? { port: fallback } : {}),
      weight: b.weight ?? 1,
      ...(b.max_conns ? { 'max-conns': b.max_conns } : {}),
      ...(b.status === 'maintenance' ? { maintenance: true } : {}),
    }));
    if (backends.length === 0) {
      notes.push(`farm ${summary.farmname}: left out (no backends)`);
      continue;
    }
    const entry = farmEntry(summary.farmname, service, farm.params.vip, ports, scheduler, dataplane, backends);
    if (farm.params.persistence === 'ip' && farm.params.ttl > 0) entry.persistence = { timeout: farm.params.ttl };
    farms.push(entry);
  }
  return farmsText(`the Zevenet appliance at ${options.url}`, farms, notes);
}

/** nftlb's farms, driven through nftlb (dataplane nftlb). */
export async function importNftlb(options: ImportOptions): Promise<Imported> {
  const client = new NftlbClient({ url: options.url, key: () => readApiKey('nftlb', options.keyFile, NFTLB_KEY_ENV, options.env) });
  const notes: string[] = [];
  const farms: FarmEntry[] = [];
  for (const farm of await client.farms()) {
    const text = (key: string) => String((farm as NftlbFarm)[key] ?? '').trim();
    const ports = portsOf(text('virtual-ports'));
    const service = serviceOf(text('protocol'), text('helper'), ports);
    if (!service) {
      notes.push(`farm ${farm.name}: left out (protocol udp without helper tftp: no lbguard check for plain UDP)`);
      continue;
    }
    const scheduler = NFTLB_SCHEDULERS[text('scheduler') === 'hash' ? `hash/${text('sched-param')}` : text('scheduler')] ?? 'wrr';
    const mode = text('mode') === 'dnat' ? 'dnat' : 'snat';
    const dataplane = { type: 'nftlb', url: options.url, ...(options.keyFile ? { 'key-file': options.keyFile } : {}), mode };
    const fallback = checkPort(text('virtual-ports'), service);
    const backends = (farm.backends ?? []).map((b) => {
      const port = String(b.port ?? '').trim();
      const state = String(b.state ?? '').trim();
      return {
        name: b.name,
        address: String(b['ip-addr'] ?? '').trim(),
        ...(port ? { port: Number(port) } : fallback ? { port: fallback } : {}),
        weight: Number(b.weight ?? 1) || 1,
        ...(state === 'off' ? { maintenance: true } : {}),
      };
    });
    if (backends.length === 0) {
      notes.push(`farm ${farm.name}: left out (no backends)`);
      continue;
    }
    const entry = farmEntry(farm.name, service, text('virtual-addr'), ports, scheduler, dataplane, backends);
    if (text('persistence') === 'srcip') entry.persistence = { timeout: Number(text('persist-ttl')) || 60 };
    farms.push(entry);
  }
  return farmsText(`nftlb at ${options.url}`, farms, notes);
}

/** `lbguard import zevenet|nftlb URL`: reads the CA file (an appliance's self-signed certificate) too. */
export async function importFarms(source: 'zevenet' | 'nftlb', options: ImportOptions): Promise<Imported> {
  if (source === 'nftlb') return importNftlb(options);
  const ca = options.caFile ? readTextFile(options.caFile, 4 * 1024 * 1024) : undefined;
  return importZevenet({ ...options, ca });
}
