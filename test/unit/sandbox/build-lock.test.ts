// A cached base is built once when two callers need it at the same time (two integration files
// starting side by side), and a lock left by a builder that died never blocks the next build.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { basePath, ensureBase } from '../../../src/sandbox/base.ts';
import { withBuildLock } from '../../../src/sandbox/build-lock.ts';

let dir: string;
let path: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mailprov-build-lock-'));
  path = process.env.PATH;
});
afterEach(() => {
  process.env.PATH = path;
  rmSync(dir, { recursive: true, force: true });
});

describe('building a cached base', () => {
  it('two callers at once build a base once: the second waits and uses the first one', async () => {
    // an mmdebstrap of the test's own: counts its runs, lays out what ensureBase writes into, and
    // takes a while, so that the second caller comes while the first still builds
    const bin = join(dir, 'bin');
    const count = join(dir, 'runs');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'mmdebstrap'),
      `#!/bin/sh
echo run >> ${count}
t=$(eval echo "\\\${$(($# - 1))}")
mkdir -p "$t/etc/ssh/sshd_config.d" "$t/usr/local/sbin" "$t/srv/mailprov-repo"
sleep 1
`,
    );
    chmodSync(join(bin, 'mmdebstrap'), 0o755);
    process.env.PATH = `${bin}:${path}`;
    const cache = join(dir, 'cache');
    const [a, b] = await Promise.all([ensureBase(cache, () => {}, 13), ensureBase(cache, () => {}, 13)]);
    expect([a, b]).toEqual([basePath(cache, 13), basePath(cache, 13)]);
    expect(readFileSync(count, 'utf8')).toBe('run\n');
    expect(existsSync(join(a, 'etc/mailprov-sandbox-base'))).toBe(true);
    // and nothing of the lock or of a build is left beside the base
    expect(existsSync(join(a, '..', 'build.lock'))).toBe(false);
  });

  it('takes over a lock whose builder died, with or without its pid written', async () => {
    const lock = join(dir, 'build.lock');
    // a builder that died after writing its pid (a pid that has exited)
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    mkdirSync(lock);
    writeFileSync(join(lock, 'pid'), dead);
    expect(
      await withBuildLock(
        dir,
        () => {},
        async () => 'built',
      ),
    ).toBe('built');
    expect(existsSync(lock)).toBe(false);
    // one that died between taking the lock and writing its pid: stale once old enough
    mkdirSync(lock);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    expect(
      await withBuildLock(
        dir,
        () => {},
        async () => 'built again',
      ),
    ).toBe('built again');
  });

  it('waits while a live process holds the lock, saying so once', async () => {
    const said: string[] = [];
    let inside = 0;
    let most = 0;
    const build = async () => {
      most = Math.max(most, ++inside);
      await new Promise((r) => setTimeout(r, 300));
      inside--;
    };
    await Promise.all([withBuildLock(dir, (l) => said.push(l), build), withBuildLock(dir, (l) => said.push(l), build)]);
    expect(most).toBe(1);
    expect(said).toEqual([`waiting for another process building in ${dir}`]);
  });
});
