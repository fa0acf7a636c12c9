import { describe, expect, it } from 'vitest';
import { mailAliases } from '../../playbooks/mail-aliases.ts';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../../src/engine/index.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import type { Inventory } from '../../src/inventory/load.ts';
import { unifiedDiff } from '../../src/report/diff.ts';
import { relaySettings, waitForMessage } from '../../src/sandbox/index.ts';
import { apply, byHost, remote as remoteExec, resourceIds, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(1, { centos: 1 });

const HOSTS = ['relay1', 'centos1'] as const;
const remote = async (host: (typeof HOSTS)[number], cmd: string, stdin?: string) => {
  const r = await remoteExec(sandbox.state, HOSTS.indexOf(host), cmd, stdin);
  expect(r.code, `${host}: ${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};
const inventory = (root: string, more: Record<string, string> = {}) =>
  sandboxInventory(sandbox.state, [
    { on: 'relays', use: sendmailSmartHost(relaySettings(sandbox.state)) },
    { on: 'relays', use: mailAliases({ root, ...more }) },
  ]);
/** An apply that also says which playbooks verified on each host (each one's "verifying" phase). */
async function applyVerifying(inv: Inventory) {
  const verified: Record<string, string[]> = {};
  const results = await runHosts(inv.hosts, {
    dryRun: false,
    forks: 20,
    emit: (e) => {
      if (e.kind === 'host-phase' && e.phase === 'verifying') (verified[e.host] ??= []).push(e.detail ?? '');
    },
  });
  return { results: byHost(results), verified };
}

/** What sendmail itself finds for root in its aliases database. */
const rootInDatabase = async (host: (typeof HOSTS)[number]) =>
  /map_lookup: aliases \(root\) (.*)/.exec(await remote(host, '/usr/sbin/sendmail -bt', '/map aliases root\n'))?.[1];

// A Debian host's own aliases before sendmail comes (sendmail's package keeps an existing file):
// another entry with continuation lines, comments, a blank line, no final line break, and root's
// entry (spelled Root, with a continuation line) that the playbook replaces.
const DEBIAN_BEFORE = [
  '# site aliases, kept as they are',
  'MAILER-DAEMON:\tpostmaster',
  'postmaster: root',
  'Root:\tmarc,',
  '\tjane',
  'news: root,',
  '\tusenet',
  '',
  '# the last line has no line break',
  'www: root',
].join('\n');
const DEBIAN_AFTER = DEBIAN_BEFORE.replace('Root:\tmarc,\n\tjane\n', 'root: ops@example.com\n');
let centosBefore = '';

describe('mailAliases next to sendmailSmartHost', () => {
  it('applies both playbooks in one run on hosts without sendmail, changing only root in /etc/aliases', async () => {
    await remote('relay1', 'cat > /etc/aliases', DEBIAN_BEFORE);
    centosBefore = await remote('centos1', 'cat /etc/aliases');
    expect(centosBefore).toContain('postmaster:\troot\n');

    const { results, verified } = await applyVerifying(inventory('ops@example.com'));
    for (const host of HOSTS) {
      const r = results[host];
      expect(r.error, host).toBeUndefined();
      expect(r.status).toBe('changed');
      // sendmail changed: its verification (the smart-host probe) runs, and the aliases' own
      expect(verified[host]).toEqual(['sendmail-smarthost', 'mail-aliases']);
      const ids = resourceIds(r);
      expect(ids).toEqual(expect.arrayContaining(['packages:sendmail', 'file:/etc/aliases', 'command:newaliases']));
      // bound after sendmailSmartHost: sendmail (and newaliases) is there before the aliases are
      expect(ids.indexOf('packages:sendmail')).toBeLessThan(ids.indexOf('file:/etc/aliases'));
      expect(await rootInDatabase(host)).toBe('returns ops@example.com (0)');
    }
    expect(await remote('relay1', 'cat /etc/aliases')).toBe(DEBIAN_AFTER);
    // RHEL's stock file has no root entry (only a comment): the entry is appended, nothing else moves
    expect(await remote('centos1', 'cat /etc/aliases')).toBe(`${centosBefore}root: ops@example.com\n`);
  });

  it("delivers root's mail to the person, through the smart host, on both hosts", async () => {
    // as cron would send it: no headers at all
    for (const host of HOSTS) await remote(host, 'echo test | /usr/sbin/sendmail -oi root');
    for (const host of HOSTS) {
      const m = await waitForMessage(
        sandbox.state.smartHost.storeDir,
        (x) => x.subject === null && x.mailFrom === `root@${host}.sandbox.test`,
        30_000,
      );
      expect(m).toMatchObject({ rcptTo: ['ops@example.com'], authUser: sandbox.state.smartHost.user, tls: true });
      expect(m.raw).toMatch(/\r?\n\r?\ntest\r?\n$/);
    }
  });

  it('changes nothing on a second apply', async () => {
    const results = await apply(inventory('ops@example.com'));
    expect(results.map((r) => [r.host, r.status, r.changes, r.error])).toEqual([
      ['relay1', 'unchanged', [], undefined],
      ['centos1', 'unchanged', [], undefined],
    ]);
  });

  it('shows a new target as a diff of /etc/aliases, and rollback brings back the old one and its database', async () => {
    const plan = byHost(await apply(inventory('oncall@example.com'), true));
    for (const host of HOSTS) {
      expect(plan[host].status).toBe('pending');
      expect(resourceIds(plan[host])).toEqual(['file:/etc/aliases', 'command:newaliases']);
      const diff = unifiedDiff(plan[host].changes[0].diff!);
      expect(diff).toContain('--- a/etc/aliases\n+++ b/etc/aliases\n');
      expect(diff).toContain('\n-root: ops@example.com\n+root: oncall@example.com');
      expect(await rootInDatabase(host)).toBe('returns ops@example.com (0)'); // a plan changes nothing
    }

    const { results: changed, verified } = await applyVerifying(inventory('oncall@example.com'));
    for (const host of HOSTS) {
      expect([changed[host].status, changed[host].error]).toEqual(['changed', undefined]);
      // an aliases-only change cannot affect the relay: only the aliases verify, no smart-host probe
      expect(verified[host]).toEqual(['mail-aliases']);
      expect(await rootInDatabase(host)).toBe('returns oncall@example.com (0)');
    }

    const inv = inventory('ops@example.com');
    for (const host of HOSTS) {
      const log: string[] = [];
      const target = inv.hosts.find((h) => h.name === host)!;
      const rb = await rollbackHost(target, { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
      expect(rb.error, log.join('\n')).toBeUndefined();
      // not the whole file: only the entry mailprov wrote is taken back, then newaliases runs (both
      // as steps detached on the host, issue 34)
      expect(rb.restored).toEqual([]);
      expect(log).toEqual(
        expect.arrayContaining([expect.stringMatching(/^ {2}\$ take back 1 entry of \/etc\/aliases \(detached\) -> exit 0 /)]),
      );
      expect(log).toEqual(expect.arrayContaining([expect.stringMatching(/^ {2}\$ newaliases \(detached\) -> exit 0 /)]));
      expect(await rootInDatabase(host)).toBe('returns ops@example.com (0)');
    }
    expect(await remote('relay1', 'cat /etc/aliases')).toBe(DEBIAN_AFTER);
    expect(await remote('centos1', 'cat /etc/aliases')).toBe(`${centosBefore}root: ops@example.com\n`);
    // and mail to root goes to the restored target
    await remote('centos1', '/usr/sbin/sendmail -oi root', 'Subject: after rollback\n\ntest\n');
    const m = await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === 'after rollback', 30_000);
    expect(m.rcptTo).toEqual(['ops@example.com']);
    // the rolled-back state is what the inventory says: nothing to do
    expect((await apply(inv)).map((r) => r.status)).toEqual(['unchanged', 'unchanged']);
  });

  it('rollback takes back only its own entries: an alias added by hand since stays (issue 24, defect 5)', async () => {
    const before = { relay1: await remote('relay1', 'cat /etc/aliases'), centos1: await remote('centos1', 'cat /etc/aliases') };
    // mailprov adds deploy and changes root
    const applied = byHost(await apply(inventory('oncall@example.com', { deploy: 'ops@example.com' })));
    for (const host of HOSTS) expect([applied[host].status, applied[host].error]).toEqual(['changed', undefined]);
    // then an admin adds an alias by hand (a package could as well), and rebuilds the database
    for (const host of HOSTS) await remote(host, "printf 'backup:\\troot\\n' >> /etc/aliases && newaliases >/dev/null");

    const inv = inventory('ops@example.com');
    for (const host of HOSTS) {
      const log: string[] = [];
      const rb = await rollbackHost(inv.hosts.find((h) => h.name === host)!, {
        dryRun: false,
        packages: false,
        inventoryFile: 'inv.ts',
        log: (l) => log.push(l),
      });
      expect(rb.error, log.join('\n')).toBeUndefined();
      // the file as it was, plus the hand-added alias; mailprov's deploy is gone and root is back
      const now = await remote(host, 'cat /etc/aliases');
      expect(now, host).toBe(`${before[host].endsWith('\n') || before[host] === '' ? before[host] : `${before[host]}\n`}backup:\troot\n`);
      expect(await rootInDatabase(host)).toBe('returns ops@example.com (0)');
      const lookups = await remote(host, '/usr/sbin/sendmail -bt', '/map aliases backup\n/map aliases deploy\n');
      expect(lookups).toMatch(/map_lookup: aliases \(backup\) returns root \(0\)/);
      expect(lookups).toMatch(/map_lookup: aliases \(deploy\) no match/);
    }
  });
});
