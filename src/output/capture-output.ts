// Where a capture's events go: packet lines (text or JSON) to a stream, packets to a pcapng file,
// notices and summaries to stderr, counters kept for the final table. One instance serves every
// node of a capture, so lines and files carry the node.
import {
  type CaptureEvent,
  type CaptureSummary,
  type CounterSnapshot,
  type Drop,
  type TextPacket,
  StopReason,
} from '../gen/cnspect/v1/agent.js';
import { DIRECTION_FLAG_INBOUND, DIRECTION_FLAG_OUTBOUND } from '../packet/pcapng-writer.js';
import { type Decoded, decode, newDecoded } from '../packet/decode.js';
import { dstIp, ipProtocolName, srcIp } from '../packet/describe.js';
import { Direction } from '../gen/cnspect/v1/agent.js';
import type { OutputFormat } from './formats.js';
import { directionName, nsToIso, packetLine, packetRecord } from './packet-record.js';
import type { PcapngFile } from './pcapng-file.js';
import { safe, table } from './terminal.js';

export interface CaptureOutputOptions {
  /** Packet lines: "text", "json", or undefined for none (e.g. with -w and no -o). */
  format: OutputFormat | undefined;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  file?: PcapngFile;
  /** Prefix lines with the node name (several nodes). */
  showNode: boolean;
  /** Pod IP → "namespace/name", to name pods in packet comments and JSON records. */
  podNames?: Map<string, string>;
  /** --max-packets: a total over every node (like tcpdump -c); records past it are not shown or written. */
  maxRecords?: number;
  /** Called once when maxRecords is reached, to stop every node. */
  onLimit?: () => void;
}

interface NodeState {
  linkType: number;
  snaplen: number;
  names: Map<number, string>;
  summary?: CaptureSummary;
  lastCounters?: CounterSnapshot;
  sessionId?: string;
  warnedText?: boolean;
  warnedDrops?: boolean;
}

export class CaptureOutput {
  private readonly nodes = new Map<string, NodeState>();
  private taken = 0;

  constructor(private readonly o: CaptureOutputOptions) {}

  private state(node: string): NodeState {
    let s = this.nodes.get(node);
    if (!s) {
      s = { linkType: 1, snaplen: 0, names: new Map() };
      this.nodes.set(node, s);
    }
    return s;
  }

  sessionId(node: string): string | undefined {
    return this.nodes.get(node)?.sessionId;
  }

  summary(node: string): CaptureSummary | undefined {
    return this.nodes.get(node)?.summary;
  }

  /** Whether one more packet, text record or drop fits under --max-packets; the last one stops every node. */
  private take(): boolean {
    const max = this.o.maxRecords ?? 0;
    if (max === 0) return true;
    if (this.taken >= max) return false;
    if (++this.taken === max) this.o.onLimit?.();
    return true;
  }

  /** Packets, text records and drops shown or written so far (only counted under --max-packets). */
  get recordsTaken(): number {
    return this.taken;
  }

