// Property test: random passwords (quotes, backslashes, $, spaces, unicode, a trailing newline) go
// through plan, apply (which fails verification with them and rolls back: the error paths),
// rollback --dry-run, history and --json, through the real CLI on a sandbox host. Neither the
// password nor its JSON-escaped or base64 forms may appear in any output, log or JSON.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { passwordForms, useSandbox, writeInventory } from './helpers.ts';

const BIN = resolve(__dirname, '../../bin/mailprov.mjs');
const sandbox = useSandbox(1);
let work: string;
// a first, good apply: a complete generation for each test's rollback dry runs to compare with
// (every bad apply below rolls back, so it stays the last complete one)
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mailprov-secrets-'));
  expect(cli('apply', inventory(sandbox.state.smartHost.passwordFile))).toMatch(/changed/);
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * A password of 8 to 24 characters from a hostile alphabet, sometimes with a trailing newline. Not
 * shorter: a password of one or two of these characters is in every output by chance (a brace, a
 * comma), so it could not be searched for, and every form of every password is.
 */
function randomPassword(seed: number): string {
  const alphabet = ['"', "'", '\\', '$', '`', ' ', '%', '!', '*', 'é', '中', '🔑', '=', ':', ',', 'a', 'Z', '9', '\t', '{', '}'];
  let x = seed * 2654435761;
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648);
  const len = 8 + (next() % 17);
  let s = '';
  for (let i = 0; i < len; i++) s += alphabet[next() % alphabet.length];
  return seed % 2 ? `${s}\n` : s;
}

function inventory(passwordFile: string): string {
  return writeInventory(join(work, 'inv.ts'), sandbox.state, {
    password: `secret.file(${JSON.stringify(passwordFile)})`,
    settings: "listen: ['127.0.0.1'], openSmtpPort: false, verify: { recipient: 'ops@example.com' }",
  });
}

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: work });
  return `${r.stdout}\n${r.stderr}`;
};

function logs(): string {
  const runs = join(work, '.mailprov', 'runs');
  let text = '';
  for (const run of readdirSync(runs)) for (const f of readdirSync(join(runs, run))) text += readFileSync(join(runs, run, f), 'utf8');
  return text;
}

describe('secrets stay secret', () => {
  // one test per password (each a few CLI runs), so that none runs long
  it.each([1, 2, 3, 4, 5])('random password %i never shows in plan, apply, rollback --dry-run, history, --json or the run logs', (seed) => {
    const pwFile = join(work, `password-${seed}`);
    const raw = randomPassword(seed);
    writeFileSync(pwFile, raw);
    const value = raw.replace(/\r?\n$/, ''); // as secret.file reads it
    const bad = inventory(pwFile);
    const outputs = [
      cli('plan', bad),
      cli('plan', bad, '--json'),
      // the probe sends the password inside TLS to the smart host, which refuses it: the refusal is shown, never the password
      cli('plan', bad, '--probe'),
      cli('plan', bad, '--probe', '--json'),
      cli('apply', bad, '--json'),
      cli('apply', bad),
      cli('rollback', bad, '--host', 'relay1', '--dry-run'),
      cli('rollback', bad, '--host', 'relay1', '--dry-run', '--json'),
      cli('history', bad, '--json'),
      cli('history', bad),
    ];
    const user = sandbox.state.smartHost.user;
    const forms = passwordForms(value, user);
    const all = outputs.join('\n') + logs();
    for (const f of forms) expect(all.includes(f), `password form ${JSON.stringify(f)} leaked`).toBe(false);
    expect(outputs[2]).toMatch(/smart host check failed/);
    // the apply did run, failed on the smart host's refusal, and rolled back: the error paths were taken
    expect(outputs[4]).toMatch(/rolled-back/);
  });
});
