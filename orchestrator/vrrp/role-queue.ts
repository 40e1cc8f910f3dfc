import type { VrrpState } from './notify.ts';

/** What the commands of the last role change came to, for /status. */
export interface RoleOutcome {
  readonly state: VrrpState;
  /** when that role's commands began */
  readonly at: string;
  readonly ok: boolean;
  readonly error?: string;
}

/**
 * The commands a session-sync engine (conntrackd, the IPVS sync daemon) runs on each VRRP role:
 * one role's sequence after the other, never two at once, and the outcome of the last one. A
 * sequence fails by throwing: it is recorded with the error's message and does not stop the ones
 * queued after it.
 */
export class RoleQueue {
  private queue: Promise<void> = Promise.resolve();
  private outcome: RoleOutcome | undefined;

  /** Queues `run` for `state`; it rejects (its message says what failed) when the role's commands failed. */
  enqueue(state: VrrpState, run: () => Promise<void>): void {
    this.queue = this.queue.then(async () => {
      const at = new Date().toISOString();
      try {
        await run();
        this.outcome = { state, at, ok: true };
      } catch (thrown) {
        this.outcome = { state, at, ok: false, error: thrown instanceof Error ? thrown.message : String(thrown) };
      }
    });
  }

  get last(): RoleOutcome | undefined {
    return this.outcome;
  }

  /** resolves when every queued sequence has run */
  settled(): Promise<void> {
    return this.queue;
  }
}
