// The Windows tools the agent drives (pktmon, vfpctrl, hnsdiag), spawned with argv arrays only.
// Each tool is an argv prefix so tests can put recorded-output stand-ins in their place.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { runToEnd } from '../../process/child.js';
import { CnspectError } from '../../errors.js';

export interface WindowsTools {
  pktmon: readonly string[];
  vfpctrl: readonly string[];
  hnsdiag: readonly string[];
  /** Where file-mode captures write their ETL and pcapng before they are streamed back. */
  workDir: string;
}

/** The in-box tools (Windows Server 2019+), found on PATH (System32). */
export function defaultWindowsTools(): WindowsTools {
  return {
    pktmon: ['pktmon.exe'],
    vfpctrl: ['vfpctrl.exe'],
    hnsdiag: ['hnsdiag.exe'],
    workDir: join(tmpdir(), 'cnspect'),
  };
}

/** Stand-ins in DIR (pktmon.mjs, vfpctrl.mjs, hnsdiag.mjs) run by this Node: for tests and demos off Windows. */
export function standInTools(dir: string, workDir = join(tmpdir(), 'cnspect')): WindowsTools {
  const tool = (name: string): string[] => [process.execPath, join(dir, `${name}.mjs`)];
  return { pktmon: tool('pktmon'), vfpctrl: tool('vfpctrl'), hnsdiag: tool('hnsdiag'), workDir };
}

export interface ToolResult {
  code: number | null;
  out: string;
}

/** Runs a tool to completion; stdout and stderr together (pktmon reports errors on stdout). */
export async function runTool(
  prefix: readonly string[],
  args: readonly string[],
  timeoutMs = 30_000,
): Promise<ToolResult> {
  const { info, out, err } = await runToEnd([...prefix, ...args], timeoutMs);
  if (info.exitCode === 127 && /not found/.test(err)) {
    throw new CnspectError('CNSPECT_TOOL_MISSING', `${prefix.at(-1)} is not available on this node`, {
      hint:
        'pktmon, vfpctrl and hnsdiag ship with Windows Server 2019 and later; run the agent as a ' +
        'HostProcess container (cnspect deploy --windows)',
    });
  }
  return { code: info.exitCode, out: out + err };
}

/** A tool's own words for a message: the last lines it printed, on one line. */
export function toolWords(out: string, lines = 3): string {
  return out.trim().split(/\r?\n/).slice(-lines).join(' | ');
}

/** Like runTool, but a non-zero exit is a coded error carrying the tool's own words. */
export async function mustRun(
  prefix: readonly string[],
  args: readonly string[],
  what: string,
  timeoutMs?: number,
): Promise<string> {
  const r = await runTool(prefix, args, timeoutMs);
  if (r.code !== 0) {
    throw new CnspectError(
      'CNSPECT_TOOL_FAILED',
      `${what} failed: ${[prefix.at(-1), ...args].join(' ')} exited with ${r.code}: ${toolWords(r.out)}`,
    );
  }
  return r.out;
}
