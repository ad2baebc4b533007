// Runs the CLI in-process with captured output and a fake signal source.
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';
import { startLocalAgent } from '../../src/agent/local.js';

export interface CliRun {
  out: () => string;
  err: () => string;
  signals: EventEmitter;
  exit: Promise<number>;
}

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    }),
    text: () => text,
  };
}

export function runCli(argv: string[]): CliRun {
  const out = sink();
  const err = sink();
  const signals = new EventEmitter();
  const exit = main(argv, { out: out.stream, err: err.stream, signals, localAgent: startLocalAgent });
  return { out: out.text, err: err.text, signals, exit };
}
