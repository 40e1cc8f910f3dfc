/**
 * One backend's health, as HAProxy keeps it: consecutive successes and failures counted against
 * rise and fall, the operational state apart from the operator's maintenance flag, and the last
 * check's line and duration. Nothing but applyVerdict/setMaintenance changes a record.
 */
export type OperationalState = 'up' | 'down' | 'rising' | 'falling';
export type HealthState = OperationalState | 'maintenance';

export interface HealthPolicy {
  readonly rise: number;
  readonly fall: number;
  /** nanny's reentry: a rising backend must also have kept passing for this long */
  readonly reentryMs: number;
}

export interface Verdict {
  readonly ok: boolean;
  readonly line: string;
  readonly ms: number;
  /** keepalived misc_dynamic: the weight the check asked for */
  readonly weight?: number;
}

export interface HealthRecord {
  readonly state: OperationalState;
  readonly maintenance: boolean;
  readonly successes: number;
  readonly failures: number;
  readonly streakStartedAt?: number;
  /** no verdict yet and nothing persisted: the first verdict decides at once */
  readonly fresh: boolean;
  readonly since: number;
  readonly last?: Verdict & { readonly at: number };
  readonly dynamicWeight?: number;
}

export interface Transition {
  /** `unchecked`: the first verdict of a backend nothing was known about */
  readonly from: HealthState | 'unchecked';
  readonly to: HealthState;
}

export function initialHealth(now: number, persisted?: { state: OperationalState; maintenance?: boolean }): HealthRecord {
  if (persisted) {
    // Reuse the last known state until fresh verdicts arrive: a restart must not flap the data plane.
    const state = persisted.state === 'rising' ? 'down' : persisted.state === 'falling' ? 'up' : persisted.state;
    return { state, maintenance: persisted.maintenance ?? false, successes: 0, failures: 0, fresh: false, since: now };
  }
  return { state: 'down', maintenance: false, successes: 0, failures: 0, fresh: true, since: now };
}

export function visibleState(record: HealthRecord): HealthState {
  return record.maintenance ? 'maintenance' : record.state;
}

/** Serving = takes new sessions: up, or up but failing fewer than `fall` times, and not in maintenance. */
export function isServing(record: HealthRecord): boolean {
  return !record.maintenance && (record.state === 'up' || record.state === 'falling');
}

function nextState(record: HealthRecord, verdict: Verdict, policy: HealthPolicy, now: number): Pick<HealthRecord, 'state' | 'successes' | 'failures' | 'streakStartedAt'> {
  if (verdict.ok) {
    const successes = record.successes + 1;
    const streakStartedAt = record.successes === 0 ? now : record.streakStartedAt ?? now;
    if (record.fresh || record.state === 'up' || record.state === 'falling') return { state: 'up', successes, failures: 0, streakStartedAt };
    const longEnough = now - streakStartedAt >= policy.reentryMs;
    return { state: successes >= policy.rise && longEnough ? 'up' : 'rising', successes, failures: 0, streakStartedAt };
  }
  const failures = record.failures + 1;
  if (record.fresh || record.state === 'down' || record.state === 'rising') return { state: 'down', successes: 0, failures, streakStartedAt: undefined };
  return { state: failures >= policy.fall ? 'down' : 'falling', successes: 0, failures, streakStartedAt: undefined };
}

export function applyVerdict(record: HealthRecord, verdict: Verdict, policy: HealthPolicy, now: number): { record: HealthRecord; transition?: Transition } {
  const next = nextState(record, verdict, policy, now);
  const changed = next.state !== record.state || record.fresh;
  const updated: HealthRecord = {
    ...record,
    ...next,
    fresh: false,
    since: changed ? now : record.since,
    last: { ...verdict, at: now },
    dynamicWeight: verdict.ok ? verdict.weight : record.dynamicWeight,
  };
  if (!changed || record.maintenance) return { record: updated };
  return { record: updated, transition: { from: record.fresh ? 'unchecked' : record.state, to: next.state } };
}

/**
 * The data plane saw the backend fail (connects refused or timed out in a row): down at once, as
 * after `fall` failed checks; `rise` passing checks bring it back. Counts as a failure with `line`.
 */
export function markDown(record: HealthRecord, line: string, now: number): { record: HealthRecord; transition?: Transition } {
  const updated: HealthRecord = { ...record, state: 'down', successes: 0, failures: record.failures + 1, streakStartedAt: undefined, fresh: false, since: record.state === 'down' ? record.since : now, last: { ok: false, line, ms: 0, at: now } };
  if (!isServing(record)) return { record: updated };
  return { record: updated, transition: { from: record.state, to: 'down' } };
}

export function setMaintenance(record: HealthRecord, on: boolean, now: number): { record: HealthRecord; transition?: Transition } {
  if (record.maintenance === on) return { record };
  const updated = { ...record, maintenance: on, since: now };
  return { record: updated, transition: { from: visibleState(record), to: visibleState(updated) } };
}
