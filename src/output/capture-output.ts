// A capture's events routed to their sinks (text or JSON lines, a pcapng file): records of
// several nodes merged in timestamp order within a reorder window, --max-packets counted over
// all of them, notices and the started line to the status writer, counters kept for the end.
import {
  type CaptureEvent,
  type CaptureSummary,
  type CounterSnapshot,
  type Drop,
  type Packet,
  type TextPacket,
  StopReason,
} from '../gen/cnspect/v1/agent.js';
import { type Decoded, decode, newDecoded } from '../packet/decode.js';
import { dstIp, ipProtocolName, srcIp } from '../packet/describe.js';
import type { OutputFormat } from './formats.js';
import { directionName, nsToIso, packetRecord } from './packet-record.js';
import type { PcapngFile } from './pcapng-file.js';
import { ReorderBuffer } from './reorder.js';
import { type LineRecord, type RecordSink, SINKS, type Write } from './sinks.js';
import { safe, table } from './terminal.js';

export interface CaptureOutputOptions {
  /** Packet lines: "text", "json", or undefined for none (e.g. with -w and no -o). */
  format: OutputFormat | undefined;
  /** Where packet lines go (stdout), one line per call. */
  write: Write;
  /** Where notices and the started lines go (stderr), as given. */
  status: (text: string) => void;
  file?: PcapngFile;
  /** Prefix lines with the node name (several nodes). */
  showNode: boolean;
  /** Pod IP → "namespace/name", to name pods in packet comments and JSON records. */
  podNames?: Map<string, string>;
  /** --max-packets: a total over every node (like tcpdump -c); records past it are not shown or written. */
  maxRecords?: number;
  /** Called once when maxRecords is reached, to stop every node. */
  onLimit?: () => void;
  /** How long records wait to be merged in timestamp order (0: one stream, no merging). */
  reorderWindowMs?: number;
}

interface NodeState {
  linkType: number;
  snaplen: number;
  names: Map<number, string>;
  summary?: CaptureSummary;
  lastCounters?: CounterSnapshot;
  warnedText?: boolean;
  warnedDrops?: boolean;
}

type Pending =
  | { kind: 'packet'; node: string; iface: string; p: Packet }
  | { kind: 'text'; node: string; iface: string; r: TextPacket }
  | { kind: 'drop'; node: string; d: Drop };

export class CaptureOutput {
  private readonly nodes = new Map<string, NodeState>();
  private readonly sinks: RecordSink[] = [];
  private readonly lines: boolean;
  private readonly reorder: ReorderBuffer<Pending>;
  private taken = 0;

  constructor(private readonly o: CaptureOutputOptions) {
    if (o.format) this.sinks.push(SINKS[o.format]({ write: o.write, showNode: o.showNode, render: renderLine }));
    if (o.file)
      this.sinks.push(SINKS.pcapng({ write: o.write, showNode: o.showNode, render: renderLine, file: o.file }));
    this.lines = o.format !== undefined;
    this.reorder = new ReorderBuffer<Pending>((items) => {
      for (const it of items) this.emit(it);
      // Every batch reaches the disk at once (like tcpdump -U): a kill loses at most what is in flight.
      for (const s of this.sinks) s.flush?.();
    }, o.reorderWindowMs ?? 0);
  }

  private state(node: string): NodeState {
    let s = this.nodes.get(node);
    if (!s) {
      s = { linkType: 1, snaplen: 0, names: new Map() };
      this.nodes.set(node, s);
    }
    return s;
  }

  /** Whether one more packet, text record or drop fits under --max-packets; the last one stops every node. */
  private take(): boolean {
    const max = this.o.maxRecords ?? 0;
    if (max === 0) return true;
    if (this.taken >= max) return false;
    if (++this.taken === max) this.o.onLimit?.();
    return true;
  }

  private record(r: LineRecord): void {
    for (const s of this.sinks) s.record?.(r);
  }

