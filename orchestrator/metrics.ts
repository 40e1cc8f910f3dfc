import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  readonly registry: Registry;
  readonly backendUp: Gauge<'farm' | 'backend'>;
  readonly checks: Counter<'farm' | 'result'>;
  readonly checkDuration: Histogram<'farm'>;
  readonly startLateness: Histogram<string>;
  readonly transitions: Counter<'farm' | 'to'>;
  readonly dataplaneChanges: Counter<'dataplane'>;
  readonly dataplaneErrors: Counter<'dataplane'>;
}

/** Prometheus metrics of one orchestrator, in a registry of its own (no global state). */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    backendUp: new Gauge({ name: 'lbguard_backend_up', help: '1 when the backend takes new sessions', labelNames: ['farm', 'backend'], registers }),
    checks: new Counter({ name: 'lbguard_checks_total', help: 'Health checks run', labelNames: ['farm', 'result'], registers }),
    checkDuration: new Histogram({ name: 'lbguard_check_duration_seconds', help: 'Duration of health checks', labelNames: ['farm'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers }),
    startLateness: new Histogram({ name: 'lbguard_check_start_lateness_seconds', help: 'How late checks start against their schedule', buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1], registers }),
    transitions: new Counter({ name: 'lbguard_transitions_total', help: 'Backend state transitions', labelNames: ['farm', 'to'], registers }),
    dataplaneChanges: new Counter({ name: 'lbguard_dataplane_changes_total', help: 'Changes applied to data planes', labelNames: ['dataplane'], registers }),
    dataplaneErrors: new Counter({ name: 'lbguard_dataplane_errors_total', help: 'Failed data plane passes', labelNames: ['dataplane'], registers }),
  };
}
