import { CnspectError } from '../errors.js';
import type { CaptureBackend } from './backend.js';
import { LinuxTcpdumpBackend } from './linux/tcpdump.js';
import { PktmonBackend } from './windows/pktmon.js';
import { standInTools } from './windows/tools.js';

export const BACKEND_KINDS = ['auto', 'linux', 'windows'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/**
 * The capture backend for the OS this process runs on, or the one asked for. `windowsTools`
 * names a directory of stand-ins for pktmon/vfpctrl/hnsdiag (tests and demos off Windows).
 */
export function createBackend(
  kind: BackendKind = 'auto',
  platform: NodeJS.Platform = process.platform,
  windowsTools?: string,
): CaptureBackend {
  const os = kind === 'auto' ? (platform === 'win32' ? 'windows' : platform === 'linux' ? 'linux' : undefined) : kind;
  if (os === 'linux') return new LinuxTcpdumpBackend();
  if (os === 'windows') return new PktmonBackend(windowsTools ? standInTools(windowsTools) : undefined);
  throw new CnspectError(
    'CNSPECT_UNSUPPORTED',
    `no capture backend for ${platform}: cnspect agents run on Linux and Windows nodes`,
    {
      hint: 'run the agent on a Linux or Windows node',
    },
  );
}