  handle(node: string, ev: CaptureEvent): void {
    const s = this.state(node);
    const e = ev.event;
    if (!e) return;
    switch (e.$case) {
      case 'started':
        s.linkType = e.value.linkType;
        s.snaplen = e.value.snaplenBytes;
        s.sessionId = e.value.sessionId;
        if (this.o.format === 'json') {
          this.line(
            JSON.stringify({
              type: 'started',
              node,
              sessionId: e.value.sessionId,
              filter: e.value.bpfExpression,
              selfExcluded: e.value.selfExcluded,
            }),
          );
        }
        this.o.err.write(
          `${safe(node)}: capturing ${safe(e.value.capturePoint)} (session ${safe(e.value.sessionId)}, ` +
            `kernel filter: ${e.value.bpfExpression ? safe(e.value.bpfExpression) : 'none'})` +
            `${e.value.selfExcluded ? `; leaving out ${safe(e.value.selfExcluded)} (--include-self keeps it)` : ''}\n`,
        );
        break;
      case 'packets':
        for (const i of e.value.interfaces) s.names.set(i.index, safe(i.name));
        for (const p of e.value.packets) {
          if (!this.take()) break;
          const iface = s.names.get(p.interfaceIndex) ?? `if${p.interfaceIndex}`;
          const names = this.o.podNames?.size ? this.o.podNames : undefined;
          const d = names || this.o.format ? decode(s.linkType, p.data, scratch) : undefined;
          const pods = names && d ? podsOf(d, p.data, names) : undefined;
          if (this.o.file) {
            const id = this.o.file.interfaceId(`${node}/${p.interfaceIndex}`, {
              linkType: s.linkType,
              name: `${node}/${iface}`,
              description: `${iface} on ${node}`,
              snaplen: s.snaplen,
            });
            const ns = p.timestampNs;
            this.o.file.add({
              interfaceId: id,
              sec: Number(ns / 1_000_000_000n),
              nsec: Number(ns % 1_000_000_000n),
              originalLength: p.originalLength,
              data: p.data,
              direction:
                p.direction === Direction.DIRECTION_INBOUND
                  ? DIRECTION_FLAG_INBOUND
                  : p.direction === Direction.DIRECTION_OUTBOUND
                    ? DIRECTION_FLAG_OUTBOUND
                    : 0,
              comment: pods?.comment,
            });
          }
          if (this.o.format) {
            const rec = packetRecord(node, s.linkType, iface, p, d);
            if (pods?.src) rec.srcPod = pods.src;
            if (pods?.dst) rec.dstPod = pods.dst;
            this.line(this.o.format === 'json' ? JSON.stringify(rec) : safe(packetLine(rec, this.o.showNode)));
          }
        }
        // Every batch reaches the disk at once (like tcpdump -U): a kill loses at most the batch in flight.
        this.o.file?.flush();
        break;
      case 'records':
        for (const i of e.value.interfaces) s.names.set(i.index, safe(i.name));
        if (this.o.file && e.value.records.length && !s.warnedText) {
          s.warnedText = true;
          this.o.err.write(
            `${safe(node)}: this agent sends decoded text without packet bytes; they cannot go into ` +
              `${this.o.file.path} (update the agent)\n`,
          );
        }
        for (const r of e.value.records) {
          if (!this.take()) break;
          const rec = textRecord(node, s.names.get(r.interfaceIndex) ?? `${r.interfaceIndex}`, r);
          if (this.o.format === 'json') this.line(JSON.stringify(rec));
          else if (this.o.format) this.line(safe(textLine(rec, this.o.showNode)));
        }
        break;
      case 'counters':
        s.lastCounters = e.value;
        break;
      case 'drops':
        if (this.o.file && e.value.drops.length && !s.warnedDrops) {
          s.warnedDrops = true;
          this.o.err.write(
            `${safe(node)}: drop records are not packets: they are not written to ${this.o.file.path} (they ` +
              `are shown here and counted at the end)\n`,
          );
        }
        for (const d of e.value.drops) {
          if (!this.take()) break;
          const rec = dropRecord(node, d, this.o.podNames);
          if (this.o.format === 'json') this.line(JSON.stringify(rec));
          else if (this.o.format) this.line(safe(dropLine(rec, this.o.showNode)));
        }
        break;
      case 'notice':
        if (this.o.format === 'json')
          this.line(JSON.stringify({ type: 'notice', node, code: e.value.code, message: e.value.message }));
        this.o.err.write(`${safe(node)}: ${safe(e.value.code)}: ${safe(e.value.message)}\n`);
        break;
      case 'summary':
        s.summary = e.value;
        s.lastCounters = e.value.counters;
        this.o.file?.flush();
        if (this.o.format === 'json') this.line(JSON.stringify(summaryJson(node, e.value)));
        break;
    }
  }

  private line(text: string): void {
    this.o.out.write(`${text}\n`);
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
