import { UsageError } from '../../plugins/runtime/errors.ts';
import type { DataPlaneKind } from '../dataplane/types.ts';
import { buildBackendCheck } from '../checks/backend-check.ts';
import { statusSecretProblems } from '../status/secrets.ts';
import { ConfigError, type ConfigProblem, parseConfigText, readConfigText } from './load.ts';
import type { Config } from './schema.ts';
import { sharedAddressProblems } from './shared-addresses.ts';

/**
 * What the schema cannot know: whether each check's options are ones its plugin accepts (parsed by
 * the plugin's own parser), whether the data plane named is one of `kinds` (this build's), what that
 * kind alone can find wrong (a Zevenet appliance's farm names), whether two farms' data planes would
 * take the same clients (shared-addresses.ts), and whether the status server's token and TLS files are
 * usable (and kept private).
 */
export function semanticProblems(config: Config, kinds: readonly DataPlaneKind[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [...statusSecretProblems(config.status), ...sharedAddressProblems(config.farms)];
  config.farms.forEach((farm, i) => {
    const kind = kinds.find((k) => k.type === farm.dataplane.type);
    if (!kind) {
      problems.push({ path: `farms[${i}].dataplane.type`, message: `"${farm.dataplane.type}" is not available in this build (available: ${kinds.map((k) => k.type).join(', ')})` });
    }
    for (const problem of kind?.farmProblems?.(farm) ?? []) problems.push({ path: `farms[${i}].${problem.key}`, message: problem.message });
    farm.backends.forEach((backend, j) => {
      try {
        buildBackendCheck(farm, backend);
      } catch (error) {
        const where = error instanceof UsageError ? `farms[${i}].check.options` : `farms[${i}].check`;
        if (j === 0 || !(error instanceof UsageError)) problems.push({ path: where, message: (error as Error).message });
      }
    });
  });
  return problems;
}

/** Loads a farms file and refuses it whole if anything is wrong (ConfigError lists every problem). */
export function loadValidConfig(file: string, kinds: readonly DataPlaneKind[]): Config {
  return validConfigFromText(file, readConfigText(file), kinds);
}

/** loadValidConfig of a text readConfigText read. */
export function validConfigFromText(file: string, text: string, kinds: readonly DataPlaneKind[]): Config {
  const config = parseConfigText(file, text);
  const problems = semanticProblems(config, kinds);
  if (problems.length) throw new ConfigError(file, problems);
  return config;
}
