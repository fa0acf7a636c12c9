// Retention on a real host: twelve applies, each rotating the smart-host password and the relayFrom
// list, leave the newest 10 generations (the default keepGenerations) and a count of the pruned
// ones; a rollback to a pruned generation fails clearly; forget-secrets (through the CLI) removes
// every saved copy of an old password, and a rollback then restores the other files and keeps the
// current authinfo, saying so.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { readHistory, rollbackHost } from '../../src/engine/rollback-host.ts';
import { renderHistory } from '../../src/report/rollback.ts';
import { relaySettings, setSmartHostMode } from '../../src/sandbox/index.ts';
import { secret } from '../../src/secrets/index.ts';
import { apply, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(1);

const remote = (cmd: string) => remoteExec(sandbox.state, 0, cmd);
const JOURNAL = '/var/lib/mailprov';

/**
 * Apply number i: its own password and relayFrom list, so every apply changes authinfo and access.
 * The stand-in smart host rotates to the same password first, as a provider would: the probe of
 * each apply proves the new one.
 */
const inventoryFor = async (i: number) => {
  const pw = join(sandbox.state.dir, `password-${i}`);
  writeFileSync(pw, `old-password-${i}\n`, { mode: 0o600 });
  await setSmartHostMode(sandbox.state, { mode: 'normal', password: `old-password-${i}` });
  const settings = relaySettings(sandbox.state, {
    openSmtpPort: false,
    verify: undefined,
    auth: { user: sandbox.state.smartHost.user, password: secret.file(pw) },
    relayFrom: [`10.0.${i}`],
  });
  return sandboxInventory(sandbox.state, [{ on: 'relay1', use: sendmailSmartHost(settings) }]);
};

/** The real CLI, as a user runs it, on an inventory file naming the sandbox host. */
function mailprov(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const inv = join(sandbox.state.dir, 'retention-inventory.ts');
  writeFileSync(
    inv,
    `import { defineInventory } from 'mailprov';
     export default defineInventory({
       defaults: { privateKey: ${JSON.stringify(sandbox.state.privateKey)}, knownHosts: ${JSON.stringify(sandbox.state.knownHosts)} },
       hosts: { relay1: { address: '127.0.0.1', port: ${sandbox.state.hosts[0].port} } },
     });\n`,
  );
  const child = spawn(process.execPath, [resolve(__dirname, '../../bin/mailprov.mjs'), args[0], inv, ...args.slice(1)], {
    cwd: resolve(__dirname, '../..'),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

describe('retention', () => {
  it('keeps the newest 10 generations and refuses a pruned target', async () => {
    for (let i = 1; i <= 12; i++) {
      const [r] = await apply(await inventoryFor(i));
      expect([i, r.status, r.error]).toEqual([i, 'changed', undefined]);
      expect(r.pruned ?? []).toEqual(i === 11 ? [1] : i === 12 ? [2] : []);
    }
    const host = (await inventoryFor(12)).hosts[0];
    const history = await readHistory(host);
    expect(history.generations.map((g) => g.id)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(history.pruned.map((p) => [p.id, p.status, p.keep])).toEqual([
      [1, 'complete', 10],
      [2, 'complete', 10],
    ]);
    expect(renderHistory('relay1', history)).toContain('2 older generations pruned (1-2; keepGenerations=10)');
    // on the host: the folders are gone, the pruned list remembers them
    expect(
      (await remote(`ls ${JOURNAL}/generations`)).stdout
        .split('\n')
        .filter(Boolean)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect((await remote(`cut -f1,2,3 ${JOURNAL}/pruned`)).stdout).toBe('1\tcomplete\t10\n2\tcomplete\t10\n');

    // a pruned generation cannot be rolled back to, and the error says why
    for (const to of [1, 2]) {
      const r = await rollbackHost(host, { to, dryRun: false, packages: false, inventoryFile: 'inv.ts', log: () => {} });
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(new RegExp(`^generation ${to} was pruned \\(keepGenerations=10\\).*the oldest generation to return to is 3`));
    }
    const cli = await mailprov(['history']);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('2 older generations pruned');
  });

  // on the host the test above left: generations 3 to 12, each holding the password it replaced
  it('forget-secrets removes every saved copy of an old password; a rollback then keeps the current authinfo, saying so', async () => {
    const host = (await inventoryFor(12)).hosts[0];

    // every generation from 3 on holds the password it replaced, in authinfo and in its map (the
    // journal keeps makemap's authinfo.db too)
    const oldCopies = `grep -rl 'old-password-' ${JOURNAL}/generations || true`;
    expect((await remote(oldCopies)).stdout.trim().split('\n')).toHaveLength(20);

    const dry = await mailprov(['forget-secrets', '--dry-run']);
    expect([dry.code, dry.stderr]).toEqual([2, '']);
    expect(dry.stdout).toContain(
      'relay1: would remove 20 saved copies of sensitive files from 10 generations (/etc/mail/authinfo, /etc/mail/authinfo.db)',
    );
    expect((await remote(oldCopies)).stdout.trim().split('\n')).toHaveLength(20);

    const forget = await mailprov(['forget-secrets', '--host', 'relay1']);
    expect(forget.code).toBe(0);
    expect(forget.stdout).toContain(
      'relay1: removed 20 saved copies of sensitive files from 10 generations (/etc/mail/authinfo, /etc/mail/authinfo.db)',
    );
    // no copy of an old password is left anywhere in the journal; the other copies are
    expect((await remote(oldCopies)).stdout).toBe('');
    expect((await remote(`find ${JOURNAL}/generations -path '*/files/etc/mail/authinfo*'`)).stdout).toBe('');
    expect((await remote(`ls ${JOURNAL}/generations/12/files/etc/mail`)).stdout).toContain('access');
    const noted = (await readHistory(host)).generations;
    expect(
      noted.every(
        (g) =>
          g.forgotten
            .map((f) => f.path)
            .sort()
            .join() === '/etc/mail/authinfo,/etc/mail/authinfo.db',
      ),
    ).toBe(true);
    // a second run finds nothing left
    expect((await mailprov(['forget-secrets'])).stdout).toContain('relay1: no saved copy of a sensitive file');

    // a rollback restores the other files and keeps the current authinfo (the newest credentials), saying so
    const log: string[] = [];
    const rbDry = await rollbackHost(host, { dryRun: true, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
    expect(rbDry.plan?.diffs.map((d) => d.path)).toEqual(['/etc/mail/access', '/etc/mail/access.db']);
    expect(rbDry.plan?.notRestored).toEqual([
      { path: '/etc/mail/authinfo', generations: [12] },
      { path: '/etc/mail/authinfo.db', generations: [12] },
    ]);
    const rb = await rollbackHost(host, { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
    expect(rb.error).toBeUndefined();
    expect([rb.plan?.target, rb.generation, rb.restored]).toEqual([11, 13, ['/etc/mail/access', '/etc/mail/access.db']]);
    expect(rb.notRestored).toEqual([
      { path: '/etc/mail/authinfo', generations: [12] },
      { path: '/etc/mail/authinfo.db', generations: [12] },
    ]);
    expect(log.join('\n')).toContain('/etc/mail/authinfo: not restored, its saved copy was removed by forget-secrets');
    expect((await remote('cat /etc/mail/access')).stdout).toContain('Connect:10.0.11');
    expect((await remote('cat /etc/mail/authinfo')).stdout).toContain('old-password-12');
    // the access map was rebuilt from the restored file
    expect((await remote("makemap -u hash /etc/mail/access | grep -c '10.0.11'")).stdout.trim()).toBe('1');
    // the rollback is a generation too: the newest 10 stay
    expect(rb.pruned).toEqual([3]);
    const after = await readHistory(host);
    expect(after.generations.map((g) => g.id)).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    expect(after.pruned.map((p) => p.id)).toEqual([1, 2, 3]);
  });
});
