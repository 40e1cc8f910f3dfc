import { connect, isIP, type Socket } from 'node:net';
import { offAbort, onAbort } from '../../plugins/runtime/abort-hooks.ts';
import { afterPendingIo, type Deadline, deadlineOutcome, failureOutcome } from '../../plugins/runtime/deadline.ts';
import type { Outcome } from '../../plugins/runtime/outcome.ts';
import { connectFailure } from '../../plugins/runtime/tcp.ts';
import { connectedOutcome, type TcpCheckOptions } from '../../plugins/tcp/check.ts';
import type { Verdict } from '../health/backend-health.ts';

/** Turns a finished attempt's outcome into the backend's verdict (backend-check.ts's verdictOf). */
export type ToVerdict = (outcome: Outcome, ms: number) => Verdict;

/**
 * One connect of the `tcp` probe to an address (no name to resolve), on the daemon's hot path:
 * a socket, a timer and one promise per check, where the generic path (runCheck over checkTcp)
 * adds an AbortController, a trace, a race of two promises and three abort listeners (one on the signal every check shares). At 5,000
 * checks a second those were a third of the daemon's JavaScript time. The verdicts are the
 * probe's own: the same functions word success, refusal and the deadline.
 */
class ConnectAttempt {
  private readonly socket: Socket;
  private readonly timer: NodeJS.Timeout;
  private readonly started = performance.now();
  private settled = false;

  constructor(
    private readonly check: TcpConnectCheck,
    private readonly signal: AbortSignal,
    private readonly resolve: (verdict: Verdict) => void,
  ) {
    const { options } = check;
    // judged once the loop has read what came in meanwhile (afterPendingIo)
    this.timer = setTimeout(afterPendingIo, check.deadline.seconds * 1000, this.onDeadlinePassed);
    this.socket = connect({ host: options.host, port: options.port, family: check.family });
    this.socket.once('connect', this.onConnect);
    this.socket.once('error', this.onError);
    onAbort(signal, this.onAbort);
  }

  private readonly onConnect = (): void => {
    this.finish(connectedOutcome(this.check.options, (performance.now() - this.started) / 1000));
  };

  private readonly onError = (error: Error): void => {
    this.finish(failureOutcome(connectFailure(this.check.options, error)));
  };

  private readonly onDeadlinePassed = (): void => {
    this.finish(deadlineOutcome(this.check.deadline, 'connecting'));
  };

  private readonly onAbort = (): void => {
    this.finish(failureOutcome(this.signal.reason));
  };

  private finish(outcome: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    offAbort(this.signal, this.onAbort);
    // onError stays attached: an error after this finds the attempt settled, never the process
    this.socket.destroy();
    this.resolve(this.check.toVerdict(outcome, performance.now() - this.started));
  }
}

export class TcpConnectCheck {
  constructor(
    readonly options: TcpCheckOptions,
    readonly family: 4 | 6,
    readonly deadline: Deadline,
    readonly toVerdict: ToVerdict,
  ) {}

  run(signal: AbortSignal): Promise<Verdict> {
    if (signal.aborted) return Promise.resolve(this.toVerdict(failureOutcome(signal.reason), 0));
    return new Promise<Verdict>((resolve) => new ConnectAttempt(this, signal, resolve));
  }
}

/**
 * The fast connect check for the `tcp` probe's options, when its host is an address of the family
 * asked for; undefined otherwise (a name, a socket path: the generic path resolves and words those).
 */
export function tcpConnectCheck(options: TcpCheckOptions, deadline: Deadline, toVerdict: ToVerdict): TcpConnectCheck | undefined {
  const family = isIP(options.host);
  if (family !== 4 && family !== 6) return undefined;
  if (options.family && options.family !== family) return undefined;
  return new TcpConnectCheck(options, family, deadline, toVerdict);
}
