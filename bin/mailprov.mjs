#!/usr/bin/env node
// Entry point. Runs the bundle in dist/ when it is up to date with the sources (fast start), else
// the TypeScript sources through tsx. Either way, `import ... from 'mailprov'` in an inventory
// anywhere on disk gets this running copy of mailprov.
import { existsSync, readdirSync, statSync } from 'node:fs';
import nodeModule from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Node 22.1 and later keep V8's compiled code of the modules on disk between runs (compiling the
// bundle's 1 MB of modules is a fifth of the CPU of a one-host plan). Node 20 has no such cache:
// nothing happens, and bench/latest.md measures Node 20's start.
nodeModule.enableCompileCache?.();

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function bundleIsFresh() {
  const stamp = join(root, 'dist', '.built');
  if (!existsSync(stamp) || process.env.MAILPROV_FROM_SOURCE) return false;
  // an installed copy (npm install -g of the packed tarball) is never edited, and npm gives its
  // files the time they were unpacked, in no particular order: its bundle is the one it shipped with
  if (root.split(sep).includes('node_modules')) return true;
  return statSync(stamp).mtimeMs >= Math.max(newest(join(root, 'src')), newest(join(root, 'playbooks')));
}

let main;
if (bundleIsFresh()) {
  process.env.MAILPROV_BUNDLE = join(root, 'dist');
  ({ main } = await import('../dist/cli.mjs'));
} else {
  const { register } = await import('node:module');
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  register('./resolve-self.mjs', import.meta.url);
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
