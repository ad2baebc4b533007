// The command registry: one module per command; parsing needs no cluster and no agent.
import { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { CnspectError, describeError } from '../errors.js';
import { VERSION } from '../version.js';
import { agentCommand } from './agent.js';
import { captureCommand } from './capture.js';
import { certsCommand } from './certs.js';
import type { CliContext } from './context.js';
import { counterCommand } from './counter.js';
import { labCommand } from './lab.js';
import { vfpCounterCommand } from './vfp-counter.js';
import { hnsCommand } from './hns.js';
import { deployCommands } from './deploy.js';
import { expandNot } from './flags.js';

/**
 * stdout that survives its reader going away (`cnspect capture … | head`): the first EPIPE
 * emits 'EPIPE' on `signals` (a capture then stops as on Ctrl+C) and later writes are dropped.
 */
export function pipeSafeStdout(stdout: NodeJS.WriteStream, signals: NodeJS.EventEmitter): NodeJS.WritableStream {
  let broken = false;
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (!broken) {
      broken = true;
      signals.emit('EPIPE');
    }
  });
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (broken) {
        done();
        return;
      }
      stdout.write(chunk, () => done()); // an EPIPE arrives through the 'error' listener above
    },
  });
}

export function defaultContext(): CliContext {
  return {
    out: pipeSafeStdout(process.stdout, process),
    err: process.stderr,
    signals: process,
    localAgent: async () => (await import('../agent/local.js')).startLocalAgent(),
  };
}

export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command('cnspect')
    .description(
      'Container networking stack inspector: capture packets, read counters and datapath state on Kubernetes nodes.',
    )
    .version(VERSION)
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => ctx.out.write(s), writeErr: (s) => ctx.err.write(s) })
    .exitOverride();
  const commands = [
    captureCommand,
    counterCommand,
    vfpCounterCommand,
    hnsCommand,
    agentCommand,
    certsCommand,
    labCommand,
  ].map((make) => make(ctx, setExit));
  for (const cmd of [...commands, ...deployCommands(ctx, setExit)]) {
    program.addCommand(
      cmd.exitOverride().configureOutput({ writeOut: (s) => ctx.out.write(s), writeErr: (s) => ctx.err.write(s) }),
    );
  }
  return program;
}

/** Runs the CLI; returns the exit code (never calls process.exit, so it can be tested in-process). */
export async function main(argv: string[], ctx: CliContext = defaultContext()): Promise<number> {
  let code = 0;
  const program = buildProgram(ctx, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv[0] === 'capture' ? expandNot(argv) : argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help'
        ? 0
        : 2;
    }
    ctx.err.write(`${describeError(err)}\n`);
    return err instanceof CnspectError ? err.exitCode : 1;
  }
}
