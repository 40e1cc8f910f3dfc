/**
 * SIGHUPs turned into reloads, one at a time. A SIGHUP that comes while the file is being read
 * supersedes that read: once it finishes, its result is dropped (the file changed after it was
 * read) and the file is read again. So the file as it is at the last SIGHUP wins, a burst of
 * SIGHUPs costs at most two reads, and never more than one read runs (one reading thread, one heap).
 */
export class ReloadQueue<T> {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly steps: {
      /** reads and validates the file (off the event loop) */
      readonly read: () => Promise<T>;
      /** puts what was read in place (on the event loop) */
      readonly apply: (value: T) => void;
      readonly refuse: (error: Error) => void;
      readonly superseded: () => void;
    },
  ) {}

  request(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => (this.running = undefined));
  }

  /** Resolves once no read runs or waits (at stop). */
  async idle(): Promise<void> {
    await this.running;
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      const outcome = await this.steps.read().then((value) => ({ value }), (error: Error) => ({ error }));
      if (this.again) {
        this.steps.superseded();
        continue;
      }
      if ('error' in outcome) this.steps.refuse(outcome.error);
      else this.steps.apply(outcome.value);
    } while (this.again);
  }
}
