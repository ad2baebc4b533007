// One decoded packet as a plain record: the shape behind both the text line and the JSON line.
import { type Decoded, decode, newDecoded } from '../packet/decode.js';
import { summarize, tcpFlagsText } from '../packet/describe.js';
import { Direction, type Packet } from '../gen/cnspect/v1/agent.js';

export interface PacketRecord {
  type: 'packet';
  node: string;
  /** RFC 3339 with nanoseconds, UTC. */
  time: string;
  timestampNs: string;
  interface: string;
  direction: 'in' | 'out' | 'unknown';
  protocol: string;
  src: string;
  srcPort?: number;
  dst: string;
  dstPort?: number;
  tcpFlags?: string;
  /** Length on the wire. */
  length: number;
  capturedLength: number;
  info: string;
  /** "namespace/name" of the pods at either end, when known. */
  srcPod?: string;
  dstPod?: string;
}

const scratch = newDecoded();

/** A wire direction as records name it. */
export function directionName(d: Direction): 'in' | 'out' | 'unknown' {
  return d === Direction.DIRECTION_INBOUND ? 'in' : d === Direction.DIRECTION_OUTBOUND ? 'out' : 'unknown';
}

export function nsToIso(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // …T12:34:56.789Z
  return `${iso.slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`;
}

/** `d` is the packet already decoded by the caller, when it has it (decoding is the hot part). */
export function packetRecord(
  node: string,
  linkType: number,
  iface: string,
  p: Packet,
  d: Decoded = decode(linkType, p.data, scratch),
): PacketRecord {
  const s = summarize(d, p.data);
  const rec: PacketRecord = {
    type: 'packet',
    node,
    time: nsToIso(p.timestampNs),
    timestampNs: p.timestampNs.toString(),
    interface: iface,
    direction: directionName(p.direction),
    protocol: s.protocol,
    src: s.src,
    dst: s.dst,
    length: p.originalLength,
    capturedLength: p.data.length,
    info: s.info,
  };
  if (s.srcPort !== undefined) {
    rec.srcPort = s.srcPort;
    rec.dstPort = s.dstPort;
  }
  if (d.tcpFlags >= 0 && s.protocol === 'TCP') rec.tcpFlags = tcpFlagsText(d.tcpFlags);
  return rec;
}

const endpoint = (addr: string, port: number | undefined): string =>
  port === undefined ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;

/** One line per packet: time, node, interface, direction, protocol, addresses, length, decode. */
export function packetLine(r: PacketRecord, withNode: boolean): string {
  const time = r.time.slice(11, 29);
  const dir = r.direction === 'unknown' ? '-' : r.direction;
  return (
    `${time} ${withNode ? `${r.node} ` : ''}${r.interface} ${dir} ${r.protocol} ` +
    `${endpoint(r.src, r.srcPort)} > ${endpoint(r.dst, r.dstPort)} len ${r.length}: ${r.info}`
  );
}
