import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { BackendUpGauge } from './backend-up-gauge.ts';
import type { DataPlaneCounters } from './dataplane/types.ts';

export interface Metrics {
  readonly registry: Registry;
  readonly backendUp: BackendUpGauge;
  /** the /metrics page: the registry's metrics, then lbguard_backend_up */
  exposition(): Promise<string>;
  readonly checks: Counter<'farm' | 'result'>;
  readonly checkDuration: Histogram<'farm'>;
  readonly startLateness: Histogram<string>;
  readonly transitions: Counter<'farm' | 'to'>;
  readonly dataplaneChanges: Counter<'dataplane'>;
  readonly dataplaneErrors: Counter<'dataplane'>;
  readonly statusRefused: Counter<'kind' | 'reason'>;
}

/** Counters an adapter keeps (sessions, bytes, errors), read when /metrics is scraped. */
function dataplaneTraffic(registers: Registry[], read: () => DataPlaneCounters[]): void {
  const labelNames = ['farm', 'backend', 'kind'] as const;
  const metric = (name: string, help: string, value: (c: DataPlaneCounters) => number | undefined) => {
    const counter = name.endsWith('_total');
    // the adapter holds the totals: each scrape copies them (a counter is reset, then raised to its value)
    function collect(this: Gauge<(typeof labelNames)[number]> | Counter<(typeof labelNames)[number]>) {
      this.reset();
      for (const c of read()) {
        const v = value(c);
        const labels = { farm: c.farm, backend: c.backend, kind: c.errorKind ?? '' };
        if (v !== undefined) (this instanceof Counter ? this.inc(labels, v) : this.set(labels, v));
      }
    }
    return counter ? new Counter({ name, help, labelNames, registers, collect }) : new Gauge({ name, help, labelNames, registers, collect });
  };
  metric('lbguard_dataplane_active_sessions', 'Sessions open now through the data plane', (c) => c.activeSessions);
  metric('lbguard_dataplane_sessions_total', 'Sessions opened through the data plane', (c) => c.sessions);
  metric('lbguard_dataplane_received_bytes_total', 'Bytes from clients to backends', (c) => c.bytesIn);
  metric('lbguard_dataplane_sent_bytes_total', 'Bytes from backends to clients', (c) => c.bytesOut);
  metric('lbguard_dataplane_traffic_errors_total', 'Traffic errors (kind: malformed, stray, bounce, connect...)', (c) => c.errors);
}

/** Prometheus metrics of one orchestrator, in a registry of its own (no global state). */
export function createMetrics(traffic: () => DataPlaneCounters[] = () => []): Metrics {
  const registry = new Registry();
  const registers = [registry];
  dataplaneTraffic(registers, traffic);
  const backendUp = new BackendUpGauge();
  return {
    registry,
    backendUp,
    exposition: async () => `${await registry.metrics()}\n${backendUp.exposition()}\n`,
    checks: new Counter({ name: 'lbguard_checks_total', help: 'Health checks run', labelNames: ['farm', 'result'], registers }),
    checkDuration: new Histogram({ name: 'lbguard_check_duration_seconds', help: 'Duration of health checks', labelNames: ['farm'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
    startLateness: new Histogram({ name: 'lbguard_check_start_lateness_seconds', help: 'How late checks start against their schedule', buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1], registers }),
    transitions: new Counter({ name: 'lbguard_transitions_total', help: 'Backend state transitions', labelNames: ['farm', 'to'], registers }),
    dataplaneChanges: new Counter({ name: 'lbguard_dataplane_changes_total', help: 'Changes applied to data planes', labelNames: ['dataplane'], registers }),
    dataplaneErrors: new Counter({ name: 'lbguard_dataplane_errors_total', help: 'Failed data plane passes', labelNames: ['dataplane'], registers }),
    statusRefused: new Counter({ name: 'lbguard_status_refused_requests_total', help: 'Requests the status server refused (kind: read or change; reason: no-token, bad-token, not-loopback, cross-site)', labelNames: ['kind', 'reason'], registers }),
  };
}
