import { UsageError } from '../runtime/errors.ts';
import type { PluginDefinition } from '../runtime/plugin.ts';
import { checkTcp, type TcpCheckOptions } from './check.ts';
import { leanTcpCheck } from './lean-check.ts';

/** The `tcp` probe of the orchestrator (no CLI of its own: monitoring-plugins' check_tcp does that job). */
export const tcpProbe: PluginDefinition<TcpCheckOptions> = {
  name: 'check_tcp',
  service: 'TCP',
  synopsis: 'check_tcp -H <host> -p <port> [-w <warn>] [-c <crit>] [-t <timeout>]',
  description: ['Connects to a TCP port and reports the response time.'],
  options: [],
  defaultPort: 0,
  okSummary: 'Connection succeeded',
  toOptions: ({ common }) => {
    if (common.host === undefined) throw new UsageError('no host given (-H)');
    if (common.port === 0) throw new UsageError('no port given (-p)');
    return { host: common.host, port: common.port, family: common.family, thresholds: { warning: common.warning, critical: common.critical }, timeoutSeconds: common.deadline.seconds };
  },
  check: checkTcp,
  leanCheck: leanTcpCheck,
};
