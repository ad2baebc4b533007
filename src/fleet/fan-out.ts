// The one per-node fan-out: every node concurrently, a node that fails reported by name while the
// others go on, one policy for starting, stopping and failing. Plain inputs (nodes, functions,
// abort signals, an event sink): commands, an operator or a collector can all drive it.
import { CnspectError } from '../errors.js';

/** How long a node may take to start streaming before it is reported as failed. */
export const START_TIMEOUT_MS = 15_000;
/** After a stop, how long to wait for every node's final results before giving up on it. */
export const STOP_WAIT_MS = 5000;

/** Every node that failed, with its own cause; the message is the one wording of a fan-out failure. */
export class FleetFailure extends CnspectError {
  constructor(
    readonly causes: ReadonlyMap<string, unknown>,
    readonly total: number,
  ) {
    super('CNSPECT_NODE_FAILED', `${causes.size} of ${total} failed: ${[...causes.keys()].join(', ')}`);
  }

  /**
   * The exit status: when every node failed, the first cause's own code says best what is wrong
   * (a single node then reports nothing more); otherwise CNSPECT_NODE_FAILED.
   */
  get exitStatus(): number {
    if (this.causes.size < this.total) return this.exitCode;
    const first = [...this.causes.values()][0];
    return first instanceof CnspectError ? first.exitCode : 1;
  }

  /** Whether the summary line adds anything (one node: its own failure line said it all). */
  get worthALine(): boolean {
    return this.total > 1 || this.causes.size < this.total;
  }
}

/** Per-node failures, kept in the order they happened; the first failure of a node wins. */
export class NodeFailures {
  readonly causes = new Map<string, unknown>();

  constructor(private readonly onFailed: (label: string, err: unknown) => void = () => undefined) {}

  add(label: string, err: unknown): void {
    if (this.causes.has(label)) return;
    this.causes.set(label, err);
    this.onFailed(label, err);
  }

  has(label: string): boolean {
    return this.causes.has(label);
  }

  /** undefined when no node failed. */
  failure(total: number): FleetFailure | undefined {
    return this.causes.size ? new FleetFailure(this.causes, total) : undefined;
  }
}

export interface Answer<N, T> {
  node: N;
  value: T;
}

/** Asks every node one question concurrently; answers in node order, failures by name. */
export async function askEach<N extends { name: string }, T>(
  nodes: readonly N[],
  ask: (node: N) => Promise<T>,
  onFailed?: (label: string, err: unknown) => void,
): Promise<{ answers: Array<Answer<N, T>>; failure?: FleetFailure }> {
  const failures = new NodeFailures(onFailed);
  const settled = await Promise.all(
    nodes.map((node) =>
      ask(node).then(
        (value): Answer<N, T> | undefined => ({ node, value }),
        (err: unknown) => {
          failures.add(node.name, err);
          return undefined;
        },
      ),
    ),
  );
  return {
    answers: settled.filter((a): a is Answer<N, T> => a !== undefined),
    failure: failures.failure(nodes.length),
  };
}

/** One node's stream, as the fan-out drives it. */
export interface StreamJob<E> {
  label: string;
  /** Opens the node's stream; aborting `signal` must end it. */
  open(signal: AbortSignal): AsyncIterable<E>;
  /** Whether this event says the node has started (from now on it can be asked to stop). */
  isStart(ev: E): boolean;
  /** Asks a started node to stop and send its final results. */
  stop(): Promise<unknown>;
  /** Whether the stream carried its final results; a stream that ends without them has failed. */
  finished(): boolean;
}

export type FleetNotice = { kind: 'stopping'; running: string[] } | { kind: 'abandoned'; labels: string[] };

export interface StreamControl {
  /** A graceful stop (first Ctrl+C, SIGTERM, a limit reached): every node stops and sends its final results. */
  stop: AbortSignal;
  /** Quit at once (second Ctrl+C): nodes still running are left without their final results. */
  abort: AbortSignal;
  startTimeoutMs?: number;
  stopWaitMs?: number;
}

export interface StreamSink<E> {
  event(label: string, ev: E): void;
  failed(label: string, err: unknown): void;
  notice?(n: FleetNotice): void;
  /** Once every node has started or failed, and at least one started. */
  allStarted?(): void;
}

export interface StreamOutcome {
  failure?: FleetFailure;
  /** Nodes asked to stop before they had started. */
  stoppedBeforeStart: ReadonlySet<string>;
  /** Nodes left at once on an abort: their final results were not collected. */
  abandoned: ReadonlySet<string>;
}

