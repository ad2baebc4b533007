// Packet decoder: the hot path (every captured packet goes through it), so it is hand-written
// over raw bytes, fills a caller-owned record instead of allocating, and never throws — every
// read is bounds-checked and a short packet simply stops the decode with `truncated` set.
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  PACKET_OUTGOING,
} from './linktype.js';

// Const enums: plain numbers inlined on the decoder's hot path.
// biome-ignore lint/suspicious/noConstEnum: inlined on the hot path
export const enum L3 {
  None = 0,
  IPv4 = 4,
  IPv6 = 6,
  ARP = 1,
}
// biome-ignore lint/suspicious/noConstEnum: inlined on the hot path
export const enum Dir {
  Unknown = 0,
  In = 1,
  Out = 2,
}

/** Offsets into the packet bytes plus the few header fields cnspect needs. -1 = absent. */
export interface Decoded {
  truncated: boolean;
  /** Offset of the 6-byte destination and source MACs (Ethernet only). */
  dstMacOffset: number;
  srcMacOffset: number;
  /** Link-layer address in an SLL/SLL2 header (the sender's, or ours when outgoing). */
  sllAddrOffset: number;
  sllAddrLength: number;
  /** ifindex from an SLL2 header, else -1. */
  ifindex: number;
  /** Direction from an SLL/SLL2 packet type, else Unknown. */
  direction: Dir;
  vlanIds: number[];
  etherType: number;
  l3: L3;
  l3Offset: number;
  /** Offsets of source/destination IP addresses (4 or 16 bytes, per l3). For ARP: sender/target protocol addresses. */
  srcIpOffset: number;
  dstIpOffset: number;
  ttl: number;
  /** Transport protocol number after IPv6 extension headers; -1 when not reached. */
  l4Proto: number;
  l4Offset: number;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  tcpSeq: number;
  tcpAck: number;
  tcpWindow: number;
  icmpType: number;
  icmpCode: number;
  icmpId: number;
  icmpSeq: number;
  arpOp: number;
  /** Transport payload length per the IP header (not limited by snaplen); -1 when unknown. */
  payloadLength: number;
  /** IPv4 fragment with a non-zero offset: no transport header in it. */
  fragment: boolean;
}

export function newDecoded(): Decoded {
  return {
    truncated: false,
    dstMacOffset: -1,
    srcMacOffset: -1,
    sllAddrOffset: -1,
    sllAddrLength: 0,
    ifindex: -1,
    direction: Dir.Unknown,
    vlanIds: [],
    etherType: -1,
    l3: L3.None,
    l3Offset: -1,
    srcIpOffset: -1,
    dstIpOffset: -1,
    ttl: -1,
    l4Proto: -1,
    l4Offset: -1,
    srcPort: -1,
    dstPort: -1,
    tcpFlags: -1,
    tcpSeq: -1,
    tcpAck: -1,
    tcpWindow: -1,
    icmpType: -1,
    icmpCode: -1,
    icmpId: -1,
    icmpSeq: -1,
    arpOp: -1,
    payloadLength: -1,
    fragment: false,
  };
}

function reset(d: Decoded): void {
  d.truncated = false;
  d.dstMacOffset = -1;
  d.srcMacOffset = -1;
  d.sllAddrOffset = -1;
  d.sllAddrLength = 0;
  d.ifindex = -1;
  d.direction = Dir.Unknown;
  if (d.vlanIds.length) d.vlanIds = [];
  d.etherType = -1;
  d.l3 = L3.None;
  d.l3Offset = -1;
  d.srcIpOffset = -1;
  d.dstIpOffset = -1;
  d.ttl = -1;
  d.l4Proto = -1;
  d.l4Offset = -1;
  d.srcPort = -1;
  d.dstPort = -1;
  d.tcpFlags = -1;
  d.tcpSeq = -1;
  d.tcpAck = -1;
  d.tcpWindow = -1;
  d.icmpType = -1;
  d.icmpCode = -1;
  d.icmpId = -1;
  d.icmpSeq = -1;
  d.arpOp = -1;
  d.payloadLength = -1;
  d.fragment = false;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);

/**
 * Decodes the captured bytes `buf[start, end)` of link type `linkType` into `out`; offsets in
 * `out` index `buf`. Taking a range spares the hot path a Buffer view per packet.
 */
