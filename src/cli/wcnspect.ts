// The commands' `--server-kind wcnspect` paths: same targets and flags, wcnspect's text answers.
import { CnspectError, describeError, ERROR_CODES, splitList } from '../errors.js';
import type { CaptureRequest } from '../gen/cnspect/v1/agent.js';
import type { InventoryNode } from '../cluster/inventory.js';
import { safe } from '../output/terminal.js';
import type { CliContext } from './context.js';

export const SERVER_KINDS = ['cnspect', 'wcnspect'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export function parseServerKind(value: string | undefined): ServerKind {
  const v = value ?? 'cnspect';
  if (!(SERVER_KINDS as readonly string[]).includes(v)) throw new CnspectError('CNSPECT_BAD_FLAG', `invalid value for --server-kind: ${JSON.stringify(v)}; allowed: ${SERVER_KINDS.join(', ')}`);
  return v as ServerKind;
}

export interface WcnspectJob { node: InventoryNode; label: string; request: CaptureRequest }

/** Streams every node's wcnspect capture; Ctrl+C asks each server to stop. Lines carry their node. */
export async function runWcnspectCapture(jobs: WcnspectJob[], format: 'text' | 'json' | undefined, ctx: CliContext): Promise<number> {
  const { WcnspectServer } = await import('../cluster/wcnspect-client.js');
  const { parsePktmonHeader } = await import('../backends/windows/pktmon-parse.js');
  const servers = jobs.map((j) => ({ job: j, server: new WcnspectServer(j.node.address, j.node.name), abort: new AbortController() }));
  const failed: string[] = [];
  let interrupts = 0;
  const onInterrupt = (): void => {
    interrupts++;
    for (const s of servers) {
      if (interrupts === 1) s.server.stopCapture().catch(() => s.abort.abort());
      else s.abort.abort();
    }
  };
  ctx.signals.on('SIGINT', onInterrupt);
  try {
    await Promise.all(servers.map(async ({ job, server, abort }) => {
      ctx.err.write(`${job.label}: capturing through wcnspect server ${job.node.address} (plaintext)\n`);
      try {
        for await (const line of server.capture(job.request, abort.signal)) {
          if (format === 'json') {
            const p = parsePktmonHeader(line);
            const record = p ? (({ type: frameType, ...rest }) => ({ type: 'packet', node: job.label, frameType, ...rest }))(p) : { type: 'line', node: job.label, text: line };
            ctx.out.write(`${JSON.stringify(record)}\n`);
          } else if (format === 'text') ctx.out.write(`${safe(job.label)}: ${safe(line)}\n`);
        }
      } catch (err) {
        failed.push(job.label);
        ctx.err.write(`${job.label}: FAILED ${describeError(err)}\n`);
      } finally {
        server.close();
      }
    }));
  } finally {
    ctx.signals.off('SIGINT', onInterrupt);
  }
  if (failed.length) {
    ctx.err.write(`CNSPECT_NODE_FAILED: ${failed.length} of ${jobs.length} failed: ${failed.join(', ')}\n`);
    return ERROR_CODES.CNSPECT_NODE_FAILED.exit;
  }
  return 0;
}

/** One text answer per node (counter, vfp-counter, hns), printed under the node's name. */
export async function askWcnspect(nodes: InventoryNode[], ctx: CliContext, ask: (s: import('../cluster/wcnspect-client.js').WcnspectServer) => Promise<string>): Promise<number> {
  const { WcnspectServer } = await import('../cluster/wcnspect-client.js');
  const failed: string[] = [];
  const answers = await Promise.all(nodes.map(async (n) => {
    const s = new WcnspectServer(n.address, n.name);
    try { return { n, text: await ask(s) }; } catch (err) {
      failed.push(n.name);
      ctx.err.write(`${n.name}: FAILED ${describeError(err)}\n`);
      return undefined;
    } finally { s.close(); }
  }));
  for (const a of answers) if (a) ctx.out.write(`== ${safe(a.n.name)}\n${safe(a.text).replace(/\\x0a/g, '\n')}\n`);
  if (failed.length) {
    ctx.err.write(`CNSPECT_NODE_FAILED: ${failed.length} of ${nodes.length} failed: ${failed.join(', ')}\n`);
    return ERROR_CODES.CNSPECT_NODE_FAILED.exit;
  }
  return 0;
}

/** The wcnspect path of counter and hns: nodes from the inventory or the cluster (no client Secret needed). */
export async function askWcnspectNodes(flags: { inventory?: string; kubeconfig?: string; context?: string; nodes?: string[] }, what: string, ctx: CliContext,
  ask: (s: import('../cluster/wcnspect-client.js').WcnspectServer) => Promise<string>): Promise<number> {
  const wanted = splitList(flags.nodes, '--nodes');
  const { loadTargets } = await import('./capture.js');
  const { findNodes } = await import('../cluster/targets.js');
  const inv = await loadTargets(flags.inventory, { kubeconfig: flags.kubeconfig, context: flags.context, skipClientSecret: true }, what);
  const nodes = wanted.length ? findNodes(inv, wanted) : inv.nodes;
  return askWcnspect(nodes, ctx, ask);
}
