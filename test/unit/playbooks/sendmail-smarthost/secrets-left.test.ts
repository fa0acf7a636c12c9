// The smart host's password does not stay behind (issue 24, defect 3): without auth, the playbook
// removes the authinfo mailprov wrote (masked in the plan), and its .db with it; the journal keeps
// the .db, so any rollback brings both back or takes both away; a host no playbook manages them on
// any more is told so, with the commands; AuthInfo lines of a host's own access map are masked.
import { describe, expect, it } from 'vitest';
import { sendmailSettingsSchema, sendmailSmartHost, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost.ts';
import { leftoverFinding, unmanagedSecrets } from '../../../../src/engine/leftover-secrets.ts';
import { planHost } from '../../../../src/engine/plan.ts';
import type { Fact, HostFacts } from '../../../../src/facts/types.ts';
import type { Generation } from '../../../../src/journal/records.ts';
import type { Change } from '../../../../src/resources/types.ts';
import { secret } from '../../../../src/secrets/index.ts';
import { debianOs, fileFact, generation, hostFacts } from '../../fixtures.ts';

const PASSWORD = 'hunter2-"quoted"';
const AUTHINFO = `AuthInfo:smtp.gmail.com "U:u@example.org" "I:u@example.org" "P=${Buffer.from(PASSWORD).toString('base64')}" "M:PLAIN LOGIN"\n`;

const build = (s: Partial<SendmailSettingsInput> = {}) =>
  sendmailSmartHost.definition.build(sendmailSettingsSchema.parse({ smartHost: 'smtp.gmail.com', relayFrom: ['192.168'], ...s }));
const withAuth = { auth: { user: 'u@example.org', password: secret.value(PASSWORD) } };

/** Generation 1 wrote authinfo with the password, and makemap its .db. */
const WROTE = generation(1, {
  files: ['/etc/mail/authinfo', '/etc/mail/authinfo.db'],
  sensitive: ['/etc/mail/authinfo', '/etc/mail/authinfo.db'],
});

/** Fixture facts with the host's journal. */
function facts(files: Record<string, ReturnType<typeof fileFact>>, generations: Generation[]): HostFacts {
  const base = hostFacts({ os: debianOs, files, packages: { sendmail: true, 'sendmail-cf': true, 'iptables-persistent': true } });
  return {
    os: base.os,
    get: <T, A>(fact: Fact<T, A>, arg: A) =>
      (fact.name === 'journal' ? { generations, unreadable: [], pruned: [] } : base.get(fact, arg)) as T,
  };
}
const change = (plan: ReturnType<typeof planHost>, id: string) => plan.changes.find((c) => c.resourceId === id) as Change | undefined;

describe('the authinfo mailprov wrote, once auth is removed', () => {
  it('is removed, its diff masked, and makemap removes the .db', () => {
    const plan = planHost(build().resources, facts({ '/etc/mail/authinfo': fileFact(AUTHINFO, 'root', 'root', '0600') }, [WROTE]));
    const remove = change(plan, 'file:/etc/mail/authinfo');
    expect(remove).toMatchObject({
      action: 'remove',
      summary: 'remove /etc/mail/authinfo',
      reason: 'mailprov wrote it (generation 1) and the inventory no longer asks for it',
      files: [{ path: '/etc/mail/authinfo', sensitive: true }],
      steps: [{ label: 'remove /etc/mail/authinfo', command: "rm -f '/etc/mail/authinfo'" }],
    });
    expect(remove?.diff).toMatchObject({
      before: 'AuthInfo:smtp.gmail.com "U:u@example.org" "I:u@example.org" "P:********" "M:PLAIN LOGIN"\n',
      after: null,
    });
    expect(JSON.stringify(plan)).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    // the map follows its text, and the journal keeps the .db (a secret too) before makemap runs
    const makemap = change(plan, 'command:makemap authinfo');
    expect(makemap?.reason).toBe('because /etc/mail/authinfo changes');
    expect(makemap?.files).toEqual([{ path: '/etc/mail/authinfo.db', sensitive: true }]);
    expect(makemap?.steps[0].command).toContain("if [ ! -f '/etc/mail/authinfo' ]; then rm -f '/etc/mail/authinfo.db'; exit 0; fi");
  });

  it('stays when mailprov never wrote it (the host had its own), or when the generation that wrote it was rolled back', () => {
    for (const gens of [[], [{ ...WROTE, status: 'rolled-back' as const }], [{ ...WROTE, kind: 'rollback' as const }]]) {
      const plan = planHost(build().resources, facts({ '/etc/mail/authinfo': fileFact(AUTHINFO) }, gens));
      expect(change(plan, 'file:/etc/mail/authinfo')).toBeUndefined();
      expect(plan.unchanged.find((u) => u.resourceId === 'file:/etc/mail/authinfo')?.reason).toBe(
        '/etc/mail/authinfo was not written by mailprov: left as it is',
      );
    }
  });

  it("stays once it holds no password (Debian's make recreates the maps its Makefile once knew, empty)", () => {
    const plan = planHost(build().resources, facts({ '/etc/mail/authinfo': fileFact('', 'smmta', 'smmsp', '0640') }, [WROTE]));
    expect(change(plan, 'file:/etc/mail/authinfo')).toBeUndefined();
    expect(plan.unchanged.find((u) => u.resourceId === 'file:/etc/mail/authinfo')?.reason).toBe(
      '/etc/mail/authinfo holds nothing to remove',
    );
  });

  it('with auth, the .db is kept by the journal too, so a rollback to generation 0 removes it with its text', () => {
    const plan = planHost(build(withAuth).resources, facts({}, []));
    expect(change(plan, 'command:makemap authinfo')?.files).toEqual([{ path: '/etc/mail/authinfo.db', sensitive: true }]);
    expect(change(plan, 'file:/etc/mail/authinfo')?.files).toEqual([{ path: '/etc/mail/authinfo', sensitive: true }]);
  });
});

describe("AuthInfo lines in the host's own access map", () => {
  it('are masked in the diff, and make the map count as secret only when it holds one', () => {
    const own = `Connect:10 RELAY\nAuthInfo:mail.example.org "U:bob" "P:${PASSWORD.replace(/"/g, '')}"\n`;
    const plan = planHost(build().resources, facts({ '/etc/mail/access': fileFact(own) }, []));
    const access = change(plan, 'file:/etc/mail/access');
    expect(access?.diff?.before).toBe('Connect:10 RELAY\nAuthInfo:mail.example.org "U:bob" "P:********"\n');
    expect(access?.files).toEqual([{ path: '/etc/mail/access', sensitive: true }]);
    expect(JSON.stringify(plan)).not.toContain('hunter2');
    const plain = change(
      planHost(build().resources, facts({ '/etc/mail/access': fileFact('Connect:10 RELAY\n') }, [])),
      'file:/etc/mail/access',
    );
    expect(plain?.files).toEqual([{ path: '/etc/mail/access', sensitive: false }]);
    expect(plain?.diff?.before).toBe('Connect:10 RELAY\n');
  });
});

describe('credentials no bound playbook manages', () => {
  it('are the sensitive files of apply generations in force that no resource declares', () => {
    const older = generation(1, { files: ['/etc/mail/authinfo'], sensitive: ['/etc/mail/authinfo'] });
    const rolledBack = generation(2, { status: 'rolled-back', sensitive: ['/etc/other-secret'] });
    const newer = generation(3, {
      files: ['/etc/mail/authinfo', '/etc/mail/authinfo.db'],
      sensitive: ['/etc/mail/authinfo', '/etc/mail/authinfo.db'],
    });
    // a host bound to no playbook: both are left over
    expect([...unmanagedSecrets([older, rolledBack, newer], [])]).toEqual([
      ['/etc/mail/authinfo', 3],
      ['/etc/mail/authinfo.db', 3],
    ]);
    // the sendmail playbook bound, auth or not: it manages both (absentFile and makemap authinfo)
    expect(unmanagedSecrets([older, newer], build().resources).size).toBe(0);
    expect(unmanagedSecrets([older, newer], build(withAuth).resources).size).toBe(0);
  });

  it('are reported with the commands that remove them, quoted for the shell', () => {
    const f = leftoverFinding(
      'relay1',
      'inventories/prod.ts',
      new Map([
        ['/etc/mail/authinfo', 3],
        ['/etc/mail/authinfo.db', 3],
      ]),
    );
    expect(f).toEqual({
      level: 'warning',
      code: 'secrets-left-behind',
      message:
        '/etc/mail/authinfo, /etc/mail/authinfo.db still hold credentials mailprov wrote (generation 3), and no playbook bound to this host manages them any more. ' +
        "Remove them on the host with `rm -f -- /etc/mail/authinfo /etc/mail/authinfo.db`, then the journal's saved copies with " +
        '`mailprov forget-secrets inventories/prod.ts --host relay1`',
    });
    expect(leftoverFinding('relay1', 'inv.ts', new Map())).toBeUndefined();
  });
});