export function decode(
  linkType: number,
  buf: Uint8Array,
  out: Decoded = newDecoded(),
  start = 0,
  end = buf.length,
): Decoded {
  reset(out);
  const s = start;
  const len = end - start;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (len < 14) {
        out.truncated = true;
        return out;
      }
      out.dstMacOffset = s;
      out.srcMacOffset = s + 6;
      decodeEtherType(buf, s + 12, end, out);
      return out;
    }
    case LINKTYPE_LINUX_SLL2: {
      // proto(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
      if (len < 20) {
        out.truncated = true;
        return out;
      }
      out.ifindex = u32(buf, s + 4);
      out.direction = buf[s + 10] === PACKET_OUTGOING ? Dir.Out : Dir.In;
      out.sllAddrOffset = s + 12;
      out.sllAddrLength = Math.min(buf[s + 11]!, 8);
      decodeL3(buf, u16(buf, s), s + 20, end, out);
      return out;
    }
    case LINKTYPE_LINUX_SLL: {
      // pkttype(2) hatype(2) halen(2) addr(8) proto(2)
      if (len < 16) {
        out.truncated = true;
        return out;
      }
      out.direction = u16(buf, s) === PACKET_OUTGOING ? Dir.Out : Dir.In;
      out.sllAddrOffset = s + 6;
      out.sllAddrLength = Math.min(u16(buf, s + 4), 8);
      decodeL3(buf, u16(buf, s + 14), s + 16, end, out);
      return out;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6: {
      if (len < 1) {
        out.truncated = true;
        return out;
      }
      const v = buf[s]! >> 4;
      decodeL3(buf, v === 6 ? ETHERTYPE_IPV6 : v === 4 ? ETHERTYPE_IPV4 : -1, s, end, out);
      return out;
    }
    case LINKTYPE_NULL: {
      if (len < 4) {
        out.truncated = true;
        return out;
      }
      const family = buf[s]! | (buf[s + 1]! << 8); // host byte order, little-endian on every platform we serve
      decodeL3(
        buf,
        family === 2
          ? ETHERTYPE_IPV4
          : family === 10 || family === 24 || family === 28 || family === 30
            ? ETHERTYPE_IPV6
            : -1,
        s + 4,
        end,
        out,
      );
      return out;
    }
    default:
      return out;
  }
}

function decodeEtherType(buf: Uint8Array, at: number, end: number, out: Decoded): void {
  let o = at;
  let type = u16(buf, o);
  o += 2;
  while ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && out.vlanIds.length < 4) {
    if (end < o + 4) {
      out.etherType = type;
      out.truncated = true;
      return;
    }
    out.vlanIds.push(u16(buf, o) & 0x0fff);
    type = u16(buf, o + 2);
    o += 4;
  }
  decodeL3(buf, type, o, end, out);
}

function decodeL3(buf: Uint8Array, etherType: number, o: number, end: number, out: Decoded): void {
  out.etherType = etherType;
  if (etherType === ETHERTYPE_IPV4) decodeIPv4(buf, o, end, out);
  else if (etherType === ETHERTYPE_IPV6) decodeIPv6(buf, o, end, out);
  else if (etherType === ETHERTYPE_ARP) decodeArp(buf, o, end, out);
}

function decodeIPv4(buf: Uint8Array, o: number, end: number, out: Decoded): void {
  if (end < o + 20) {
    out.truncated = true;
    return;
  }
  const ihl = (buf[o]! & 0x0f) * 4;
  if (buf[o]! >> 4 !== 4 || ihl < 20) return; // not a valid IPv4 header: stop without guessing
  out.l3 = L3.IPv4;
  out.l3Offset = o;
  out.srcIpOffset = o + 12;
  out.dstIpOffset = o + 16;
  out.ttl = buf[o + 8]!;
  const totalLength = u16(buf, o + 2);
  const proto = buf[o + 9]!;
  out.l4Proto = proto;
  out.payloadLength = Math.max(0, totalLength - ihl);
  if ((u16(buf, o + 6) & 0x1fff) !== 0) {
    out.fragment = true;
    return;
  }
  if (end < o + ihl) {
    out.truncated = true;
    return;
  }
  decodeL4(buf, proto, o + ihl, end, out);
}

