// The one filter model (proto `Filter`): OR within a field, AND across fields; addresses, MACs
// and ports match source or destination. This module turns user tokens into that model and
// rejects anything malformed — dropping a bad value silently would widen the capture.
import { isIP } from 'node:net';
import { CnspectError, badFlag, splitList } from '../errors.js';
import { type Filter, type PortRange, Protocol, type ProtocolMatch, TcpFlag } from '../gen/cnspect/v1/agent.js';

export type { Filter, PortRange, ProtocolMatch };
export { Protocol, TcpFlag };

export const PROTOCOL_NAMES: Record<string, Protocol> = {
  TCP: Protocol.PROTOCOL_TCP,
  UDP: Protocol.PROTOCOL_UDP,
  ICMP: Protocol.PROTOCOL_ICMP,
  ICMPV6: Protocol.PROTOCOL_ICMPV6,
};

export const TCP_FLAG_NAMES: Record<string, TcpFlag> = {
  FIN: TcpFlag.TCP_FLAG_FIN,
  SYN: TcpFlag.TCP_FLAG_SYN,
  RST: TcpFlag.TCP_FLAG_RST,
  PSH: TcpFlag.TCP_FLAG_PSH,
  ACK: TcpFlag.TCP_FLAG_ACK,
  URG: TcpFlag.TCP_FLAG_URG,
  ECE: TcpFlag.TCP_FLAG_ECE,
  CWR: TcpFlag.TCP_FLAG_CWR,
};

/** Bit of each flag in the TCP header's flags byte. */
export const TCP_FLAG_BITS: Record<TcpFlag, number> = {
  [TcpFlag.TCP_FLAG_UNSPECIFIED]: 0,
  [TcpFlag.UNRECOGNIZED]: 0,
  [TcpFlag.TCP_FLAG_FIN]: 0x01,
  [TcpFlag.TCP_FLAG_SYN]: 0x02,
  [TcpFlag.TCP_FLAG_RST]: 0x04,
  [TcpFlag.TCP_FLAG_PSH]: 0x08,
  [TcpFlag.TCP_FLAG_ACK]: 0x10,
  [TcpFlag.TCP_FLAG_URG]: 0x20,
  [TcpFlag.TCP_FLAG_ECE]: 0x40,
  [TcpFlag.TCP_FLAG_CWR]: 0x80,
};

export const PROTOCOL_HELP =
  `TCP, UDP, ICMP, ICMPv6, or TCP_<flag>[_<flag>…] with flags ` +
  `${Object.keys(TCP_FLAG_NAMES).join(', ')} (case-insensitive)`;

export function emptyFilter(): Filter {
  return { cidrs: [], macs: [], ports: [], protocols: [], exclude: [] };
}

/** true when the filter sets no field of its own (its exclusions aside). */
export function hasNoFields(f: Filter): boolean {
  return f.cidrs.length + f.macs.length + f.ports.length + f.protocols.length === 0;
}

/** The filter and each of its exclusions: what a backend must be able to express. */
export function allParts(f: Filter): Filter[] {
  return [f, ...f.exclude];
}

/** An IPv4/IPv6 address or CIDR, returned in canonical "addr/prefix" or "addr" form. */
export function parseCidr(token: string, flag = '--ips'): string {
  const text = token.trim();
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) throw badFlag(flag, token, 'an IPv4 or IPv6 address, or a CIDR such as 10.244.0.0/16 or fd00::/64');
  if (slash < 0) return addr.toLowerCase();
  const prefixText = text.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    throw badFlag(flag, token, `a prefix length from 0 to ${max} after the '/'`);
  }
  const prefix = Number(prefixText);
  const bytes = addrBytes(addr);
  const network = maskBytes(bytes, prefix);
  if (network.some((b, i) => b !== bytes[i])) {
    const suggestion = isIP(addr) === 4 ? network.join('.') : compressV6(network);
    // tcpdump fails on "net 10.244.1.7/24"; a CIDR names a network, so say which one was meant.
    throw badFlag(
      flag,
      token,
      `a network address for /${prefix} (host bits zero): did you mean ${suggestion}/${prefix}? (one address: ${addr})`,
    );
  }
  return `${addr.toLowerCase()}/${prefix}`;
}

function addrBytes(addr: string): number[] {
  return isIP(addr) === 4 ? addr.split('.').map(Number) : ipv6Bytes(addr);
}

/** The bytes with every bit past `prefix` cleared. */
function maskBytes(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => b & ((0xff << (8 - Math.max(0, Math.min(8, prefix - i * 8)))) & 0xff));
}

function ipv6Bytes(addr: string): number[] {
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
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

/** RFC 5952 text of 16 bytes: the longest run of two or more zero groups becomes "::". */
function compressV6(bytes: number[]): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** A 48-bit MAC in colon, dash or dotted (Cisco) form, returned as "aa:bb:cc:dd:ee:ff". */
export function parseMac(token: string, flag = '--macs'): string {
  const text = token.trim().toLowerCase();
  let hex: string | undefined;
  if (/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/.test(text)) hex = text.replace(/[:-]/g, '');
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(text)) hex = text.replace(/\./g, '');
  if (!hex) throw badFlag(flag, token, 'a MAC address such as aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff or aabb.ccdd.eeff');
  return hex.match(/../g)!.join(':');
}

