// `cnspect agent` — serve this node's capture API over gRPC with mandatory mutual TLS.
import { Command } from 'commander';
import { Agent } from '../agent/agent.js';
import { serveAgent } from '../agent/server.js';
import { readTlsFiles } from '../agent/tls.js';
import { BACKEND_KINDS, type BackendKind, createBackend } from '../backends/index.js';
import { badFlag } from '../errors.js';
import type { CliContext } from './context.js';
import { parseIntInRange, parseSize } from './flags.js';

export interface AgentFlags {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  maxSessions: string;
  streamBudget: string;
  nodeName?: string;
  backend: string;
  windowsTools?: string;
}

export function parseListen(value: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw badFlag('--listen', value, 'HOST:PORT, e.g. 0.0.0.0:50051 or [::]:50051');
  return value;
}

export async function runAgent(flags: AgentFlags, ctx: CliContext): Promise<number> {
  const listen = parseListen(flags.listen);
  const maxSessions = parseIntInRange(flags.maxSessions, '--max-sessions', 1, 64);
  const streamBudgetBytes = parseSize(flags.streamBudget, '--stream-budget');
  if (streamBudgetBytes < 1 << 20) throw badFlag('--stream-budget', flags.streamBudget, 'at least 1M');
  const tls = readTlsFiles({ ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey }, 'the agent');
  if (!(BACKEND_KINDS as readonly string[]).includes(flags.backend)) throw badFlag('--backend', flags.backend, BACKEND_KINDS.join(', '));
  const backend = createBackend(flags.backend as BackendKind, process.platform, flags.windowsTools);
  // A previous agent killed hard may have left a pktmon session and its filters behind.
  for (const line of (await backend.cleanupLeftovers?.()) ?? []) ctx.err.write(`cnspect agent: leftover cleanup: ${line}\n`);
  const agent = new Agent(backend, { maxSessions, streamBudgetBytes }, flags.nodeName);
  const server = await serveAgent(agent, { listen, tls });
  await backend.warmUp?.();
  const bound = listen.replace(/:\d+$/, `:${server.port}`); // port 0 = any free port
  ctx.err.write(`cnspect agent ${agent.node}: listening on ${bound} (mTLS)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => { resolve(); };
    ctx.signals.once('SIGINT', stop);
    ctx.signals.once('SIGTERM', stop);
  });
  ctx.err.write('cnspect agent: stopping sessions\n');
  await agent.close();
  await server.close();
  return 0;
}

export function agentCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  return new Command('agent')
    .summary('run the node agent (gRPC, mutual TLS)')
    .description('Serve this node\'s capture API. Clients must present a certificate signed by --tls-ca.')
    .requiredOption('--listen <host:port>', 'address to listen on')
    .option('--tls-cert <file>', 'agent certificate (PEM)')
    .option('--tls-key <file>', 'agent private key (PEM)')
    .option('--tls-ca <file>', 'CA that signs client certificates (PEM)')
    .option('--max-sessions <n>', 'concurrent capture sessions allowed', '8')
    .option('--stream-budget <size>', 'memory all sessions together may hold for slow clients before counting stream drops', '192M')
    .option('--node-name <name>', 'name reported to clients (default: host name)')
    .option('--backend <kind>', `capture backend: ${BACKEND_KINDS.join(', ')} (auto = this OS)`, 'auto')
    .option('--windows-tools <dir>', 'directory of stand-ins for pktmon/vfpctrl/hnsdiag (NAME.mjs), for testing the Windows backend off Windows')
    .action(async (flags: AgentFlags) => { setExit(await runAgent(flags, ctx)); });
}
