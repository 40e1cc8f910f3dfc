import { UsageError } from '../../plugins/runtime/errors.ts';
import { availableAdapters } from '../dataplane/registry.ts';
import { buildProbe } from '../probes.ts';
import { statusSecretProblems } from '../status/secrets.ts';
import { ConfigError, type ConfigProblem, parseConfigText, readConfigText } from './load.ts';
import type { Config } from './schema.ts';
import { zevenetNameProblems } from '../../zevenet-adapters/zevenet/names.ts';

/**
 * What the schema cannot know: whether each check's options are ones its plugin accepts (parsed by
 * the plugin's own parser), whether the data plane named is in this build, whether a Zevenet
 * appliance takes the farm's names, and whether the status server's token and TLS files are
 * usable (and kept private).
 */
export function semanticProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = statusSecretProblems(config.status);
  const adapters = availableAdapters();
  config.farms.forEach((farm, i) => {
    if (!adapters.includes(farm.dataplane.type)) {
      problems.push({ path: `farms[${i}].dataplane.type`, message: `"${farm.dataplane.type}" is not available in this build (available: ${adapters.join(', ')})` });
    }
    for (const problem of zevenetNameProblems(farm)) problems.push({ path: `farms[${i}].${problem.key}`, message: problem.message });
    farm.backends.forEach((backend, j) => {
      try {
        buildProbe(farm, backend);
      } catch (error) {
        const where = error instanceof UsageError ? `farms[${i}].check.options` : `farms[${i}].check`;
        if (j === 0 || !(error instanceof UsageError)) problems.push({ path: where, message: (error as Error).message });
      }
    });
  });
  return problems;
}

/** Loads a farms file and refuses it whole if anything is wrong (ConfigError lists every problem). */
export function loadValidConfig(file: string): Config {
  return validConfigFromText(file, readConfigText(file));
}

/** loadValidConfig of a text readConfigText read. */
export function validConfigFromText(file: string, text: string): Config {
  const config = parseConfigText(file, text);
  const problems = semanticProblems(config);
  if (problems.length) throw new ConfigError(file, problems);
  return config;
}
