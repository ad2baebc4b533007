// What commands need from the outside world, passed in so tests can run commands in-process.
import type { AgentApi } from '../contract/agent-api.js';

export interface CliContext {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** Emits 'SIGINT' on Ctrl+C (process by default). */
  signals: NodeJS.EventEmitter;
  /** The in-process agent for `local` targets. */
  localAgent(): Promise<{ agent: AgentApi; close(): Promise<void> }>;
}
