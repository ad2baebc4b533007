// Pod IP → its host-side interface and its network namespace, on this node (without a CRI):
// among the namespaces behind this node's veths (identified by the kernel's nsid of each veth's
// peer, so only this node's pods qualify), the one whose veth end holds the IP.
import { CnspectError } from '../../errors.js';
import { run } from '../../process/child.js';
import { type Link, listLinks, NETNS_DIR, vethPeers } from './netns.js';

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

export async function resolvePodIp(ip: string, node: string): Promise<PodPoint> {
  const notHere = (why: string): CnspectError =>
    new CnspectError('CNSPECT_POD_NOT_FOUND', `pod IP ${ip} is not a pod of node ${node}: ${why}`, {
      context: { node, value: ip },
      hint: "check the pod's node in the inventory (or `kubectl get pod -o wide`)",
    });
  const dev = parseRouteGetDevice(await run(['ip', '-j', 'route', 'get', ip], 'look up the route to a pod'));
  if (!dev) throw notHere('it is a local address of the node');
  for (const peer of await vethPeers()) {
    let inner: Link[];
    try {
      inner = await listLinks(peer.netns);
    } catch {
      continue;
    }
    const podIf = inner.find((l) => l.index === peer.host.peerIndex && l.addresses.includes(ip));
    if (podIf) return { ip, hostVeth: peer.host, netnsPath: `${NETNS_DIR}/${peer.netns}`, podInterface: podIf.name };
  }
  throw notHere(`no namespace behind a veth of this node holds it (the route leaves through ${dev})`);
}