  /** Everything still waiting in the reorder window goes out now (end of capture). */
  flush(): void {
    this.reorder.drain(true);
  }

  handle(node: string, ev: CaptureEvent): void {
    const s = this.state(node);
    const e = ev.event;
    if (!e) return;
    switch (e.$case) {
      case 'started':
        s.linkType = e.value.linkType;
        s.snaplen = e.value.snaplenBytes;
        if (this.lines) {
          this.record({
            type: 'started',
            node,
            sessionId: e.value.sessionId,
            filter: e.value.bpfExpression,
            selfExcluded: e.value.selfExcluded,
          });
        }
        this.o.status(
          `${safe(node)}: capturing ${safe(e.value.capturePoint)} (session ${safe(e.value.sessionId)}, ` +
            `kernel filter: ${e.value.bpfExpression ? safe(e.value.bpfExpression) : 'none'})` +
            `${e.value.selfExcluded ? `; leaving out ${safe(e.value.selfExcluded)} (--include-self keeps it)` : ''}\n`,
        );
        break;
      case 'packets':
        for (const i of e.value.interfaces) s.names.set(i.index, i.name);
        for (const p of e.value.packets) {
          if (!this.take()) break;
          const iface = s.names.get(p.interfaceIndex) ?? `if${p.interfaceIndex}`;
          this.reorder.push(p.timestampNs, { kind: 'packet', node, iface, p });
        }
        break;
      case 'records':
        for (const i of e.value.interfaces) s.names.set(i.index, i.name);
        if (this.o.file && e.value.records.length && !s.warnedText) {
          s.warnedText = true;
          this.o.status(
            `${safe(node)}: this agent sends decoded text without packet bytes; they cannot go into ` +
              `${this.o.file.path} (update the agent)\n`,
          );
        }
        for (const r of e.value.records) {
          if (!this.take()) break;
          this.reorder.push(r.timestampNs, {
            kind: 'text',
            node,
            iface: s.names.get(r.interfaceIndex) ?? `${r.interfaceIndex}`,
            r,
          });
        }
        break;
      case 'counters':
        s.lastCounters = e.value;
        break;
      case 'drops':
        if (this.o.file && e.value.drops.length && !s.warnedDrops) {
          s.warnedDrops = true;
          this.o.status(
            `${safe(node)}: drop records are not packets: they are not written to ${this.o.file.path} (they ` +
              `are shown here and counted at the end)\n`,
          );
        }
        for (const d of e.value.drops) {
          if (!this.take()) break;
          this.reorder.push(d.timestampNs, { kind: 'drop', node, d });
        }
        break;
      case 'notice':
        if (this.lines) this.record({ type: 'notice', node, code: e.value.code, message: e.value.message });
        this.o.status(`${safe(node)}: ${safe(e.value.code)}: ${safe(e.value.message)}\n`);
        break;
      case 'summary':
        // The node's last records first, then its summary.
        this.reorder.drain(true);
        s.summary = e.value;
        s.lastCounters = e.value.counters;
        if (this.lines) this.record(summaryJson(node, e.value) as LineRecord);
        break;
    }
  }

  /** A record whose window has passed, to every sink. */
  private emit(it: Pending): void {
    const s = this.state(it.node);
    if (it.kind === 'text') {
      this.record(textRecord(it.node, it.iface, it.r) as unknown as LineRecord);
      return;
    }
    if (it.kind === 'drop') {
      this.record(dropRecord(it.node, it.d, this.o.podNames) as unknown as LineRecord);
      return;
    }
    const { node, iface, p } = it;
    const names = this.o.podNames?.size ? this.o.podNames : undefined;
    const d = names || this.lines ? decode(s.linkType, p.data, scratch) : undefined;
    const pods = names && d ? podsOf(d, p.data, names) : undefined;
    for (const sink of this.sinks)
      sink.packet?.({ node, iface, linkType: s.linkType, snaplen: s.snaplen, packet: p, comment: pods?.comment });
    if (!this.lines) return;
    const rec = packetRecord(node, s.linkType, iface, p, d);
    if (pods?.src) rec.srcPod = pods.src;
    if (pods?.dst) rec.dstPod = pods.dst;
    this.record(rec as unknown as LineRecord);
  }

