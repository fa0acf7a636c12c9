// The playbook as the engine sees it: its plan against fixture facts, its checks, its coexistence
// with sendmailSmartHost, the newaliases command run for real under dash, and its verification.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { currentAliases, mailAliases } from '../../../../playbooks/mail-aliases.ts';
import { lookupScript, newaliasesCommand, parseLookups, verifyAliases } from '../../../../playbooks/mail-aliases/index.ts';
import { sendmailSmartHost } from '../../../../playbooks/sendmail-smarthost.ts';
import { checkResources, planHost } from '../../../../src/engine/plan.ts';
import { resolveInventory } from '../../../../src/inventory/load.ts';
import type { FileFact } from '../../../../src/facts/types.ts';
import type { VerifyContext } from '../../../../src/playbook/index.ts';
import { isChange, type Change } from '../../../../src/resources/types.ts';
import { centosOs, fileFact, hostFacts } from '../../fixtures.ts';

const build = (settings: Parameters<typeof mailAliases>[0]) => {
  const use = mailAliases(settings);
  return use.playbook.build(use.playbook.settings.parse(use.settings));
};
const parts = build({ root: 'ops@example.org' });
const STOCK = 'mailer-daemon:\tpostmaster\npostmaster:\troot\n#root:\t\tmarc\n';

describe('mailAliases plan', () => {
  it('edits /etc/aliases and runs newaliases when the file changes, with a diff of the lines', () => {
    const plan = planHost(parts.resources, hostFacts({ os: centosOs(8, false), files: { '/etc/aliases': fileFact(STOCK) } }));
    expect(plan.changes.map((c) => c.resourceId)).toEqual(['file:/etc/aliases', 'command:restorecon /etc/aliases', 'command:newaliases']);
    const write = plan.changes[0] as Change;
    expect(write.diff).toMatchObject({ before: STOCK, after: `${STOCK}root: ops@example.org\n`, meta: [] });
    // copied aside by the journal, but never put back whole: the undo record takes back only its entry
    expect(write.files).toEqual([{ path: '/etc/aliases', sensitive: false, keepOnUndo: true }]);
    expect(write.undo).toEqual([
      {
        kind: 'line-entries',
        path: '/etc/aliases',
        created: false,
        entries: [{ wrote: ['root: ops@example.org'], before: [] }],
        rebuild: 'newaliases',
      },
    ]);
    expect(plan.changes[2].reason).toBe('because /etc/aliases changes');
  });

  it('changes nothing, and runs nothing, once the lines are in place', () => {
    const plan = planHost(parts.resources, hostFacts({ files: { '/etc/aliases': fileFact(`${STOCK}root: ops@example.org\n`) } }));
    expect(plan.changes).toEqual([]);
    expect(plan.unchanged.map((u) => u.reason)).toEqual([
      '/etc/aliases is up to date',
      'SELinux is not enabled',
      'nothing it watches changed',
    ]);
  });

  it('creates a missing file (Debian before an MTA is installed)', () => {
    const [write] = planHost(parts.resources, hostFacts()).changes;
    expect(write.action).toBe('create');
    expect(write.diff?.after).toMatch(
      /^# Mail aliases: created by mailprov.*\npostmaster: root\nMAILER-DAEMON: postmaster\nroot: ops@example.org\n$/s,
    );
  });

  it('rebuilds the database after a rollback restored the file (rollback plans with the file already changed)', () => {
    const plan = planHost(parts.resources, hostFacts(), new Set(['file:/etc/aliases']), 'rollback');
    expect(plan.changes.map((c) => c.resourceId)).toEqual(['command:newaliases']);
  });

  it('shares a host with sendmailSmartHost: no resource id twice, its resources after sendmail is installed', () => {
    const inv = resolveInventory(
      {
        hosts: { relay1: { address: '192.0.2.10', groups: ['relays'] } },
        playbooks: [
          { on: 'relays', use: sendmailSmartHost({ smartHost: 'smtp.example.org' }) },
          { on: 'all', use: mailAliases({ root: 'ops@example.org', postmaster: 'root' }) },
        ],
      },
      '/srv/inv/prod.ts',
    );
    const resources = inv.hosts[0].playbooks.flatMap((p) => p.parts.resources);
    expect(checkResources(resources)).toEqual([]);
    const ids = resources.map((r) => r.id);
    expect(ids.indexOf('packages:sendmail')).toBeLessThan(ids.indexOf('command:newaliases'));
  });

  it('names the field of a bad setting when the inventory loads', () => {
    expect(() =>
      resolveInventory(
        { hosts: { a: { address: 'x' } }, playbooks: [{ on: 'all', use: mailAliases({ root: 'ops@example.org\nx: y' }) }] },
        '/i.ts',
      ),
    ).toThrow(/^\/i\.ts: playbooks\.0\.use\(mail-aliases\)\.settings\.root: "ops@example\.org\\nx: y": a control character/);
  });
});

