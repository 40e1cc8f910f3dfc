import { evaluateScalar, responseTime, type Thresholds } from '../runtime/context.ts';
import type { AddressFamily } from '../runtime/host.ts';
import type { Outcome } from '../runtime/outcome.ts';
import { connectTcp } from '../runtime/tcp.ts';
import type { Trace } from '../runtime/trace.ts';

export interface TcpCheckOptions {
  readonly host: string;
  readonly port: number;
  readonly family: AddressFamily;
  readonly thresholds: Thresholds;
  readonly timeoutSeconds: number;
}

/** A TCP connect and nothing more, worded as monitoring-plugins' check_tcp words it. */
export async function checkTcp(options: TcpCheckOptions, signal: AbortSignal, trace: Trace): Promise<Outcome> {
  // nothing is written: no TCP_NODELAY (a setsockopt per check at the daemon's thousands a second)
  const socket = await connectTcp({ ...options, noDelay: false }, signal, trace);
  const elapsed = trace.elapsed();
  // a reset, not a FIN: the check leaves no TIME_WAIT socket behind (one per check for 60 s)
  socket.resetAndDestroy();
  return connectedOutcome(options, elapsed);
}

/** A connect that succeeded after `elapsed` seconds, judged against the thresholds. */
export function connectedOutcome(options: TcpCheckOptions, elapsed: number): Outcome {
  const time = evaluateScalar(responseTime(elapsed, options.timeoutSeconds), options.thresholds);
  return {
    state: time.state,
    text: `${elapsed.toFixed(3)} second response time on ${options.host} port ${options.port}`,
    perfdata: [time.perfdata],
    details: [],
  };
}
