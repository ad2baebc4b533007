#!/usr/bin/env node
// Stand-in for pktmon.exe: replays recorded outputs and keeps a session file, so the agent's
// process control (start, stream, stop, crash, busy, leftovers) can be tested off Windows.
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { standIn } from './common.mjs';

const s = standIn(import.meta.url, 'pktmon');
const [cmd, sub] = s.args;
const session = s.state('session.json');
const filters = s.state('filters.json');
const readFilters = () => (s.has('filters.json') ? JSON.parse(readFileSync(filters, 'utf8')) : []);

if (cmd === 'list') s.replay('list');
else if (cmd === 'filter' && sub === 'remove') writeFileSync(filters, '[]');
else if (cmd === 'filter' && sub === 'add') {
  const list = readFilters();
  if (list.length >= 8) {
    process.stdout.write('(stand-in) at most 8 filters\n');
    process.exit(1);
  }
  writeFileSync(filters, JSON.stringify([...list, s.args.slice(2)]));
} else if (cmd === 'stop') rmSync(session, { force: true });
else if (cmd === 'counters') s.replay('counters');
else if (cmd === 'etl2pcap') {
  if (s.config.etl2pcapFails) {
    process.stdout.write('(stand-in) conversion failed\n');
    process.exit(1);
  }
  copyFileSync(s.config.pcapng, s.args[s.args.indexOf('--out') + 1]);
} else if (cmd === 'start') {
  if (s.has('session.json')) {
    process.stdout.write('(stand-in) a pktmon session is already running\n');
    process.exit(1);
  }
  const file = s.args.indexOf('--file-name');
  if (file >= 0) {
    writeFileSync(session, JSON.stringify({ pid: process.pid, args: s.args }));
    writeFileSync(s.args[file + 1], '(stand-in ETL)');
    process.exit(0);
  }
  writeFileSync(session, JSON.stringify({ pid: process.pid, args: s.args }));
  s.replay('realtime');
  // Real-time mode runs until `pktmon stop` ends the session; a test makes it crash with crash-now.
  const timer = setInterval(() => {
    if (!s.has('session.json')) {
      clearInterval(timer);
      process.exit(0);
    }
    if (s.has('crash-now')) {
      clearInterval(timer);
      process.exit(s.config.crashExit ?? 3);
    }
  }, 20);
} else {
  process.stdout.write(`(stand-in) unknown command ${cmd}\n`);
  process.exit(87);
}
