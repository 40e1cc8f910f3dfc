import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { type Deadline, failureOutcome, TimedAttempt } from '../runtime/deadline.ts';
import { literalAddress, type Resolved } from '../runtime/host.ts';
import type { Outcome } from '../runtime/outcome.ts';
import type { LeanCheck } from '../runtime/plugin.ts';
import { connectFailure, endpointOf } from '../runtime/tcp.ts';
import { connectedOutcome, type TcpCheckOptions } from './check.ts';

/**
 * The tcp probe's check to an address, without runCheck's AbortController and trace: the daemon
 * runs it thousands of times a second, and on Node 20 a signal costs some 10 us of CPU a check
 * (made, listened to, aborted when the run ends), a tenth of what the whole check costs there.
 * Everything else is the shared code: TimedAttempt's deadline and outer abort, connectTcp's
 * endpoint and failure words, checkTcp's success line.
 */
class ConnectAttempt extends TimedAttempt {
  private socket: Socket | undefined;
  private readonly started = performance.now();

  constructor(
    private readonly options: TcpCheckOptions,
    endpoint: NetConnectOpts,
    deadline: Deadline,
    signal: AbortSignal | undefined,
    resolve: (outcome: Outcome) => void,
  ) {
    super(deadline, signal, resolve);
    if (!this.begin()) return;
    this.socket = connect(endpoint);
    this.socket.once('connect', this.onConnect);
    // stays attached: an error after the attempt settled finds it settled, never the process
    this.socket.on('error', this.onError);
  }

  protected phase(): string {
    return 'connecting';
  }

  protected release(): void {
    // A connection made closes with a reset, as HAProxy closes its layer-4 checks: a FIN would leave
    // it in TIME_WAIT on this host for 60 s, and 5,000 checks a second filled the kernel's 131,072
    // TIME_WAIT slots (tcp_max_tw_buckets) in half a minute. A connect still under way is only dropped.
    if (this.socket?.readyState === 'open') this.socket.resetAndDestroy();
    else this.socket?.destroy();
  }

  private readonly onConnect = (): void => {
    this.finish(connectedOutcome(this.options, (performance.now() - this.started) / 1000));
  };

  private readonly onError = (error: Error): void => {
    this.finish(failureOutcome(connectFailure(this.options, error)));
  };
}

/**
 * The lean form of the tcp probe for these options (PluginDefinition's leanCheck): when the host
 * is an address of the family asked for; undefined for a name, a socket path or another family
 * (runCheck over checkTcp resolves and words those).
 */
export function leanTcpCheck(options: TcpCheckOptions, deadline: Deadline): LeanCheck | undefined {
  let resolved: Resolved | undefined;
  try {
    resolved = literalAddress(options.host, options.family);
  } catch {
    return undefined;
  }
  if (!resolved) return undefined;
  // nothing is written: no TCP_NODELAY, as checkTcp
  const endpoint = endpointOf({ ...options, noDelay: false }, resolved);
  return (signal) => new Promise<Outcome>((resolve) => void new ConnectAttempt(options, endpoint, deadline, signal, resolve));
}
