// The node's datapath state, normalised (docs/datapath.md): endpoints (pods behind this node's
// veths), networks (bridges, VXLAN, routed pods, CNI configuration), load balancers (service
// DNAT rules from nftables) and network namespaces. Parsers are pure; the collector reads with
// iproute2 and nft and keeps their raw JSON beside the result.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../process/child.js';
import { CnspectError } from '../../errors.js';
import type {
  DatapathResponse,
  Endpoint,
  LoadBalancer,
  Network,
  NetworkNamespace,
} from '../../gen/cnspect/v1/agent.js';
import { type Link, linkStats, listLinks, NETNS_DIR, vethPeers } from './netns.js';

export const CNI_CONF_DIR = '/etc/cni/net.d';

type NftExpr = Record<string, unknown>;
interface NftRule {
  chain: string;
  table: string;
  family: string;
  expr: NftExpr[];
}

/**
 * Pure: `nft -j list ruleset` → service load balancers. A rule that matches a destination
 * address and port and then jumps (directly or through a verdict map, as kube-proxy's nftables
 * and iptables-nft chains do) to chains ending in DNAT is one load balancer; its backends are
 * every DNAT target reachable from it.
 */
export function parseNftLoadBalancers(text: string): LoadBalancer[] {
  let doc: { nftables?: Array<Record<string, unknown>> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new CnspectError('CNSPECT_TOOL_FAILED', 'nft -j list ruleset printed something that is not JSON', {
      cause: err,
    });
  }
  const rules: NftRule[] = (doc.nftables ?? [])
    .map((o) => o.rule as NftRule | undefined)
    .filter((r): r is NftRule => !!r && Array.isArray(r.expr));
  const byChain = new Map<string, NftRule[]>();
  for (const r of rules) {
    const key = `${r.family}/${r.table}/${r.chain}`;
    byChain.set(key, [...(byChain.get(key) ?? []), r]);
  }
  const targetsOf = (e: unknown): string[] => {
    const out: string[] = [];
    const walk = (v: unknown): void => {
      if (!v || typeof v !== 'object') return;
      const o = v as Record<string, unknown>;
      for (const verdict of ['jump', 'goto']) {
        const t = (o[verdict] as { target?: unknown } | undefined)?.target;
        if (typeof t === 'string') out.push(t);
      }
      for (const child of Object.values(o)) walk(child);
    };
    walk(e);
    return out;
  };
  const dnatsOf = (e: NftExpr): Array<{ ip: string; port: number }> => {
    const d = e.dnat as { addr?: unknown; port?: unknown } | undefined;
    return d && typeof d.addr === 'string' ? [{ ip: d.addr, port: typeof d.port === 'number' ? d.port : 0 }] : [];
  };
  const backendsFrom = (
    family: string,
    table: string,
    chain: string,
    seen: Set<string>,
  ): Array<{ ip: string; port: number }> => {
    const key = `${family}/${table}/${chain}`;
    if (seen.has(key)) return [];
    seen.add(key);
    const out: Array<{ ip: string; port: number }> = [];
    for (const r of byChain.get(key) ?? []) {
      for (const e of r.expr) {
        out.push(...dnatsOf(e));
        for (const t of targetsOf(e)) out.push(...backendsFrom(family, table, t, seen));
      }
    }
    return out;
  };
  const lbs: LoadBalancer[] = [];
  for (const r of rules) {
    let vip: string | undefined;
    let port: number | undefined;
    let protocol = '';
    for (const e of r.expr) {
      const m = e.match as
        | { op?: string; left?: { payload?: { protocol?: string; field?: string } }; right?: unknown }
        | undefined;
      if (!m || (m.op !== '==' && m.op !== undefined)) continue;
      const p = m.left?.payload;
      if (p?.field === 'daddr' && (p.protocol === 'ip' || p.protocol === 'ip6') && typeof m.right === 'string')
        vip = m.right;
      if (
        p?.field === 'dport' &&
        typeof m.right === 'number' &&
        ['tcp', 'udp', 'sctp', 'th'].includes(p.protocol ?? '')
      ) {
        port = m.right;
        protocol = p.protocol === 'th' ? '' : p.protocol!;
      }
    }
    if (!vip || port === undefined) continue;
    const backends = r.expr.flatMap((e) => [
      ...dnatsOf(e),
      ...targetsOf(e).flatMap((t) =>
        backendsFrom(r.family, r.table, t, new Set([`${r.family}/${r.table}/${r.chain}`])),
      ),
    ]);
    if (backends.length === 0) continue;
    const unique = [...new Map(backends.map((b) => [`${b.ip}:${b.port}`, b])).values()];
    lbs.push({ vip, port, protocol, backends: unique, source: 'nftables' });
  }
  return lbs;
}

