#!/usr/bin/env node
// Bundles mailprov into dist/ (run by `npm ci`/`npm install` through "prepare"), so the CLI starts
// without compiling TypeScript or resolving hundreds of modules through loader hooks: the start
// time is most of a dry run on one host. bin/mailprov.mjs falls back to src/ (via tsx) whenever
// dist/ is missing or older than the sources, so nobody has to remember this step.
import { build } from 'esbuild';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const playbooks = readdirSync(join(root, 'playbooks')).filter((f) => f.endsWith('.ts'));

// Built beside dist/ and swapped in whole: a CLI started meanwhile (a test beside `npm pack`, which
// runs this) loads the old bundle or the new one, never a folder half deleted or half written.
// Dependencies stay in node_modules and load natively, except BUNDLED: zod is pure JavaScript in
// about a hundred ES modules, which Node resolves and reads one by one on every start (a tenth of a
// second, a fifth of a dry run on one host); as one chunk of ours it loads in a fraction of that.
// The CLI, inventories and playbooks all get the one copy in dist/ (mailprov's `z`). The small
// pure-JavaScript packages every run loads are bundled too: Node's resolver costs each of them more
// than its code (chalk's package imports alone 8 ms of CPU; commander, ini, ssh-config, p-limit 4 to
// 7 ms each), 25 ms of the start of a plan in all; node-ssh with the helpers it loads (make-dir and
// semver among them) another 15. ssh2 stays native: it loads an optional compiled binding and files
// beside its own. A package listed here lists its own dependencies with it.
const BUNDLED = new Set([
  'zod',
  'chalk',
  'commander',
  'ini',
  'ssh-config',
  'p-limit',
  'yocto-queue',
  'node-ssh',
  'is-stream',
  'make-dir',
  'semver',
  'sb-promise-queue',
  'sb-scandir',
  'shell-escape',
]);
const dependencies = {
  name: 'dependencies-external',
  setup(b) {
    // '#name' is a package's own import map (chalk's), resolved by esbuild inside the package
    b.onResolve({ filter: /^[^./#]/ }, (args) => {
      const name = args.path
        .split('/')
        .slice(0, args.path.startsWith('@') ? 2 : 1)
        .join('/');
      if (BUNDLED.has(name) || name === 'mailprov') return undefined;
      return { path: args.path, external: true };
    });
  },
};

const dist = join(root, 'dist');
const building = join(root, `.dist-building-${process.pid}`);
const old = join(root, `.dist-old-${process.pid}`);
rmSync(building, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    index: 'src/index.ts',
    cli: 'src/cli/main.ts',
    sandbox: 'src/sandbox/index.ts',
    ...Object.fromEntries(playbooks.map((f) => [`playbooks/${f.replace(/\.ts$/, '')}`, `playbooks/${f}`])),
  },
  outdir: building,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true, // one copy of every class (Secret, ...) shared by the CLI, inventories and playbooks
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // playbooks import the engine as 'mailprov', as users' playbooks do: bundle it, the same copy
  alias: { mailprov: './src/index.ts' },
  plugins: [dependencies],
  logLevel: 'warning',
});
// commander is CommonJS: esbuild turns its require() of Node's modules into a __require that needs
// a `require` in scope, which an ES module has not; the chunks that hold one get it from createRequire
for (const file of readdirSync(building, { recursive: true })) {
  const path = join(building, file);
  if (!path.endsWith('.mjs')) continue;
  const code = readFileSync(path, 'utf8');
  if (code.includes('typeof require !== "undefined"'))
    writeFileSync(
      path,
      `import { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);\n${code}`,
    );
}
writeFileSync(join(building, '.built'), `${new Date().toISOString()}\n`);
try {
  renameSync(dist, old);
} catch (err) {
  if (err.code !== 'ENOENT') throw err;
}
try {
  renameSync(building, dist);
} catch (err) {
  // another build swapped its dist/ in meanwhile (built from the same sources): that one stays
  if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
  rmSync(building, { recursive: true, force: true });
}
rmSync(old, { recursive: true, force: true });
