// Pure flag parsers: text in, typed value out, or a CnspectError naming the flag, the value and
// what is allowed. No side effects, so every rule is unit-tested from an argv.
import { badFlag } from '../errors.js';
import { CaptureType } from '../gen/cnspect/v1/agent.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../output/formats.js';

export type { OutputFormat };

export const CAPTURE_TYPES: Record<string, CaptureType> = {
  ALL: CaptureType.CAPTURE_TYPE_ALL,
  FLOW: CaptureType.CAPTURE_TYPE_FLOW,
  DROP: CaptureType.CAPTURE_TYPE_DROP,
};

/** --type all|flow|drop, case-insensitive (wcnspect silently turned "DROP" into "all"). */
export function parseCaptureType(value: string): CaptureType {
  const t = CAPTURE_TYPES[value.trim().toUpperCase()];
  if (t === undefined) throw badFlag('--type', value, 'all, flow or drop (case-insensitive)');
  return t;
}

/** -d/--time in seconds (decimals allowed), 0 = until Ctrl+C; returns milliseconds. */
export function parseDurationSeconds(value: string, flag = '--time'): number {
  if (!/^\d+(\.\d{1,3})?$/.test(value.trim()))
    throw badFlag(flag, value, 'a number of seconds >= 0 (0 = until Ctrl+C)');
  const ms = Math.round(Number(value) * 1000);
  if (ms > 24 * 3600 * 1000) throw badFlag(flag, value, 'at most 86400 seconds');
  return ms;
}

export function parseIntInRange(value: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max)
    throw badFlag(flag, value, `a whole number from ${min} to ${max}`);
  return Number(value);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1 << 20,
  MB: 1 << 20,
  MIB: 1 << 20,
  G: 1 << 30,
  GB: 1 << 30,
  GIB: 1 << 30,
};

/** Byte sizes such as 1000, 64K, 10M, 2GiB. */
export function parseSize(value: string, flag: string): number {
  const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(value);
  const unit = SIZE_UNITS[(m?.[2] ?? '?').toUpperCase()];
  if (!m || unit === undefined) throw badFlag(flag, value, 'a byte count such as 1000000, 64K, 10M or 2G');
  return Number(m[1]) * unit;
}

export function parseOutputFormat(value: string): OutputFormat {
  const v = value.trim().toLowerCase();
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) throw badFlag('--output', value, OUTPUT_FORMATS.join(', '));
  return v as OutputFormat;
}

/** Filter flags `--not` may negate, by every spelling, and the hidden flag each becomes. */
const NEGATABLE: Record<string, string> = {
  '-i': '--not-ips',
  '--ips': '--not-ips',
  '-m': '--not-macs',
  '--macs': '--not-macs',
  '-r': '--not-ports',
  '--ports': '--not-ports',
  '-t': '--not-protocols',
  '--protocols': '--not-protocols',
};

/**
 * Rewrites Hubble-style negation before commander sees it: `--not -r 22` → `--not-ports 22`
 * (also `--not --ports=22` and `--not -r22`). `--not` before anything but a filter flag is an error.
 */
export function expandNot(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a !== '--not') {
      out.push(a);
      continue;
    }
    const next = argv[i + 1];
    const allowed = 'a filter flag right after it: -i/--ips, -m/--macs, -r/--ports or -t/--protocols, e.g. --not -r 22';
    if (next === undefined) throw badFlag('--not', '(nothing after it)', allowed);
    const long = /^(--[a-z]+)=(.*)$/s.exec(next);
    const short = /^(-[imrt])(.+)$/s.exec(next);
    const [flag, value] = long ? [long[1]!, long[2]] : short ? [short[1]!, short[2]] : [next, undefined];
    const target = NEGATABLE[flag];
    if (!target) throw badFlag('--not', next, allowed);
    out.push(target);
    if (value !== undefined) out.push(value);
    i++;
  }
  return out;
}
