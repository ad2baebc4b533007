import { CnspectError } from '../errors.js';
import type { CaptureBackend } from './backend.js';
import { LinuxTcpdumpBackend } from './linux/tcpdump.js';

/** The capture backend for the OS this process runs on. */
export function createBackend(platform: NodeJS.Platform = process.platform): CaptureBackend {
  if (platform === 'linux') return new LinuxTcpdumpBackend();
  throw new CnspectError('CNSPECT_UNSUPPORTED', `no capture backend for ${platform} in this version (Linux nodes are supported)`, {
    hint: 'run the agent on a Linux node, or capture a Windows node remotely once its backend is available',
  });
}
