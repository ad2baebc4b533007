// Human-readable views of a decoded packet: addresses as text and a short tcpdump-like summary.
import { type Decoded, L3 } from './decode.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './linktype.js';

export function macAt(buf: Uint8Array, o: number, length = 6): string {
  let s = '';
  for (let i = 0; i < length; i++) s += (i ? ':' : '') + buf[o + i]!.toString(16).padStart(2, '0');
  return s;
}

export function ipv4At(buf: Uint8Array, o: number): string {
  return `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
}

/** RFC 5952 text form of the IPv6 address at `o`. */
export function ipv6At(buf: Uint8Array, o: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((buf[o + 2 * i]! << 8) | buf[o + 2 * i + 1]!);
  let bestStart = -1,
    bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function srcIp(d: Decoded, buf: Uint8Array): string | undefined {
  if (d.srcIpOffset < 0) return undefined;
  return d.l3 === L3.IPv6 ? ipv6At(buf, d.srcIpOffset) : ipv4At(buf, d.srcIpOffset);
}

export function dstIp(d: Decoded, buf: Uint8Array): string | undefined {
  if (d.dstIpOffset < 0) return undefined;
  return d.l3 === L3.IPv6 ? ipv6At(buf, d.dstIpOffset) : ipv4At(buf, d.dstIpOffset);
}

export function protocolName(d: Decoded): string {
  if (d.l3 === L3.ARP) return 'ARP';
  if (d.l4Proto === -1)
    return d.etherType >= 0 ? `ethertype 0x${d.etherType.toString(16).padStart(4, '0')}` : 'unknown';
  return ipProtocolName(d.l4Proto);
}

/** The name packet and drop records share for an IP protocol number: TCP, UDP, ICMP, ICMPv6, ip-proto-N. */
export function ipProtocolName(proto: number): string {
  switch (proto) {
    case IPPROTO_TCP:
      return 'TCP';
    case IPPROTO_UDP:
      return 'UDP';
    case IPPROTO_ICMP:
      return 'ICMP';
    case IPPROTO_ICMPV6:
      return 'ICMPv6';
    default:
      return `ip-proto-${proto}`;
  }
}

const TCP_FLAG_LETTERS: Array<[number, string]> = [
  [0x02, 'S'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

/** tcpdump's flag notation: [S], [S.], [P.], [F.], [R], with '.' for ACK. */
export function tcpFlagsText(flags: number): string {
  let s = '';
  for (const [bit, letter] of TCP_FLAG_LETTERS) if (flags & bit) s += letter;
  if (flags & 0x10) s += '.';
  return `[${s || 'none'}]`;
}

const ICMP4_TYPES: Record<number, string> = {
  0: 'echo reply',
  3: 'unreachable',
  5: 'redirect',
  8: 'echo request',
  11: 'time exceeded',
};
const ICMP6_TYPES: Record<number, string> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  143: 'multicast listener report v2',
};

export interface PacketSummary {
  src: string;
  dst: string;
  srcPort?: number;
  dstPort?: number;
  protocol: string;
  info: string;
}

/** The addresses, protocol and a one-phrase decode, in the spirit of tcpdump's default line. */
export function summarize(d: Decoded, buf: Uint8Array): PacketSummary {
  const src = srcIp(d, buf) ?? (d.srcMacOffset >= 0 ? macAt(buf, d.srcMacOffset) : '?');
  const dst = dstIp(d, buf) ?? (d.dstMacOffset >= 0 ? macAt(buf, d.dstMacOffset) : '?');
  const protocol = protocolName(d);
  const summary: PacketSummary = { src, dst, protocol, info: '' };
  if (d.srcPort >= 0) {
    summary.srcPort = d.srcPort;
    summary.dstPort = d.dstPort;
  }
  const tail = d.truncated ? ' [truncated]' : '';
  if (d.l3 === L3.ARP) {
    summary.info =
      d.arpOp === 1
        ? `Request who-has ${dst} tell ${src}`
        : d.arpOp === 2
          ? `Reply ${src} is-at ${d.srcMacOffset >= 0 ? macAt(buf, d.srcMacOffset) : '?'}`
          : `op ${d.arpOp}`;
  } else if (d.fragment) {
    summary.info = `fragment, length ${d.payloadLength}`;
  } else if (d.l4Proto === IPPROTO_TCP && d.tcpFlags >= 0) {
    summary.info =
      `Flags ${tcpFlagsText(d.tcpFlags)}, seq ` +
      `${d.tcpSeq}${d.tcpFlags & 0x10 ? `, ack ${d.tcpAck}` : ''}, win ${d.tcpWindow}, length ${d.payloadLength}`;
  } else if (d.l4Proto === IPPROTO_UDP && d.srcPort >= 0) {
    summary.info = `length ${d.payloadLength}`;
  } else if ((d.l4Proto === IPPROTO_ICMP || d.l4Proto === IPPROTO_ICMPV6) && d.icmpType >= 0) {
    const names = d.l4Proto === IPPROTO_ICMP ? ICMP4_TYPES : ICMP6_TYPES;
    const name = names[d.icmpType] ?? `type ${d.icmpType} code ${d.icmpCode}`;
    const echo =
      d.l4Proto === IPPROTO_ICMP ? d.icmpType === 0 || d.icmpType === 8 : d.icmpType === 128 || d.icmpType === 129;
    summary.info = echo && d.icmpId >= 0 ? `${name}, id ${d.icmpId}, seq ${d.icmpSeq}` : name;
  } else if (d.payloadLength >= 0) {
    summary.info = `length ${d.payloadLength}`;
  }
  summary.info += tail;
  return summary;
}
