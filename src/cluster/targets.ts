// Capture targets → one job per node (or per pod with --in-pod), from an inventory. Pure.
import { CnspectError, badFlag, splitList } from '../errors.js';
import type { CaptureRequest, PodRef } from '../gen/cnspect/v1/agent.js';
import type { Inventory, InventoryNode, InventoryPod } from './inventory.js';

export type TargetKind = 'all' | 'nodes' | 'pods';

export interface NodeJob {
  /** Stream label, unique per job: the node name (or node/pod with --in-pod). */
  label: string;
  node: InventoryNode;
  request: CaptureRequest;
}

export function splitNames(names: string | undefined, what: string): string[] {
  if (!names)
    throw badFlag(
      `capture ${what}`,
      names ?? '',
      `one or more comma-separated ${what === 'nodes' ? 'node' : 'pod'} names`,
    );
  return [...new Set(splitList([names], `capture ${what}`))];
}

export function findNodes(inv: Inventory, names: string[]): InventoryNode[] {
  return names.map((n) => {
    const node = inv.nodes.find((x) => x.name === n);
    if (!node)
      throw new CnspectError(
        'CNSPECT_BAD_FLAG',
        `unknown node ${JSON.stringify(n)}; the inventory has: ${inv.nodes.map((x) => x.name).join(', ')}`,
        { context: { value: n } },
      );
    return node;
  });
}

/** "ns/name" or "name" (in `namespace`) → the inventory's pod. */
export function findPods(inv: Inventory, names: string[], namespace: string): InventoryPod[] {
  return names.map((ref) => {
    const [ns, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [namespace, ref];
    const pod = inv.pods.find((p) => p.namespace === ns && p.name === name);
    if (!pod) {
      const inNs = inv.pods.filter((p) => p.namespace === ns).map((p) => p.name);
      throw new CnspectError(
        'CNSPECT_POD_NOT_FOUND',
        `no pod ${ns}/${name} in the inventory${inNs.length ? `; namespace ${ns} has: ${inNs.join(', ')}` : ''}`,
        { context: { value: ref }, hint: 'name it as NAMESPACE/NAME or pass -n NAMESPACE' },
      );
    }
    return pod;
  });
}

export function jobsFor(
  inv: Inventory,
  kind: TargetKind,
  names: string | undefined,
  namespace: string,
  inPod: boolean,
  base: CaptureRequest,
): NodeJob[] {
  if (inPod && kind !== 'pods')
    throw new CnspectError('CNSPECT_BAD_FLAG', '--in-pod needs pods: use `capture pods NAME[,NAME]`');
  if (kind === 'all') return inv.nodes.map((node) => ({ label: node.name, node, request: base }));
  if (kind === 'nodes')
    return findNodes(inv, splitNames(names, 'nodes')).map((node) => ({ label: node.name, node, request: base }));
  const pods = findPods(inv, splitNames(names, 'pods'), namespace);
  const ref = (p: InventoryPod): PodRef => ({ namespace: p.namespace, name: p.name, ips: p.ips });
  const nodeOf = (p: InventoryPod): InventoryNode => inv.nodes.find((n) => n.name === p.node)!;
  if (inPod)
    return pods.map((p) => ({
      label: `${p.node}/${p.name}`,
      node: nodeOf(p),
      request: { ...base, pods: [ref(p)], inPod: true },
    }));
  // Two pods on one node: one session on that node with both in its filter.
  const byNode = new Map<string, InventoryPod[]>();
  for (const p of pods) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  return [...byNode].map(([node, list]) => ({
    label: node,
    node: nodeOf(list[0]!),
    request: { ...base, pods: list.map(ref) },
  }));
}

/** IP → "namespace/name" of every inventory pod, for packet comments. */
export function podNamesByIp(inv: Inventory): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of inv.pods) for (const ip of p.ips) m.set(ip, `${p.namespace}/${p.name}`);
  return m;
}
