// The pod namespace's protocol counters from /proc/net/snmp and /proc/net/netstat (read inside
// the namespace): pairs of lines "Group: name name …" / "Group: value value …".
import { CnspectError } from '../../errors.js';

export interface ProtocolCounterValue {
  group: string;
  name: string;
  value: number;
}

/** Pure: the text of /proc/net/snmp or /proc/net/netstat → every counter. */
export function parseProcNetCounters(text: string): ProtocolCounterValue[] {
  const lines = text.split('\n').filter((l) => l.trim());
  const out: ProtocolCounterValue[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [g1, ...names] = lines[i]!.trim().split(/\s+/);
    const [g2, ...values] = lines[i + 1]!.trim().split(/\s+/);
    if (!g1?.endsWith(':') || g1 !== g2 || names.length !== values.length) {
      throw new CnspectError(
        'CNSPECT_TOOL_FAILED',
        `unexpected /proc/net counters near line ${i + 1}: ${JSON.stringify(lines[i]!.slice(0, 40))}`,
      );
    }
    const group = g1.slice(0, -1);
    for (const [j, name] of names.entries()) out.push({ group, name, value: Number(values[j]) });
  }
  return out;
}

/** The counters that tell a pod's networking story (retransmits, resets, no-port, buffer errors …). */
export const POD_COUNTERS: ReadonlyArray<readonly [string, string]> = [
  ['Ip', 'InReceives'],
  ['Ip', 'InDiscards'],
  ['Ip', 'InHdrErrors'],
  ['Ip', 'InAddrErrors'],
  ['Ip', 'OutDiscards'],
  ['Ip', 'OutNoRoutes'],
  ['Icmp', 'InDestUnreachs'],
  ['Icmp', 'OutDestUnreachs'],
  ['Tcp', 'ActiveOpens'],
  ['Tcp', 'PassiveOpens'],
  ['Tcp', 'AttemptFails'],
  ['Tcp', 'EstabResets'],
  ['Tcp', 'CurrEstab'],
  ['Tcp', 'InSegs'],
  ['Tcp', 'OutSegs'],
  ['Tcp', 'RetransSegs'],
  ['Tcp', 'InErrs'],
  ['Tcp', 'OutRsts'],
  ['Udp', 'InDatagrams'],
  ['Udp', 'OutDatagrams'],
  ['Udp', 'NoPorts'],
  ['Udp', 'InErrors'],
  ['Udp', 'RcvbufErrors'],
  ['Udp', 'SndbufErrors'],
  ['TcpExt', 'ListenOverflows'],
  ['TcpExt', 'ListenDrops'],
  ['TcpExt', 'TCPTimeouts'],
  ['TcpExt', 'TCPSynRetrans'],
  ['TcpExt', 'TCPLostRetransmit'],
];

export function selectPodCounters(all: ProtocolCounterValue[]): ProtocolCounterValue[] {
  return POD_COUNTERS.map(([group, name]) => all.find((c) => c.group === group && c.name === name)).filter(
    (c): c is ProtocolCounterValue => c !== undefined,
  );
}
