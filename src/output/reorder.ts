// Merges several nodes' records into timestamp order. Hand-written (hot path, one per record):
// each record waits `windowMs` of wall-clock time after it arrived, then leaves in timestamp
// order, so nodes whose streams lag each other by less than the window come out interleaved
// correctly; at most `maxHeld` records wait (the oldest leaves first when it is full).

export const REORDER_WINDOW_MS = 100;
export const REORDER_MAX_HELD = 20_000;

interface Held<T> {
  ts: bigint;
  arrivedMs: number;
  seq: number;
  item: T;
}

export class ReorderBuffer<T> {
  private readonly heap: Array<Held<T>> = [];
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly release: (items: T[]) => void,
    private readonly windowMs = REORDER_WINDOW_MS,
    private readonly maxHeld = REORDER_MAX_HELD,
    private readonly now: () => number = Date.now,
    /** false in tests that drive `drain` themselves. */
    private readonly useTimer = true,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  push(ts: bigint, item: T): void {
    if (this.windowMs === 0) {
      this.release([item]); // one ordered stream: nothing to merge
      return;
    }
    this.heapPush({ ts, arrivedMs: this.now(), seq: this.seq++, item });
    if (this.heap.length > this.maxHeld) this.release([this.heapPop()!.item]);
    this.arm();
  }

  /** Releases every record whose window has passed (all of them with `all`), in timestamp order. */
  drain(all = false): void {
    const out: T[] = [];
    const limit = this.now() - this.windowMs;
    while (this.heap.length && (all || this.heap[0]!.arrivedMs <= limit)) out.push(this.heapPop()!.item);
    if (out.length) this.release(out);
    if (all && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    } else this.arm();
  }

  private arm(): void {
    if (!this.useTimer || this.timer || this.heap.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.drain();
      },
      Math.max(1, this.windowMs / 2),
    );
    this.timer.unref();
  }

  private less(a: Held<T>, b: Held<T>): boolean {
    return a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);
  }

  private heapPush(h: Held<T>): void {
    const a = this.heap;
    a.push(h);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  private heapPop(): Held<T> | undefined {
    const a = this.heap;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
