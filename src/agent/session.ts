// One capture session on an agent: drives a backend, counts per interface and direction,
// batches packets into events, enforces the duration and size limits, and ends exactly once
// with a summary whose reason is the first one that happened.
import { randomBytes } from 'node:crypto';
import { CnspectError } from '../errors.js';
import type {
  CaptureBackend,
  CaptureHandle,
  CapturedDrop,
  CapturedPacket,
  CapturedText,
  CaptureSpec,
} from '../backends/backend.js';
import {
  type CaptureEvent,
  type CounterSnapshot,
  type Drop,
  type Interface,
  type InterfaceCounters,
  type InterfaceStats,
  type Packet,
  type TextPacket,
  CaptureType,
  Direction,
  Notice_Level,
  StopReason,
} from '../gen/cnspect/v1/agent.js';
import { Dir, decode, newDecoded } from '../packet/decode.js';
import { FlowSelector } from '../packet/flow-select.js';
import { type ByteBudget, EventQueue } from './queue.js';

export const BATCH_MAX_PACKETS = 512;
export const BATCH_MAX_BYTES = 1 << 20;
export const BATCH_FLUSH_MS = 50;
/** Packet bytes a session may hold for a slow client before it drops (and counts) batches. */
export const STREAM_BUFFER_BYTES = 64 << 20;
/**
 * What a queued packet costs beyond its bytes (object, bigint time, Buffer view): measured here,
 * a queued 100-byte packet takes ~210 bytes of heap and ~450 of RSS.
 */
export const PACKET_OVERHEAD_BYTES = 256;
export const DEFAULT_COUNTER_INTERVAL_MS = 1000;

export interface SessionOptions {
  spec: CaptureSpec;
  node: string;
  durationMs: number;
  maxPackets: number;
  maxBytes: number;
  countersOnly: boolean;
  counterIntervalMs: number;
}

interface IfaceCount {
  rxP: number;
  rxB: number;
  txP: number;
  txB: number;
  oP: number;
  oB: number;
}

const wireDirection = (d: Dir): Direction =>
  d === Dir.In
    ? Direction.DIRECTION_INBOUND
    : d === Dir.Out
      ? Direction.DIRECTION_OUTBOUND
      : Direction.DIRECTION_UNKNOWN;

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

export class CaptureSession {
  readonly id = randomBytes(6).toString('hex');
  readonly startedNs = nowNs();
  readonly events: EventQueue<CaptureEvent>;
  private handle: CaptureHandle | undefined;
  private readonly perIface = new Map<number, IfaceCount>();
  private readonly ifaceNames = new Map<number, string>();
  private packets = 0;
  private bytes = 0;
  private streamDropped = 0;
  private batch: Packet[] = [];
  private batchBytes = 0;
  private newIfaces: Interface[] = [];
  /** Set for --type flow: the agent selects flow-opening and -closing packets itself. */
  private readonly flows: FlowSelector | undefined;
  private readonly scratch = newDecoded();
  private pendingNames = 0;
  private readonly dropReasons = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | undefined;
  private counterTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private stopReason: StopReason | undefined;
  private error: Error | undefined;
  /** The backend's start, awaited by a stop that comes in the middle of it. */
  private starting: Promise<CaptureHandle> | undefined;
  /** Set once the backend has stopped: nothing more is taken. */
  private closed = false;
  private finished: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private resolveEnded!: () => void;
  /** Settles once the summary has been queued. */
  readonly ended = new Promise<void>((resolve) => {
    this.resolveEnded = resolve;
  });

  constructor(
    private readonly backend: CaptureBackend,
    readonly options: SessionOptions,
    budget?: ByteBudget,
  ) {
    // Backends that select flows themselves (pktmon) list FLOW; for the others the agent selects.
    this.flows =
      options.spec.type === CaptureType.CAPTURE_TYPE_FLOW &&
      !backend.captureTypes.includes(CaptureType.CAPTURE_TYPE_FLOW)
        ? new FlowSelector()
        : undefined;
    this.events = new EventQueue<CaptureEvent>(
      STREAM_BUFFER_BYTES,
      () => {
        void this.stop(StopReason.STOP_REASON_CANCELLED);
      },
      budget,
    );
  }

