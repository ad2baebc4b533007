// `cnspect counter` — live per-interface counters of the captures running on this host.
import { Command } from 'commander';
import { CnspectError, describeError } from '../errors.js';
import { listLocalSockets } from '../agent/local-socket.js';
import { RemoteAgent } from '../cluster/agent-client.js';
import type { CountersResponse } from '../gen/cnspect/v1/agent.js';
import { countersJson } from '../output/capture-output.js';
import { safe, table } from '../output/terminal.js';
import type { CliContext } from './context.js';
import { collect, parseOutputFormat } from './flags.js';

export interface CounterFlags {
  nodes?: string[];
  output?: string;
}

/** Reads the counters of every local capture process. */
export async function localCounters(): Promise<CountersResponse[]> {
  const out: CountersResponse[] = [];
  for (const path of listLocalSockets()) {
    const agent = new RemoteAgent(`unix:${path}`, undefined, `local:${path}`);
    try { out.push(await agent.counters()); } catch { /* the capture ended between listing and asking */ } finally { await agent.close(); }
  }
  return out;
}

export function renderCounters(responses: CountersResponse[], format: 'text' | 'json'): string {
  const sessions = responses.flatMap((r) => r.sessions.map((s) => ({ node: r.node, s })));
  if (format === 'json') {
    return JSON.stringify(sessions.map(({ node, s }) => ({ node, sessionId: s.sessionId, interface: s.interface, netns: s.netns, filter: s.bpfExpression, ...(s.counters ? { counters: countersJson(node, s.counters) } : {}) })));
  }
  const rows: string[][] = [];
  for (const { node, s } of sessions) {
    const c = s.counters;
    if (!c) continue;
    for (const i of c.interfaces) rows.push([safe(node), s.sessionId, safe(i.interface), `${i.rxPackets}`, `${i.rxBytes}`, `${i.txPackets}`, `${i.txBytes}`, `${i.otherPackets}`, '']);
    rows.push([safe(node), s.sessionId, 'TOTAL', '', '', '', '', `${c.packets}`, `${c.kernelDropped}`]);
  }
  return table(['NODE', 'SESSION', 'INTERFACE', 'RX PKTS', 'RX BYTES', 'TX PKTS', 'TX BYTES', 'OTHER/ALL PKTS', 'KERNEL DROPS'], rows);
}

export async function runCounter(flags: CounterFlags, ctx: CliContext): Promise<number> {
  const format = flags.output === undefined ? 'text' : parseOutputFormat(flags.output);
  if (flags.nodes?.length) {
    throw new CnspectError('CNSPECT_UNSUPPORTED', `counter --nodes ${flags.nodes.join(',')} needs cluster targets, which this version cannot reach yet`, { hint: 'run `cnspect counter` on the node itself' });
  }
  let responses: CountersResponse[];
  try { responses = await localCounters(); } catch (err) { ctx.err.write(`${describeError(err)}\n`); return 1; }
  if (responses.every((r) => r.sessions.length === 0)) {
    if (format === 'json') ctx.out.write('[]\n');
    ctx.err.write('no capture is running on this host (start one with `cnspect capture local`)\n');
    return 0;
  }
  ctx.out.write(`${renderCounters(responses, format)}\n`);
  return 0;
}

export function counterCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  return new Command('counter')
    .summary('live packet counters of running captures')
    .description('Show the per-interface, per-direction counters of the captures running now (start one with `cnspect capture`).')
    .option('-n, --nodes <nodes>', 'only these nodes (comma-separated)', collect)
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (flags: CounterFlags) => { setExit(await runCounter(flags, ctx)); });
}
