// `cnspect certs init DIR --host NAME/IP… | --node NAME=IP…` — CA, agent and client certificates for mTLS.
import { Command } from 'commander';
import { DEFAULT_AGENT_PORT } from '../contract/agent-api.js';
import { badFlag, CnspectError, splitList } from '../errors.js';
import type { CliContext } from './context.js';
import { type FlagsOf, type OptionTable, withOptions } from './options.js';

const CERTS_INIT_OPTIONS = {
  host: {
    flags: '--host <name>',
    description: 'host name or IP the one agent is reached by; the first names it (repeatable, comma-separated)',
    repeatable: true,
  },
  node: {
    flags: '--node <name=hosts>',
    description: 'a node and the addresses it is reached by, e.g. node1=10.0.0.5 (repeatable)',
    repeatable: true,
  },
} as const satisfies OptionTable;

export type CertsInitFlags = FlagsOf<typeof CERTS_INIT_OPTIONS>;

/** "--node node1=10.0.0.5,node1.lan" → { name: node1, hosts: [10.0.0.5, node1.lan] }, one node per flag. */
export function parseNodeFlag(value: string): { name: string; hosts: string[] } {
  const m = /^([^=,]+)=(.*)$/.exec(value.trim());
  const hosts = (m?.[2] ?? '').split(',').map((h) => h.trim());
  if (!m || hosts.includes('')) {
    throw badFlag(
      '--node',
      value,
      'NAME=HOST[,HOST…]: the node name, "=", and the addresses or names it is reached by, e.g. node1=10.0.0.5',
    );
  }
  return { name: m[1]!.trim(), hosts };
}

export async function runCertsInit(dir: string, flags: CertsInitFlags, ctx: CliContext): Promise<number> {
  const { initCertificates, initNodeCertificates } = await import('../tls/certs.js'); // heavy: loaded only here
  if (flags.node?.length) {
    if (flags.host?.length)
      throw new CnspectError('CNSPECT_BAD_FLAG', '--host and --node cannot be combined', {
        hint: '--node NAME=HOST for each node, or --host for one agent',
      });
    const nodes = flags.node.map(parseNodeFlag);
    const files = await initNodeCertificates(dir, nodes);
    ctx.out.write(`${files.join('\n')}\n`);
    ctx.err.write(
      `agent on each node:  cnspect agent --listen 0.0.0.0:${DEFAULT_AGENT_PORT} --tls-dir ${dir} ` +
        `--node-name NODE  (NODE: ${nodes.map((n) => n.name).join(', ')})\n`,
    );
    return 0;
  }
  const list = splitList(flags.host, '--host');
  if (list.length === 0)
    throw badFlag(
      '--host',
      '',
      'one or more host names or IPs the agent is reached by, e.g. --host 10.0.0.5 --host node1',
    );
  const files = await initCertificates(dir, list);
  ctx.out.write(`${files.join('\n')}\n`);
  ctx.err.write(
    `agent:  cnspect agent --listen 0.0.0.0:${DEFAULT_AGENT_PORT} --tls-cert ${dir}/agent.crt --tls-key ` +
      `${dir}/agent.key --tls-ca ${dir}/ca.crt\n`,
  );
  return 0;
}

export function certsCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const certs = new Command('certs').summary('create mTLS material for agents and clients');
  const init = certs
    .command('init')
    .description(
      'Create (or reuse) a CA in DIR, issue agent certificates naming their node, and a client certificate.\n' +
        'With --host: one agent certificate (agent.crt) named by the first host. With --node: one per node (NODE.crt).',
    )
    .argument('<dir>', 'directory to write ca.crt, agent.crt/key or NODE.crt/key, client.crt/key into');
  withOptions(init, CERTS_INIT_OPTIONS)
    .addHelpText(
      'after',
      '\nExamples:\n  cnspect certs init ./tls --host 10.0.0.5\n  cnspect certs init ./tls --node ' +
        'node1=10.0.0.5 --node node2=10.0.0.6',
    )
    .action(async (dir: string, flags: CertsInitFlags) => {
      setExit(await runCertsInit(dir, flags, ctx));
    });
  return certs;
}
