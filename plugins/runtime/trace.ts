/**
 * What a probe tells about its progress: the phase it is in (named in a timeout message) and
 * detail lines for `-v` (long output). Probes write here and never print.
 */
export class Trace {
  phase = 'starting';
  readonly lines: { level: number; text: string }[] = [];
  private readonly started = performance.now();

  /** Enters a phase and returns the seconds elapsed since the trace began. */
  enter(phase: string): number {
    this.phase = phase;
    return this.elapsed();
  }

  elapsed(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** level 1: useful detail (-v); 2: configuration and protocol (-vv); 3: everything (-vvv) */
  note(level: 1 | 2 | 3, text: string): void {
    this.lines.push({ level, text });
  }

  detailsFor(verbosity: number): string[] {
    return this.lines.filter((l) => l.level <= verbosity).map((l) => l.text);
  }
}
