// `cnspect vfp-counter -p POD` — a pod's port counters (wcnspect's name kept): on Linux its
// host-side interface and its namespace's protocol counters; --detailed adds the bridge and
// the node NIC.
import { Command } from 'commander';
import { CnspectError } from '../errors.js';
import type { PortCountersResponse } from '../gen/cnspect/v1/agent.js';
import { safe, table } from '../output/terminal.js';
import type { CliContext } from './context.js';
import { parseOutputFormat } from './flags.js';
import {
  type FlagsOf,
  OUTPUT_OPTION,
  type OptionTable,
  SERVER_KIND_OPTION,
  TARGET_OPTIONS,
  withOptions,
} from './options.js';

const VFP_COUNTER_OPTIONS = {
  pod: { flags: '-p, --pod <pod>', description: 'the pod: NAME or NAMESPACE/NAME' },
  namespace: { flags: '--namespace <namespace>', description: 'namespace of the pod', default: 'default' },
  detailed: {
    flags: '-d, --detailed',
    description: 'also the bridge and the node NIC (Windows: host vNIC and external adapter)',
  },
  ...OUTPUT_OPTION,
  ...TARGET_OPTIONS,
  ...SERVER_KIND_OPTION,
} as const satisfies OptionTable;

export type VfpCounterFlags = FlagsOf<typeof VFP_COUNTER_OPTIONS>;

export function portCountersJson(r: PortCountersResponse): Record<string, unknown> {
  return {
    node: r.node,
    pod: r.pod ? `${r.pod.namespace}/${r.pod.name}` : '',
    ports: r.ports.map((p) => ({
      role: p.role,
      interface: p.stats?.interface,
      rxPackets: Number(p.stats?.rxPackets),
      rxBytes: Number(p.stats?.rxBytes),
      txPackets: Number(p.stats?.txPackets),
      txBytes: Number(p.stats?.txBytes),
      rxDropped: Number(p.stats?.rxDropped),
      txDropped: Number(p.stats?.txDropped),
      rxErrors: Number(p.stats?.rxErrors),
      txErrors: Number(p.stats?.txErrors),
    })),
    protocolCounters: Object.fromEntries(r.protocolCounters.map((c) => [`${c.group}.${c.name}`, Number(c.value)])),
  };
}

export function renderPortCounters(r: PortCountersResponse): string {
  const ports = table(
    ['ROLE', 'INTERFACE', 'RX PKTS', 'RX BYTES', 'TX PKTS', 'TX BYTES', 'RX DROP', 'TX DROP', 'RX ERR', 'TX ERR'],
    r.ports.map((p) => [
      p.role,
      safe(p.stats?.interface ?? ''),
      ...[
        p.stats?.rxPackets,
        p.stats?.rxBytes,
        p.stats?.txPackets,
        p.stats?.txBytes,
        p.stats?.rxDropped,
        p.stats?.txDropped,
        p.stats?.rxErrors,
        p.stats?.txErrors,
      ].map((v) => `${v ?? 0n}`),
    ]),
  );
  const counters = table(
    ['PROTOCOL', 'COUNTER', 'VALUE'],
    r.protocolCounters.map((c) => [c.group, c.name, `${c.value}`]),
  );
  return `${safe(r.pod?.namespace ?? '')}/${safe(r.pod?.name ?? '')} on ${safe(r.node)}\n\n${ports}\n\n${counters}`;
}

export async function runVfpCounter(flags: VfpCounterFlags, ctx: CliContext): Promise<number> {
  const format = flags.output === undefined ? 'text' : parseOutputFormat(flags.output);
  if (!flags.pod) throw new CnspectError('CNSPECT_BAD_FLAG', 'vfp-counter needs -p/--pod NAME (or NAMESPACE/NAME)');
  const { findPods } = await import('../cluster/targets.js');
  const { connectAgent } = await import('../cluster/connect.js');
  const { loadTargets, clientTls, transportOf, DEFAULT_AGENT_PORT } = await import('../fleet/targets.js');
  const { parseServerKind, askWcnspect } = await import('./wcnspect.js');
  const wcnspect = parseServerKind(flags.serverKind) === 'wcnspect';
  const inv = await loadTargets(
    { inventory: flags.inventory, kubeconfig: flags.kubeconfig, context: flags.context, skipClientSecret: wcnspect },
    'vfp-counter',
  );
  const [pod] = findPods(inv, [flags.pod], flags.namespace);
  const node = inv.nodes.find((n) => n.name === pod!.node);
  if (!node)
    throw new CnspectError(
      'CNSPECT_POD_NOT_FOUND',
      `pod ${pod!.namespace}/${pod!.name} runs on ${pod!.node}, which is not among the nodes`,
    );
  if (wcnspect) return askWcnspect([node], ctx, (srv) => srv.vfpCounters(pod!.ips[0]!, flags.detailed ?? false));
  const agent = await connectAgent(inv, node, clientTls(inv), transportOf(flags), DEFAULT_AGENT_PORT);
  try {
    const r = await agent.api.portCounters(
      { namespace: pod!.namespace, name: pod!.name, ips: pod!.ips },
      flags.detailed ?? false,
    );
    ctx.out.write(format === 'json' ? `${JSON.stringify(portCountersJson(r))}\n` : `${renderPortCounters(r)}\n`);
    return 0;
  } finally {
    await agent.close();
  }
}

export function vfpCounterCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const cmd = new Command('vfp-counter')
    .summary("a pod's port counters")
    .description(
      "A pod's port counters. Linux: its host-side interface and its network namespace's protocol counters " +
        '(TCP retransmits and resets, UDP no-port and buffer errors, …); ' +
        '--detailed adds the bridge and the node NIC. ' +
        'Windows: its VFP port; --detailed adds the host vNIC and the external adapter.',
    );
  return withOptions(cmd, VFP_COUNTER_OPTIONS).action(async (flags: VfpCounterFlags) => {
    setExit(await runVfpCounter(flags, ctx));
  });
}
