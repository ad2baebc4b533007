// `cnspect lab up|status|down` — a small cluster of network namespaces on this host.
import { Command } from 'commander';
import { DEFAULT_AGENT_PORT } from '../contract/agent-api.js';
import { CnspectError } from '../errors.js';
import type { CliContext } from './context.js';
import { parseIntInRange } from './flags.js';
import { table } from '../output/terminal.js';
import { type FlagsOf, type OptionTable, withOptions } from './options.js';

export const DEFAULT_LAB_NAME = 'lab';
export const LAB_AGENT_PORT = DEFAULT_AGENT_PORT;

const LAB_UP_OPTIONS = {
  nodes: { flags: '--nodes <n>', description: 'number of nodes (1-16)', default: '2' },
  podsPerNode: {
    flags: '--pods-per-node <n>',
    description: 'bridged pods per node (1-16); the last node also gets one routed pod',
    default: '2',
  },
  network: { flags: '--network <mode>', description: 'bridge or overlay', default: 'bridge' },
  name: {
    flags: '--name <prefix>',
    description: 'lab name, prefix of everything it creates',
    default: DEFAULT_LAB_NAME,
  },
} as const satisfies OptionTable;

type UpFlags = FlagsOf<typeof LAB_UP_OPTIONS>;

export async function runLabUp(flags: UpFlags, ctx: CliContext): Promise<number> {
  const { labUp } = await import('../lab/lab.js');
  const { validateLabOptions } = await import('../lab/plan.js');
  const options = validateLabOptions({
    name: flags.name,
    nodes: parseIntInRange(flags.nodes, '--nodes', 1, 16),
    podsPerNode: parseIntInRange(flags.podsPerNode, '--pods-per-node', 1, 16),
    network: flags.network as 'bridge' | 'overlay',
    agentPort: LAB_AGENT_PORT,
  });
  const started = Date.now();
  const state = await labUp(options, (line) => ctx.err.write(`lab: ${line}\n`));
  ctx.err.write(
    `lab ${options.name} is up in ${Date.now() - started} ms: ${state.plan.nodes.length} nodes, ` +
      `${state.plan.pods.length} pods (${options.network})\n`,
  );
  ctx.out.write(`${state.inventoryPath}\n`);
  ctx.err.write(
    `try:\n  cnspect capture all --inventory ${state.inventoryPath} -t ICMP -d 10\n  ip netns exec ` +
      `${state.plan.pods[0]!.netns} ping ${state.plan.pods.at(-1)!.ip}\n  cnspect lab down --name ${options.name}\n`,
  );
  return 0;
}

export async function runLabStatus(name: string | undefined, ctx: CliContext): Promise<number> {
  const { labNames, labStatus } = await import('../lab/lab.js');
  const names = name ? [name] : labNames();
  const rows: string[][] = [];
  for (const n of names) {
    const s = labStatus(n);
    if (!s) {
      if (name)
        throw new CnspectError('CNSPECT_FILE', `no lab named ${JSON.stringify(n)} is up`, {
          hint: 'start one with `cnspect lab up`',
        });
      continue;
    }
    for (const node of s.nodes)
      rows.push([
        s.name,
        s.network,
        node.name,
        node.address,
        node.agentRunning ? `running (pid ${node.agentPid})` : 'NOT RUNNING',
        `${s.namespacesPresent}/${s.namespacesExpected}`,
        s.inventoryPath,
      ]);
  }
  if (rows.length === 0) {
    ctx.err.write('no lab is up (start one with `cnspect lab up`)\n');
    return 0;
  }
  ctx.out.write(`${table(['LAB', 'NETWORK', 'NODE', 'AGENT ADDRESS', 'AGENT', 'NAMESPACES', 'INVENTORY'], rows)}\n`);
  return rows.some((r) => r[4] === 'NOT RUNNING') ? 1 : 0;
}

export async function runLabDown(name: string, ctx: CliContext): Promise<number> {
  const { labDown } = await import('../lab/lab.js');
  const { LAB_NAME } = await import('../lab/plan.js');
  if (!LAB_NAME.test(name))
    throw new CnspectError(
      'CNSPECT_BAD_FLAG',
      `invalid value for --name: ${JSON.stringify(name)}; allowed: 1-8 lower-case letters and digits`,
    );
  const removed = await labDown(name);
  ctx.out.write(removed.length ? `${removed.join('\n')}\n` : '');
  ctx.err.write(`lab ${name}: removed ${removed.length} items\n`);
  return 0;
}

export function labCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const lab = new Command('lab').summary('a small cluster of network namespaces on this host, with agents');
  const up = lab
    .command('up')
    .description(
      'Create nodes and pods as network namespaces (bridge: routed node subnets; overlay: VXLAN), start an ' +
        'mTLS agent per node and write an inventory file.',
    );
  withOptions(up, LAB_UP_OPTIONS).action(async (flags: UpFlags) => {
    setExit(await runLabUp(flags, ctx));
  });
  const status = lab.command('status').description('Show labs, their agents and inventory files.');
  const only = { name: { flags: '--name <prefix>', description: 'only this lab' } } as const satisfies OptionTable;
  withOptions(status, only).action(async (flags: FlagsOf<typeof only>) => {
    setExit(await runLabStatus(flags.name, ctx));
  });
  const down = lab
    .command('down')
    .description('Remove every namespace, interface, process and file of the lab (also after a crash).');
  const named = { name: LAB_UP_OPTIONS.name } as const satisfies OptionTable;
  withOptions(down, named).action(async (flags: FlagsOf<typeof named>) => {
    setExit(await runLabDown(flags.name, ctx));
  });
  return lab;
}
