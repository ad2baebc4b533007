// `cnspect agent` — serve this node's capture API over gRPC with mandatory mutual TLS.
import { Command } from 'commander';
import { Agent } from '../agent/agent.js';
import { serveAgent } from '../agent/server.js';
import { auditWriter, LOG_FORMATS, type LogFormat } from '../agent/audit.js';
import { nodeFilesIn, readTlsFiles } from '../tls/material.js';
import { BACKEND_KINDS, type BackendKind, createBackend } from '../backends/index.js';
import { existsSync } from 'node:fs';
import { badFlag, CnspectError, requireRoot } from '../errors.js';
import type { CliContext } from './context.js';
import { parseIntInRange, parseSize } from './flags.js';
import { type FlagsOf, type OptionTable, withOptions } from './options.js';

const AGENT_OPTIONS = {
  listen: { flags: '--listen <host:port>', description: 'address to listen on', required: true },
  tlsCert: { flags: '--tls-cert <file>', description: 'agent certificate (PEM)' },
  tlsKey: { flags: '--tls-key <file>', description: 'agent private key (PEM)' },
  tlsCa: { flags: '--tls-ca <file>', description: 'CA that signs client certificates (PEM)' },
  tlsDir: {
    flags: '--tls-dir <dir>',
    description:
      "instead of the three above: DIR/ca.crt and this node's DIR/NODE.crt, DIR/NODE.key (needs --node-name)",
  },
  maxSessions: { flags: '--max-sessions <n>', description: 'concurrent capture sessions allowed', default: '8' },
  streamBudget: {
    flags: '--stream-budget <size>',
    description: 'memory all sessions together may hold for slow clients before counting stream drops',
    default: '192M',
  },
  logFormat: {
    flags: '--log-format <format>',
    description: `audit lines (connections, sessions, refusals): ${LOG_FORMATS.join(' or ')}`,
    default: 'text',
  },
  nodeName: { flags: '--node-name <name>', description: 'name reported to clients (default: host name)' },
  backend: {
    flags: '--backend <kind>',
    description: `capture backend: ${BACKEND_KINDS.join(', ')} (auto = this OS)`,
    default: 'auto',
  },
  windowsTools: {
    flags: '--windows-tools <dir>',
    description:
      'directory of stand-ins for pktmon/vfpctrl/hnsdiag (NAME.mjs), for testing the Windows backend off Windows',
  },
} as const satisfies OptionTable;

export type AgentFlags = FlagsOf<typeof AGENT_OPTIONS>;

export function parseListen(value: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) > 65535) throw badFlag('--listen', value, 'HOST:PORT, e.g. 0.0.0.0:50051 or [::]:50051');
  return value;
}

/** --tls-dir DIR takes DIR/ca.crt and this node's DIR/NODE.crt and DIR/NODE.key (the deploy Secret's layout). */
function agentTlsFiles(flags: AgentFlags): { ca?: string; cert?: string; key?: string } {
  if (!flags.tlsDir) return { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey };
  if (flags.tlsCert || flags.tlsKey || flags.tlsCa)
    throw badFlag('--tls-dir', flags.tlsDir, 'either --tls-dir or --tls-cert/--tls-key/--tls-ca, not both');
  if (!flags.nodeName)
    throw badFlag('--tls-dir', flags.tlsDir, "with --node-name NODE (the certificate DIR/NODE.crt is this node's)");
  const files = nodeFilesIn(flags.tlsDir, flags.nodeName);
  if (!existsSync(files.cert)) {
    throw new CnspectError(
      'CNSPECT_TLS',
      `no certificate for node ${flags.nodeName} in ${flags.tlsDir} (${files.cert})`,
      {
        hint:
          'a node added after `cnspect deploy` has no certificate yet: run `cnspect cleanup` and ' +
          '`cnspect deploy` again',
      },
    );
  }
  return files;
}

export async function runAgent(flags: AgentFlags, ctx: CliContext): Promise<number> {
  const listen = parseListen(flags.listen);
  const maxSessions = parseIntInRange(flags.maxSessions, '--max-sessions', 1, 64);
  const streamBudgetBytes = parseSize(flags.streamBudget, '--stream-budget');
  if (streamBudgetBytes < 1 << 20) throw badFlag('--stream-budget', flags.streamBudget, 'at least 1M');
  if (!(BACKEND_KINDS as readonly string[]).includes(flags.backend))
    throw badFlag('--backend', flags.backend, BACKEND_KINDS.join(', '));
  const backend = createBackend(flags.backend as BackendKind, process.platform, flags.windowsTools);
  if (backend.os === 'linux') requireRoot('cnspect agent');
  const tls = readTlsFiles(agentTlsFiles(flags), 'the agent');
  // A previous agent killed hard may have left a pktmon session and its filters behind.
  for (const line of (await backend.cleanupLeftovers?.()) ?? [])
    ctx.err.write(`cnspect agent: leftover cleanup: ${line}\n`);
  const agent = new Agent(backend, { maxSessions, streamBudgetBytes }, flags.nodeName);
  if (!(LOG_FORMATS as readonly string[]).includes(flags.logFormat))
    throw badFlag('--log-format', flags.logFormat, LOG_FORMATS.join(', '));
  const server = await serveAgent(agent, { listen, tls, audit: auditWriter(ctx.err, flags.logFormat as LogFormat) });
  await backend.warmUp?.();
  const bound = listen.replace(/:\d+$/, `:${server.port}`); // port 0 = any free port
  ctx.err.write(`cnspect agent ${agent.node}: listening on ${bound} (mTLS)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      resolve();
    };
    ctx.signals.once('SIGINT', stop);
    ctx.signals.once('SIGTERM', stop);
  });
  ctx.err.write('cnspect agent: stopping sessions\n');
  await agent.close();
  await server.close();
  return 0;
}

export function agentCommand(ctx: CliContext, setExit: (code: number) => void): Command {
  const cmd = new Command('agent')
    .summary('run the node agent (gRPC, mutual TLS)')
    .description("Serve this node's capture API. Clients must present a certificate signed by --tls-ca.");
  return withOptions(cmd, AGENT_OPTIONS).action(async (flags: AgentFlags) => {
    setExit(await runAgent(flags, ctx));
  });
}