describe('mailAliases checkFacts', () => {
  const check = (file: FileFact) => parts.checkFacts!(hostFacts({ files: { '/etc/aliases': file } }));
  /** A regular file's fact, changed where the test says. */
  const regular = (over: Partial<Extract<FileFact, { exists: true }>>, text = '') => ({
    ...(fileFact(text) as Extract<FileFact, { exists: true }>),
    ...over,
  });

  it('refuses what it cannot write back byte for byte: not a regular file, too large, not UTF-8', () => {
    expect(check(regular({ type: 'symlink', content: undefined }))[0]).toMatchObject({ level: 'error', message: /is a symlink/ });
    expect(check(regular({ size: 2e6, content: undefined }))[0]).toMatchObject({ level: 'error', message: /too large/ });
    const latin1 = Buffer.from('root: marc # d\xe9j\xe0\n', 'latin1');
    const fact = regular({ sha256: createHash('sha256').update(latin1).digest('hex') }, latin1.toString('utf8'));
    expect(check(fact)[0]).toMatchObject({ level: 'error', code: 'aliases-unreadable', message: /not UTF-8/ });
  });

  it('warns of duplicate entries it will remove, and is content with a missing file', () => {
    expect(check(fileFact('root: a\nROOT: b\n'))).toEqual([
      {
        level: 'warning',
        code: 'duplicate-alias',
        message: '/etc/aliases has 2 entries for root (lines 1, 2): the first is managed, the others are removed',
        line: 2,
      },
    ]);
    expect(check({ exists: false })).toEqual([]);
    expect(currentAliases(hostFacts())).toEqual({ text: null });
  });
});