/** A port "80" or an inclusive range "8000-8080", each 1..65535 (0 is no port a packet carries). */
export function parsePort(token: string, flag = '--ports'): PortRange {
  const m = /^\s*(\d{1,5})(?:\s*-\s*(\d{1,5}))?\s*$/.exec(token);
  const allowed = 'a port number 1-65535 or a range such as 8000-8080';
  if (!m) throw badFlag(flag, token, allowed);
  const first = Number(m[1]);
  const last = m[2] === undefined ? first : Number(m[2]);
  if (first < 1 || first > 65535 || last > 65535 || last < first) throw badFlag(flag, token, allowed);
  return { first, last };
}

/** TCP, UDP, ICMP, ICMPv6 or TCP_<FLAG>[_<FLAG>…], case-insensitive. */
export function parseProtocol(token: string, flag = '--protocols'): ProtocolMatch {
  const parts = token.trim().toUpperCase().split('_');
  const protocol = PROTOCOL_NAMES[parts[0] ?? ''];
  if (protocol === undefined) throw badFlag(flag, token, PROTOCOL_HELP);
  const tcpFlags: TcpFlag[] = [];
  for (const name of parts.slice(1)) {
    const bit = TCP_FLAG_NAMES[name];
    if (protocol !== Protocol.PROTOCOL_TCP || bit === undefined) throw badFlag(flag, token, PROTOCOL_HELP);
    if (!tcpFlags.includes(bit)) tcpFlags.push(bit);
  }
  return { protocol, tcpFlags };
}

export interface FilterTokens {
  ips?: readonly string[];
  macs?: readonly string[];
  ports?: readonly string[];
  protocols?: readonly string[];
  /** `--not -r 22`: each negated flag occurrence, in its own exclusion. */
  not?: ReadonlyArray<{ field: keyof Omit<FilterTokens, 'not'>; value: string }>;
}

export const MAX_EXCLUSIONS = 16;

/** Builds the filter model from raw flag values, validating every token. */
export function filterFromTokens(t: FilterTokens): Filter {
  const exclude = (t.not ?? []).map(({ field, value }) => fieldsFrom({ [field]: [value] }, '--not '));
  if (exclude.length > MAX_EXCLUSIONS)
    throw badFlag('--not', `${exclude.length} negations`, `at most ${MAX_EXCLUSIONS}`);
  return { ...fieldsFrom(t, ''), exclude };
}

function fieldsFrom(t: FilterTokens, prefix: string): Filter {
  return {
    cidrs: unique(splitList(t.ips, `${prefix}--ips`).map((x) => parseCidr(x, `${prefix}--ips`))),
    macs: unique(splitList(t.macs, `${prefix}--macs`).map((x) => parseMac(x, `${prefix}--macs`))),
    ports: splitList(t.ports, `${prefix}--ports`).map((x) => parsePort(x, `${prefix}--ports`)),
    protocols: splitList(t.protocols, `${prefix}--protocols`).map((x) => parseProtocol(x, `${prefix}--protocols`)),
    exclude: [],
  };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/**
 * Checks a filter that came over the wire: the same rules as the flags, so a remote client
 * cannot smuggle in what the CLI would refuse. Returns it in canonical form.
 */
export function validateFilter(f: Filter | undefined): Filter {
  if (!f) return emptyFilter();
  if (f.exclude.length > MAX_EXCLUSIONS) {
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `invalid filter: ${f.exclude.length} exclusions; allowed: at most ${MAX_EXCLUSIONS}`,
    );
  }
  const exclude = f.exclude.map((x) => {
    if (x.exclude.length)
      throw new CnspectError(
        'CNSPECT_BAD_REQUEST',
        'invalid filter: an exclusion has exclusions of its own; allowed: one level',
      );
    if (hasNoFields(x))
      throw new CnspectError(
        'CNSPECT_BAD_REQUEST',
        'invalid filter: an empty exclusion would leave out every packet; allowed: at least one value',
      );
    return validateFields(x);
  });
  return { ...validateFields(f), exclude };
}

function validateFields(f: Filter): Filter {
  const fail = (what: string, value: string, allowed: string): never => {
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `invalid filter ${what}: ${JSON.stringify(value)}; allowed: ${allowed}`,
    );
  };
  const limit = 64;
  for (const [name, list] of [
    ['cidrs', f.cidrs],
    ['macs', f.macs],
    ['ports', f.ports],
    ['protocols', f.protocols],
  ] as const) {
    if (list.length > limit) fail(name, `${list.length} values`, `at most ${limit}`);
  }
  const cidrs = f.cidrs.map((c) => {
    try {
      return parseCidr(c);
    } catch {
      return fail('cidr', c, 'an IP address or CIDR');
    }
  });
  const macs = f.macs.map((m) => {
    try {
      return parseMac(m);
    } catch {
      return fail('mac', m, 'a MAC address');
    }
  });
  for (const p of f.ports) {
    if (!(p.first <= p.last && p.last <= 65535)) fail('port range', `${p.first}-${p.last}`, 'first <= last <= 65535');
  }
  for (const p of f.protocols) {
    if (!Object.values(PROTOCOL_NAMES).includes(p.protocol))
      fail('protocol', String(p.protocol), 'TCP, UDP, ICMP, ICMPv6');
    for (const flag of p.tcpFlags) {
      if (p.protocol !== Protocol.PROTOCOL_TCP || !Object.values(TCP_FLAG_NAMES).includes(flag))
        fail('tcp flag', String(flag), 'TCP flags on TCP only');
    }
  }
  return {
    cidrs,
    macs,
    ports: f.ports.map((p) => ({ first: p.first, last: p.last })),
    protocols: f.protocols.map((p) => ({ protocol: p.protocol, tcpFlags: [...p.tcpFlags] })),
    exclude: [],
  };
}
