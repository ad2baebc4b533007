// Drops from the skb:kfree_skb tracepoint. bpftrace (kernel BTF) reads the 5-tuple, reason,
// network namespace inode and ifindex of each dropped IPv4 packet. Up to PER_EVENT_LIMIT drops a
// second are printed one by one; beyond that they are counted in kernel maps and printed once a
// second (measured here: per-drop printing costs 85 % of a flooding sender's rate, maps 13 %).
// Without bpftrace, a tracefs instance gives reasons only. Reason names come from the
// tracepoint's own format file, never a table of ours.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { CnspectError } from '../../errors.js';
import { Child, run } from '../../process/child.js';
import { forEachLine } from '../../process/lines.js';
import type { CapturedDrop } from '../backend.js';

export const TRACEFS = '/sys/kernel/tracing';
export const KFREE_SKB_FORMAT = `${TRACEFS}/events/skb/kfree_skb/format`;
export const PER_EVENT_LIMIT = 200;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

/** A drop as the kernel reports it: the backend's CapturedDrop before names are resolved. */
export type DropRecord = Omit<CapturedDrop, 'reason' | 'netns' | 'interface'> & { ifindex: number };

/** Pure: the tracepoint format file → reason code → name. */
export function parseDropReasons(format: string): Map<number, string> {
  const m = /__print_symbolic\(REC->reason,(.*)\)\s*$/ms.exec(format);
  if (!m)
    throw new CnspectError(
      'CNSPECT_TOOL_FAILED',
      'the kfree_skb tracepoint format has no reason table (kernel older than 5.17?)',
    );
  const out = new Map<number, string>();
  for (const e of m[1]!.matchAll(/\{\s*(\d+),\s*"([A-Z0-9_]+)"\s*\}/g)) out.set(Number(e[1]), e[2]!);
  if (out.size === 0) throw new CnspectError('CNSPECT_TOOL_FAILED', 'the kfree_skb reason table is empty');
  return out;
}

/** The bpftrace program; `skip` is the NOT_SPECIFIED code (background noise, left out in the kernel). */
export function dropScript(skip: number, perEventLimit = PER_EVENT_LIMIT): string {
  return `
tracepoint:skb:kfree_skb
/args->reason != ${skip} && (args->protocol == ${ETH_P_IP} || args->protocol == ${ETH_P_IPV6})/
{
  $skb = (struct sk_buff *)args->skbaddr;
  $inum = $skb->dev->nd_net.net->ns.inum;
  $ifindex = $skb->dev->ifindex;
  if (args->protocol == ${ETH_P_IP} && $skb->network_header != 0xffff) {
    $iph = (struct iphdr *)($skb->head + $skb->network_header);
    $l4 = $skb->head + $skb->network_header + ($iph->ihl & 0xf) * 4;
    $sport = (uint16)0; $dport = (uint16)0;
    if ($iph->protocol == 6 || $iph->protocol == 17) {
      $sport = (uint16)((*(uint8*)($l4)) << 8 | *(uint8*)($l4 + 1));
      $dport = (uint16)((*(uint8*)($l4 + 2)) << 8 | *(uint8*)($l4 + 3));
    }
    @rate = @rate + 1;
    if (@rate <= ${perEventLimit}) {
      printf("E %u %u %d %d %d %d %u %d\\n", $iph->saddr, $iph->daddr, $iph->protocol, $sport, $dport,
        args->reason, $inum, $ifindex);
    } else {
      @d4[$iph->saddr, $iph->daddr, $iph->protocol, $sport, $dport, args->reason, $inum, $ifindex] = count();
    }
  } else {
    @dx[args->reason, $inum, $ifindex] = count();
  }
}
interval:ms:1000 { print(@d4); print(@dx); clear(@d4); clear(@dx); @rate = 0; }
`;
}

/**
 * The program keys maps by raw IPv4 addresses (formatting them with ntop() in the kernel cost
 * sender throughput); a __be32 read on a little-endian CPU holds the first octet in its low byte.
 */
export function ipv4FromKernel(raw: string): string {
  if (raw.includes('.')) return raw;
  const n = Number(raw) >>> 0;
  return `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`;
}

/** Pure: one line of `bpftrace -f json` output → drop records. */
export function parseBpftraceLine(line: string, nowMs: number): DropRecord[] {
  let msg: { type?: string; data?: unknown };
  try {
    msg = JSON.parse(line) as typeof msg;
  } catch {
    return [];
  }
  const rec = (f: string[], count: number): DropRecord | undefined => {
    if (f.length !== 8) return undefined;
    const [src, dst, proto, sport, dport, reason, inum, ifindex] = f;
    return {
      timeMs: nowMs,
      src: ipv4FromKernel(src!),
      dst: ipv4FromKernel(dst!),
      ipProtocol: Number(proto),
      srcPort: Number(sport),
      dstPort: Number(dport),
      reasonCode: Number(reason),
      netnsInode: Number(inum),
      ifindex: Number(ifindex),
      count,
    };
  };
  if (msg.type === 'printf' && typeof msg.data === 'string') {
    const out: DropRecord[] = [];
    for (const l of msg.data.split('\n')) {
      if (!l.startsWith('E ')) continue;
      const r = rec(l.slice(2).trim().split(' '), 1);
      if (r) out.push(r);
    }
    return out;
  }
  if (msg.type === 'map' && msg.data && typeof msg.data === 'object') {
    const out: DropRecord[] = [];
    const data = msg.data as Record<string, Record<string, number> | undefined>;
    for (const [key, count] of Object.entries(data['@d4'] ?? {})) {
      const r = rec(key.split(','), count);
      if (r) out.push(r);
    }
    for (const [key, count] of Object.entries(data['@dx'] ?? {})) {
      const [reason, inum, ifindex] = key.split(',').map(Number);
      out.push({
        timeMs: nowMs,
        src: '',
        dst: '',
        ipProtocol: 0,
        srcPort: 0,
        dstPort: 0,
        reasonCode: reason!,
        netnsInode: inum!,
        ifindex: ifindex!,
        count,
      });
    }
    return out;
  }
  return [];
}

