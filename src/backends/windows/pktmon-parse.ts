// Pure parsers for pktmon's text: real-time and etl2txt packet lines, `pktmon list`, and the
// drop reason table. Field labels may be localised; the packet header is found by its
// PktGroupId anchor and read by position. Anything that does not fit fails with a message.
import { isIP } from 'node:net';
import { CnspectError } from '../../errors.js';

export interface PktmonPacket {
  /** "HH:MM:SS.fffffff" (real-time) or "YYYY-MM-DD HH:MM:SS.fffffff" (etl2txt). */
  time: string;
  pktGroupId: string;
  pktNumber: number;
  appearance: number;
  direction: 'Tx' | 'Rx' | string;
  type: string;
  component: number;
  edge: number;
  filter: number;
  originalSize: number;
  loggedSize: number;
  /** The indented decode line that follows, when present. */
  decode?: string;
  /**
   * Drop records carry a reason and a location: a code (mapped through the documented tables) or the text pktmon
   * printed.
   */
  dropReason?: number | string;
  dropLocation?: number | string;
}

// [cpu]pid.tid:: (etl2txt prefix), date, time, [event], a label ("Packet:"), then PktGroupId and the rest.
const HEADER = new RegExp(
  String.raw`^\s*(?:\[[0-9A-Fa-f]+\][0-9A-Fa-f]+\.[0-9A-Fa-f]+::)?(\d{4}-\d\d-\d\d )?(\d\d:\d\d:\d\d\.\d+)\s+` +
    String.raw`(?:\[[^\]]+\]\s+)?(?:[^\s,:]+:\s+)?PktGroupId\s+(\d+),(.*)$`,
);

function fail(what: string, line: string): never {
  throw new CnspectError('CNSPECT_TOOL_FAILED', `unrecognised pktmon ${what}: ${JSON.stringify(line.slice(0, 120))}`, {
    hint: 'the pktmon build may print a format cnspect does not know; please report it with this line',
  });
}

/** A drop field's value: a number (decimal or 0x hex) or the words after the label. */
function codeOrText(field: string): number | string {
  const tokens = field.trim().split(/\s+/);
  const last = tokens.at(-1) ?? '';
  if (/^(0x[0-9A-Fa-f]+|\d+)$/.test(last)) return Number(last);
  return tokens.length > 1 ? tokens.slice(1).join(' ') : last;
}

/**
 * One header line ("… PktGroupId N, PktNumber N, …"); undefined for lines that are not headers.
 * After PktGroupId come 9 fields in a fixed order (pktmon.sys message 0xb00000a0: PktNumber,
 * Appearance, Direction, Type, Component, Edge, Filter, OriginalSize, LoggedSize), or 11 for a drop
 * ("Drop: …", 0xb00000aa: DropReason and DropLocation sit between Filter and OriginalSize).
 * Labels may be localised, so fields are read by position.
 */
export function parsePktmonHeader(line: string): PktmonPacket | undefined {
  const m = HEADER.exec(line);
  if (!m) return undefined;
  const fields = m[4]!.split(',');
  if (fields.length !== 9 && fields.length !== 11) fail('packet header', line);
  const values = fields.map((f) => f.trim().split(/\s+/).filter(Boolean).pop() ?? '');
  const n = (i: number): number => {
    const v = Number(values[i]);
    if (!Number.isInteger(v)) fail('packet header', line);
    return v;
  };
  const drop = fields.length === 11;
  const size = drop ? 9 : 7;
  const p: PktmonPacket = {
    time: `${m[1] ?? ''}${m[2]}`,
    pktGroupId: m[3]!,
    pktNumber: n(0),
    appearance: n(1),
    direction: values[2]!,
    type: values[3]!,
    component: n(4),
    edge: n(5),
    filter: n(6),
    originalSize: n(size),
    loggedSize: n(size + 1),
  };
  if (drop) {
    p.dropReason = codeOrText(fields[7]!);
    p.dropLocation = codeOrText(fields[8]!);
  }
  return p;
}

export interface DecodedEndpoints {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** IP protocol number when the decode names it (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6), else 0. */
  ipProtocol: number;
}

/**
 * Addresses out of pktmon's tcpdump-like decode line ("MAC > MAC, ethertype IPv4 (0x0800),
 * length 66: 10.0.0.1.443 > 10.0.0.2.5000: Flags [S], …"); undefined when it has no IP part.
 */
