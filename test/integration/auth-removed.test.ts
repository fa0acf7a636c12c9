// The smart host's password does not outlive the inventory's wish for it (issue 24, defect 3), on a
// real sandbox host: a host no playbook manages authinfo on any more is told so by plan, with the
// commands; a rollback to generation 0 with no playbook bound removes authinfo.db with authinfo (the
// journal keeps the .db itself); and an apply without `auth` removes both, its plan masked.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../../src/engine/index.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import { relaySettings } from '../../src/sandbox/index.ts';
import { byHost, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(1);
let password: string;

beforeAll(async () => {
  password = readFileSync(sandbox.state.smartHost.passwordFile, 'utf8').trim();
});

const remote = (cmd: string) => remoteExec(sandbox.state, 0, cmd);
const withAuth = () => [{ on: 'relays', use: sendmailSmartHost(relaySettings(sandbox.state)) }];
// the same binding without auth; no test message (the stand-in smart host wants AUTH for that)
const withoutAuth = () => [{ on: 'relays', use: sendmailSmartHost(relaySettings(sandbox.state, { auth: undefined, verify: undefined })) }];
const run = async (playbooks: ReturnType<typeof withAuth>, dryRun = false) =>
  byHost(await runHosts(sandboxInventory(sandbox.state, playbooks).hosts, { dryRun, forks: 1, emit: () => {}, inventoryFile: 'inv.ts' }))
    .relay1;
/** Which of authinfo and its .db exist on the host. */
const present = async () =>
  (await remote('cd /etc/mail && for f in authinfo authinfo.db; do [ -e "$f" ] && echo "$f"; done; true')).stdout
    .split('\n')
    .filter(Boolean);
/** What still holds credentials: authinfo with content, an authinfo.db with keys (Debian's make may recreate both, empty). */
const credentials = async () =>
  (
    await remote(
      'cd /etc/mail && if [ -s authinfo ]; then echo authinfo; fi; if [ -f authinfo.db ] && [ -n "$(makemap -u hash /etc/mail/authinfo 2>&1)" ]; then echo authinfo.db; fi; true',
    )
  ).stdout
    .split('\n')
    .filter(Boolean);
const noPassword = (x: unknown) => {
  const text = JSON.stringify(x);
  for (const form of [password, Buffer.from(password).toString('base64')]) expect(text).not.toContain(form);
};

describe('credentials mailprov wrote', () => {
  it('a host no playbook manages them on any more: plan says so, with the commands that remove them', async () => {
    const applied = await run(withAuth());
    expect([applied.status, applied.error]).toEqual(['changed', undefined]);
    expect(await present()).toEqual(['authinfo', 'authinfo.db']);

    const plan = await run([], true); // the host, bound to nothing
    const finding = plan.findings.find((f) => f.code === 'secrets-left-behind');
    expect(finding?.message).toBe(
      '/etc/mail/authinfo, /etc/mail/authinfo.db still hold credentials mailprov wrote (generation 1), and no playbook bound to this host manages them any more. ' +
        "Remove them on the host with `rm -f -- /etc/mail/authinfo /etc/mail/authinfo.db`, then the journal's saved copies with " +
        '`mailprov forget-secrets inv.ts --host relay1`',
    );
    noPassword(plan);
  });

  it('rollback --to 0 with no playbook bound removes authinfo.db with authinfo', async () => {
    const host = sandboxInventory(sandbox.state, []).hosts[0];
    const log: string[] = [];
    const rb = await rollbackHost(host, { to: 0, dryRun: false, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
    expect(rb.error, log.join('\n')).toBeUndefined();
    expect(rb.restored).toEqual(expect.arrayContaining(['/etc/mail/authinfo', '/etc/mail/authinfo.db']));
    expect(await present()).toEqual([]);
    // nothing left over: plan has nothing to say
    expect((await run([], true)).findings.map((f) => f.code)).not.toContain('secrets-left-behind');
  });

  it('an apply without auth removes authinfo and its .db, the plan masked, and a second apply changes nothing', async () => {
    expect((await run(withAuth())).status).toBe('changed');
    expect(await credentials()).toEqual(['authinfo', 'authinfo.db']);

    const plan = await run(withoutAuth(), true);
    const remove = plan.changes.find((c) => c.resourceId === 'file:/etc/mail/authinfo');
    expect(remove?.summary).toBe('remove /etc/mail/authinfo');
    expect(remove?.diff?.before).toMatch(/^AuthInfo:smtp\.sandbox\.test "U:[^"]+" "I:[^"]+" "P:\*\*\*\*\*\*\*\*" "M:PLAIN LOGIN"\n$/);
    expect(remove?.diff?.after).toBeNull();
    expect(plan.changes.map((c) => c.resourceId)).toContain('command:makemap authinfo');
    noPassword(plan);

    const applied = await run(withoutAuth());
    expect([applied.status, applied.error]).toEqual(['changed', undefined]);
    noPassword(applied);
    // gone, or (Debian: make recreates the maps its Makefile once knew) empty
    expect(await credentials()).toEqual([]);
    const left = (await remote('cat /etc/mail/authinfo /etc/mail/authinfo.db 2>/dev/null; true')).stdout;
    for (const form of [password, Buffer.from(password).toString('base64')]) expect(left).not.toContain(form);
    const again = await run(withoutAuth());
    expect([again.status, again.changes]).toEqual(['unchanged', []]);
    expect(again.findings.map((f) => f.code)).not.toContain('secrets-left-behind');
  });
});
