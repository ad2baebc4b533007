// A single-consumer async queue of events with a byte budget: the producer never blocks, and
// the session asks `wouldExceed` before queuing optional data (packets) so a slow reader costs
// counted drops, never unbounded memory.

/** One byte budget shared by every session of an agent, so many stalled clients cannot add up past it. */
export class ByteBudget {
  used = 0;
  constructor(readonly limit: number) {}
  wouldExceed(bytes: number): boolean {
    return this.used + bytes > this.limit;
  }
}

export class EventQueue<T> implements AsyncIterable<T> {
  private items: Array<{ item: T; bytes: number }> = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private closed = false;
  private queuedBytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly onReturn?: () => void,
    private readonly shared?: ByteBudget,
  ) {}

  get bytes(): number {
    return this.queuedBytes;
  }

  private account(bytes: number): void {
    this.queuedBytes += bytes;
    if (this.shared) this.shared.used += bytes;
  }

  private drained: Array<() => void> = [];

  /** Settles once at most half the budget is queued (or the queue closed): back-pressure for bulk producers. */
  belowHalf(): Promise<void> {
    if (this.queuedBytes <= this.maxBytes / 2 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private wake(): void {
    if (this.drained.length && (this.queuedBytes <= this.maxBytes / 2 || this.closed)) {
      const list = this.drained;
      this.drained = [];
      for (const r of list) r();
    }
  }

  wouldExceed(bytes: number): boolean {
    return this.queuedBytes + bytes > this.maxBytes || (this.shared?.wouldExceed(bytes) ?? false);
  }

  push(item: T, bytes = 0): void {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: item, done: false });
      return;
    }
    this.items.push({ item, bytes });
    this.account(bytes);
  }

  close(): void {
    this.closed = true;
    if (this.waiting && this.items.length === 0) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const head = this.items.shift();
        if (head) {
          this.account(-head.bytes);
          this.wake();
          return Promise.resolve({ value: head.item, done: false });
        }
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiting = resolve;
        });
      },
      return: () => {
        this.onReturn?.();
        this.items = [];
        this.account(-this.queuedBytes);
        this.closed = true;
        this.wake();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
