import { CRITICAL, type State } from './state.ts';
import type { PerfDatum } from './perfdata.ts';

/** A bad command line or option value: the plugin answers UNKNOWN with a usage line. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A check that could not be completed the normal way (refused, no route, protocol violation...).
 * Probes throw it with the state and the text an operator should read; nothing else is printed.
 */
export class CheckFailure extends Error {
  override name = 'CheckFailure';
  constructor(
    message: string,
    readonly state: State = CRITICAL,
    readonly perfdata: readonly PerfDatum[] = [],
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}
