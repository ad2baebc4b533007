// Each process running captures in-process (`capture local`) also serves them on a local socket
// so `cnspect counter` can read their live counters: a Unix socket under a root-only directory
// on Linux, a named pipe on Windows (named pipes are listed like files under \\.\pipe\).
import { mkdirSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const LOCAL_SOCKET_DIR = process.env.CNSPECT_RUN_DIR ?? '/run/cnspect';
const PIPE_DIR = '\\\\.\\pipe\\';
const PIPE_PREFIX = 'cnspect-local-';

/** Where a capture process with this pid listens (pure: no directory is made). */
export function localSocketAddress(
  pid: number,
  platform: NodeJS.Platform = process.platform,
  dir = LOCAL_SOCKET_DIR,
): string {
  return platform === 'win32' ? `${PIPE_DIR}${PIPE_PREFIX}${pid}` : join(dir, `local-${pid}.sock`);
}

/** The pid a socket entry belongs to, or undefined when the entry is not one of ours. */
export function localSocketPid(entry: string, platform: NodeJS.Platform = process.platform): number | undefined {
  const m = (platform === 'win32' ? /^cnspect-local-(\d+)$/ : /^local-(\d+)\.sock$/).exec(entry);
  return m ? Number(m[1]) : undefined;
}

export function localSocketPath(pid = process.pid): string {
  if (process.platform !== 'win32') mkdirSync(LOCAL_SOCKET_DIR, { recursive: true, mode: 0o700 });
  return localSocketAddress(pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sockets of live local capture processes; removes those left by dead ones (Linux). */
export function listLocalSockets(): string[] {
  const windows = process.platform === 'win32';
  const dir = windows ? PIPE_DIR : LOCAL_SOCKET_DIR;
  if (!windows && !existsSync(dir)) return [];
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const pid = localSocketPid(f);
    if (pid === undefined) continue;
    if (alive(pid)) out.push(localSocketAddress(pid));
    else if (!windows) rmSync(join(dir, f), { force: true });
  }
  return out;
}
