// The user-space matcher and the BPF compiler say the same thing: random filters over a generated
// pcap, each verdict of compileFilter() equal to what `tcpdump -r FILE <compileBpf()>` keeps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileBpf } from '../../src/backends/linux/bpf.js';
import { decode, newDecoded } from '../../src/packet/decode.js';
import { type Filter, filterFromTokens } from '../../src/packet/filter.js';
import { compileFilter } from '../../src/packet/match.js';
import { arpRequest, ether, icmpEcho, ipv4, tcp, udp } from '../helpers/packets.js';

/** mulberry32: a fixed seed makes every run draw the same packets and filters. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261203;
const V4 = ['10.0.0.1', '10.0.0.2', '10.0.1.5', '192.168.1.9'];
const V6 = ['fd00::1', 'fd00::2', 'fd00:1::5', 'fe80::1'];
const PORTS = [22, 53, 80, 443, 8080, 50000];
const TCP_FLAGS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01, 0x29, 0xc2];

function v6bytes(a: string): number[] {
  const [h = '', t = ''] = a.split('::');
  const hs = h ? h.split(':') : [];
  const ts = t ? t.split(':') : [];
  const groups = [...hs, ...new Array<string>(8 - hs.length - ts.length).fill('0'), ...ts].map((g) => parseInt(g, 16));
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

function ipv6To(next: number, src: string, dst: string, l4: number[]): number[] {
  return [0x60, 0, 0, 0, (l4.length >> 8) & 0xff, l4.length & 0xff, next, 64, ...v6bytes(src), ...v6bytes(dst), ...l4];
}

function packets(next: () => number, count: number): Uint8Array[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const kind = pick(['tcp4', 'udp4', 'icmp4', 'tcp6', 'udp6', 'icmp6', 'arp'] as const);
    const sp = pick(PORTS),
      dp = pick(PORTS);
    const [s4, d4] = [pick(V4), pick(V4)];
    const [s6, d6] = [pick(V6), pick(V6)];
    switch (kind) {
      case 'tcp4':
        out.push(ether(0x0800, ipv4(6, s4, d4, tcp(sp, dp, pick(TCP_FLAGS)))));
        break;
      case 'udp4':
        out.push(ether(0x0800, ipv4(17, s4, d4, udp(sp, dp, 4))));
        break;
      case 'icmp4':
        out.push(ether(0x0800, ipv4(1, s4, d4, icmpEcho(8, sp, dp))));
        break;
      case 'tcp6':
        out.push(ether(0x86dd, ipv6To(6, s6, d6, tcp(sp, dp, pick(TCP_FLAGS)))));
        break;
      case 'udp6':
        out.push(ether(0x86dd, ipv6To(17, s6, d6, udp(sp, dp, 4))));
        break;
      case 'icmp6':
        out.push(ether(0x86dd, ipv6To(58, s6, d6, icmpEcho(128, sp, dp))));
        break;
      case 'arp':
        out.push(ether(0x0806, arpRequest(s4, d4)));
        break;
    }
  }
  return out;
}

/** A classic pcap (Ethernet); packet i has timestamp i+1 s, so tcpdump's -tt output names it. */
function pcap(frames: Uint8Array[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  const recs = frames.map((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(i + 1, 0);
    r.writeUInt32LE(0, 4);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    return Buffer.concat([r, f]);
  });
  return Buffer.concat([head, ...recs]);
}

function randomFilter(next: () => number): Filter | undefined {
  const some = <T>(list: readonly T[], max: number): T[] => {
    const n = Math.floor(next() * (max + 1));
    return Array.from({ length: n }, () => list[Math.floor(next() * list.length)]!);
  };
  const IPS = [...V4, ...V6, '10.0.0.0/24', '10.0.0.0/16', '192.168.0.0/16', 'fd00::/64', 'fd00::/16', '0.0.0.0/0'];
  const PORT_TOKENS = [...PORTS.map(String), '50-90', '440-450'];
  const PROTOS = [
    'TCP',
    'UDP',
    'ICMP',
    'ICMPv6',
    'TCP_SYN',
    'TCP_SYN_ACK',
    'TCP_FIN',
    'TCP_RST',
    'TCP_PSH_ACK',
    'TCP_ACK',
    'TCP_ECE_CWR',
  ];
  const not = some(['ips', 'ports', 'protocols'] as const, 2).map((field) => ({
    field,
    value:
      (field === 'ips' ? some(IPS, 1) : field === 'ports' ? some(PORT_TOKENS, 1) : some(PROTOS, 1))[0] ??
      (field === 'ips' ? '10.0.0.1' : field === 'ports' ? '53' : 'UDP'),
  }));
  try {
    return filterFromTokens({ ips: some(IPS, 2), ports: some(PORT_TOKENS, 2), protocols: some(PROTOS, 2), not });
  } catch {
    return undefined; // a contradiction (-r 53 -t ICMP) is refused before either side runs
  }
}

describe('user-space matcher vs BPF compiler (tcpdump -r)', () => {
  let dir: string;
  let file: string;
  let frames: Uint8Array[];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cnspect-match-'));
    file = join(dir, 'random.pcap');
    frames = packets(rng(SEED), 400);
    writeFileSync(file, pcap(frames));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const kept = (expr: string): number[] => {
    const args = ['-r', file, '-nn', '-tt', ...(expr ? [expr] : [])];
    let text: string;
    try {
      text = execFileSync('tcpdump', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      // libpcap refuses an expression it proves empty: it keeps nothing (the agent says NEVER_MATCHES).
      if (/rejects all packets/.test(String((err as { stderr?: string }).stderr))) return [];
      throw err;
    }
    return text
      .split('\n')
      .filter(Boolean)
      .map((l) => Number(l.split('.')[0]) - 1);
  };

  it('tcpdump reads every generated packet', () => {
    assert.deepEqual(
      kept(''),
      frames.map((_, i) => i),
    );
  });

  it(`agrees on every packet for 80 random filters (seed ${SEED})`, () => {
    const next = rng(SEED + 1);
    const scratch = newDecoded();
    let compared = 0;
    let nonTrivial = 0;
    while (compared < 80) {
      const f = randomFilter(next);
      if (!f) continue;
      compared++;
      const expr = compileBpf(f, { anyInterface: false });
      const match = compileFilter(f);
      const mine = frames.flatMap((buf, i) => (match(decode(1, buf, scratch), buf) ? [i] : []));
      const theirs = kept(expr);
      if (mine.length > 0 && mine.length < frames.length) nonTrivial++;
      assert.deepEqual(mine, theirs, `filter ${JSON.stringify(f)}\nBPF: ${expr}`);
    }
    // The draw must exercise both verdicts, or agreement proves little.
    assert.ok(nonTrivial >= 40, `only ${nonTrivial} of 80 filters kept some but not all packets`);
  });
});
