// Asking every (or some) inventory node's agent the same question, concurrently; a node that
// fails is reported by name and the others' answers are kept.
import { badFlag, describeError, splitList } from '../errors.js';
import type { Connection, Transport } from '../cluster/connect.js';
import type { Inventory } from '../cluster/inventory.js';
import type { CliContext } from './context.js';

export interface PerNode<T> {
  inventory: Inventory;
  results: T[];
  failed: string[];
  asked: number;
}

export interface TargetFlags {
  inventory?: string;
  kubeconfig?: string;
  context?: string;
  port?: string;
  transport?: string;
}

/** tunnel with a cluster, direct with an inventory, unless --transport says otherwise. */
export function transportOf(flags: TargetFlags): Transport {
  if (flags.transport !== undefined && flags.transport !== 'direct' && flags.transport !== 'tunnel') throw badFlag('--transport', flags.transport, 'direct or tunnel');
  return (flags.transport as Transport | undefined) ?? (flags.inventory ? 'direct' : 'tunnel');
}

export async function askNodes<T>(flags: TargetFlags, names: string[] | undefined, ctx: CliContext, what: string, ask: (agent: Connection['api']) => Promise<T>): Promise<PerNode<T>> {
  const wanted = splitList(names, '--nodes'); // refused before any cluster is asked
  const { findNodes } = await import('../cluster/targets.js');
  const { connectAgent } = await import('../cluster/connect.js');
  const transport = transportOf(flags);
  const { loadTargets, clientTls } = await import('./capture.js');
  const inventory = await loadTargets(flags.inventory, { kubeconfig: flags.kubeconfig, context: flags.context, agentPort: flags.port ? Number(flags.port) : undefined }, what);
  const nodes = wanted.length ? findNodes(inventory, wanted) : inventory.nodes;
  const tls = clientTls(inventory);
  const failed: string[] = [];
  const answers = await Promise.all(nodes.map(async (n) => {
    const agent = await connectAgent(inventory, n, tls, transport, flags.port ? Number(flags.port) : 50051);
    try { return await ask(agent.api); } catch (err) {
      failed.push(n.name);
      ctx.err.write(`${n.name}: FAILED ${describeError(err)}\n`);
      return undefined;
    } finally { await agent.close(); }
  }));
  return { inventory, results: answers.filter((r): r is Awaited<T> => r !== undefined) as T[], failed, asked: nodes.length };
}
