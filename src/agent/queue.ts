// A single-consumer async queue of events with a byte budget: the producer never blocks, and
// the session asks `wouldExceed` before queuing optional data (packets) so a slow reader costs
// counted drops, never unbounded memory.

export class EventQueue<T> implements AsyncIterable<T> {
  private items: Array<{ item: T; bytes: number }> = [];
  private waiting: ((r: IteratorResult<T>) => void) | undefined;
  private closed = false;
  private queuedBytes = 0;

  constructor(private readonly maxBytes: number, private readonly onReturn?: () => void) {}

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
    return this.queuedBytes + bytes > this.maxBytes;
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
    this.queuedBytes += bytes;
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
          this.queuedBytes -= head.bytes;
          this.wake();
          return Promise.resolve({ value: head.item, done: false });
        }
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => { this.waiting = resolve; });
      },
      return: () => {
        this.onReturn?.();
        this.items = [];
        this.queuedBytes = 0;
        this.closed = true;
        this.wake();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
