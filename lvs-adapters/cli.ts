// `lbguard import lvs.cf|keepalived.conf FILE` and `lbguard render lvs.cf|keepalived -c FARMS`: the LVS side of the CLI,
// dispatched to from orchestrator/cli.ts. Output on stdout, notes and errors on stderr.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadConfig } from '../orchestrator/config/load.ts';
import type { Config, VrrpConfig, VrrpPeer } from '../orchestrator/config/schema.ts';
import { selectNode } from '../orchestrator/vrrp/node.ts';
import { DEFAULT_OPTIONS, farmsFromKeepalived, renderKeepalived } from './keepalived/keepalived.ts';
import { farmsFromLvsCf, lvsCfFromConfig } from './lvs-cf/farms.ts';
import { parseLvsCf, renderLvsCf } from './lvs-cf/lvs-cf.ts';

export const LVS_USAGE = `  import lvs.cf|keepalived.conf FILE
                       print a Piranha lvs.cf or keepalived virtual_servers as a farms file (YAML)
  render lvs.cf|keepalived -c FILE
                       print the farms of FILE as a Piranha lvs.cf, or as keepalived virtual_servers
                       with our plugins as MISC_CHECK (and, with a vrrp: section, the vrrp_instance
                       of the director pair)
`;

/** The formats this module renders (`render X`); the CLI dispatches these here. */
export const LVS_FORMATS: readonly string[] = ['lvs.cf', 'keepalived'];

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function importLvs(format: string | undefined, file: string | undefined): CliResult {
  if ((format !== 'lvs.cf' && format !== 'keepalived.conf') || !file) return { code: 2, stdout: '', stderr: `lbguard: import needs lvs.cf FILE or keepalived.conf FILE\n` };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { code: 1, stdout: '', stderr: `lbguard: cannot read ${file}: ${(error as Error).message}\n` };
  }
  try {
    const { config, notes } = format === 'lvs.cf' ? farmsFromLvsCf(parseLvsCf(text)) : farmsFromKeepalived(text);
    const header = `# imported from ${file} by lbguard import ${format}\n`;
    return { code: 0, stdout: header + stringify(config, { lineWidth: 0 }), stderr: notes.map((n) => `lbguard: ${file} ${n}\n`).join('') };
  } catch (error) {
    return { code: 1, stdout: '', stderr: `lbguard: ${file}: ${(error as Error).message}\n` };
  }
}

/** The peer a pair's keepalived.conf is rendered for: --node, else the one here, else the first (said on stderr). */
function renderNode(vrrp: VrrpConfig, requested: string | undefined, notes: string[]): VrrpPeer | undefined {
  if (!vrrp.peers) return selectNode(vrrp, requested); // the single-node form: --node is refused
  try {
    return selectNode(vrrp, requested);
  } catch (error) {
    if (requested !== undefined) throw error;
    const first = vrrp.peers[0]!;
    notes.push(`rendered for ${first.name} (priority ${first.priority}), as no peer's address is on this host; give --node NAME for another`);
    return first;
  }
}

export function renderLvs(format: string | undefined, configFile: string | undefined, node?: string): CliResult {
  if (!format || !LVS_FORMATS.includes(format) || !configFile) return { code: 2, stdout: '', stderr: `lbguard: render needs lvs.cf or keepalived, and -c FILE\n` };
  try {
    const config = loadConfig(configFile);
    const notes = format === 'lvs.cf' ? unrenderedLimits(config) : [];
    let body: string;
    if (format === 'lvs.cf') body = renderLvsCf(lvsCfFromConfig(config));
    else {
      const peer = config.vrrp ? renderNode(config.vrrp, node, notes) : undefined;
      if (!config.vrrp && node !== undefined) throw new Error(`--node ${node}: the farms file has no vrrp: section`);
      body = renderKeepalived(config, { ...DEFAULT_OPTIONS, ...(peer ? { node: peer } : {}) });
    }
    return { code: 0, stdout: `# written by lbguard render ${format} from ${configFile}\n${body}`, stderr: notes.map((n) => `lbguard: ${n}\n`).join('') };
  } catch (error) {
    return { code: 1, stdout: '', stderr: `lbguard: ${(error as Error).message}\n` };
  }
}

/** pulse's lvs.cf has no per-server connection limit: say which settings the rendered file leaves out. */
function unrenderedLimits(config: Config): string[] {
  return config.farms.flatMap((farm) =>
    farm.backends.filter((b) => b['max-conns'] !== undefined).map((b) => `farm ${farm.name} backend ${b.name}: max-conns ${b['max-conns']} not rendered (lvs.cf has no connection limit; set it with ipvsadm -x after pulse starts, or use keepalived's uthreshold)`),
  );
}
