// The filter model compiled into pktmon filters. pktmon ORs its filters (at most 8) and ANDs
// the conditions inside one; two values for -i/-p/-m mean "between these two" (both), never
// "either". So OR within a field becomes one filter per combination of single values, and
// whatever pktmon cannot say is refused before anything starts — never widened.
import { CnspectError } from '../../errors.js';
import { type Filter, Protocol, TcpFlag } from '../../packet/filter.js';

export const PKTMON_MAX_FILTERS = 8;
export const FILTER_PREFIX = 'cnspect';

const PROTOCOL_ARG: Partial<Record<Protocol, string>> = {
  [Protocol.PROTOCOL_TCP]: 'TCP',
  [Protocol.PROTOCOL_UDP]: 'UDP',
  [Protocol.PROTOCOL_ICMP]: 'ICMP',
  [Protocol.PROTOCOL_ICMPV6]: 'ICMPv6',
};
const FLAG_ARG: Partial<Record<TcpFlag, string>> = {
  [TcpFlag.TCP_FLAG_FIN]: 'FIN',
  [TcpFlag.TCP_FLAG_SYN]: 'SYN',
  [TcpFlag.TCP_FLAG_RST]: 'RST',
  [TcpFlag.TCP_FLAG_PSH]: 'PSH',
  [TcpFlag.TCP_FLAG_ACK]: 'ACK',
  [TcpFlag.TCP_FLAG_URG]: 'URG',
  [TcpFlag.TCP_FLAG_ECE]: 'ECE',
  [TcpFlag.TCP_FLAG_CWR]: 'CWR',
};

const unsupported = (what: string, hint: string): CnspectError =>
  new CnspectError('CNSPECT_FILTER_UNSUPPORTED', `pktmon cannot express ${what}`, { hint });

/** argv of each `pktmon filter add` (without the leading "pktmon"), or [] for no filter. */
export function pktmonFilterArgs(f: Filter): string[][] {
  if (f.exclude.length)
    throw unsupported(
      'a negation (--not): its filters can only include packets',
      'drop --not and narrow the capture with the filters pktmon has',
    );
  const ips = f.cidrs.map((c) => ['-i', c]);
  const macs = f.macs.map((m) => ['-m', m.replace(/:/g, '-').toUpperCase()]);
  const ports = f.ports.map((p) => {
    if (p.first !== p.last)
      throw unsupported(`the port range ${p.first}-${p.last}`, 'list the ports one by one (at most 8 filters in all)');
    return ['-p', String(p.first)];
  });
  const protocols = f.protocols.map((p) => {
    const name = PROTOCOL_ARG[p.protocol];
    if (!name) throw unsupported(`protocol ${p.protocol}`, 'use TCP, UDP, ICMP or ICMPv6');
    return ['-t', name, ...p.tcpFlags.map((fl) => FLAG_ARG[fl]!)];
  });
  const fields = [ips, macs, ports, protocols].filter((x) => x.length > 0);
  const count = fields.reduce((n, x) => n * x.length, 1);
  if (fields.length === 0) return [];
  if (count > PKTMON_MAX_FILTERS) {
    throw unsupported(
      `this filter: OR within a field needs one pktmon filter per combination ` +
        `(${fields.map((x) => x.length).join(' x ')} = ${count}), and pktmon allows ${PKTMON_MAX_FILTERS}`,
      'narrow the filter: fewer values per flag, or a CIDR instead of several addresses',
    );
  }
  let combos: string[][] = [[]];
  for (const field of fields) combos = combos.flatMap((c) => field.map((v) => [...c, ...v]));
  return combos.map((c, i) => ['filter', 'add', `${FILTER_PREFIX}${i + 1}`, ...c]);
}
