// One way to reach a node's agent, for every command: direct (the node's address, mTLS) or
// through the API server's port-forward (tunnel, mTLS inside), from an inventory or a cluster.
import type { AgentApi } from '../contract/agent-api.js';
import type { TlsMaterial } from '../tls/material.js';
import type { Inventory, InventoryNode } from './inventory.js';
import { RemoteAgent } from './agent-client.js';

export type Transport = 'direct' | 'tunnel';

export interface Connection {
  api: AgentApi & Pick<RemoteAgent, 'datapath' | 'portCounters'>;
  close(): Promise<void>;
}

/** Stands in for an agent that could not be reached: every call fails with why. */
export function failingAgent(err: unknown): Connection['api'] {
  const fail = (): Promise<never> => Promise.reject(err);
  return {
    info: fail,
    stopCapture: fail,
    counters: fail,
    portCounters: fail,
    datapath: fail,
    close: async () => undefined,
    capture: async function* () {
      yield* [];
      throw err;
    },
  };
}

export async function connectAgent(
  inventory: Inventory,
  node: InventoryNode,
  tls: TlsMaterial,
  transport: Transport,
  port: number,
): Promise<Connection> {
  const kubeConfig = (inventory as { kubeConfig?: import('@kubernetes/client-node').KubeConfig }).kubeConfig;
  if (transport === 'tunnel' && kubeConfig) {
    const { openTunnel } = await import('./tunnel.js');
    const { DEFAULT_AGENT_NAMESPACE } = await import('./kube.js');
    // A node whose tunnel cannot open fails alone, like an unreachable node.
    let tunnel: Awaited<ReturnType<typeof openTunnel>>;
    try {
      tunnel = await openTunnel(kubeConfig, DEFAULT_AGENT_NAMESPACE, node.name, port);
    } catch (err) {
      return { api: failingAgent(err), close: async () => undefined };
    }
    // The API server picked the pod; its certificate must still name this node (not the local listener).
    const api = new RemoteAgent(tunnel.address, tls, node.name, [node.name]);
    const t = tunnel;
    return {
      api,
      close: async () => {
        await api.close();
        await t.close();
      },
    };
  }
  const api = new RemoteAgent(node.address, tls, node.name);
  return { api, close: () => api.close() };
}
