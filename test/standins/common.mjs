// Shared by the stand-ins: they replay recorded outputs named in replay.json beside the copy
// being run, log every call (argv) to calls.log there, and keep pktmon's session state in files.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function standIn(metaUrl, tool) {
  const dir = dirname(fileURLToPath(metaUrl));
  const config = JSON.parse(readFileSync(join(dir, 'replay.json'), 'utf8'));
  const args = process.argv.slice(2);
  appendFileSync(join(dir, 'calls.log'), `${JSON.stringify([tool, ...args])}\n`);
  return {
    dir,
    config,
    args,
    state: (name) => join(dir, name),
    has: (name) => existsSync(join(dir, name)),
    replay: (key) => {
      const file = config[key];
      if (!file) {
        process.stderr.write(`(stand-in) no recording for ${key}\n`);
        process.exit(87);
      }
      process.stdout.write(readFileSync(file));
    },
  };
}
