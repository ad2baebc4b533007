// The commands' `--server-kind wcnspect` paths: same targets and flags, wcnspect's text answers.
import { CnspectError, describeError, splitList } from '../errors.js';
import { askEach, type StreamJob, streamEach } from '../fleet/fan-out.js';
import { loadTargets } from '../fleet/targets.js';
import { fleetExit, nodeFailedWriter } from './fleet-report.js';
import { StopRequests } from './stops.js';
import type { CaptureRequest } from '../gen/cnspect/v1/agent.js';
import type { InventoryNode } from '../cluster/inventory.js';
import { safe } from '../output/terminal.js';
import type { CliContext } from './context.js';

export const SERVER_KINDS = ['cnspect', 'wcnspect'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export function parseServerKind(value: string | undefined): ServerKind {
  const v = value ?? 'cnspect';
  if (!(SERVER_KINDS as readonly string[]).includes(v))
    throw new CnspectError(
      'CNSPECT_BAD_FLAG',
      `invalid value for --server-kind: ${JSON.stringify(v)}; allowed: ${SERVER_KINDS.join(', ')}`,
    );
  return v as ServerKind;
}

export interface WcnspectJob {
  node: InventoryNode;
  label: string;
  request: CaptureRequest;
}

/** Streams every node's wcnspect capture through the fleet; Ctrl+C asks each server to stop. Lines carry their node. */
export async function runWcnspectCapture(
  jobs: WcnspectJob[],
  format: 'text' | 'json' | undefined,
  ctx: CliContext,
): Promise<number> {
  const { WcnspectServer } = await import('../cluster/wcnspect-client.js');
  const { parsePktmonHeader } = await import('../backends/windows/pktmon-parse.js');
  const stops = new StopRequests(ctx.signals);
  const servers = jobs.map((job) => ({
    job,
    server: new WcnspectServer(job.node.address, job.node.name),
    ended: false,
  }));
  const streams = servers.map(
    (s): StreamJob<string | undefined> => ({
      label: s.job.label,
      // wcnspect sends no "started": the stream counts as started once it is open (the undefined first event).
      open: async function* (signal) {
        ctx.err.write(`${s.job.label}: capturing through wcnspect server ${s.job.node.address} (plaintext)\n`);
        yield undefined;
        yield* s.server.capture(s.job.request, signal);
        s.ended = true;
      },
      isStart: () => true,
      stop: () => s.server.stopCapture(),
      finished: () => s.ended,
    }),
  );
  try {
    const outcome = await streamEach(streams, stops, {
      event: (label, line) => {
        if (line === undefined) return;
        if (format === 'json') {
          const p = parsePktmonHeader(line);
          const record = p
            ? (({ type: frameType, ...rest }) => ({ type: 'packet', node: label, frameType, ...rest }))(p)
            : { type: 'line', node: label, text: line };
          ctx.out.write(`${JSON.stringify(record)}\n`);
        } else if (format === 'text') ctx.out.write(`${safe(label)}: ${safe(line)}\n`);
      },
      failed: nodeFailedWriter(ctx.err, describeError),
    });
    return fleetExit(outcome.failure, ctx.err);
  } finally {
    stops.close();
    for (const s of servers) s.server.close();
  }
}

/** One text answer per node (counter, vfp-counter, hns), printed under the node's name. */
export async function askWcnspect(
  nodes: InventoryNode[],
  ctx: CliContext,
  ask: (s: import('../cluster/wcnspect-client.js').WcnspectServer) => Promise<string>,
): Promise<number> {
  const { WcnspectServer } = await import('../cluster/wcnspect-client.js');
  const { answers, failure } = await askEach(
    nodes,
    async (n) => {
      const s = new WcnspectServer(n.address, n.name);
      try {
        return await ask(s);
      } finally {
        s.close();
      }
    },
    nodeFailedWriter(ctx.err, describeError),
  );
  for (const a of answers) ctx.out.write(`== ${safe(a.node.name)}\n${safe(a.value).replace(/\\x0a/g, '\n')}\n`);
  return fleetExit(failure, ctx.err);
}

/** The wcnspect path of counter and hns: nodes from the inventory or the cluster (no client Secret needed). */
export async function askWcnspectNodes(
  flags: { inventory?: string; kubeconfig?: string; context?: string; nodes?: string[] },
  what: string,
  ctx: CliContext,
  ask: (s: import('../cluster/wcnspect-client.js').WcnspectServer) => Promise<string>,
): Promise<number> {
  const wanted = splitList(flags.nodes, '--nodes');
  const { findNodes } = await import('../cluster/targets.js');
  const inv = await loadTargets(
    { inventory: flags.inventory, kubeconfig: flags.kubeconfig, context: flags.context, skipClientSecret: true },
    what,
  );
  const nodes = wanted.length ? findNodes(inv, wanted) : inv.nodes;
  return askWcnspect(nodes, ctx, ask);
}
