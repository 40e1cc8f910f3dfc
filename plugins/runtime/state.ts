/** Nagios plugin states and their exit codes (monitoring-plugins: OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3). */
// `as const`: non-widening literals, so `{ state: OK }` keeps the type State in object literals
export const OK = 0 as const;
export const WARNING = 1 as const;
export const CRITICAL = 2 as const;
export const UNKNOWN = 3 as const;
export type State = typeof OK | typeof WARNING | typeof CRITICAL | typeof UNKNOWN;

const NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;
export type StateName = (typeof NAMES)[number];

export function stateName(state: State): StateName {
  return NAMES[state];
}

/** The more severe of two states; UNKNOWN ranks above CRITICAL as in Python's nagiosplugin. */
export function worst(a: State, b: State): State {
  return a > b ? a : b;
}

/** Accepts the spellings monitoring-plugins accepts for a state (`ok`, `warn`, `warning`, `crit`, `critical`, `unknown`). */
export function parseStateName(text: string): State | undefined {
  switch (text.trim().toLowerCase()) {
    case 'ok': return OK;
    case 'warn': case 'warning': return WARNING;
    case 'crit': case 'critical': return CRITICAL;
    case 'unknown': return UNKNOWN;
    default: return undefined;
  }
}
