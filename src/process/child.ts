// One place that starts and stops OS tools (tcpdump, ip, nsenter …): argv arrays only, never a
// shell. Stopping escalates: a polite signal so the tool flushes, then SIGKILL after a named
// delay. Every child is registered so the agent can kill what is left when it exits, and on
// Linux each child gets a parent-death signal so even a SIGKILLed agent leaves nothing running.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CnspectError } from '../errors.js';

/** How long a stopping tool may take to flush before it is killed. */
export const STOP_GRACE_MS = 3000;

export interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** true when SIGKILL had to be used. */
  forced: boolean;
}

export interface ChildOptions {
  /** Kill the child when this process dies, even by SIGKILL (Linux, via setpriv --pdeathsig). */
  dieWithParent?: boolean;
  env?: NodeJS.ProcessEnv;
}

const live = new Set<ChildProcess>();
let spawned = 0;

/** How many OS tools this process has started so far (the agent's audit of "nothing was run"). */
export function spawnedChildren(): number {
  return spawned;
}
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

const SETPRIV = '/usr/bin/setpriv';

export class Child {
  readonly process: ChildProcess;
  readonly argv: readonly string[];
  readonly exited: Promise<ExitInfo>;
  private readonly startedAt = Date.now();
  private forced = false;
  private stderrText = '';
  private exitInfo: ExitInfo | undefined;

  constructor(argv: readonly string[], options: ChildOptions = {}) {
    if (argv.length === 0) throw new CnspectError('CNSPECT_INTERNAL', 'empty argv');
    installExitHook();
    this.argv = argv;
    let full = [...argv];
    if (options.dieWithParent && process.platform === 'linux' && existsSync(SETPRIV)) {
      full = [SETPRIV, '--pdeathsig', 'SIGKILL', '--', ...argv];
    }
    const child = spawn(full[0]!, full.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      shell: false,
    });
    this.process = child;
    spawned++;
    live.add(child);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      this.stderrText += s;
      if (this.stderrText.length > 64 * 1024) this.stderrText = this.stderrText.slice(-32 * 1024);
    });
    this.exited = new Promise<ExitInfo>((resolve) => {
      const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
        live.delete(child);
        this.exitInfo ??= { exitCode, signal, durationMs: Date.now() - this.startedAt, forced: this.forced };
        resolve(this.exitInfo);
      };
      child.once('error', (err: NodeJS.ErrnoException) => {
        this.stderrText += `\n${err.code === 'ENOENT' ? `${full[0]}: not found` : err.message}`;
        finish(127, null);
      });
      child.once('close', finish);
    });
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get stderr(): string {
    return this.stderrText;
  }

  get running(): boolean {
    return this.exitInfo === undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  signal(sig: NodeJS.Signals): boolean {
    if (!this.running) return false;
    try {
      return this.process.kill(sig);
    } catch {
      return false;
    }
  }

  /** Asks the tool to stop with `sig`, then kills it after `graceMs`. Resolves when it is gone. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = STOP_GRACE_MS): Promise<ExitInfo> {
    if (this.running) {
      this.signal(sig);
      const timer = setTimeout(() => {
        if (this.running) {
          this.forced = true;
          this.signal('SIGKILL');
        }
      }, graceMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }
}

/** Runs a command to completion (killed after `timeoutMs`): how it exited, its stdout and stderr. */
export async function runToEnd(
  argv: readonly string[],
  timeoutMs: number,
): Promise<{ info: ExitInfo; out: string; err: string }> {
  const child = new Child(argv, { dieWithParent: true });
  let out = '';
  child.process.stdout!.setEncoding('utf8');
  child.process.stdout!.on('data', (s: string) => {
    out += s;
  });
  const timer = setTimeout(() => {
    void child.stop('SIGKILL', 0);
  }, timeoutMs);
  const info = await child.exited.finally(() => clearTimeout(timer));
  return { info, out, err: child.stderr };
}

/** Runs a command to completion and returns its stdout; throws a coded error on failure. */
export async function run(argv: readonly string[], what: string, timeoutMs = 10_000): Promise<string> {
  const { info, out, err } = await runToEnd(argv, timeoutMs);
  if (info.exitCode === 127 && /not found/.test(err)) {
    throw new CnspectError('CNSPECT_TOOL_MISSING', `${argv[0]} is not installed (needed to ${what})`, {
      hint: `install it (Debian: apt-get install ${toolPackage(argv[0]!)})`,
    });
  }
  if (info.exitCode !== 0) {
    throw new CnspectError(
      'CNSPECT_TOOL_FAILED',
      `${what} failed: ${argv.join(' ')} exited with ${info.exitCode ?? info.signal}: ` +
        `${err.trim().split('\n').slice(-3).join(' | ')}`,
    );
  }
  return out;
}

export function toolPackage(tool: string): string {
  const name = tool.split('/').pop() ?? tool;
  return (
    (
      { ip: 'iproute2', nsenter: 'util-linux', tshark: 'tshark', tcpdump: 'tcpdump', bpftrace: 'bpftrace' } as Record<
        string,
        string
      >
    )[name] ?? name
  );
}
