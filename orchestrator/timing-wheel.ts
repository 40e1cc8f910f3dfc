/**
 * Items due at given times, kept in slots `tickMs` wide (an item due at t goes to the slot that ends
 * at or after t): one timer serves them all, firing once per slot that holds something, instead of
 * one timer per item. The slots in use are found in time order through a min-heap of their numbers,
 * so a long empty stretch costs nothing. No item is returned before its time, none more than one
 * slot after it (plus however late the timer itself fires).
 */
export class TimingWheel<T> {
  private readonly slots = new Map<number, T[]>();
  /** numbers of the slots in use, smallest first at [0] */
  private readonly heap: number[] = [];
  private count = 0;

  constructor(
    readonly tickMs: number,
    private readonly dueAt: (item: T) => number,
  ) {
    if (!(tickMs > 0)) throw new RangeError(`tick must be positive, not ${tickMs}`);
  }

  get size(): number {
    return this.count;
  }

  add(item: T): void {
    const slot = Math.ceil(this.dueAt(item) / this.tickMs);
    const items = this.slots.get(slot);
    if (items) items.push(item);
    else {
      this.slots.set(slot, [item]);
      this.push(slot);
    }
    this.count++;
  }

  /** When the earliest slot in use ends (ms, the clock of dueAt), or undefined when empty. */
  nextDue(): number | undefined {
    return this.heap.length ? this.heap[0]! * this.tickMs : undefined;
  }

  /** Removes and returns the items of every slot ended by `now`, earliest due first. */
  takeDue(now: number): T[] {
    const out: T[] = [];
    while (this.heap.length && this.heap[0]! * this.tickMs <= now) {
      const slot = this.pop();
      const items = this.slots.get(slot)!;
      this.slots.delete(slot);
      if (items.length > 1) items.sort((a, b) => this.dueAt(a) - this.dueAt(b));
      for (const item of items) out.push(item);
    }
    this.count -= out.length;
    return out;
  }

  clear(): void {
    this.slots.clear();
    this.heap.length = 0;
    this.count = 0;
  }

  private push(slot: number): void {
    const heap = this.heap;
    let i = heap.push(slot) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= slot) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = slot;
  }

  private pop(): number {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const child = left + 1 < heap.length && heap[left + 1]! < heap[left]! ? left + 1 : left;
        if (heap[child]! >= last) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
