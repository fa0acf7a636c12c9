// The playbooks shipped with mailprov use the engine exactly as a user's own playbook does: through
// 'mailprov' (src/index.ts), never through paths into src/. Their own parts live next to them.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const playbooksDir = join(root, 'playbooks');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.[cm]?[tj]s$/.test(e.name) ? [p] : [];
  });
}

/** Every module specifier in the text: import/export ... from '...', bare import '...', import('...'), require('...'). */
function importSpecifiers(text: string): string[] {
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*(['"])([^'"]+)\1/g,
    /\bimport\s*(['"])([^'"]+)\1/g,
    /\b(?:import|require)\s*\(\s*(['"`])([^'"`]+)\1\s*\)/g,
  ];
  return patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[2]));
}

describe('importSpecifiers', () => {
  it('finds static, type-only, re-export, side-effect and dynamic imports, over several lines', () => {
    const text = [
      "import { a,\n  b } from '../src/x.ts';",
      'import type { T } from "../src/types.ts";',
      "export { c } from './part.ts';",
      "import '../src/side-effect.ts';",
      'const m = await import(`../src/lazy.ts`);',
      "const r = require('../src/cjs.js');",
    ].join('\n');
    expect(importSpecifiers(text).sort()).toEqual([
      '../src/cjs.js',
      '../src/lazy.ts',
      '../src/side-effect.ts',
      '../src/types.ts',
      '../src/x.ts',
      './part.ts',
    ]);
  });
});

describe('playbooks/ imports the engine only from mailprov', () => {
  const files = sourceFiles(playbooksDir);

  it('has playbooks to check', () => {
    expect(files.map((f) => relative(root, f))).toContain('playbooks/sendmail-smarthost.ts');
  });

  it.each(files.map((f) => [relative(root, f), f]))('%s', (_name, file) => {
    const specs = importSpecifiers(readFileSync(file, 'utf8'));
    // nothing from src/, however it is spelled
    expect(specs.filter((s) => s.includes('/src/') || s.startsWith('src/'))).toEqual([]);
    // relative imports stay inside playbooks/ (the playbook's own parts)
    const outside = specs.filter((s) => s.startsWith('.') && relative(playbooksDir, resolve(dirname(file), s)).startsWith('..'));
    expect(outside).toEqual([]);
  });
});
