// Network namespaces and their interfaces, read with iproute2's JSON output.
import { existsSync } from 'node:fs';
import { CnspectError } from '../../errors.js';
import { run } from '../../process/child.js';
import type { LinkStats } from '../backend.js';

export type { LinkStats };

export const NETNS_DIR = '/run/netns';
const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface Link {
  index: number;
  name: string;
  /** ifindex of a veth's peer (in its own namespace), when iproute2 reports it. */
  peerIndex: number | undefined;
  /** nsid (as seen from this namespace) of the namespace holding the peer, when it is another one. */
  peerNsid: number | undefined;
  /** Addresses (IPv4/IPv6, no prefix) when read with `ip -j addr`. */
  addresses: string[];
  /** The same with their prefix length ("10.244.1.1/24"). */
  cidrs?: string[];
  /** VXLAN network identifier from `ip -d` (vxlan links only). */
  vni?: number;
  /** The interface's own counters when read with `ip -s -j link`. */
  stats?: LinkStats;
  /** Link kind from `ip -d` (veth, bridge, vxlan …; "" for a physical NIC or unknown). */
  kind: string;
  /** The bridge this link is a port of, if any. */
  master: string | undefined;
  /** MAC address, lower-case colon form; "" when the link has none. */
  mac: string;
  linkType: string;
  up: boolean;
}

/** Checks a namespace name from the wire and returns its path under /run/netns. */
export function netnsPath(name: string): string {
  if (!NETNS_NAME.test(name)) {
    throw new CnspectError(
      'CNSPECT_BAD_REQUEST',
      `invalid network namespace name ${JSON.stringify(name)}; allowed: letters, digits, '_', '.', '-' (not ` +
        `starting with '-' or '.'), at most 64`,
    );
  }
  const path = `${NETNS_DIR}/${name}`;
  if (!existsSync(path)) {
    throw new CnspectError(
      'CNSPECT_NETNS_NOT_FOUND',
      `network namespace ${JSON.stringify(name)} does not exist (no ${path})`,
      { hint: 'list them with `ip netns list`' },
    );
  }
  return path;
}

/** Pure: `ip -j link show` / `ip -j addr show` output → links. Throws on anything that is not that shape. */
export function parseIpLinkJson(text: string): Link[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new CnspectError('CNSPECT_TOOL_FAILED', 'ip -j link show printed something that is not JSON', { cause: err });
  }
  if (!Array.isArray(data)) throw new CnspectError('CNSPECT_TOOL_FAILED', 'ip -j link show: expected a JSON array');
  return data.map((raw: unknown, i) => {
    const o = raw as Record<string, unknown>;
    if (typeof o?.ifindex !== 'number' || typeof o.ifname !== 'string') {
      throw new CnspectError('CNSPECT_TOOL_FAILED', `ip -j link show: entry ${i} has no ifindex/ifname`);
    }
    const flags = Array.isArray(o.flags) ? o.flags : [];
    return {
      index: o.ifindex,
      name: o.ifname,
      mac: typeof o.address === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(o.address) ? o.address : '',
      linkType: typeof o.link_type === 'string' ? o.link_type : '',
      up: flags.includes('UP'),
      peerIndex: typeof o.link_index === 'number' ? o.link_index : undefined,
      peerNsid: typeof o.link_netnsid === 'number' ? o.link_netnsid : undefined,
      addresses: Array.isArray(o.addr_info)
        ? o.addr_info.map((a: { local?: unknown }) => a.local).filter((x): x is string => typeof x === 'string')
        : [],
      ...(o.stats64 ? { stats: parseStats(o.stats64) } : {}),
      cidrs: Array.isArray(o.addr_info)
        ? o.addr_info
            .filter((a: { local?: unknown; prefixlen?: unknown }) => typeof a.local === 'string')
            .map(
              (a: { local: string; prefixlen?: number }) =>
                `${a.local}/${a.prefixlen ?? (a.local.includes(':') ? 128 : 32)}`,
            )
        : [],
      ...(typeof (o.linkinfo as { info_data?: { id?: unknown } } | undefined)?.info_data?.id === 'number'
        ? { vni: (o.linkinfo as { info_data: { id: number } }).info_data.id }
        : {}),
      kind:
        typeof (o.linkinfo as { info_kind?: unknown } | undefined)?.info_kind === 'string'
          ? (o.linkinfo as { info_kind: string }).info_kind
          : '',
      master: typeof o.master === 'string' ? o.master : undefined,
    };
  });
}