/** Pure: one trace_pipe line of the tracefs fallback → its reason name (no tuple there). */
export function parseTracePipeLine(line: string): { reason: string; protocol: number } | undefined {
  const m = /kfree_skb: .*protocol=(\d+) .*reason: ([A-Z0-9_]+)/.exec(line);
  return m ? { protocol: Number(m[1]), reason: m[2]! } : undefined;
}

export async function ensureTracefs(): Promise<void> {
  if (existsSync(KFREE_SKB_FORMAT)) return;
  await run(['mount', '-t', 'tracefs', 'nodev', TRACEFS], 'mount tracefs').catch(() => undefined);
  if (!existsSync(KFREE_SKB_FORMAT)) {
    throw new CnspectError('CNSPECT_TOOL_MISSING', `no skb:kfree_skb tracepoint (${KFREE_SKB_FORMAT} is missing)`, {
      hint: 'mount tracefs on /sys/kernel/tracing; drop reasons need Linux 5.17 or later',
    });
  }
}

export function readDropReasons(): Map<number, string> {
  return parseDropReasons(readFileSync(KFREE_SKB_FORMAT, 'utf8'));
}

export interface DropSource {
  /** Settles when the source ends (after stop, or by itself). */
  ended: Promise<{ error?: Error }>;
  stop(): Promise<void>;
  kind: 'bpftrace' | 'tracefs';
}

/** Starts bpftrace; resolves once its probes are attached. */
export async function startBpftrace(skip: number, onDrops: (d: DropRecord[]) => void): Promise<DropSource> {
  const child = new Child(['bpftrace', '-f', 'json', '-e', dropScript(skip)], { dieWithParent: true });
  forEachLine(child.process.stdout!, (line) => {
    if (line.includes('"attached_probes"')) attached = true;
    const drops = parseBpftraceLine(line, Date.now());
    if (drops.length) onDrops(drops);
  });
  let attached = false;
  const deadline = Date.now() + 20_000;
  while (!attached) {
    if (!child.running) {
      const missing = /not found/.test(child.stderr);
      throw new CnspectError(
        missing ? 'CNSPECT_TOOL_MISSING' : 'CNSPECT_TOOL_FAILED',
        `bpftrace ${
          missing
            ? 'is not installed'
            : `failed to start: ${child.stderr
                .trim()
                .split('\n')
                .filter((l) => !l.includes('RLIMIT_MEMLOCK'))
                .slice(-2)
                .join(' | ')}`
        }`,
      );
    }
    if (Date.now() > deadline) {
      await child.stop('SIGKILL', 0);
      throw new CnspectError('CNSPECT_TOOL_FAILED', 'bpftrace did not attach its probes within 20 s');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const ended = child.exited.then((info) =>
    info.exitCode === 0 || info.signal === 'SIGINT' || info.signal === 'SIGTERM' || info.forced
      ? {}
      : {
          error: new CnspectError(
            'CNSPECT_TOOL_FAILED',
            `bpftrace ended (${info.exitCode ?? info.signal}): ${child.stderr.trim().split('\n').slice(-1)[0] ?? ''}`,
          ),
        },
  );
  // SIGINT makes bpftrace print its maps one last time before exiting.
  return {
    kind: 'bpftrace',
    ended,
    stop: async () => {
      await child.stop('SIGINT');
      await ended;
    },
  };
}

/** The fallback without bpftrace: a private tracefs instance with kfree_skb enabled (reasons only). */
export async function startTracefs(
  skip: number,
  reasons: Map<number, string>,
  onReason: (reasonCode: number) => void,
): Promise<DropSource> {
  const dir = `${TRACEFS}/instances/cnspect-${process.pid}-${Date.now().toString(36)}`;
  mkdirSync(dir);
  const ev = `${dir}/events/skb/kfree_skb`;
  writeFileSync(`${ev}/filter`, `reason != ${skip} && (protocol == ${ETH_P_IP} || protocol == ${ETH_P_IPV6})`);
  writeFileSync(`${ev}/enable`, '1');
  const byName = new Map([...reasons].map(([code, name]) => [name, code]));
  // trace_pipe blocks in read(2): a child process reads it so stopping never waits on a thread.
  const reader = new Child(['cat', `${dir}/trace_pipe`], { dieWithParent: true });
  forEachLine(reader.process.stdout!, (line) => {
    const p = parseTracePipeLine(line);
    const code = p ? byName.get(p.reason) : undefined;
    if (code !== undefined) onReason(code);
  });
  let resolveEnded!: (v: { error?: Error }) => void;
  const ended = new Promise<{ error?: Error }>((r) => {
    resolveEnded = r;
  });
  return {
    kind: 'tracefs',
    ended,
    stop: async () => {
      try {
        writeFileSync(`${ev}/enable`, '0');
      } catch {
        /* already gone */
      }
      await reader.stop('SIGTERM', 1000);
      for (let i = 0; i < 20; i++) {
        try {
          rmdirSync(dir);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      resolveEnded({});
      await ended;
    },
  };
}
