// The README documents what the commands offer: every visible flag of capture, agent and certs
// init is in it, so a flag added without its documentation fails here.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { buildProgram } from '../src/cli/main.js';
import { cliReference, shortFlags } from '../src/cli/reference.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

describe('README', () => {
  const ctx = {
    out: new PassThrough(),
    err: new PassThrough(),
    signals: new EventEmitter(),
    localAgent: () => Promise.reject(new Error('unused')),
  };
  const program = buildProgram(ctx, () => undefined);
  const cmd = (path: string[]) => path.reduce((c, name) => c.commands.find((x) => x.name() === name)!, program);
  for (const path of [['capture'], ['agent'], ['certs', 'init'], ['deploy']]) {
    it(`names every flag of ${path.join(' ')}`, () => {
      const c = cmd(path);
      const visible = c.options.filter((o) => !o.hidden && o.long !== '--help');
      assert.ok(visible.length >= 2);
      // Either spelling counts (`-w FILE` is how the README writes --write).
      const missing = visible
        .filter((o) => !readme.includes(o.long!) && !(o.short && new RegExp(`\`${o.short}[ \`]`).test(readme)))
        .map((o) => o.long);
      assert.deepEqual(missing, [], `${path.join(' ')} flags missing from README.md`);
    });
  }

  it('docs/cli.md is the reference the commands make now (npm run docs rewrites it)', () => {
    const file = readFileSync(fileURLToPath(new URL('../../docs/cli.md', import.meta.url)), 'utf8');
    assert.equal(file, cliReference(program), 'docs/cli.md is stale: run `npm run docs`');
    assert.match(file, /## cnspect capture <target> \[names\]/);
    assert.match(file, /\| `-i, --ips <ips>` \| {2}\| match source or destination IP/);
  });

  it('gives -o one meaning everywhere, and no letter two meanings within a command', () => {
    for (const [path, letters] of shortFlags(program)) {
      if (letters.has('o')) assert.equal(letters.get('o'), '--output', path);
      const c = cmd(path.split(' '));
      const all = c.options.filter((o) => o.short).map((o) => o.short);
      assert.equal(new Set(all).size, all.length, `${path}: a short flag used twice`);
    }
    assert.equal(shortFlags(program).get('capture')!.get('w'), '--write');
  });
});