  /** The per-interface counters table of every node (for --counters-only and the end of a capture). */
  countersTable(): string {
    const rows: string[][] = [];
    for (const [node, s] of this.nodes) {
      const c = s.lastCounters;
      if (!c) continue;
      for (const i of c.interfaces) {
        rows.push([
          node,
          safe(i.interface),
          `${i.rxPackets}`,
          `${i.rxBytes}`,
          `${i.txPackets}`,
          `${i.txBytes}`,
          `${i.otherPackets}`,
          `${i.otherBytes}`,
        ]);
      }
      rows.push([
        node,
        'TOTAL',
        '',
        '',
        '',
        '',
        `${c.packets} packets`,
        `${c.bytes} bytes, kernel drops ${c.kernelDropped}, stream drops ${c.streamDropped}`,
      ]);
    }
    return table(
      ['NODE', 'INTERFACE', 'RX PKTS', 'RX BYTES', 'TX PKTS', 'TX BYTES', 'OTHER PKTS', 'OTHER BYTES'],
      rows,
    );
  }

  /** Drops per node and reason over the whole capture (capture type drop). */
  dropTable(): string | undefined {
    const rows: string[][] = [];
    for (const [node, s] of this.nodes)
      for (const r of s.summary?.dropReasons ?? []) rows.push([node, safe(r.reason), `${r.count}`]);
    return rows.length ? table(['NODE', 'DROP REASON', 'COUNT'], rows) : undefined;
  }

  /** One `{"type":"counters",…}` record per node (--counters-only -o json: every stdout line a typed record). */
  countersRecords(): Array<Record<string, unknown>> {
    return [...this.nodes]
      .filter(([, s]) => s.lastCounters)
      .map(([node, s]) => ({ type: 'counters', ...countersJson(node, s.lastCounters!) }));
  }
}

const scratch = newDecoded();

/** The pods a packet goes between, and the pcapng comment naming them (when either is known). */
function podsOf(
  d: Decoded,
  data: Uint8Array,
  names: Map<string, string>,
): { src?: string; dst?: string; comment?: string } {
  const sip = srcIp(d, data);
  const dip = dstIp(d, data);
  const src = sip ? names.get(sip) : undefined;
  const dst = dip ? names.get(dip) : undefined;
  if (!src && !dst) return {};
  return { src, dst, comment: `${src ?? sip ?? '?'} → ${dst ?? dip ?? '?'}` };
}

export function countersJson(node: string, c: CounterSnapshot): Record<string, unknown> {
  return {
    node,
    sessionId: c.sessionId,
    packets: Number(c.packets),
    bytes: Number(c.bytes),
    kernelDropped: Number(c.kernelDropped),
    streamDropped: Number(c.streamDropped),
    interfaces: c.interfaces.map((i) => ({
      interface: i.interface,
      rxPackets: Number(i.rxPackets),
      rxBytes: Number(i.rxBytes),
      txPackets: Number(i.txPackets),
      txBytes: Number(i.txBytes),
      otherPackets: Number(i.otherPackets),
      otherBytes: Number(i.otherBytes),
    })),
  };
}

export interface TextPacketJson {
  type: 'packet';
  node: string;
  time: string;
  timestampNs: string;
  /** pktmon component: "id:name". */
  interface: string;
  direction: 'in' | 'out' | 'unknown';
  frameType: string;
  length: number;
  capturedLength: number;
  info: string;
  pktGroupId: string;
  appearance: number;
  edge: number;
}

