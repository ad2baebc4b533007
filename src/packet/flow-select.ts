// `--type flow`: keep only the packets that open or close a flow. The rule:
//  - TCP: every packet with SYN, FIN or RST set (opens, closes, resets);
//  - UDP, ICMP, ICMPv6: the first packet of a flow, and the first again after the flow was idle
//    for `idleTimeoutMs`. A flow is both directions of (protocol, addresses, ports) — for ICMP
//    echo the identifier stands in for ports, for other ICMP messages the type;
//  - everything else (ARP, fragments, other protocols): not kept.
import { type Decoded, L3 } from './decode.js';
import { srcIp, dstIp } from './describe.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP } from './linktype.js';

export const FLOW_IDLE_TIMEOUT_MS = 30_000;
/** Flows remembered at most; the oldest are forgotten first (bounded memory under scans). */
export const FLOW_TABLE_MAX = 65_536;
const TCP_OPEN_CLOSE = 0x01 | 0x02 | 0x04; // FIN, SYN, RST

export class FlowSelector {
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly idleTimeoutMs = FLOW_IDLE_TIMEOUT_MS,
    private readonly maxFlows = FLOW_TABLE_MAX,
  ) {}

  /** Whether to keep the packet; `nowMs` is its capture time. */
  keep(d: Decoded, buf: Uint8Array, nowMs: number): boolean {
    if ((d.l3 !== L3.IPv4 && d.l3 !== L3.IPv6) || d.fragment) return false;
    if (d.l4Proto === IPPROTO_TCP) return d.tcpFlags >= 0 && (d.tcpFlags & TCP_OPEN_CLOSE) !== 0;
    let a: string;
    let b: string;
    if (d.l4Proto === IPPROTO_UDP && d.srcPort >= 0) {
      a = `${srcIp(d, buf)}|${d.srcPort}`;
      b = `${dstIp(d, buf)}|${d.dstPort}`;
    } else if ((d.l4Proto === IPPROTO_ICMP || d.l4Proto === IPPROTO_ICMPV6) && d.icmpType >= 0) {
      const echo =
        d.l4Proto === IPPROTO_ICMP ? d.icmpType === 0 || d.icmpType === 8 : d.icmpType === 128 || d.icmpType === 129;
      const tag = echo ? `id${d.icmpId}` : `t${d.icmpType}`;
      a = `${srcIp(d, buf)}|${tag}`;
      b = `${dstIp(d, buf)}|${tag}`;
    } else return false;
    const key = `${d.l4Proto}|${a < b ? `${a}|${b}` : `${b}|${a}`}`;
    const last = this.lastSeen.get(key);
    this.lastSeen.delete(key); // re-insert: Map order = least recently seen first
    this.lastSeen.set(key, nowMs);
    if (this.lastSeen.size > this.maxFlows) this.lastSeen.delete(this.lastSeen.keys().next().value!);
    return last === undefined || nowMs - last > this.idleTimeoutMs;
  }
}
