// The filter model as a user-space predicate over decoded packets — the same meaning as the
// BPF the Linux backend generates (see src/backends/linux/bpf.ts), for offline reading, the
// benchmark pipeline and post-filtering where a kernel filter cannot express a field.
import { type Decoded, L3 } from './decode.js';
import { type Filter, Protocol, TCP_FLAG_BITS } from './filter.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './linktype.js';
import { isIPv4 } from 'node:net';

export type PacketPredicate = (d: Decoded, buf: Uint8Array) => boolean;

interface Prefix {
  v6: boolean;
  bytes: Uint8Array;
  bits: number;
}

function addressBytes(addr: string): Uint8Array {
  if (isIPv4(addr)) return Uint8Array.from(addr.split('.').map(Number));
  const [head = '', tail] = addr.split('::');
  const parse = (s: string): number[] =>
    (s ? s.split(':') : []).flatMap((g) => {
      if (g.includes('.')) {
        const b = g.split('.').map(Number);
        return [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
      }
      return [parseInt(g, 16)];
    });
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function toPrefix(cidr: string): Prefix {
  const [addr = '', bits] = cidr.split('/');
  const bytes = addressBytes(addr);
  return { v6: bytes.length === 16, bytes, bits: bits === undefined ? bytes.length * 8 : Number(bits) };
}

function prefixMatches(p: Prefix, buf: Uint8Array, o: number): boolean {
  let bits = p.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((buf[o + i]! & mask) !== (p.bytes[i]! & mask)) return false;
  }
  return true;
}

/** Compiles a filter into a predicate; the empty filter passes everything. Exclusions drop what they match. */
export function compileFilter(f: Filter): PacketPredicate {
  const keep = compileFields(f);
  if (f.exclude.length === 0) return keep;
  const drops = f.exclude.map(compileFields);
  return (d, buf) => {
    if (!keep(d, buf)) return false;
    for (const x of drops) if (x(d, buf)) return false;
    return true;
  };
}

function compileFields(f: Filter): PacketPredicate {
  const checks: PacketPredicate[] = [];
  if (f.cidrs.length) {
    const prefixes = f.cidrs.map(toPrefix);
    checks.push((d, buf) => {
      if (d.srcIpOffset < 0) return false;
      const v6 = d.l3 === L3.IPv6;
      for (const p of prefixes) {
        if (p.v6 !== v6) continue;
        if (prefixMatches(p, buf, d.srcIpOffset) || prefixMatches(p, buf, d.dstIpOffset)) return true;
      }
      return false;
    });
  }
  if (f.macs.length) {
    const macs = f.macs.map((m) => Uint8Array.from(m.split(':').map((x) => parseInt(x, 16))));
    const eq = (buf: Uint8Array, o: number, m: Uint8Array): boolean => {
      for (let i = 0; i < 6; i++) if (buf[o + i] !== m[i]) return false;
      return true;
    };
    checks.push(
      (d, buf) => d.srcMacOffset >= 0 && macs.some((m) => eq(buf, d.srcMacOffset, m) || eq(buf, d.dstMacOffset, m)),
    );
  }
  if (f.ports.length) {
    const ranges = f.ports.map((p) => [p.first, p.last] as const);
    checks.push((d) => {
      if (d.srcPort < 0 || (d.l4Proto !== IPPROTO_TCP && d.l4Proto !== IPPROTO_UDP)) return false;
      for (const [a, b] of ranges)
        if ((d.srcPort >= a && d.srcPort <= b) || (d.dstPort >= a && d.dstPort <= b)) return true;
      return false;
    });
  }
  if (f.protocols.length) {
    const wanted = f.protocols.map((p) => ({
      ipProto:
        p.protocol === Protocol.PROTOCOL_TCP
          ? IPPROTO_TCP
          : p.protocol === Protocol.PROTOCOL_UDP
            ? IPPROTO_UDP
            : p.protocol === Protocol.PROTOCOL_ICMP
              ? IPPROTO_ICMP
              : IPPROTO_ICMPV6,
      v4Only: p.protocol === Protocol.PROTOCOL_ICMP,
      mask: p.tcpFlags.reduce((m, fl) => m | TCP_FLAG_BITS[fl], 0),
    }));
    checks.push((d) => {
      if (d.l3 !== L3.IPv4 && d.l3 !== L3.IPv6) return false;
      for (const w of wanted) {
        if (d.l4Proto !== w.ipProto) continue;
        if (w.v4Only && d.l3 !== L3.IPv4) continue;
        if (w.mask === 0 || (d.tcpFlags >= 0 && (d.tcpFlags & w.mask) === w.mask)) return true;
      }
      return false;
    });
  }
  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0]!;
  return (d, buf) => {
    for (const c of checks) if (!c(d, buf)) return false;
    return true;
  };
}

/** A drop's (or flow's) 5-tuple, as text addresses. */
export interface Tuple {
  src: string;
  dst: string;
  ipProtocol: number;
  srcPort: number;
  dstPort: number;
}

/**
 * The filter as a predicate over 5-tuples (drop records carry no packet bytes). MACs and TCP
 * flags are not in a tuple: callers refuse those filters instead of ignoring them.
 */
export function compileTupleFilter(f: Filter): (t: Tuple) => boolean {
  const keep = compileTupleFields(f);
  const drops = f.exclude.map(compileTupleFields);
  return (t) => keep(t) && !drops.some((x) => x(t));
}

function compileTupleFields(f: Filter): (t: Tuple) => boolean {
  const prefixes = f.cidrs.map(toPrefix);
  const ports = f.ports.map((p) => [p.first, p.last] as const);
  const protos: number[] = f.protocols.map((p) =>
    p.protocol === Protocol.PROTOCOL_TCP
      ? IPPROTO_TCP
      : p.protocol === Protocol.PROTOCOL_UDP
        ? IPPROTO_UDP
        : p.protocol === Protocol.PROTOCOL_ICMP
          ? IPPROTO_ICMP
          : IPPROTO_ICMPV6,
  );
  const hit = (ip: string): boolean => {
    if (!ip) return false;
    const bytes = addressBytes(ip);
    return prefixes.some((p) => p.v6 === (bytes.length === 16) && prefixMatches(p, bytes, 0));
  };
  return (t) => {
    if (prefixes.length && !(hit(t.src) || hit(t.dst))) return false;
    if (
      ports.length &&
      !(
        (t.ipProtocol === IPPROTO_TCP || t.ipProtocol === IPPROTO_UDP) &&
        ports.some(([a, b]) => (t.srcPort >= a && t.srcPort <= b) || (t.dstPort >= a && t.dstPort <= b))
      )
    )
      return false;
    if (protos.length && !protos.includes(t.ipProtocol)) return false;
    return true;
  };
}
