// Writes docs/cli.md from the built commands (run by `npm run docs` after `npm run build`).
import { writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { buildProgram } from '../dist/src/cli/main.js';
import { cliReference } from '../dist/src/cli/reference.js';

const ctx = {
  out: new PassThrough(),
  err: new PassThrough(),
  signals: new EventEmitter(),
  localAgent: async () => {
    throw new Error('unused');
  },
};
writeFileSync(new URL('../docs/cli.md', import.meta.url), cliReference(buildProgram(ctx, () => undefined)));