  /** How the session ended (after `ended`): the stop reason's name and the error, if any. */
  outcome(): { reason: string; error?: string } {
    const reason = (
      StopReason[this.error ? StopReason.STOP_REASON_ERROR : (this.stopReason ?? StopReason.STOP_REASON_STOPPED)] ??
      'UNKNOWN'
    )
      .replace('STOP_REASON_', '')
      .toLowerCase();
    return this.error
      ? { reason, error: `${this.error instanceof CnspectError ? `${this.error.code}: ` : ''}${this.error.message}` }
      : { reason };
  }

  get capturePoint(): string {
    return this.handle?.capturePoint ?? '';
  }

  get filterExpression(): string {
    return this.handle?.filterExpression ?? '';
  }

  /** Starts the backend; throws (coded) if it cannot. Events flow from then on. */
  async start(): Promise<void> {
    const { spec } = this.options;
    // What a backend reports while it is still starting waits until the session has announced itself.
    let early: Array<() => void> | undefined = [];
    const later = (fn: () => void): void => {
      if (early) early.push(fn);
      else fn();
    };
    this.starting = this.backend.start(spec, {
      // A packet's bytes are only valid during the call: a deferred one keeps a copy.
      packet: (p) => {
        if (early) {
          const kept = { ...p, data: Buffer.from(p.data) };
          early.push(() => this.onPacket(kept));
        } else this.onPacket(p);
      },
      drops: (d) => later(() => this.onDrops(d)),
      texts: (t) => later(() => this.onTexts(t)),
      drain: () => {
        this.flush();
        return this.events.belowHalf();
      },
      notice: (code, message, warning) =>
        later(() =>
          this.events.push({
            event: {
              $case: 'notice',
              value: { level: warning ? Notice_Level.LEVEL_WARNING : Notice_Level.LEVEL_INFO, code, message },
            },
          }),
        ),
    });
    this.handle = await this.starting;
    if (this.stopReason !== undefined) return; // stopped while starting: finish() stops the handle
    this.events.push({
      event: {
        $case: 'started',
        value: {
          sessionId: this.id,
          node: this.options.node,
          bpfExpression: this.handle.filterExpression,
          linkType: this.handle.linkType,
          snaplenBytes: this.handle.snaplen,
          startTimeNs: this.startedNs,
          capturePoint: this.handle.capturePoint,
          selfExcluded: this.handle.selfExcluded ?? '',
        },
      },
    });
    const queued = early;
    early = undefined;
    for (const run of queued) run();
    void this.handle.ended.then(({ error }) => {
      if (error) {
        this.error = error;
        void this.stop(StopReason.STOP_REASON_ERROR);
      } else void this.stop(StopReason.STOP_REASON_STOPPED);
    });
    if (this.options.durationMs > 0) {
      this.durationTimer = setTimeout(() => {
        void this.stop(StopReason.STOP_REASON_DURATION);
      }, this.options.durationMs);
    }
    this.counterTimer = setInterval(() => {
      this.handle?.requestStats();
      this.events.push({ event: { $case: 'counters', value: this.snapshot() } });
    }, this.options.counterIntervalMs);
  }

  /** Packets are taken until the stop, or during it from a backend that delivers them then (file mode). */
  private accepting(): boolean {
    return this.stopReason === undefined || (this.handle?.deliversAtStop === true && !this.closed);
  }

  /** The packet or byte limit this session has reached, if any. */
  private limitReached(): StopReason | undefined {
    const { maxPackets, maxBytes } = this.options;
    if (maxPackets > 0 && this.packets >= maxPackets) return StopReason.STOP_REASON_MAX_PACKETS;
    if (maxBytes > 0 && this.bytes >= maxBytes) return StopReason.STOP_REASON_MAX_BYTES;
    return undefined;
  }

  private onPacket(p: CapturedPacket): void {
    if (!this.accepting() || this.limitReached() !== undefined) return;
    if (
      this.flows &&
      !this.flows.keep(decode(this.handle!.linkType, p.data, this.scratch), p.data, p.sec * 1000 + p.nsec / 1e6)
    )
      return;
    const caplen = p.data.length;
    this.packets++;
    this.bytes += caplen;
    this.count(p.ifindex, p.direction, p.originalLength);
    if (!this.options.countersOnly) {
      this.batch.push({
        timestampNs: BigInt(p.sec) * 1_000_000_000n + BigInt(p.nsec),
        interfaceIndex: p.ifindex,
        direction: wireDirection(p.direction),
        originalLength: p.originalLength,
        data: Buffer.from(p.data),
      });
      this.batchBytes += caplen + PACKET_OVERHEAD_BYTES;
      if (this.batch.length >= BATCH_MAX_PACKETS || this.batchBytes >= BATCH_MAX_BYTES) this.flush();
      else this.flushTimer ??= setTimeout(() => this.flush(), BATCH_FLUSH_MS);
    }
    const limit = this.limitReached();
    if (limit !== undefined) {
      this.flush();
      void this.stop(limit);
    }
  }