function decodeIPv6(buf: Uint8Array, o: number, end: number, out: Decoded): void {
  if (end < o + 40) {
    out.truncated = true;
    return;
  }
  if (buf[o]! >> 4 !== 6) return;
  out.l3 = L3.IPv6;
  out.l3Offset = o;
  out.srcIpOffset = o + 8;
  out.dstIpOffset = o + 24;
  out.ttl = buf[o + 7]!;
  let remaining = u16(buf, o + 4);
  let next = buf[o + 6]!;
  let p = o + 40;
  // Walk extension headers: hop-by-hop 0, routing 43, fragment 44, destination options 60, AH 51, mobility 135.
  for (let guard = 0; guard < 16; guard++) {
    if (next === 0 || next === 43 || next === 60 || next === 135 || next === 51 || next === 44) {
      if (end < p + 8) {
        out.l4Proto = next;
        out.truncated = true;
        return;
      }
      let hdrLen: number;
      if (next === 44) {
        hdrLen = 8;
        if ((u16(buf, p + 2) & 0xfff8) !== 0) {
          out.fragment = true;
          out.l4Proto = buf[p]!;
          out.payloadLength = Math.max(0, remaining - 8);
          return;
        }
      } else if (next === 51) hdrLen = (buf[p + 1]! + 2) * 4;
      else hdrLen = (buf[p + 1]! + 1) * 8;
      next = buf[p]!;
      p += hdrLen;
      remaining -= hdrLen;
      continue;
    }
    break;
  }
  out.l4Proto = next;
  out.payloadLength = Math.max(0, remaining);
  if (end < p) {
    out.truncated = true;
    return;
  }
  decodeL4(buf, next, p, end, out);
}

function decodeL4(buf: Uint8Array, proto: number, o: number, end: number, out: Decoded): void {
  out.l4Offset = o;
  const len = end;
  if (proto === IPPROTO_TCP) {
    if (len < o + 20) {
      out.truncated = true;
      if (len >= o + 4) {
        out.srcPort = u16(buf, o);
        out.dstPort = u16(buf, o + 2);
      }
      return;
    }
    out.srcPort = u16(buf, o);
    out.dstPort = u16(buf, o + 2);
    out.tcpSeq = u32(buf, o + 4);
    out.tcpAck = u32(buf, o + 8);
    out.tcpFlags = buf[o + 13]!;
    out.tcpWindow = u16(buf, o + 14);
    const dataOffset = (buf[o + 12]! >> 4) * 4;
    if (out.payloadLength >= 0) out.payloadLength = Math.max(0, out.payloadLength - dataOffset);
  } else if (proto === IPPROTO_UDP) {
    if (len < o + 8) {
      out.truncated = true;
      if (len >= o + 4) {
        out.srcPort = u16(buf, o);
        out.dstPort = u16(buf, o + 2);
      }
      return;
    }
    out.srcPort = u16(buf, o);
    out.dstPort = u16(buf, o + 2);
    out.payloadLength = Math.max(0, u16(buf, o + 4) - 8);
  } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
    if (len < o + 4) {
      out.truncated = true;
      return;
    }
    out.icmpType = buf[o]!;
    out.icmpCode = buf[o + 1]!;
    if (len >= o + 8) {
      out.icmpId = u16(buf, o + 4);
      out.icmpSeq = u16(buf, o + 6);
    }
  }
}

function decodeArp(buf: Uint8Array, o: number, end: number, out: Decoded): void {
  // htype(2) ptype(2) hlen(1) plen(1) op(2) sha spa tha tpa
  if (end < o + 8) {
    out.truncated = true;
    return;
  }
  const hlen = buf[o + 4]!;
  const plen = buf[o + 5]!;
  out.l3 = L3.ARP;
  out.l3Offset = o;
  out.arpOp = u16(buf, o + 6);
  if (plen !== 4 || end < o + 8 + 2 * hlen + 2 * plen) {
    out.truncated = end < o + 8 + 2 * hlen + 2 * plen;
    return;
  }
  out.srcIpOffset = o + 8 + hlen;
  out.dstIpOffset = o + 8 + 2 * hlen + plen;
}
