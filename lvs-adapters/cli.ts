// `lbguard import lvs.cf FILE` and `lbguard render lvs.cf -c FARMS`: the LVS side of the CLI,
// dispatched to from orchestrator/cli.ts. Output on stdout, notes and errors on stderr.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadConfig } from '../orchestrator/config/load.ts';
import { farmsFromLvsCf, lvsCfFromConfig } from './lvs-cf/farms.ts';
import { parseLvsCf, renderLvsCf } from './lvs-cf/lvs-cf.ts';

export const LVS_USAGE = `  import lvs.cf FILE    print a Piranha lvs.cf as an lbguard farms file (YAML)
  render lvs.cf -c FILE
                       print the farms of FILE as a Piranha lvs.cf
`;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function importLvs(format: string | undefined, file: string | undefined): CliResult {
  if (format !== 'lvs.cf' || !file) return { code: 2, stdout: '', stderr: `lbguard: import needs lvs.cf FILE\n` };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { code: 1, stdout: '', stderr: `lbguard: cannot read ${file}: ${(error as Error).message}\n` };
  }
  try {
    const { config, notes } = farmsFromLvsCf(parseLvsCf(text));
    const header = `# imported from ${file} by lbguard import lvs.cf\n`;
    return { code: 0, stdout: header + stringify(config, { lineWidth: 0 }), stderr: notes.map((n) => `lbguard: ${file} ${n}\n`).join('') };
  } catch (error) {
    return { code: 1, stdout: '', stderr: `lbguard: ${file}: ${(error as Error).message}\n` };
  }
}

export function renderLvs(format: string | undefined, configFile: string | undefined): CliResult {
  if (format !== 'lvs.cf' || !configFile) return { code: 2, stdout: '', stderr: `lbguard: render needs lvs.cf -c FILE\n` };
  try {
    const config = loadConfig(configFile);
    return { code: 0, stdout: `# written by lbguard render lvs.cf from ${configFile}\n${renderLvsCf(lvsCfFromConfig(config))}`, stderr: '' };
  } catch (error) {
    return { code: 1, stdout: '', stderr: `lbguard: ${(error as Error).message}\n` };
  }
}
