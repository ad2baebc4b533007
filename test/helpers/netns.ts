// Test hosts: two network namespaces joined by a veth, made and removed by each test file.
// All names carry a random prefix so parallel runs and leftovers never collide.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { waitFor } from './wait.js';

export interface NetnsPair {
  prefix: string;
  a: string;
  b: string;
  /** IPv4 and IPv6 addresses of each side (inside our namespaces only). */
  ipA: string;
  ipB: string;
  ip6A: string;
  ip6B: string;
  /** Interface names inside each namespace. */
  ifA: string;
  ifB: string;
  macA: string;
  macB: string;
  destroy(): void;
}

export function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), {
    encoding: 'utf8',
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

export function makeNetnsPair(): NetnsPair {
  const id = randomBytes(2).readUInt16BE(0);
  const prefix = `cnt${id.toString(16).padStart(4, '0')}`;
  const a = `${prefix}-a`;
  const b = `${prefix}-b`;
  const octet = (id % 250) + 1;
  const pair: NetnsPair = {
    prefix,
    a,
    b,
    ipA: `10.213.${octet}.1`,
    ipB: `10.213.${octet}.2`,
    ip6A: `fd13:${octet.toString(16)}::1`,
    ip6B: `fd13:${octet.toString(16)}::2`,
    ifA: 'eth0',
    ifB: 'eth0',
    macA: '',
    macB: '',
    destroy: () => {
      for (const ns of [a, b]) {
        try {
          sh(['ip', 'netns', 'del', ns]);
        } catch {
          /* already gone */
        }
      }
    },
  };
  try {
    sh(['ip', 'netns', 'add', a]);
    sh(['ip', 'netns', 'add', b]);
    sh(['ip', 'link', 'add', `${prefix}a`, 'netns', a, 'type', 'veth', 'peer', 'name', `${prefix}b`, 'netns', b]);
    for (const [ns, dev, ip, ip6] of [
      [a, `${prefix}a`, pair.ipA, pair.ip6A],
      [b, `${prefix}b`, pair.ipB, pair.ip6B],
    ] as const) {
      sh(['ip', '-n', ns, 'link', 'set', dev, 'name', 'eth0']);
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      sh(['ip', '-n', ns, 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad']);
      sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
    }
    const mac = (ns: string): string =>
      (JSON.parse(sh(['ip', '-n', ns, '-j', 'link', 'show', 'eth0'])) as Array<{ address: string }>)[0]!.address;
    pair.macA = mac(a);
    pair.macB = mac(b);
  } catch (err) {
    pair.destroy();
    throw err;
  }
  return pair;
}

/** Runs a command inside a namespace to completion. */
export function inNs(ns: string, argv: string[]): string {
  return sh(['ip', 'netns', 'exec', ns, ...argv]);
}

/** Starts a long-running command inside a namespace. */
export function spawnInNs(ns: string, argv: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** pids of tcpdump processes whose network namespace is `ns`'s (or the root one for ""). */
export function tcpdumpPidsIn(ns: string): number[] {
  const want = statSync(ns ? `/run/netns/${ns}` : '/proc/1/ns/net').ino;
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readlinkSync(`/proc/${d}/exe`).endsWith('/tcpdump')) continue;
      if (statSync(`/proc/${d}/ns/net`).ino === want) out.push(Number(d));
    } catch {
      /* process went away */
    }
  }
  return out;
}

export async function waitNoTcpdump(ns: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => tcpdumpPidsIn(ns).length === 0, `no tcpdump left in ${ns}`, timeoutMs);
}

/** A pod-like namespace: eth0 inside, its veth peer in this (the node's) namespace, a /30 between. */
export interface PodNetns {
  ns: string;
  hostIf: string;
  hostIp: string;
  podIp: string;
  destroy(): void;
}

export function makePodNetns(): PodNetns {
  const id = randomBytes(2).readUInt16BE(0);
  const name = `cnp${id.toString(16).padStart(4, '0')}`;
  const octet = (id % 250) + 1;
  const pod: PodNetns = {
    ns: name,
    hostIf: `${name}h`,
    hostIp: `10.214.${octet}.1`,
    podIp: `10.214.${octet}.2`,
    destroy: () => {
      try {
        sh(['ip', 'netns', 'del', name]);
      } catch {
        /* already gone */
      }
    },
  };
  try {
    sh(['ip', 'netns', 'add', name]);
    sh(['ip', 'link', 'add', pod.hostIf, 'type', 'veth', 'peer', 'name', `${name}p`, 'netns', name]);
    sh(['ip', '-n', name, 'link', 'set', `${name}p`, 'name', 'eth0']);
    sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    sh(['ip', '-n', name, 'addr', 'add', `${pod.podIp}/30`, 'dev', 'eth0']);
    sh(['ip', '-n', name, 'link', 'set', 'eth0', 'up']);
    sh(['ip', 'addr', 'add', `${pod.hostIp}/30`, 'dev', pod.hostIf]);
    sh(['ip', 'link', 'set', pod.hostIf, 'up']);
  } catch (err) {
    pod.destroy();
    throw err;
  }
  return pod;
}
