/**
 * What a probe tells about its progress: the phase it is in (named in a timeout message) and
 * detail lines for `-v` (long output). Probes write here and never print.
 */
export class Trace {
  phase = 'starting';
  readonly lines: { level: number; text: string }[] = [];
  // process.hrtime, not performance.now(): the `performance` global loads perf_hooks and its
  // timing modules on first use, some 2-7 ms of a plugin's start-up
  private readonly started = process.hrtime.bigint();

  /** `shown`: the most detail that will be printed (-v count); lines beyond it are not kept */
  constructor(private readonly shown: number = 3) {}

  /** Enters a phase and returns the seconds elapsed since the trace began. */
  enter(phase: string): number {
    this.phase = phase;
    return this.elapsed();
  }

  elapsed(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }

  /** level 1: useful detail (-v); 2: configuration and protocol (-vv); 3: everything (-vvv) */
  note(level: 1 | 2 | 3, text: string): void {
    if (level <= this.shown) this.lines.push({ level, text });
  }

  detailsFor(verbosity: number): string[] {
    return this.lines.filter((l) => l.level <= verbosity).map((l) => l.text);
  }
}
