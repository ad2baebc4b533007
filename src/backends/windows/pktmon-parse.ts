// Pure parsers for pktmon's text: real-time and etl2txt packet lines, `pktmon list`, and the
// drop reason table. Field labels may be localised; the packet header is found by its
// PktGroupId anchor and read by position. Anything that does not fit fails with a message.
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
  /** Drop records carry a reason and a location (codes; see the documented tables). */
  dropReason?: number;
  dropLocation?: number;
}

const HEADER = /^\s*(?:\[[0-9A-Fa-f]+\][0-9A-Fa-f]+\.[0-9A-Fa-f]+::)?(\d{4}-\d\d-\d\d )?(\d\d:\d\d:\d\d\.\d+)\s+(?:\[[^\]]+\]\s+)?PktGroupId\s+(\d+),(.*)$/;

function fail(what: string, line: string): never {
  throw new CnspectError('CNSPECT_TOOL_FAILED', `unrecognised pktmon ${what}: ${JSON.stringify(line.slice(0, 120))}`, { hint: 'the pktmon build may print a format cnspect does not know; please report it with this line' });
}

/** One header line ("… PktGroupId N, PktNumber N, …"); undefined for lines that are not headers. */
export function parsePktmonHeader(line: string): PktmonPacket | undefined {
  const m = HEADER.exec(line);
  if (!m) return undefined;
  // After PktGroupId, ten "Label Value" pairs in a fixed order (labels may be localised); drop
  // records add the drop reason and location after LoggedSize.
  const values = m[4]!.split(',').map((f) => f.trim().split(/\s+/).filter(Boolean).pop() ?? '');
  if (values.length < 9) fail('packet header', line);
  const n = (i: number): number => {
    const v = Number(values[i]);
    if (!Number.isInteger(v)) fail('packet header', line);
    return v;
  };
  const p: PktmonPacket = {
    time: `${m[1] ?? ''}${m[2]}`, pktGroupId: m[3]!, pktNumber: n(0), appearance: n(1), direction: values[2]!, type: values[3]!,
    component: n(4), edge: n(5), filter: n(6), originalSize: n(7), loggedSize: n(8),
  };
  if (values.length >= 11) { p.dropReason = n(9); p.dropLocation = n(10); }
  return p;
}

/** Every packet of a real-time or etl2txt text, with its decode line. */
export function parsePktmonPackets(text: string): PktmonPacket[] {
  const out: PktmonPacket[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const p = parsePktmonHeader(raw);
    if (p) { out.push(p); continue; }
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
