// Where a capture's records go, one sink per output kind: text lines, JSON lines, a pcapng
// file. A sink gets a writer function, never a process stream; text is escaped for the terminal
// here and only here (pcapng keeps the names as the node gave them, JSON escapes by itself).
import { DIRECTION_FLAG_INBOUND, DIRECTION_FLAG_OUTBOUND } from '../packet/pcapng-writer.js';
import { Direction, type Packet } from '../gen/cnspect/v1/agent.js';
import type { OutputFormat } from './formats.js';
import { type PacketRecord, packetLine } from './packet-record.js';
import type { PcapngFile } from './pcapng-file.js';
import { safe } from './terminal.js';

/** A packet with its bytes, as the pcapng sink needs it. */
export interface SinkPacket {
  node: string;
  iface: string;
  linkType: number;
  snaplen: number;
  packet: Packet;
  /** "src pod → dst pod", when the inventory knows either. */
  comment?: string;
}

/** What line sinks render: one typed record each (a `packet` record carries its text line's fields). */
export type LineRecord = { type: string; node: string } & Record<string, unknown>;

export interface RecordSink {
  packet?(p: SinkPacket): void;
  record?(r: LineRecord): void;
  /** End of a batch: what was written reaches its destination (pcapng: like tcpdump -U). */
  flush?(): void;
}

export type Write = (line: string) => void;

/** The kinds `-o` and `-w` name; the sqlite store and the live table plug in here. */
export type SinkKind = OutputFormat | 'pcapng';

/** Renders a record as the text line of its type; undefined for records that have no line. */
export type TextRenderer = (r: LineRecord, showNode: boolean) => string | undefined;

const textLines = (write: Write, showNode: boolean, render: TextRenderer): RecordSink => ({
  record: (r) => {
    const line =
      r.type === 'packet' && 'protocol' in r ? packetLine(r as unknown as PacketRecord, showNode) : render(r, showNode);
    if (line !== undefined) write(safe(line));
  },
});

const jsonLines = (write: Write): RecordSink => ({ record: (r) => write(JSON.stringify(r)) });

const pcapngFile = (file: PcapngFile): RecordSink => ({
  packet: ({ node, iface, linkType, snaplen, packet: p, comment }) => {
    const id = file.interfaceId(`${node}/${p.interfaceIndex}`, {
      linkType,
      name: `${node}/${iface}`,
      description: `${iface} on ${node}`,
      snaplen,
    });
    const ns = p.timestampNs;
    file.add({
      interfaceId: id,
      sec: Number(ns / 1_000_000_000n),
      nsec: Number(ns % 1_000_000_000n),
      originalLength: p.originalLength,
      data: p.data,
      direction: pcapngDirection(p.direction),
      comment,
    });
  },
  flush: () => file.flush(),
});

/** The one mapping from the wire's direction to pcapng's epb_flags. */
export function pcapngDirection(d: Direction): number {
  if (d === Direction.DIRECTION_INBOUND) return DIRECTION_FLAG_INBOUND;
  if (d === Direction.DIRECTION_OUTBOUND) return DIRECTION_FLAG_OUTBOUND;
  return 0;
}

export interface SinkOptions {
  write: Write;
  showNode: boolean;
  render: TextRenderer;
  file?: PcapngFile;
}

export const SINKS: Record<SinkKind, (o: SinkOptions) => RecordSink> = {
  text: (o) => textLines(o.write, o.showNode, o.render),
  json: (o) => jsonLines(o.write),
  pcapng: (o) => pcapngFile(o.file!),
};
