// docs/providers.md: every example inventory is accepted by the real `mailprov check` as it is
// (with its secrets in the environment), and there is one for every provider preset.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROVIDER_NAMES } from '../../../playbooks/sendmail-smarthost/providers.ts';

const ROOT = resolve(__dirname, '../../..');
const BIN = join(ROOT, 'bin/mailprov.mjs');
const PAGE = readFileSync(join(ROOT, 'docs/providers.md'), 'utf8');

/** The page's example inventories: each ```ts block after "## Example inventories", by its heading. */
function examples(): [string, string][] {
  const part = PAGE.slice(PAGE.indexOf('## Example inventories'));
  return [...part.matchAll(/^### (.+)\n\n```ts\n([\s\S]*?)\n```$/gm)].map((m) => [m[1], m[2]]);
}

// the secrets the examples read, with values of the shapes the providers use
const ENV = {
  GMAIL_APP_PASSWORD: 'abcd efgh ijkl mnop',
  M365_PASSWORD: 'a mailbox password',
  AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  SENDGRID_API_KEY: 'SG.example-id.example-secret',
  MAILGUN_SMTP_PASSWORD: 'a mailgun smtp password',
  POSTMARK_SERVER_TOKEN: '00000000-1111-2222-3333-444444444444',
};

const dir = mkdtempSync(join(tmpdir(), 'mailprov-docs-providers-'));
const home = mkdtempSync(join(tmpdir(), 'mailprov-docs-home-'));
afterAll(() => {
  for (const d of [dir, home]) rmSync(d, { recursive: true, force: true });
});

function check(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, 'check', file], { env: { ...process.env, HOME: home, ...ENV }, cwd: tmpdir() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('docs/providers.md', () => {
  it('has an example inventory for every provider', () => {
    const named = examples().map(([, text]) => /provider: (?:'([^']+)'|\{ name: '([^']+)')/.exec(text)?.slice(1).find(Boolean));
    expect(new Set(named)).toEqual(new Set(PROVIDER_NAMES));
  });

  it('mailprov check accepts each example as it is', async () => {
    const runs = examples().map(async ([heading, text], i) => {
      const file = join(dir, `example-${i}.ts`);
      writeFileSync(file, `${text}\n`);
      return [heading, await check(file)] as const;
    });
    for (const [heading, r] of await Promise.all(runs)) {
      expect([heading, r.code, r.stderr], r.stdout).toEqual([heading, 0, '']);
      expect(r.stdout).toContain('ready for plan and apply');
      expect(r.stdout).not.toMatch(/\berror\b/);
    }
  }, 120_000);
});