/** Splits one iptables-save rule line into arguments, keeping quoted comments whole. */
function iptablesArgs(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/**
 * Pure: `iptables-save` → service load balancers of the nat table, kube-proxy's iptables mode:
 * a rule with -d VIP, -p and --dport jumping to chains (KUBE-SVC → KUBE-SEP) that end in
 * `-j DNAT --to-destination IP:PORT`.
 */
export function parseIptablesLoadBalancers(text: string): LoadBalancer[] {
  const chains = new Map<string, string[][]>();
  let inNat = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) inNat = line === '*nat';
    if (!inNat || !line.startsWith('-A ')) continue;
    const args = iptablesArgs(line);
    chains.set(args[1]!, [...(chains.get(args[1]!) ?? []), args]);
  }
  const opt = (args: string[], name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const dnatOf = (args: string[]): Array<{ ip: string; port: number }> => {
    const m = /^\[?([0-9a-fA-F:.]+?)\]?(?::(\d+))?$/.exec(opt(args, '--to-destination') ?? '');
    return m ? [{ ip: m[1]!, port: m[2] ? Number(m[2]) : 0 }] : [];
  };
  const backendsFrom = (chain: string, seen: Set<string>): Array<{ ip: string; port: number }> => {
    if (seen.has(chain)) return [];
    seen.add(chain);
    return (chains.get(chain) ?? []).flatMap((args) => {
      const target = opt(args, '-j');
      if (target === 'DNAT') return dnatOf(args);
      return target ? backendsFrom(target, seen) : [];
    });
  };
  const lbs: LoadBalancer[] = [];
  for (const rules of chains.values()) {
    for (const args of rules) {
      const vip = opt(args, '-d')?.replace(/\/(32|128)$/, '');
      const port = opt(args, '--dport');
      const target = opt(args, '-j');
      if (!vip || !port || !/^\d+$/.test(port) || !target || vip.includes('/')) continue;
      // A DNAT right in the service rule, or the chains it jumps to (KUBE-SVC → KUBE-SEP).
      const all = target === 'DNAT' ? dnatOf(args) : backendsFrom(target, new Set([args[1]!]));
      if (all.length === 0) continue;
      lbs.push({
        vip,
        port: Number(port),
        protocol: opt(args, '-p') ?? '',
        backends: [...new Map(all.map((b) => [`${b.ip}:${b.port}`, b])).values()],
        source: 'iptables',
      });
    }
  }
  return lbs;
}

