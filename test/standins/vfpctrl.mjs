#!/usr/bin/env node
// Stand-in for vfpctrl.exe: replays recorded outputs keyed by the command (no recorded
// port-counter output is public, so those keys are only set by tests that build the documented shape).
import { standIn } from './common.mjs';

const s = standIn(import.meta.url, 'vfpctrl');
const json = s.args.includes('/format');
if (s.args.includes('/list-rule')) s.replay('listRule');
else if (s.args.includes('/get-port-counter')) s.replay(json ? 'portCountersJson' : 'portCountersText');
else if (s.args.includes('/list-vmswitch-port')) s.replay(json ? 'portsJson' : 'portsText');
else {
  process.stdout.write('(stand-in) unknown command\n');
  process.exit(87);
}
