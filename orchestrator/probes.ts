import { runCheck } from '../plugins/runtime/deadline.ts';
import type { Outcome } from '../plugins/runtime/outcome.ts';
import { renderOutcome } from '../plugins/runtime/outcome.ts';
import { optionsFromSettings, type PluginDefinition } from '../plugins/runtime/plugin.ts';
import { CRITICAL, OK, WARNING } from '../plugins/runtime/state.ts';
import { checkFtpPlugin } from '../plugins/ftp/definition.ts';
import { checkSshPlugin } from '../plugins/ssh/definition.ts';
import { tcpProbe } from '../plugins/tcp/definition.ts';
import { checkTftpPlugin } from '../plugins/tftp/definition.ts';
import { commandProbe } from './checks/command-probe.ts';
import type { BackendConfig, FarmConfig } from './config/schema.ts';
import type { Verdict } from './health/backend-health.ts';

/** Runs one backend's check once, within its deadline, and says whether the backend may serve. */
export type BackendProbe = (signal: AbortSignal) => Promise<Verdict>;

export interface ProbeTarget {
  readonly address: string;
  readonly port: number;
}

/** A check that runs something other than a built-in plugin (the external command form). */
export type ExternalProbeFactory = (farm: FarmConfig, target: ProbeTarget) => BackendProbe;

// Built-in probes are the plugins' own definitions: same options, same parsing, same verdicts.
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
 * Builds the probe of one backend from its farm's check settings. Throws UsageError when the
 * options are not ones the plugin accepts, so `lbguard check` can point at the config line.
 */
export function buildProbe(farm: FarmConfig, backend: BackendConfig): BackendProbe {
  const target = { address: backend.address, port: backendPort(farm, backend) };
  const check = farm.check;
  if (check.probe === 'command') return commandProbe(farm, target);
  const definition = BUILT_IN[check.probe];
  const { options } = optionsFromSettings(definition, {
    ...check.options,
    hostname: target.address,
    port: target.port,
    timeout: check.timeout / 1000,
  });
  const deadline = { seconds: check.timeout / 1000, state: CRITICAL };
  return async (signal) => {
    const started = performance.now();
    const outcome = await runCheck(definition.check, options, deadline, { signal });
    return verdictOf(outcome, definition, performance.now() - started, check['warning-is-up']);
  };
}
