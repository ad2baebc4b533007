// `cnspect certs init DIR --host NAME/IP…` — CA, agent and client certificates for mTLS.
import { Command } from 'commander';
import { badFlag } from '../errors.js';
import type { CliContext } from './context.js';
import { collect } from './flags.js';

export async function runCertsInit(dir: string, hosts: string[] | undefined, ctx: CliContext): Promise<number> {
  const list = (hosts ?? []).flatMap((h) => h.split(',')).map((h) => h.trim()).filter(Boolean);
  if (list.length === 0) throw badFlag('--host', '', 'at least one host name or IP the agent is reached by, e.g. --host 10.0.0.5 --host node1');
  const { initCertificates } = await import('../agent/certs.js'); // heavy: loaded only here
  const files = await initCertificates(dir, list);
  ctx.out.write(`${files.join('\n')}\n`);
  ctx.err.write(`agent:  cnspect agent --listen 0.0.0.0:50051 --tls-cert ${dir}/agent.crt --tls-key ${dir}/agent.key --tls-ca ${dir}/ca.crt\n`);
  return 0;
}

export function certsCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const certs = new Command('certs').summary('create mTLS material for agents and clients');
  certs.command('init')
    .description('Create (or reuse) a CA in DIR and issue an agent certificate for the given hosts and a client certificate.')
    .argument('<dir>', 'directory to write ca.crt, agent.crt/key, client.crt/key into')
    .option('--host <name>', 'host name or IP the agent is reached by (repeatable, comma-separated)', collect)
    .action(async (dir: string, flags: { host?: string[] }) => { setExit(await runCertsInit(dir, flags.host, ctx)); });
  return certs;
}