/** CNI configuration files → networks (name, type, subnets from host-local IPAM). */
export function parseCniConfig(path: string, text: string): Network | undefined {
  let conf: Record<string, unknown>;
  try {
    conf = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const plugins = Array.isArray(conf.plugins) ? (conf.plugins as Array<Record<string, unknown>>) : [conf];
  const main = plugins[0] ?? {};
  const ipam = (main.ipam ?? {}) as Record<string, unknown>;
  const subnets: string[] = [];
  if (typeof ipam.subnet === 'string') subnets.push(ipam.subnet);
  for (const range of Array.isArray(ipam.ranges) ? (ipam.ranges as unknown[]) : []) {
    for (const r of Array.isArray(range) ? (range as Array<{ subnet?: unknown }>) : [])
      if (typeof r.subnet === 'string') subnets.push(r.subnet);
  }
  return {
    name: typeof conf.name === 'string' ? conf.name : path,
    type: `cni:${typeof main.type === 'string' ? main.type : 'unknown'}`,
    subnets,
    gateways: typeof ipam.gateway === 'string' ? [ipam.gateway] : [],
    interfaces: typeof main.bridge === 'string' ? [main.bridge] : [],
    vni: 0,
    cniConfigPath: path,
  };
}

const subnetOf = (cidr: string): string => {
  const [ip = '', len = '32'] = cidr.split('/');
  if (ip.includes(':')) return cidr;
  const n = ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
  const bits = Number(len);
  const masked = bits === 0 ? 0 : n - (n % 2 ** (32 - bits));
  return `${[24, 16, 8, 0].map((s) => Math.floor(masked / 2 ** s) % 256).join('.')}/${bits}`;
};

export async function collectDatapath(node: string): Promise<DatapathResponse> {
  const [own, peers] = await Promise.all([linkStats(''), vethPeers()]);
  const raw: Record<string, unknown> = { links: own };
  const endpoints: Endpoint[] = [];
  const namespaces: NetworkNamespace[] = [
    { name: '', inode: BigInt(statSync('/proc/self/ns/net').ino), interfaces: own.map(ifAddrs), endpointIps: [] },
  ];
  for (const peer of peers) {
    let inner: Link[];
    try {
      inner = await listLinks(peer.netns);
    } catch {
      continue;
    }
    const podIf = inner.find((l) => l.index === peer.host.peerIndex);
    const ips = (podIf?.addresses ?? []).filter((a) => !a.startsWith('fe80:'));
    const ownHost = own.find((l) => l.index === peer.host.index);
    namespaces.push({
      name: peer.netns,
      inode: BigInt(statSync(join(NETNS_DIR, peer.netns)).ino),
      interfaces: inner.map(ifAddrs),
      endpointIps: ips,
    });
    // A veth into a namespace with no address of its own is infrastructure (e.g. a lab switch), not a pod.
    if (ips.length === 0) continue;
    endpoints.push({
      name: peer.netns,
      ips,
      mac: podIf?.mac ?? '',
      hostInterface: peer.host.name,
      netns: peer.netns,
      network: ownHost?.master ?? 'routed',
    });
  }
  const networks: Network[] = [];
  for (const l of own) {
    if (l.kind === 'bridge') {
      networks.push({
        name: l.name,
        type: 'bridge',
        subnets: (l.cidrs ?? []).filter((c) => c.includes('.')).map(subnetOf),
        gateways: l.addresses.filter((a) => a.includes('.')),
        interfaces: own.filter((x) => x.master === l.name).map((x) => x.name),
        vni: 0,
        cniConfigPath: '',
      });
    } else if (l.kind === 'vxlan') {
      networks.push({
        name: l.name,
        type: 'vxlan',
        subnets: (l.cidrs ?? []).filter((c) => c.includes('.')).map(subnetOf),
        gateways: [],
        interfaces: [l.name],
        vni: l.vni ?? 0,
        cniConfigPath: '',
      });
    }
  }
  const routed = endpoints.filter((e) => e.network === 'routed');
  if (routed.length) {
    networks.push({
      name: 'routed',
      type: 'routed',
      subnets: routed.flatMap((e) => e.ips.filter((ip) => ip.includes('.')).map((ip) => `${ip}/32`)),
      gateways: [],
      interfaces: routed.map((e) => e.hostInterface),
      vni: 0,
      cniConfigPath: '',
    });
  }
  if (existsSync(CNI_CONF_DIR)) {
    for (const f of readdirSync(CNI_CONF_DIR)
      .filter((x) => /\.conf(list)?$/.test(x))
      .sort()) {
      const path = join(CNI_CONF_DIR, f);
      const net = parseCniConfig(path, readFileSync(path, 'utf8'));
      if (net) networks.push(net);
    }
  }
  const loadBalancers: LoadBalancer[] = [];
  const addAll = (lbs: LoadBalancer[]): void => {
    // iptables-nft rules show up in both readings: the first reading of a VIP:port wins.
    for (const lb of lbs)
      if (!loadBalancers.some((x) => x.vip === lb.vip && x.port === lb.port && x.protocol === lb.protocol))
        loadBalancers.push(lb);
  };
  try {
    const nft = await run(['nft', '-j', 'list', 'ruleset'], 'read nftables rules');
    raw.nftables = JSON.parse(nft) as unknown;
    addAll(parseNftLoadBalancers(nft));
  } catch (err) {
    raw.nftablesError = (err as Error).message; // no nft here: no nftables load balancers, said in the raw part
  }
  try {
    const ipt = await run(['iptables-save', '-t', 'nat'], 'read iptables rules');
    raw.iptables = ipt;
    addAll(parseIptablesLoadBalancers(ipt));
  } catch (err) {
    raw.iptablesError = (err as Error).message;
  }
  return { node, os: 'linux', endpoints, networks, loadBalancers, namespaces, rawJson: JSON.stringify(raw) };
}

function ifAddrs(l: Link): { name: string; addresses: string[] } {
  return { name: l.name, addresses: (l.cidrs ?? []).filter((c) => !c.startsWith('fe80:')) };
}
