// Compiles the filter model into a libpcap expression. Same meaning as src/packet/match.ts:
// OR within a field, AND across fields; hosts/nets/ports match source or destination. A field
// the capture's link type cannot express is refused, never dropped (that would widen the capture).
import { CnspectError } from '../../errors.js';
import { type Filter, Protocol, TCP_FLAG_BITS, type ProtocolMatch } from '../../packet/filter.js';
import type { SelfConnection } from '../backend.js';

export interface BpfContext {
  /** true when the capture runs on every interface ("any"): link type LINUX_SLL2, no MAC headers. */
  anyInterface: boolean;
  /** Keep only packets seen on these interfaces (needs "any"; libpcap's `ifindex`). */
  ifindexes?: number[];
  /** Pod IPs: packets to or from any of them (ANDed with the filter). */
  podIps?: string[];
  /** The agent's own connection to the client: left out so a capture never records itself. */
  self?: SelfConnection;
}

/** The libpcap term of the agent's own connection (both directions). */
export function selfTerm(c: SelfConnection): string {
  return `tcp and host ${c.peerIp} and port ${c.peerPort} and port ${c.agentPort}`;
}

function cidrTerm(cidr: string): string {
  return cidr.includes('/') ? `net ${cidr}` : `host ${cidr}`;
}

function protocolTerm(p: ProtocolMatch): string {
  switch (p.protocol) {
    case Protocol.PROTOCOL_UDP:
      return 'udp';
    case Protocol.PROTOCOL_ICMP:
      return 'icmp';
    case Protocol.PROTOCOL_ICMPV6:
      return 'icmp6';
    case Protocol.PROTOCOL_TCP: {
      const mask = p.tcpFlags.reduce((m, f) => m | TCP_FLAG_BITS[f], 0);
      if (mask === 0) return 'tcp';
      const hex = `0x${mask.toString(16).padStart(2, '0')}`;
      // libpcap's tcp[] reaches IPv4 only; for IPv6 read the flags byte right after a fixed
      // header whose next header is TCP (offset 40 + 13). IPv6 extension headers before TCP are
      // not walked by the kernel filter.
      return `((ip and tcp and tcp[13] & ${hex} = ${hex}) or (ip6 and ip6[6] = 6 and ip6[53] & ${hex} = ${hex}))`;
    }
    default:
      throw new CnspectError('CNSPECT_BAD_REQUEST', `unknown protocol value ${p.protocol}`);
  }
}

function anyOf(terms: string[]): string {
  return terms.length === 1 ? terms[0]! : `(${terms.join(' or ')})`;
}

/** The libpcap expression for `filter`, or "" for the empty filter (capture everything). */
export function compileBpf(filter: Filter, ctx: BpfContext): string {
  const parts: string[] = [];
  if (ctx.ifindexes?.length) parts.push(anyOf(ctx.ifindexes.map((i) => `ifindex ${i}`)));
  if (ctx.podIps?.length) parts.push(anyOf(ctx.podIps.map((ip) => `host ${ip}`)));
  parts.push(...fieldTerms(filter, ctx));
  for (const x of filter.exclude) parts.push(`not (${fieldTerms(x, ctx).join(' and ')})`);
  if (ctx.self) parts.push(`not (${selfTerm(ctx.self)})`);
  return parts.join(' and ');
}

/** One term per field that is set: OR within it; the terms are ANDed. */
function fieldTerms(filter: Filter, ctx: BpfContext): string[] {
  const parts: string[] = [];
  if (filter.cidrs.length) parts.push(anyOf(filter.cidrs.map(cidrTerm)));
  if (filter.macs.length) {
    if (ctx.anyInterface) {
      throw new CnspectError(
        'CNSPECT_FILTER_UNSUPPORTED',
        'MAC filters need a single Ethernet interface: a capture on every interface ("any") carries no ' +
          'Ethernet header to match',
        {
          hint: "add --interface NAME (e.g. the pod's host veth), or filter by IP with -i instead of -m",
        },
      );
    }
    parts.push(anyOf(filter.macs.map((m) => `ether host ${m}`)));
  }
  if (filter.ports.length)
    parts.push(
      anyOf(filter.ports.map((p) => (p.first === p.last ? `port ${p.first}` : `portrange ${p.first}-${p.last}`))),
    );
  if (filter.protocols.length) parts.push(anyOf(filter.protocols.map(protocolTerm)));
  return parts;
}
