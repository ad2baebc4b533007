// Processes that outlive the command that started them (the lab's agents), found again and
// ended by pid alone: SIGTERM, a grace period, then SIGKILL.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { STOP_GRACE_MS } from './child.js';

/** Whether a process with this pid exists and is not a zombie. */
export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return process.platform !== 'linux';
  }
}

/** Starts argv detached from this process, stdout and stderr into `logPath`; returns its pid. */
export function startDetached(argv: readonly string[], logPath: string): number {
  const log = openSync(logPath, 'w');
  try {
    const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    return child.pid!;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM to each, up to `graceMs` for them to go, then SIGKILL to those left. */
export async function terminate(pids: readonly number[], graceMs = STOP_GRACE_MS): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const pid of pids.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