  private count(ifindex: number, direction: Dir, length: number): void {
    let c = this.perIface.get(ifindex);
    if (!c) {
      c = { rxP: 0, rxB: 0, txP: 0, txB: 0, oP: 0, oB: 0 };
      this.perIface.set(ifindex, c);
      this.learnInterface(ifindex);
    }
    if (direction === Dir.In) {
      c.rxP++;
      c.rxB += length;
    } else if (direction === Dir.Out) {
      c.txP++;
      c.txB += length;
    } else {
      c.oP++;
      c.oB += length;
    }
  }

  private onTexts(texts: CapturedText[]): void {
    if (this.stopReason !== undefined) return;
    const out: TextPacket[] = [];
    let bytes = 0;
    for (const t of texts) {
      if (this.limitReached() !== undefined) break;
      this.packets++;
      this.bytes += t.loggedLength;
      this.count(t.ifindex, t.direction, t.originalLength);
      out.push({
        timestampNs: t.timeNs,
        interfaceIndex: t.ifindex,
        originalLength: t.originalLength,
        loggedLength: t.loggedLength,
        summary: t.summary,
        direction: wireDirection(t.direction),
        groupId: t.groupId,
        appearance: t.appearance,
        edge: t.edge,
        frameType: t.frameType,
      });
      bytes += t.summary.length + 64;
    }
    if (!this.options.countersOnly && out.length) {
      const interfaces = this.newIfaces;
      this.newIfaces = [];
      if (this.events.wouldExceed(bytes)) this.streamDropped += out.length;
      else this.events.push({ event: { $case: 'records', value: { interfaces, records: out } } }, bytes);
    }
    const limit = this.limitReached();
    if (limit !== undefined) void this.stop(limit);
  }

  private onDrops(drops: CapturedDrop[]): void {
    if (this.stopReason !== undefined) return;
    const out: Drop[] = [];
    for (const d of drops) {
      this.dropReasons.set(d.reason, (this.dropReasons.get(d.reason) ?? 0) + d.count);
      this.packets += d.count;
      out.push({
        timestampNs: BigInt(d.timeMs) * 1_000_000n,
        reason: d.reason,
        reasonCode: d.reasonCode,
        src: d.src,
        dst: d.dst,
        ipProtocol: d.ipProtocol,
        srcPort: d.srcPort,
        dstPort: d.dstPort,
        netnsInode: BigInt(Math.max(0, d.netnsInode)),
        netns: d.netns,
        interface: d.interface,
        count: BigInt(d.count),
        location: d.location ?? '',
      });
    }
    if (!this.options.countersOnly)
      this.events.push({ event: { $case: 'drops', value: { drops: out } } }, out.length * 64);
    if (this.limitReached() === StopReason.STOP_REASON_MAX_PACKETS) void this.stop(StopReason.STOP_REASON_MAX_PACKETS);
  }

  private learnInterface(ifindex: number): void {
    const name = this.handle?.interfaceName(ifindex) ?? `if${ifindex}`;
    if (typeof name === 'string') {
      this.ifaceNames.set(ifindex, name);
      this.newIfaces.push({ index: ifindex, name });
      return;
    }
    // An interface that appeared after the start (a new veth): batches wait for its name so
    // every packet reaches the client with its interface already announced.
    this.ifaceNames.set(ifindex, `if${ifindex}`);
    this.pendingNames++;
    void name.then((resolved) => {
      this.ifaceNames.set(ifindex, resolved);
      this.newIfaces.push({ index: ifindex, name: resolved });
      this.pendingNames--;
      this.flushTimer ??= setTimeout(() => this.flush(), BATCH_FLUSH_MS);
    });
  }

