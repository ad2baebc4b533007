// The in-process agent behind `capture local`, also served on a local Unix socket so that
// `cnspect counter` in another terminal can read its live counters.
import { rmSync } from 'node:fs';
import { Agent } from './agent.js';
import { createBackend } from '../backends/index.js';
import { localSocketPath } from '../contract/local-socket.js';
import { requireRoot } from '../errors.js';
import { serveAgent, type RunningServer } from './server.js';

export async function startLocalAgent(): Promise<{ agent: Agent; close(): Promise<void> }> {
  const backend = createBackend();
  if (backend.os === 'linux') requireRoot('capture local');
  const agent = new Agent(backend);
  let server: RunningServer | undefined;
  let path: string | undefined;
  try {
    path = localSocketPath();
    if (process.platform !== 'win32') rmSync(path, { force: true }); // a stale socket file of a dead process
    server = await serveAgent(agent, { listen: `unix:${path}` });
  } catch {
    // Without the socket only `counter` from another terminal is lost; the capture still works.
    server = undefined;
  }
  return {
    agent,
    close: async () => {
      await agent.close();
      await server?.close();
      if (path && process.platform !== 'win32') rmSync(path, { force: true });
    },
  };
}