export function endpointsFromDecode(decode: string): DecodedEndpoints | undefined {
  const colon = decode.indexOf(': ');
  if (colon < 0) return undefined;
  const rest = decode.slice(colon + 2);
  const m = /^(\S+) > (\S+?):\s*(.*)$/.exec(rest);
  if (!m) return undefined;
  const v6 = /ethertype IPv6/.test(decode);
  const split = (ep: string): [string, number] => {
    const pm = /^(.*)\.(\d{1,5})$/.exec(ep);
    if (pm && (v6 ? isIP(pm[1]!) === 6 : isIP(pm[1]!) === 4)) return [pm[1]!, Number(pm[2])];
    return [ep, 0];
  };
  const [src, srcPort] = split(m[1]!);
  const [dst, dstPort] = split(m[2]!);
  if (!isIP(src) || !isIP(dst)) return undefined;
  const info = m[3]!;
  const ipProtocol = /^ICMP6|^ICMPv6/i.test(info)
    ? 58
    : /^ICMP/i.test(info)
      ? 1
      : /^Flags \[/.test(info)
        ? 6
        : srcPort || dstPort
          ? 17
          : 0;
  return { src, dst, srcPort, dstPort, ipProtocol };
}

/**
 * Nanoseconds since the epoch of a real-time time of day ("23:02:26.539704700", the node's local
 * time): the date is the one that puts it nearest to `nowMs`, so a capture across midnight keeps
 * its order. An etl2txt time carries its date.
 */
export function pktmonTimeNs(time: string, nowMs: number): bigint {
  const m = /^(?:(\d{4})-(\d\d)-(\d\d) )?(\d\d):(\d\d):(\d\d)\.(\d{1,9})$/.exec(time);
  if (!m) fail('time', time);
  const frac = BigInt(m[7]!.padEnd(9, '0'));
  const at = (d: Date): number =>
    new Date(d.getFullYear(), d.getMonth(), d.getDate(), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
  let ms: number;
  if (m[1])
    ms = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])).getTime();
  else {
    const today = new Date(nowMs);
    ms = [-1, 0, 1]
      .map((d) => at(new Date(today.getFullYear(), today.getMonth(), today.getDate() + d)))
      .reduce((best, c) => (Math.abs(c - nowMs) < Math.abs(best - nowMs) ? c : best));
  }
  return BigInt(ms) * 1_000_000n + frac;
}

/** Every packet of a real-time or etl2txt text, with its decode line. */
export function parsePktmonPackets(text: string): PktmonPacket[] {
  const out: PktmonPacket[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const p = parsePktmonHeader(raw);
    if (p) {
      out.push(p);
      continue;
    }
    const last = out.at(-1);
    if (last && last.decode === undefined && /^\s+\S/.test(raw) && !/PktMon\]/.test(raw)) last.decode = raw.trim();
  }
  return out;
}

export interface PktmonComponent {
  id: number;
  mac: string;
  name: string;
}

/** `pktmon list`: the rows of its tables ("Id MAC Name"); headers and dashes are skipped. */
export function parsePktmonList(text: string): PktmonComponent[] {
  const out: PktmonComponent[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})\s+(.+?)\s*$/.exec(raw);
    if (m) out.push({ id: Number(m[1]), mac: m[2]!.toUpperCase(), name: m[3]! });
  }
  if (out.length === 0 && text.trim()) fail('component list (no "Id MAC Name" rows)', text.trim().split('\n')[0] ?? '');
  return out;
}

/** The component whose MAC is `mac` (any case, ':' or '-'). */
export function componentForMac(list: PktmonComponent[], mac: string): PktmonComponent | undefined {
  const want = mac.replace(/:/g, '-').toUpperCase();
  return list.find((c) => c.mac === want);
}

/** A documented `case N: "Text";` table (drop reasons, drop locations) → code → text. */
export function parseCaseTable(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of text.matchAll(/case\s+(\d+)\s*:\s*"([^"]*)"/g)) out.set(Number(m[1]), m[2]!);
  if (out.size === 0) throw new CnspectError('CNSPECT_TOOL_FAILED', 'no "case N: \\"text\\"" entries in the table');
  return out;
}

export interface PktmonCounts {
  inPackets: number;
  inBytes: number;
  outPackets: number;
  outBytes: number;
}

/** Per-component counters: packets that passed (flow, summed over edges) and packets it dropped. */
export interface PktmonComponentCounters {
  id: number;
  /** Driver or group name ("netvsc.sys"), and the adapter's description when pktmon gives one. */
  name: string;
  description: string;
  type: string;
  /** "00-15-5D-C8-8E-16" when a PhysAddress property was seen. */
  mac: string;
  flow: PktmonCounts;
  drop: PktmonCounts;
}

const zero = (): PktmonCounts => ({ inPackets: 0, inBytes: 0, outPackets: 0, outBytes: 0 });

/**
 * The component and counter records pktmon writes at the end of a log (flag 0x002), as etl2txt
 * prints them (pktmon.sys messages "Component", "Property", "Drop Counters", "Flow Counters").
 * The record kind is read from its English label; the numbers by position.
 */