describe('newaliasesCommand (run under dash with a stand-in newaliases)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mailprov-newaliases-'));
  const aliases = join(dir, 'aliases');
  writeFileSync(aliases, 'root: ops@example.org\n');
  symlinkSync(aliases, join(dir, 'linked-aliases'));
  const run = (newaliases: string | undefined, path = aliases) => {
    const bin = mkdtempSync(join(dir, 'bin-'));
    if (newaliases !== undefined) {
      writeFileSync(join(bin, 'newaliases'), `#!/bin/sh\n${newaliases}\n`);
      chmodSync(join(bin, 'newaliases'), 0o755);
    }
    try {
      const out = execFileSync('dash', ['-c', newaliasesCommand(path)], {
        env: { PATH: `${bin}:/usr/bin:/bin` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return { code: 0, out: out.toString() };
    } catch (err) {
      const e = err as { status: number; stdout: Buffer; stderr: Buffer };
      return { code: e.status, out: `${e.stdout}${e.stderr}` };
    }
  };

  it('succeeds when newaliases rebuilt this file, also through a link (Debian reads /etc/mail/aliases -> ../aliases)', () => {
    expect(run(`echo "${aliases}: 1 aliases, longest 15 bytes, 20 bytes total"`)).toMatchObject({ code: 0 });
    expect(run(`echo "${dir}/linked-aliases: 1 aliases, longest 15 bytes, 20 bytes total" >&2`)).toMatchObject({ code: 0 });
  });

  it('fails when newaliases exits 0 having rebuilt another file, or none (it cannot open its own)', () => {
    const other = run('echo "/etc/mail/aliases: 0 aliases, longest 0 bytes, 0 bytes total"');
    expect(other.code).toBe(1);
    expect(other.out).toContain('sendmail reads its aliases from elsewhere (ALIAS_FILE in sendmail.mc)');
    expect(run('echo "newaliases: cannot open /etc/mail/aliases: No such file or directory"; exit 0').code).toBe(1);
  });

  it('passes on the exit code of a failing newaliases, with its output', () => {
    expect(run('echo "newaliases: cannot lock" >&2; exit 75')).toMatchObject({ code: 75, out: expect.stringContaining('cannot lock') });
  });

  it('leaves the database to the MTA when none is installed yet, and to nobody when the file is gone', () => {
    expect(run(undefined)).toMatchObject({ code: 0, out: expect.stringContaining('newaliases not found') });
    expect(run('exit 1', join(dir, 'missing'))).toMatchObject({ code: 0, out: expect.stringContaining('does not exist') });
  });
});

describe('verifyAliases', () => {
  const aliases = { root: ['ops@example.org', '|/bin/t a,b'], Postmaster: ['root'] };
  const ctx = (stdout: string, code = 0) => {
    const seen: { cmd: string; stdin?: string }[] = [];
    const logs: string[] = [];
    const c = {
      mode: 'apply',
      exec: async (cmd: string, stdin?: string) => {
        seen.push({ cmd, stdin });
        return { code, stdout, stderr: '' };
      },
      log: (l: string) => logs.push(l),
    } as unknown as VerifyContext;
    return { c, seen, logs };
  };
  const bt = (root: string) =>
    `ADDRESS TEST MODE\n> map_lookup: aliases (root) returns ${root} (0)\n> map_lookup: aliases (postmaster) returns root (0)\n> `;

  it("asks sendmail itself (-bt /map aliases), in lower case, and accepts the database's spacing", async () => {
    const { c, seen, logs } = ctx(bt('ops@example.org,   "|/bin/t a,b"'));
    await verifyAliases(c, aliases);
    expect(seen).toEqual([{ cmd: '/usr/sbin/sendmail -bt', stdin: '/map aliases root\n/map aliases postmaster\n' }]);
    expect(logs[0]).toContain('root -> ops@example.org, |/bin/t a,b; Postmaster -> root');
  });

  it('fails naming the alias when the database says something else or nothing', async () => {
    await expect(verifyAliases(ctx(bt('marc')).c, aliases)).rejects.toThrow(/does not hold what \/etc\/aliases says for root\nroot: marc$/);
    const none = '> map_lookup: aliases (root) no match (0)\n';
    expect(parseLookups(none)).toEqual(new Map([['root', null]]));
    await expect(verifyAliases(ctx(none).c, aliases)).rejects.toThrow(/for root, Postmaster\nroot: no entry\nPostmaster: no entry$/);
    await expect(verifyAliases(ctx('', 127).c, aliases)).rejects.toThrow(/not installed/);
  });

  it('compares nothing after a rollback (the restored file is what counts)', async () => {
    const { c, seen } = ctx('');
    await verifyAliases({ ...c, mode: 'rollback' }, aliases);
    expect(seen).toEqual([]);
    expect(lookupScript(['MAILER-DAEMON'])).toBe('/map aliases mailer-daemon\n');
  });
});

it('plans a change only for a difference (isChange sanity)', () => {
  const plan = planHost(build({ root: ['a@x.org'] }).resources, hostFacts({ files: { '/etc/aliases': fileFact('root: a@x.org\n') } }));
  expect(plan.changes.filter(isChange)).toEqual([]);
});