function textRecord(node: string, iface: string, r: TextPacket): TextPacketJson {
  return {
    type: 'packet',
    node,
    time: nsToIso(r.timestampNs),
    timestampNs: r.timestampNs.toString(),
    interface: iface,
    direction: directionName(r.direction),
    frameType: r.frameType,
    length: r.originalLength,
    capturedLength: r.loggedLength,
    info: r.summary,
    pktGroupId: r.groupId,
    appearance: r.appearance,
    edge: r.edge,
  };
}

function textLine(r: TextPacketJson, withNode: boolean): string {
  const dir = r.direction === 'unknown' ? '-' : r.direction;
  return (
    `${r.time.slice(11, 29)} ${withNode ? `${r.node} ` : ''}${r.interface} ${dir} #${r.appearance} ` +
    `${r.frameType} len ${r.length}: ${r.info}`
  );
}

export function stopReasonName(r: StopReason): string {
  return (StopReason[r] ?? 'UNKNOWN').replace('STOP_REASON_', '').toLowerCase();
}

export interface DropJson {
  type: 'drop';
  node: string;
  time: string;
  reason: string;
  /** As in packet records: TCP, UDP, ICMP, ICMPv6, ip-proto-N; "unknown" without an IP header. */
  protocol: string;
  src: string;
  srcPort?: number;
  dst: string;
  dstPort?: number;
  netns: string;
  interface: string;
  count: number;
  location?: string;
  srcPod?: string;
  dstPod?: string;
}

function dropRecord(node: string, d: Drop, pods: Map<string, string> | undefined): DropJson {
  const rec: DropJson = {
    type: 'drop',
    node,
    time: nsToIso(d.timestampNs),
    reason: d.reason,
    protocol: d.src ? ipProtocolName(d.ipProtocol) : 'unknown',
    src: d.src,
    dst: d.dst,
    netns: d.netns,
    interface: d.interface,
    count: Number(d.count),
  };
  if (d.ipProtocol === 6 || d.ipProtocol === 17) {
    rec.srcPort = d.srcPort;
    rec.dstPort = d.dstPort;
  }
  if (d.location) rec.location = d.location;
  const sp = pods?.get(d.src);
  const dp = pods?.get(d.dst);
  if (sp) rec.srcPod = sp;
  if (dp) rec.dstPod = dp;
  return rec;
}

function dropLine(r: DropJson, withNode: boolean): string {
  const ep = (a: string, p: number | undefined, pod: string | undefined): string =>
    `${a || '?'}${p === undefined ? '' : `:${p}`}${pod ? ` (${pod})` : ''}`;
  const where = [r.netns, r.interface].filter(Boolean).join('/') || 'host';
  const what = r.src
    ? `${r.protocol} ${ep(r.src, r.srcPort, r.srcPod)} > ${ep(r.dst, r.dstPort, r.dstPod)}`
    : 'no IPv4 header';
  return (
    `${r.time.slice(11, 29)} ${withNode ? `${r.node} ` : ''}DROP ${r.reason} ${what} at ` +
    `${where}${r.location ? ` (${r.location})` : ''}${r.count > 1 ? ` x${r.count}` : ''}`
  );
}

/** The text line of a record that is not a decoded packet (a Windows text record, a drop); none for the rest. */
function renderLine(r: LineRecord, showNode: boolean): string | undefined {
  if (r.type === 'drop') return dropLine(r as unknown as DropJson, showNode);
  if (r.type === 'packet') return textLine(r as unknown as TextPacketJson, showNode);
  return undefined;
}

function summaryJson(node: string, s: CaptureSummary): Record<string, unknown> {
  return {
    ...(s.dropReasons.length
      ? { dropReasons: Object.fromEntries(s.dropReasons.map((r) => [r.reason, Number(r.count)])) }
      : {}),
    type: 'summary',
    node,
    sessionId: s.sessionId,
    reason: stopReasonName(s.reason),
    durationMs: Number(s.durationMs),
    ...(s.errorCode ? { errorCode: s.errorCode, errorMessage: s.errorMessage } : {}),
    counters: s.counters ? countersJson(node, s.counters) : undefined,
  };
}
