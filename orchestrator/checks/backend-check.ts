import { runCheck } from '../../plugins/runtime/deadline.ts';
import type { Outcome } from '../../plugins/runtime/outcome.ts';
import { renderOutcome } from '../../plugins/runtime/outcome.ts';
import { optionsFromSettings, type PluginDefinition } from '../../plugins/runtime/plugin.ts';
import { CRITICAL, OK, WARNING } from '../../plugins/runtime/state.ts';
import { checkFtpPlugin } from '../../plugins/ftp/definition.ts';
import { checkSshPlugin } from '../../plugins/ssh/definition.ts';
import { tcpProbe } from '../../plugins/tcp/definition.ts';
import { checkTftpPlugin } from '../../plugins/tftp/definition.ts';
import { commandBackendCheck } from './command-backend-check.ts';
import type { BackendConfig, FarmConfig } from '../config/schema.ts';
import type { Verdict } from '../health/backend-health.ts';
import type { BackendCheck } from './types.ts';

// The built-in probe kinds are the plugins' own definitions: same options, same parsing, same verdicts.
const BUILT_IN: Record<Exclude<FarmConfig['check']['probe'], 'command'>, PluginDefinition<any>> = {
  ssh: checkSshPlugin,
  ftp: checkFtpPlugin,
  tftp: checkTftpPlugin,
  tcp: tcpProbe,
};

const DEFAULT_PORTS: Record<FarmConfig['service'], number> = { ftp: 21, tftp: 69, sftp: 22, tcp: 0, udp: 0 };

/** The port a backend is checked on: its own, else the farm's first virtual port, else the service's. */
export function backendPort(farm: FarmConfig, backend: BackendConfig): number {
  return backend.port ?? farm.virtual.ports?.[0]?.from ?? DEFAULT_PORTS[farm.service];
}

export function verdictOf(outcome: Outcome, definition: PluginDefinition<unknown>, ms: number, warningIsUp: boolean): Verdict {
  const ok = outcome.state === OK || (outcome.state === WARNING && warningIsUp);
  const line = renderOutcome(definition.service, { ...outcome, details: [] }, { perfSeparator: definition.perfSeparator }).split('\n')[0] ?? '';
  return { ok, line, ms };
}

/**
 * Builds the check of one backend from its farm's check settings (`check.probe` says which kind). Throws UsageError when the
 * options are not ones the plugin accepts, so `lbguard check` can point at the config line.
 */
export function buildBackendCheck(farm: FarmConfig, backend: BackendConfig): BackendCheck {
  const target = { address: backend.address, port: backendPort(farm, backend) };
  const check = farm.check;
  if (check.probe === 'command') return commandBackendCheck(farm, target);
  const definition = BUILT_IN[check.probe];
  const { options } = optionsFromSettings(definition, {
    ...check.options,
    hostname: target.address,
    port: target.port,
    timeout: check.timeout / 1000,
  });
  const deadline = { seconds: check.timeout / 1000, state: CRITICAL };
  const warningIsUp = check['warning-is-up'];
  const run = definition.leanCheck?.(options, deadline) ?? ((signal?: AbortSignal) => runCheck(definition.check, options, deadline, { signal }));
  return async (signal) => {
    const started = performance.now();
    const outcome = await run(signal);
    return verdictOf(outcome, definition, performance.now() - started, warningIsUp);
  };
}
