// A real CLI install, as a user makes one: `npm pack`, then `npm install -g` of the tarball into a
// prefix of its own (dependencies from npm's cache only, never the registry), then `mailprov` run from
// another folder, on inventories there that import 'mailprov'. No sandbox host: nothing is contacted
// (the plan below stops at the missing known_hosts file, before any connection is opened).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

let work: string;
let prefix: string;
let tarball: string;

/** npm as a user runs it: none of the npm_* settings of the `npm test` that may be running us. */
function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return { ...env, ...extra };
}

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, env: cleanEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The installed `mailprov`, found on PATH, run from `cwd`. */
function mailprov(args: string[], cwd: string, env: Record<string, string | undefined> = {}) {
  const r = spawnSync('mailprov', args, {
    cwd,
    encoding: 'utf8',
    env: cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env.PATH}`, MAILPROV_FROM_SOURCE: undefined, ...env }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mailprov-install-'));
  prefix = join(work, 'prefix');
  npm(['pack', '--pack-destination', work, '--silent'], ROOT);
  tarball = join(work, `mailprov-${version}.tgz`);
  // dependencies from npm's cache only (--offline): a test never asks the registry. A cache that
  // lacks one fails here, saying so, rather than fetching it
  try {
    npm(['install', '-g', '--prefix', prefix, tarball, '--offline', '--no-audit', '--no-fund', '--silent'], work);
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '');
    if (!stderr.includes('ENOTCACHED')) throw err;
    throw new Error(
      "npm's cache lacks a dependency of the packed tarball, and this test installs from the cache only " +
        `(never the registry): fill the cache once (an online \`npm install -g ${tarball}\`), then run it again.\n${stderr}`,
    );
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('npm install -g of the packed tarball', () => {
  it('carries what a user needs, and no tests, benchmarks or CI script', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const needed of [
      'bin/mailprov.mjs',
      'bin/resolve-self.mjs',
      'dist/cli.mjs',
      'dist/.built',
      'dist/index.mjs',
      'src/index.ts',
      'playbooks/sendmail-smarthost.ts',
      'inventories/starter.ts',
      'README.md',
      'package.json',
    ]) {
      expect(files).toContain(needed);
    }
    expect(
      files.filter((f) => /^(test|bench|\.ci|node_modules|results|\.sandbox)\//.test(f) || /^(tsconfig|vitest|biome)/.test(f)),
    ).toEqual([]);
  });

  it('puts a working mailprov on PATH that runs from any folder', () => {
    const elsewhere = mkdtempSync(join(work, 'elsewhere-'));
    expect(mailprov(['--version'], elsewhere)).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('mailprov init writes a starter inventory that check and plan accept as it is', () => {
    const elsewhere = mkdtempSync(join(work, 'elsewhere-'));
    const home = mkdtempSync(join(work, 'home-')); // no ~/.ssh/known_hosts: the plan stops before connecting
    const init = mailprov(['init', 'relays'], elsewhere);
    expect(init.code).toBe(0);
    const inventory = join(elsewhere, 'relays', 'inventory.ts');
    expect(init.stdout).toContain(`wrote ${inventory}`);
    expect(readFileSync(inventory, 'utf8')).toContain("from 'mailprov'");
    expect(mailprov(['init', 'relays'], elsewhere)).toMatchObject({
      code: 1,
      stderr: `mailprov: ${inventory} already exists; pass --force to replace it\n`,
    });

    const env = { SMTP_PASSWORD: 'An app password of 16', HOME: home, SSH_AUTH_SOCK: undefined };
    const check = mailprov(['check', inventory], home, env);
    expect(check.stderr).toBe('');
    expect(check.stdout).toContain('relay1: root@192.0.2.10:22: sendmail-smarthost');
    expect(check.stdout).toContain('ready for plan and apply');
    expect(check.code).toBe(0);

    // loaded, linted and run: each host fails at connecting (no known_hosts here), none at loading
    const plan = mailprov(['plan', inventory, '--json'], home, env);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(1);
    const doc = JSON.parse(plan.stdout);
    expect(doc.hosts.map((h: { host: string; error: string }) => [h.host, h.error])).toEqual(
      ['relay1', 'relay2'].map((h) => [
        h,
        `${h}: known_hosts file ${home}/.ssh/known_hosts does not exist (use hostKeyPolicy: 'accept-new' to record keys on first contact)`,
      ]),
    );
  });

  it('reads an Ansible YAML inventory anywhere, with playbooks importing mailprov/playbooks', () => {
    const dir = mkdtempSync(join(work, 'ansible-'));
    writeFileSync(
      join(dir, 'hosts.yml'),
      'all:\n  children:\n    relays:\n      hosts:\n        relay1: {ansible_host: 192.0.2.10, ansible_become: true, ansible_user: deploy}\n',
    );
    writeFileSync(
      join(dir, 'playbooks.ts'),
      "import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';\nexport default [{ on: 'relays', use: sendmailSmartHost({ smartHost: 'smtp.example.org' }) }];\n",
    );
    const r = mailprov(['check', 'hosts.yml', '--with', 'playbooks.ts'], dir);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('relay1: deploy@192.0.2.10:22 (sudo): sendmail-smarthost');
    expect(r.code).toBe(0);
    // the same hosts read by a TS inventory, beside it (import.meta.url is the inventory's, bundled or not)
    writeFileSync(
      join(dir, 'inventory.ts'),
      "import { defineInventory, hostsFromYaml } from 'mailprov';\nimport playbooks from './playbooks.ts';\n" +
        "export default defineInventory({ hosts: hostsFromYaml(new URL('./hosts.yml', import.meta.url)), playbooks });\n",
    );
    const ts = mailprov(['check', join(dir, 'inventory.ts')], work);
    expect(ts.stderr).toBe('');
    expect(ts.stdout).toContain('relay1: deploy@192.0.2.10:22 (sudo): sendmail-smarthost');
  });
});
