// Pod IP → its host-side interface and its network namespace, on this node (DESIGN.md recipe
// without a CRI): the route to the IP must leave through a bridge or a veth of this node; the
// pod's namespace is found among /run/netns/* and /proc/*/ns/net (deduplicated by inode) as the
// one holding the IP, confirmed by the veth pair (its interface's peer is our host veth).
import { readdirSync, statSync } from 'node:fs';
import { CnspectError } from '../../errors.js';
import { run } from '../../agent/child.js';
import { type Link, listLinks, NETNS_DIR } from './netns.js';

export interface PodPoint {
  ip: string;
  /** The pod's interface peer on this node (bridge port or routed veth). */
  hostVeth: Link;
  /** Path of the pod's network namespace file. */
  netnsPath: string;
  /** The pod's own interface inside its namespace (usually eth0). */
  podInterface: string;
}

/** Pure: `ip -j route get` output → the device the route leaves through. */
export function parseRouteGetDevice(text: string): string | undefined {
  try {
    const data = JSON.parse(text) as Array<{ dev?: string; type?: string }>;
    const first = data[0];
    if (!first || first.type === 'local') return undefined;
    return first.dev;
  } catch {
    throw new CnspectError('CNSPECT_TOOL_FAILED', 'ip -j route get printed something that is not JSON');
  }
}

/** Candidate namespace files, one per distinct namespace, not counting our own. */
export function candidateNamespaces(): string[] {
  const seen = new Set<number>([statSync('/proc/self/ns/net').ino]);
  const out: string[] = [];
  const consider = (path: string): void => {
    try {
      const ino = statSync(path).ino;
      if (!seen.has(ino)) { seen.add(ino); out.push(path); }
    } catch { /* vanished or not readable */ }
  };
  try { for (const n of readdirSync(NETNS_DIR)) consider(`${NETNS_DIR}/${n}`); } catch { /* no named namespaces */ }
  for (const d of readdirSync('/proc')) if (/^\d+$/.test(d)) consider(`/proc/${d}/ns/net`);
  return out;
}

export async function resolvePodIp(ip: string, node: string): Promise<PodPoint> {
  const notHere = (why: string): CnspectError => new CnspectError('CNSPECT_POD_NOT_FOUND', `pod IP ${ip} is not a pod of node ${node}: ${why}`, { context: { node, value: ip }, hint: 'check the pod\'s node in the inventory (or `kubectl get pod -o wide`)' });
  const dev = parseRouteGetDevice(await run(['ip', '-j', 'route', 'get', ip], 'look up the route to a pod'));
  if (!dev) throw notHere('it is a local address of the node');
  const links = await listLinks('');
  const out = links.find((l) => l.name === dev);
  if (!out || (out.linkType !== 'ether' && out.linkType !== 'none')) throw notHere(`the route leaves through ${dev}`);
  for (const path of candidateNamespaces()) {
    let inner: Link[];
    try { inner = await listLinks(path, true); } catch { continue; }
    const podIf = inner.find((l) => l.addresses.includes(ip));
    if (!podIf || podIf.peerIndex === undefined) continue;
    const hostVeth = links.find((l) => l.index === podIf.peerIndex && l.peerIndex === podIf.index);
    if (!hostVeth) continue;
    return { ip, hostVeth, netnsPath: path, podInterface: podIf.name };
  }
  throw notHere(`no network namespace on the node holds it behind a veth (route via ${dev})`);
}
