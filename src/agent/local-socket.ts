// Each process running captures in-process (`capture local`) also serves them on a Unix socket
// under a root-only directory, so `cnspect counter` can read their live counters.
import { mkdirSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const LOCAL_SOCKET_DIR = process.env.CNSPECT_RUN_DIR ?? '/run/cnspect';

export function localSocketPath(pid = process.pid): string {
  mkdirSync(LOCAL_SOCKET_DIR, { recursive: true, mode: 0o700 });
  return join(LOCAL_SOCKET_DIR, `local-${pid}.sock`);
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Sockets of live local capture processes; removes those left by dead ones. */
export function listLocalSockets(): string[] {
  if (!existsSync(LOCAL_SOCKET_DIR)) return [];
  const out: string[] = [];
  for (const f of readdirSync(LOCAL_SOCKET_DIR)) {
    const m = /^local-(\d+)\.sock$/.exec(f);
    if (!m) continue;
    const path = join(LOCAL_SOCKET_DIR, f);
    if (alive(Number(m[1]))) out.push(path);
    else rmSync(path, { force: true });
  }
  return out;
}
