// Asking every (or some) inventory node's agent the same question, concurrently; a node that
// fails is reported by name and the others' answers are kept.
import { CnspectError, describeError } from '../errors.js';
import type { RemoteAgent } from '../cluster/agent-client.js';
import type { Inventory } from '../cluster/inventory.js';
import type { CliContext } from './context.js';

export interface PerNode<T> {
  inventory: Inventory;
  results: T[];
  failed: string[];
  asked: number;
}

export async function askNodes<T>(inventoryPath: string, names: string[] | undefined, ctx: CliContext, ask: (agent: RemoteAgent) => Promise<T>): Promise<PerNode<T>> {
  const { loadInventory } = await import('../cluster/inventory.js');
  const { findNodes } = await import('../cluster/targets.js');
  const { RemoteAgent } = await import('../cluster/agent-client.js');
  const { readTlsFiles } = await import('../agent/tls.js');
  const inventory = loadInventory(inventoryPath);
  const nodes = names?.length ? findNodes(inventory, names.flatMap((n) => n.split(',')).map((n) => n.trim()).filter(Boolean)) : inventory.nodes;
  if (!inventory.tls) throw new CnspectError('CNSPECT_TLS', `inventory ${inventory.path} has no tls section (ca, cert, key)`, { hint: 'agents only accept mTLS clients' });
  const tls = readTlsFiles(inventory.tls, 'the client');
  const failed: string[] = [];
  const answers = await Promise.all(nodes.map(async (n) => {
    const agent = new RemoteAgent(n.address, tls, n.name);
    try { return await ask(agent); } catch (err) {
      failed.push(n.name);
      ctx.err.write(`${n.name}: FAILED ${describeError(err)}\n`);
      return undefined;
    } finally { await agent.close(); }
  }));
  return { inventory, results: answers.filter((r): r is Awaited<T> => r !== undefined) as T[], failed, asked: nodes.length };
}
