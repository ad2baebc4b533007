// HNS state on a Windows node, read with hnsdiag into the shared datapath schema
// (docs/datapath.md). The raw JSON is kept beside the normalised view.
import type { DatapathResponse, NetworkNamespace } from '../../gen/cnspect/v1/agent.js';
import {
  endpointFromHns,
  hnsObjects,
  loadBalancersFromHnsdiag,
  networkFromHns,
  parseConcatenatedJson,
} from './hns-parse.js';
import { mustRun, type WindowsTools } from './tools.js';

/** `hnsdiag list endpoints -d`: every HNS endpoint as JSON objects. */
export async function hnsEndpointObjects(tools: WindowsTools): Promise<Array<Record<string, unknown>>> {
  return hnsObjects(
    parseConcatenatedJson(await mustRun(tools.hnsdiag, ['list', 'endpoints', '-d'], 'listing HNS endpoints')),
  );
}

export async function hnsNetworkObjects(tools: WindowsTools): Promise<Array<Record<string, unknown>>> {
  return hnsObjects(
    parseConcatenatedJson(await mustRun(tools.hnsdiag, ['list', 'networks', '-d'], 'listing HNS networks')),
  );
}

export async function windowsDatapath(tools: WindowsTools, node: string): Promise<DatapathResponse> {
  const [endpointObjects, networkObjects, lbTable] = await Promise.all([
    hnsEndpointObjects(tools),
    hnsNetworkObjects(tools),
    mustRun(tools.hnsdiag, ['list', 'loadbalancers'], 'listing HNS load balancers'),
  ]);
  const endpoints = endpointObjects.map(endpointFromHns);
  const ipsById = new Map(endpointObjects.map((o, i) => [String(o.ID ?? o.Id).toLowerCase(), endpoints[i]!.ips]));
  const loadBalancers = loadBalancersFromHnsdiag(lbTable, ipsById);
  // Namespaces (compartments) as the endpoints name them: hnsdiag has no namespace view on every build.
  const namespaces = new Map<string, NetworkNamespace>();
  for (const e of endpoints) {
    if (!e.netns) continue;
    const ns = namespaces.get(e.netns) ?? { name: e.netns, inode: 0n, interfaces: [], endpointIps: [] };
    ns.endpointIps.push(...e.ips);
    namespaces.set(e.netns, ns);
  }
  return {
    node,
    os: 'windows',
    endpoints,
    networks: networkObjects.map(networkFromHns),
    namespaces: [...namespaces.values()],
    loadBalancers: loadBalancers.map(({ id: _id, endpointIds: _e, ...lb }) => lb),
    rawJson: JSON.stringify({
      endpoints: endpointObjects,
      networks: networkObjects,
      loadBalancers: loadBalancers.map((l) => ({
        ID: l.id,
        VirtualIPs: [l.vip].filter(Boolean),
        DirectIPIDs: l.endpointIds,
      })),
    }),
  };
}
