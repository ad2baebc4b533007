// Asking every (or some) node's agent the same question through the fleet: a node that fails is
// reported by name and the others' answers are kept.
import { describeError, splitList } from '../errors.js';
import type { Connection } from '../cluster/connect.js';
import type { Inventory } from '../cluster/inventory.js';
import { askEach, type FleetFailure } from '../fleet/fan-out.js';
import { clientTls, DEFAULT_AGENT_PORT, loadTargets, transportOf, withConnections } from '../fleet/targets.js';
import type { CliContext } from './context.js';
import { nodeFailedWriter } from './fleet-report.js';

export interface PerNode<T> {
  inventory: Inventory;
  results: T[];
  failure?: FleetFailure;
}

export interface TargetFlags {
  inventory?: string;
  kubeconfig?: string;
  context?: string;
  port?: string;
  transport?: string;
}

export async function askNodes<T>(
  flags: TargetFlags,
  names: string[] | undefined,
  ctx: CliContext,
  what: string,
  ask: (agent: Connection['api']) => Promise<T>,
): Promise<PerNode<T>> {
  const wanted = splitList(names, '--nodes'); // refused before any cluster is asked
  const transport = transportOf(flags);
  const port = flags.port ? Number(flags.port) : DEFAULT_AGENT_PORT;
  const { findNodes } = await import('../cluster/targets.js');
  const inventory = await loadTargets(
    { inventory: flags.inventory, kubeconfig: flags.kubeconfig, context: flags.context, agentPort: port },
    what,
  );
  const nodes = wanted.length ? findNodes(inventory, wanted) : inventory.nodes;
  const reach = { inventory, tls: clientTls(inventory), transport, port };
  return withConnections(reach, nodes, async (conns) => {
    const { answers, failure } = await askEach(
      conns.map((c) => ({ name: c.node.name, c })),
      ({ c }) => ask(c.api),
      nodeFailedWriter(ctx.err, describeError),
    );
    return { inventory, results: answers.map((a) => a.value), failure };
  });
}
