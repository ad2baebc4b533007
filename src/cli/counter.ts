// `cnspect counter` — live per-interface counters of the captures running on this host.
import { Command } from 'commander';
import { describeError } from '../errors.js';
import type { FleetFailure } from '../fleet/fan-out.js';
import { fleetExit } from './fleet-report.js';
import { listLocalSockets } from '../contract/local-socket.js';
import { RemoteAgent } from '../cluster/agent-client.js';
import type { CountersResponse } from '../gen/cnspect/v1/agent.js';
import { countersJson } from '../output/capture-output.js';
import { safe, table } from '../output/terminal.js';
import type { CliContext } from './context.js';
import { parseOutputFormat } from './flags.js';
import {
  type FlagsOf,
  NODES_OPTION,
  OUTPUT_OPTION,
  type OptionTable,
  SERVER_KIND_OPTION,
  TARGET_OPTIONS,
  withOptions,
} from './options.js';

const COUNTER_OPTIONS = {
  ...NODES_OPTION,
  includeHidden: { flags: '-i, --include-hidden', description: 'also list the interfaces off the capture path' },
  ...OUTPUT_OPTION,
  ...TARGET_OPTIONS,
  ...SERVER_KIND_OPTION,
} as const satisfies OptionTable;

export type CounterFlags = FlagsOf<typeof COUNTER_OPTIONS>;

/** Reads the counters of every local capture process. */
export async function localCounters(includeHidden = false): Promise<CountersResponse[]> {
  const out: CountersResponse[] = [];
  for (const path of listLocalSockets()) {
    const agent = new RemoteAgent(`unix:${path}`, undefined, `local:${path}`);
    try {
      out.push(await agent.counters('', includeHidden));
    } catch {
      /* the capture ended between listing and asking */
    } finally {
      await agent.close();
    }
  }
  return out;
}

/**
 * One row per interface: what the capture matched there (per direction) beside the interface's
 * own drop and error counters, then the capture's kernel drops.
 */
export function renderCounters(responses: CountersResponse[], format: 'text' | 'json'): string {
  const sessions = responses.flatMap((r) => r.sessions.map((s) => ({ node: r.node, s })));
  if (format === 'json') {
    return JSON.stringify(
      sessions.map(({ node, s }) => ({
        node,
        sessionId: s.sessionId,
        interface: s.interface,
        netns: s.netns,
        filter: s.bpfExpression,
        ...(s.counters ? { counters: countersJson(node, s.counters) } : {}),
        interfaceStats: s.interfaces.map((i) => ({
          interface: i.interface,
          onCapturePath: i.onCapturePath,
          rxPackets: Number(i.rxPackets),
          rxBytes: Number(i.rxBytes),
          txPackets: Number(i.txPackets),
          txBytes: Number(i.txBytes),
          rxDropped: Number(i.rxDropped),
          txDropped: Number(i.txDropped),
          rxErrors: Number(i.rxErrors),
          txErrors: Number(i.txErrors),
        })),
      })),
    );
  }
  const rows: string[][] = [];
  for (const { node, s } of sessions) {
    const c = s.counters;
    const matched = new Map((c?.interfaces ?? []).map((i) => [i.interface, i]));
    const names = [...new Set([...matched.keys(), ...s.interfaces.map((i) => i.interface)])];
    for (const name of names) {
      const m = matched.get(name);
      const st = s.interfaces.find((i) => i.interface === name);
      rows.push([
        safe(node),
        s.sessionId,
        `${safe(name)}${st && !st.onCapturePath ? ' (hidden)' : ''}`,
        m ? `${m.rxPackets}/${m.rxBytes}` : '-',
        m ? `${m.txPackets}/${m.txBytes}` : '-',
        st ? `${st.rxDropped}/${st.txDropped}` : '-',
        st ? `${st.rxErrors}/${st.txErrors}` : '-',
        st ? `${st.rxPackets}/${st.txPackets}` : '-',
      ]);
    }
    if (c)
      rows.push([
        safe(node),
        s.sessionId,
        'CAPTURE',
        `${c.packets} pkts`,
        `${c.bytes} bytes`,
        `kernel drops ${c.kernelDropped}`,
        `stream drops ${c.streamDropped}`,
        '',
      ]);
  }
  return table(
    [
      'NODE',
      'SESSION',
      'INTERFACE',
      'MATCHED RX PKTS/BYTES',
      'MATCHED TX PKTS/BYTES',
      'IF DROPS RX/TX',
      'IF ERRORS RX/TX',
      'IF PKTS RX/TX',
    ],
    rows,
  );
}

export async function runCounter(flags: CounterFlags, ctx: CliContext): Promise<number> {
  const format = flags.output === undefined ? 'text' : parseOutputFormat(flags.output);
  const { parseServerKind, askWcnspectNodes } = await import('./wcnspect.js');
  if (parseServerKind(flags.serverKind) === 'wcnspect')
    return askWcnspectNodes(flags, 'counter', ctx, (srv) => srv.counters(flags.includeHidden ?? false));
  const remote =
    flags.inventory !== undefined ||
    flags.kubeconfig !== undefined ||
    flags.context !== undefined ||
    (flags.nodes?.length ?? 0) > 0;
  let responses: CountersResponse[];
  let failure: FleetFailure | undefined;
  if (remote) {
    const { askNodes } = await import('./inventory-agents.js');
    ({ results: responses, failure } = await askNodes(flags, flags.nodes, ctx, 'counter', (agent) =>
      agent.counters('', flags.includeHidden ?? false),
    ));
  } else {
    try {
      responses = await localCounters(flags.includeHidden ?? false);
    } catch (err) {
      ctx.err.write(`${describeError(err)}\n`);
      return 1;
    }
  }
  if (responses.every((r) => r.sessions.length === 0)) {
    if (format === 'json') ctx.out.write('[]\n');
    ctx.err.write(
      `no capture is running on ${remote ? 'those nodes' : 'this host'} (start one with \`cnspect capture\`)\n`,
    );
  } else ctx.out.write(`${renderCounters(responses, format)}\n`);
  return fleetExit(failure, ctx.err);
}

export function counterCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const cmd = new Command('counter')
    .summary('live packet counters of running captures')
    .description(
      'Show the per-interface, per-direction counters of the captures running now (start one with `cnspect capture`).',
    );
  return withOptions(cmd, COUNTER_OPTIONS).action(async (flags: CounterFlags) => {
    setExit(await runCounter(flags, ctx));
  });
}