export function parsePktmonCounterRecords(text: string): PktmonComponentCounters[] {
  const byId = new Map<number, PktmonComponentCounters>();
  const get = (id: number): PktmonComponentCounters => {
    let c = byId.get(id);
    if (!c) {
      c = { id, name: '', description: '', type: '', mac: '', flow: zero(), drop: zero() };
      byId.set(id, c);
    }
    return c;
  };
  const counts = (fields: string[], line: string): PktmonCounts => {
    // The last six fields: Direction In = X, Packets In N, Bytes In N, Direction Out = Y, Packets Out N, Bytes Out N.
    const tail = fields.slice(-6);
    const num = (f: string | undefined): number => {
      const v = Number(f?.trim().split(/\s+/).pop());
      if (!Number.isSafeInteger(v)) fail('counter record', line);
      return v;
    };
    return { inPackets: num(tail[1]), inBytes: num(tail[2]), outPackets: num(tail[4]), outBytes: num(tail[5]) };
  };
  for (const raw of text.split(/\r?\n/)) {
    // "Component 6, Type …" (newer builds) or "Component: Id 6, Type …"; the others name "Component [Id] N".
    const m =
      /(?:^|\]\s+)(Component):?\s+(?:Id\s+)?(\d+),\s*(Type\s.*?)\s*$/.exec(raw) ??
      /(?:^|\]\s+)(Property|Drop Counters|Flow Counters):\s+Component(?: Id)?\s+(\d+),\s*(.*?)\s*$/.exec(raw);
    if (!m) continue;
    const c = get(Number(m[2]));
    const rest = m[3]!;
    const fields = rest.split(',');
    switch (m[1]) {
      case 'Component': {
        const t = /^Type\s+(.*?)\s*,\s*Name\s+([^,]*?)\s*(?:,\s*(.*))?$/.exec(rest);
        if (!t) fail('component record', raw);
        c.type = t[1]!;
        c.name = t[2]!;
        c.description = t[3] ?? '';
        break;
      }
      case 'Property': {
        const pm = /^PhysAddress\s*=\s*0x([0-9A-Fa-f]{12})$/.exec(rest);
        if (pm) c.mac = pm[1]!.toUpperCase().match(/../g)!.join('-');
        break;
      }
      case 'Drop Counters': {
        if (fields.length !== 6) fail('drop counter record', raw);
        const d = counts(fields, raw);
        c.drop = {
          inPackets: c.drop.inPackets + d.inPackets,
          inBytes: c.drop.inBytes + d.inBytes,
          outPackets: c.drop.outPackets + d.outPackets,
          outBytes: c.drop.outBytes + d.outBytes,
        };
        break;
      }
      case 'Flow Counters': {
        if (fields.length !== 8) fail('flow counter record', raw);
        const f = counts(fields, raw);
        c.flow = {
          inPackets: c.flow.inPackets + f.inPackets,
          inBytes: c.flow.inBytes + f.inBytes,
          outPackets: c.flow.outPackets + f.outPackets,
          outBytes: c.flow.outBytes + f.outBytes,
        };
        break;
      }
    }
  }
  return [...byId.values()];
}

/**
 * `pktmon counters --json`. No recorded output of it is public; this follows the shape the public
 * scripts that consume it rely on: groups `{ Group, Components: [{ Id, Name, Counters: [{ Type,
 * Inbound: { Packets, Bytes }, Outbound: { Packets, Bytes } }] }] }`, Type "Flow" or "Drop".
 * Anything else fails with a message naming what was missing.
 */
export function parsePktmonCountersJson(text: string): PktmonComponentCounters[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`counters JSON (${(err as Error).message})`, text);
  }
  const groups = Array.isArray(doc) ? doc : [doc];
  const out: PktmonComponentCounters[] = [];
  const num = (v: unknown, what: string): number => {
    if (v === undefined || v === null) return 0;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) fail(`counters JSON: ${what} is not a count`, JSON.stringify(v) ?? '');
    return n;
  };
  for (const g of groups as Array<Record<string, unknown>>) {
    if (!g || typeof g !== 'object' || !Array.isArray(g.Components))
      fail('counters JSON: a group without "Components"', JSON.stringify(g) ?? '');
    for (const comp of g.Components as Array<Record<string, unknown>>) {
      if (!comp || typeof comp !== 'object' || typeof comp.Name !== 'string' || !Array.isArray(comp.Counters))
        fail('counters JSON: a component without "Name" and "Counters"', JSON.stringify(comp) ?? '');
      const c: PktmonComponentCounters = {
        id: num(comp.Id ?? comp.ID, 'Id'),
        name: comp.Name,
        description: typeof g.Group === 'string' ? g.Group : '',
        type: typeof comp.Type === 'string' ? comp.Type : '',
        mac: typeof comp.MacAddress === 'string' ? comp.MacAddress.toUpperCase() : '',
        flow: zero(),
        drop: zero(),
      };
      for (const k of comp.Counters as Array<Record<string, unknown>>) {
        const inb = (k?.Inbound ?? {}) as Record<string, unknown>;
        const outb = (k?.Outbound ?? {}) as Record<string, unknown>;
        const into = /drop/i.test(String(k?.Type ?? '')) ? c.drop : c.flow;
        into.inPackets += num(inb.Packets, 'Inbound.Packets');
        into.inBytes += num(inb.Bytes, 'Inbound.Bytes');
        into.outPackets += num(outb.Packets, 'Outbound.Packets');
        into.outBytes += num(outb.Bytes, 'Outbound.Bytes');
      }
      out.push(c);
    }
  }
  return out;
}
