import type { PerfDatum, Uom } from './perfdata.ts';
import { type Range, rangeAlerts } from './range.ts';
import { CRITICAL, OK, type State, WARNING } from './state.ts';

/** One measured value, named, with its unit and bounds (nagiosplugin's Metric). */
export interface Metric {
  readonly name: string;
  readonly value: number;
  readonly uom?: Uom;
  readonly min?: number;
  readonly max?: number;
  readonly decimals?: number;
}

/**
 * The response time as monitoring-plugins prints it (`time=0.002690s;;;0.000000;10.000000`):
 * seconds with 6 decimals, min 0, max the timeout.
 */
export function responseTime(seconds: number, timeoutSeconds: number): Metric {
  return { name: 'time', value: seconds, uom: 's', decimals: 6, min: 0, max: timeoutSeconds };
}

export interface Thresholds {
  readonly warning?: Range | undefined;
  readonly critical?: Range | undefined;
}

export interface Evaluation {
  readonly state: State;
  readonly metric: Metric;
  readonly perfdata: PerfDatum;
}

/**
 * Judges a metric against warning and critical ranges, critical first (as monitoring-plugins'
 * get_status), and derives the perfdata from the same ranges so the two can never disagree.
 */
export function evaluateScalar(metric: Metric, thresholds: Thresholds = {}): Evaluation {
  const { warning, critical } = thresholds;
  let state: State = OK;
  if (critical && rangeAlerts(critical, metric.value)) state = CRITICAL;
  else if (warning && rangeAlerts(warning, metric.value)) state = WARNING;
  const perfdata: PerfDatum = {
    label: metric.name,
    value: metric.value,
    uom: metric.uom,
    warn: warning?.text,
    crit: critical?.text,
    min: metric.min,
    max: metric.max,
    decimals: metric.decimals,
  };
  return { state, metric, perfdata };
}
