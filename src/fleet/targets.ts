// From targets to connections: where the nodes come from (an inventory or the kubeconfig), the
// client's TLS material, how each agent is reached, and connecting to every node at once.
import { CnspectError, badFlag } from '../errors.js';
import type { Connection, Transport } from '../cluster/connect.js';
import type { Inventory, InventoryNode } from '../cluster/inventory.js';
import { readTlsFiles, type TlsMaterial } from '../tls/material.js';

export { DEFAULT_AGENT_PORT } from '../contract/agent-api.js';

export interface TargetSource {
  inventory?: string;
  kubeconfig?: string;
  context?: string;
  agentPort?: number;
  /** wcnspect servers need no client certificate: do not read its Secret. */
  skipClientSecret?: boolean;
}

/**
 * Where targets come from: --inventory if given, else the kubeconfig (flag, KUBECONFIG,
 * ~/.kube/config). Loaded only when needed: `-h` never needs a cluster.
 */
export async function loadTargets(source: TargetSource, what: string): Promise<Inventory> {
  if (source.inventory) return (await import('../cluster/inventory.js')).loadInventory(source.inventory);
  const { inventoryFromCluster, kubeconfigAvailable } = await import('../cluster/kube.js');
  if (!kubeconfigAvailable(source)) {
    throw new CnspectError(
      'CNSPECT_KUBECONFIG',
      `${what} needs nodes to talk to: pass --inventory FILE, or a kubeconfig (--kubeconfig, KUBECONFIG or ` +
        `~/.kube/config)`,
      {
        hint: 'for this host alone use `capture local`; for a lab `cnspect lab up` prints an inventory',
      },
    );
  }
  return inventoryFromCluster(source);
}

export function clientTls(inventory: Inventory): TlsMaterial {
  if (inventory.tlsMaterial) return inventory.tlsMaterial;
  if (!inventory.tls)
    throw new CnspectError('CNSPECT_TLS', `inventory ${inventory.path} has no tls section (ca, cert, key)`, {
      hint: 'agents only accept mTLS clients',
    });
  return readTlsFiles(inventory.tls, 'the client');
}

/** tunnel with a cluster, direct with an inventory, unless --transport says otherwise. */
export function transportOf(flags: { transport?: string; inventory?: string }): Transport {
  if (flags.transport !== undefined && flags.transport !== 'direct' && flags.transport !== 'tunnel')
    throw badFlag('--transport', flags.transport, 'direct or tunnel');
  return (flags.transport as Transport | undefined) ?? (flags.inventory ? 'direct' : 'tunnel');
}

export interface Reach {
  inventory: Inventory;
  tls: TlsMaterial;
  transport: Transport;
  port: number;
}

export interface NodeConnection extends Connection {
  node: InventoryNode;
}

/**
 * Connects to every node at once (a node that cannot be reached fails on its first call) and closes them all after
 * `use`.
 */
export async function withConnections<T>(
  reach: Reach,
  nodes: readonly InventoryNode[],
  use: (conns: NodeConnection[]) => Promise<T>,
): Promise<T> {
  const { connectAgent } = await import('../cluster/connect.js');
  const conns = await Promise.all(
    nodes.map(async (node) => ({
      node,
      ...(await connectAgent(reach.inventory, node, reach.tls, reach.transport, reach.port)),
    })),
  );
  try {
    return await use(conns);
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}
