// The real published Windows outputs. test/fixtures/windows is a verbatim copy of the project's
// shared/fixtures/windows (its README and each sample's .source.md say where they come from), so
// the tests run from a clone alone; the shared copy is preferred when it sits beside the repo.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const shared = fileURLToPath(new URL('../../../../shared/fixtures/windows/', import.meta.url));
const local = fileURLToPath(new URL('../../../test/fixtures/windows/', import.meta.url));

export function windowsFixture(path: string): string {
  return readFileSync(`${existsSync(shared + path) ? shared : local}${path}`, 'utf8');
}

/** The file's path (for stand-ins that replay it). */
export function windowsFixturePath(path: string): string {
  return `${existsSync(shared + path) ? shared : local}${path}`;
}