  private flush(final = false): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.pendingNames > 0 && !final) {
      this.flushTimer = setTimeout(() => this.flush(), BATCH_FLUSH_MS);
      return;
    }
    if (this.batch.length === 0 && this.newIfaces.length === 0) return;
    const packets = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    const interfaces = this.newIfaces;
    this.newIfaces = [];
    if (packets.length && this.events.wouldExceed(bytes)) {
      this.streamDropped += packets.length;
      if (interfaces.length) this.events.push({ event: { $case: 'packets', value: { interfaces, packets: [] } } });
      return;
    }
    this.events.push({ event: { $case: 'packets', value: { interfaces, packets } } }, bytes);
  }

  snapshot(): CounterSnapshot {
    const interfaces: InterfaceCounters[] = [...this.perIface].map(([index, c]) => ({
      interface: this.ifaceNames.get(index) ?? `if${index}`,
      rxPackets: BigInt(c.rxP),
      rxBytes: BigInt(c.rxB),
      txPackets: BigInt(c.txP),
      txBytes: BigInt(c.txB),
      otherPackets: BigInt(c.oP),
      otherBytes: BigInt(c.oB),
    }));
    return {
      sessionId: this.id,
      timeNs: nowNs(),
      interfaces,
      packets: BigInt(this.packets),
      bytes: BigInt(this.bytes),
      kernelDropped: BigInt(this.handle?.kernelDropped() ?? 0),
      streamDropped: BigInt(this.streamDropped),
    };
  }

  /** The interfaces' own counters: those on the capture path, or all with `includeHidden`. */
  async interfaceStats(includeHidden: boolean): Promise<InterfaceStats[]> {
    const all = (await this.handle?.interfaceStats?.().catch(() => undefined)) ?? [];
    const onPath = new Set(this.ifaceNames.values());
    return all
      .filter((i) => includeHidden || onPath.has(i.name))
      .map((i) => ({
        interface: i.name,
        rxPackets: BigInt(i.stats.rxPackets),
        rxBytes: BigInt(i.stats.rxBytes),
        txPackets: BigInt(i.stats.txPackets),
        txBytes: BigInt(i.stats.txBytes),
        rxDropped: BigInt(i.stats.rxDropped),
        txDropped: BigInt(i.stats.txDropped),
        rxErrors: BigInt(i.stats.rxErrors),
        txErrors: BigInt(i.stats.txErrors),
        onCapturePath: onPath.has(i.name),
      }));
  }

  /** Ends the session (idempotent: the first reason wins) and emits the summary. */
  stop(reason: StopReason): Promise<void> {
    this.stopReason ??= reason;
    this.finished ??= this.finish();
    return this.finished;
  }

  private async finish(): Promise<void> {
    clearTimeout(this.durationTimer);
    clearInterval(this.counterTimer);
    try {
      // A stop during the start (agent exit, client gone) waits for it, then stops what started.
      this.handle ??= await this.starting?.catch(() => undefined);
      await this.handle?.stop();
    } catch (err) {
      this.error ??= err as Error;
    }
    this.closed = true;
    // Names of interfaces learnt in the last moments, then the last packets.
    for (let i = 0; this.pendingNames > 0 && i < 40; i++) await new Promise((r) => setTimeout(r, 25));
    this.flush(true);
    const reason = this.stopReason ?? StopReason.STOP_REASON_STOPPED;
    if (this.snapshot().kernelDropped > 0n) {
      this.events.push({
        event: {
          $case: 'notice',
          value: {
            level: Notice_Level.LEVEL_WARNING,
            code: 'CNSPECT_KERNEL_DROPS',
            message: `the kernel dropped ${this.handle?.kernelDropped()} packets the capture could not keep up with`,
          },
        },
      });
    }
    if (this.streamDropped > 0) {
      this.events.push({
        event: {
          $case: 'notice',
          value: {
            level: Notice_Level.LEVEL_WARNING,
            code: 'CNSPECT_STREAM_DROPS',
            message: `${this.streamDropped} packets were counted but not sent because the client read too slowly`,
          },
        },
      });
    }
    const err = this.error;
    this.events.push({
      event: {
        $case: 'summary',
        value: {
          sessionId: this.id,
          reason: err ? StopReason.STOP_REASON_ERROR : reason,
          counters: this.snapshot(),
          durationMs: BigInt(Date.now() - this.startedAt),
          errorCode: err ? (err instanceof CnspectError ? err.code : 'CNSPECT_INTERNAL') : '',
          errorMessage: err ? err.message : '',
          dropReasons: [...this.dropReasons]
            .sort((a, b) => b[1] - a[1])
            .map(([r, n]) => ({ reason: r, count: BigInt(n) })),
        },
      },
    });
    this.events.close();
    this.resolveEnded();
  }
}
