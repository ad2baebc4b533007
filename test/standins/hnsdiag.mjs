#!/usr/bin/env node
// Stand-in for hnsdiag.exe: replays recorded HNS outputs.
import { standIn } from './common.mjs';

const s = standIn(import.meta.url, 'hnsdiag');
const [cmd, what] = s.args;
if (cmd !== 'list') {
  process.stdout.write(`(stand-in) unknown command ${cmd}\n`);
  process.exit(87);
}
s.replay(what);