/**
 * Streams every job concurrently. A node that does not start within the start timeout, whose
 * stream fails, or that ends without its final results is a failure of that node alone. On
 * `stop` every started node is asked to stop (one still starting is stopped as it starts) and
 * given `stopWaitMs` to send its final results; on `abort` the rest are left at once.
 */
export async function streamEach<E>(
  jobs: ReadonlyArray<StreamJob<E>>,
  control: StreamControl,
  sink: StreamSink<E>,
): Promise<StreamOutcome> {
  const failures = new NodeFailures((label, err) => sink.failed(label, err));
  const stoppedBeforeStart = new Set<string>();
  const abandoned = new Set<string>();
  const started = new Set<string>();
  const done = new Set<string>();
  const aborts = new Map(jobs.map((j) => [j.label, new AbortController()]));
  const startTimeoutMs = control.startTimeoutMs ?? START_TIMEOUT_MS;
  const stopWaitMs = control.stopWaitMs ?? STOP_WAIT_MS;
  let announced = false;
  let stopTimer: NodeJS.Timeout | undefined;

  const checkAllStarted = (): void => {
    if (announced || !jobs.every((j) => started.has(j.label) || done.has(j.label)) || started.size === 0) return;
    announced = true;
    sink.allStarted?.();
  };
  // A node that ended just before the stop reached it has nothing left to abort.
  const askStop = (j: StreamJob<E>): void => {
    j.stop().catch(() => {
      if (!j.finished()) aborts.get(j.label)!.abort();
    });
  };
  const onStop = (): void => {
    const running = jobs.filter((j) => !done.has(j.label));
    sink.notice?.({ kind: 'stopping', running: running.map((j) => j.label) });
    for (const j of running) {
      if (started.has(j.label)) askStop(j);
      else stoppedBeforeStart.add(j.label); // stopped as soon as it starts
    }
    stopTimer = setTimeout(() => {
      for (const j of jobs.filter((x) => !done.has(x.label))) {
        if (!started.has(j.label)) stoppedBeforeStart.add(j.label);
        else
          failures.add(
            j.label,
            new CnspectError('CNSPECT_AGENT_UNREACHABLE', `did not confirm its final counts within ${stopWaitMs} ms`, {
              context: { node: j.label },
            }),
          );
        aborts.get(j.label)!.abort();
      }
    }, stopWaitMs);
  };
  const onAbort = (): void => {
    const running = jobs.filter((j) => !done.has(j.label));
    if (running.length) sink.notice?.({ kind: 'abandoned', labels: running.map((j) => j.label) });
    for (const j of running) {
      abandoned.add(j.label);
      aborts.get(j.label)!.abort();
    }
  };
  const listen = (signal: AbortSignal, fn: () => void): void => {
    if (signal.aborted) fn();
    else signal.addEventListener('abort', fn, { once: true });
  };
  listen(control.stop, onStop);
  listen(control.abort, onAbort);

  try {
    await Promise.all(
      jobs.map(async (j) => {
        const abort = aborts.get(j.label)!;
        const startTimer = setTimeout(() => {
          if (started.has(j.label) || abort.signal.aborted) return;
          failures.add(
            j.label,
            new CnspectError('CNSPECT_AGENT_UNREACHABLE', `the capture did not start within ${startTimeoutMs} ms`, {
              context: { node: j.label },
            }),
          );
          abort.abort();
        }, startTimeoutMs);
        try {
          for await (const ev of j.open(abort.signal)) {
            sink.event(j.label, ev);
            if (started.has(j.label) || !j.isStart(ev)) continue;
            started.add(j.label);
            clearTimeout(startTimer);
            if (stoppedBeforeStart.has(j.label)) askStop(j);
            checkAllStarted();
          }
          const quiet = abandoned.has(j.label) || stoppedBeforeStart.has(j.label);
          if (!j.finished() && !failures.has(j.label) && !quiet) {
            failures.add(
              j.label,
              new CnspectError('CNSPECT_AGENT_ERROR', 'the capture ended without its final counts', {
                context: { node: j.label },
              }),
            );
          }
        } catch (err) {
          // A node left on purpose (stopped before it started, abandoned, or done already) has not failed.
          const leftOnPurpose = stoppedBeforeStart.has(j.label) || abandoned.has(j.label) || j.finished();
          if (!(abort.signal.aborted && leftOnPurpose)) failures.add(j.label, err);
        } finally {
          clearTimeout(startTimer);
          done.add(j.label);
          checkAllStarted();
        }
      }),
    );
  } finally {
    clearTimeout(stopTimer);
    control.stop.removeEventListener('abort', onStop);
    control.abort.removeEventListener('abort', onAbort);
  }
  return { failure: failures.failure(jobs.length), stoppedBeforeStart, abandoned };
}
