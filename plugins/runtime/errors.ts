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

/** A host name the resolver does not know (found while checking). Each plugin words it as its C peer does. */
export class HostNotFound extends CheckFailure {
  override name = 'HostNotFound';
  constructor(readonly host: string, state: State = CRITICAL) {
    super(`Invalid hostname/address - ${host}`, state);
  }
}

/** A -H value that is no host name, address or socket path, found before anything runs. */
export class InvalidHost extends UsageError {
  override name = 'InvalidHost';
  constructor(readonly host: string) {
    super(`Invalid hostname/address - ${host}`);
  }
}
