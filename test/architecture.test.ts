// The layering of docs/architecture.md, checked on every import in src/ (static and dynamic):
// each folder imports only the folders below it, and no two files import each other in a circle.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
/** What every layer may import; errors.ts, version.ts and gen/ (the wire types) are open to all. */
export const ALLOWED: Record<string, readonly string[]> = {
  cli: ['fleet', 'cluster', 'lab', 'output', 'agent', 'backends', 'contract', 'packet', 'process', 'tls'],
  fleet: ['cluster', 'contract', 'packet', 'process', 'tls'],
  lab: ['cluster', 'contract', 'packet', 'process', 'tls'],
  cluster: ['contract', 'packet', 'process', 'tls'],
  output: ['contract', 'packet'],
  agent: ['backends', 'contract', 'packet', 'process', 'tls'],
  backends: ['contract', 'packet', 'process'],
  contract: [],
  packet: [],
  process: [],
  tls: [],
};
const SHARED = new Set(['errors.ts', 'version.ts', 'gen']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'gen' ? [] : sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

const layerOf = (file: string): string => relative(SRC, file).split('/')[0]!;

describe('architecture', () => {
  const files = sources(SRC);
  const graph = new Map(files.map((f) => [f, importsOf(f)]));

  it('puts every source folder in a layer', () => {
    const folders = new Set(files.map(layerOf).filter((l) => !SHARED.has(l)));
    assert.deepEqual(
      [...folders].filter((f) => !(f in ALLOWED)),
      [],
    );
  });

  it('imports only go down', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = layerOf(file);
      if (SHARED.has(from)) continue;
      for (const target of imports) {
        const to = layerOf(target);
        if (to === from || SHARED.has(to) || ALLOWED[from]!.includes(to)) continue;
        wrong.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('has no import circle between files', () => {
    const state = new Map<string, 'open' | 'done'>();
    const circles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        circles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const t of graph.get(f) ?? []) if (graph.has(t)) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    assert.deepEqual(circles, []);
  });

  it('checks what it says: a made-up upward import is caught', () => {
    assert.equal(ALLOWED.output!.includes('cli'), false);
    assert.equal(ALLOWED.backends!.includes('agent'), false);
    assert.ok(
      importsOf(join(SRC, 'cli/capture.ts')).some((t) => layerOf(t) === 'fleet'),
      'the import reader sees imports',
    );
  });
});

describe('style', () => {
  it('keeps every line of code within 120 characters (biome formats the rest)', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const dirs = ['src', 'test', 'bench', 'scripts', 'bin'];
    const files = dirs.flatMap((d) => {
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
          const p = join(dir, e.name);
          if (e.isDirectory()) return e.name === 'gen' || e.name === 'fixtures' ? [] : walk(p);
          return /\.(ts|mjs|js|sh)$/.test(e.name) ? [p] : [];
        });
      return walk(join(root, d));
    });
    const long = files.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .flatMap((l, i) => ([...l].length > 120 ? [`${relative(root, f)}:${i + 1}`] : [])),
    );
    assert.ok(files.length > 50);
    assert.deepEqual(long, []);
  });
});
