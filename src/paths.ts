// Where this package lives on disk, whether it runs from src/ (through tsx) or from the bundle in
// dist/: found by walking up to our package.json rather than from a module's own location.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'mailprov') return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the mailprov package root');
    dir = up;
  }
}
