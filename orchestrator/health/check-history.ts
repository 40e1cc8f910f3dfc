/**
 * The last checks of one backend for the status page's chart, in a fixed ring of 32-bit integers:
 * a 10,000-backend daemon keeps them in a few MB rather than one small array per check.
 */
export class CheckHistory {
  /** tenths of a millisecond; a failed check is stored as -1 - value */
  private readonly ring: Int32Array;
  private next = 0;
  private count = 0;

  constructor(readonly size: number) {
    this.ring = new Int32Array(size);
  }

  push(ms: number, ok: boolean): void {
    const tenths = Math.min(0x3fffffff, Math.max(0, Math.round(ms * 10)));
    this.ring[this.next] = ok ? tenths : -1 - tenths;
    this.next = (this.next + 1) % this.size;
    this.count = Math.min(this.size, this.count + 1);
  }

  /** Oldest first: [duration ms, 1 passed | 0 failed]. */
  entries(): [number, 0 | 1][] {
    const out: [number, 0 | 1][] = [];
    for (let i = 0; i < this.count; i++) {
      const value = this.ring[(this.next - this.count + i + this.size) % this.size]!;
      out.push(value >= 0 ? [value / 10, 1] : [(-1 - value) / 10, 0]);
    }
    return out;
  }
}