/**
 * Links (with addresses) of a network namespace: `netns` is a name under /run/netns, a path
 * such as /proc/PID/ns/net (`pathGiven`), or "" for the agent's own.
 */
function parseStats(raw: unknown): LinkStats {
  const s = raw as { rx?: Record<string, unknown>; tx?: Record<string, unknown> };
  const n = (v: unknown): number => (typeof v === 'number' ? v : 0);
  return {
    rxPackets: n(s.rx?.packets),
    rxBytes: n(s.rx?.bytes),
    rxErrors: n(s.rx?.errors),
    rxDropped: n(s.rx?.dropped),
    txPackets: n(s.tx?.packets),
    txBytes: n(s.tx?.bytes),
    txErrors: n(s.tx?.errors),
    txDropped: n(s.tx?.dropped),
  };
}

/** Links of a namespace with their own counters (`ip -s -j link`); same `netns` forms as listLinks. */
export async function linkStats(netns: string, pathGiven = false): Promise<Link[]> {
  const path = !netns ? undefined : pathGiven ? netns : netnsPath(netns);
  return parseIpLinkJson(
    await run(
      [...(path ? ['nsenter', `--net=${path}`, '--'] : []), 'ip', '-s', '-d', '-j', 'addr', 'show'],
      'read interface counters',
    ),
  );
}

export async function listLinks(netns: string, pathGiven = false): Promise<Link[]> {
  const path = !netns ? undefined : pathGiven ? netns : netnsPath(netns);
  const argv = [...(path ? ['nsenter', `--net=${path}`, '--'] : []), 'ip', '-d', '-j', 'addr', 'show'];
  return parseIpLinkJson(await run(argv, 'list network interfaces'));
}

/** Pure: `ip -j netns list-id` → nsid → namespace name (named namespaces only). */
export function parseNetnsListId(text: string): Map<number, string> {
  let data: unknown;
  try {
    data = JSON.parse(text || '[]');
  } catch (err) {
    throw new CnspectError('CNSPECT_TOOL_FAILED', 'ip -j netns list-id printed something that is not JSON', {
      cause: err,
    });
  }
  const out = new Map<number, string>();
  for (const e of Array.isArray(data) ? (data as Array<{ nsid?: unknown; name?: unknown }>) : []) {
    if (typeof e.nsid === 'number' && typeof e.name === 'string') out.set(e.nsid, e.name);
  }
  return out;
}

export interface VethPeer {
  /** Our side of the pair. */
  host: Link;
  /** Name (under /run/netns) of the namespace holding the other side. */
  netns: string;
}

/**
 * The veths of the agent's namespace whose other end lives in a named namespace — the node's
 * pods. The kernel's nsid of the peer namespace identifies it exactly (interface indexes alone
 * repeat across namespaces).
 */
export async function vethPeers(): Promise<VethPeer[]> {
  const [links, ids] = await Promise.all([
    listLinks(''),
    run(['ip', '-j', 'netns', 'list-id'], 'list network namespace ids').then(parseNetnsListId),
  ]);
  const out: VethPeer[] = [];
  for (const l of links) {
    const name = l.peerNsid === undefined ? undefined : ids.get(l.peerNsid);
    if (name && l.peerIndex !== undefined) out.push({ host: l, netns: name });
  }
  return out;
}

/**
 * The node's own NIC: the link holding a global IPv4 address that is neither a bridge, a bridge
 * port, a tunnel nor loopback (eth0/ens5 on a node; the underlay veth in the lab).
 */
export function nodeNic(links: Link[]): Link | undefined {
  return links.find(
    (l) =>
      l.name !== 'lo' &&
      !['bridge', 'vxlan', 'geneve', 'ipip', 'wireguard'].includes(l.kind) &&
      !l.master &&
      l.addresses.some((a) => a.includes('.') && !a.startsWith('127.') && !a.startsWith('169.254.')),
  );
}
