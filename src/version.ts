import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** Package version, read once from package.json (two levels up from dist/src or src). */
export const VERSION: string = (() => {
  for (const p of ['../../package.json', '../package.json']) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
})();
