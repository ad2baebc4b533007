// What ends a command like Ctrl+C, turned into the fleet's two signals: the first stop request
// is a graceful stop (final counts are collected), the second quits at once.

/** The signals, and a closed stdout pipe (`| head`, emitted by main's pipe-safe stdout). */
export const STOP_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'EPIPE'] as const;

/** Counts stop requests from the moment it exists: the first aborts `stop`, the second `abort`. */
export class StopRequests {
  count = 0;
  private readonly stopping = new AbortController();
  private readonly quitting = new AbortController();
  readonly stop = this.stopping.signal;
  readonly abort = this.quitting.signal;
  private readonly onEvent = (): void => this.request();

  constructor(private readonly signals: NodeJS.EventEmitter) {
    for (const e of STOP_EVENTS) signals.on(e, this.onEvent);
  }

  /** A stop from within (e.g. --max-packets reached): counts like a first Ctrl+C. */
  request(): void {
    this.count++;
    if (this.count === 1) this.stopping.abort();
    else this.quitting.abort();
  }

  close(): void {
    for (const e of STOP_EVENTS) this.signals.off(e, this.onEvent);
  }
}
