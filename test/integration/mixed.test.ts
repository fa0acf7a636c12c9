import { describe, expect, it } from 'vitest';
import { sendmailSmartHost, type SendmailSettingsInput } from '../../playbooks/sendmail-smarthost.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import { relaySettings, waitForMessage } from '../../src/sandbox/index.ts';
import { apply, byHost, remote, resourceIds, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(1, { centos: 1 });

const HOSTS = ['relay1', 'centos1'] as const;
const index = (name: string) => sandbox.state.hosts.findIndex((h) => h.name === name);
const inventory = (over: Partial<SendmailSettingsInput> = {}) =>
  sandboxInventory(sandbox.state, [{ on: 'relays', use: sendmailSmartHost(relaySettings(sandbox.state, over)) }]);
const out = async (name: string, cmd: string, stdin?: string) => {
  const r = await remote(sandbox.state, index(name), cmd, stdin);
  expect(r.code, `${name}: ${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};

/**
 * What the rollback of the relayFrom/localDomain apply puts back: the mc and access, and what make
 * wrote from them, saved with the generation (issue 33): the cf and access.db on both; Debian's make
 * regenerates its Makefile and databases list from the mc, RHEL's keeps the cf it replaced as .cf.bak.
 */
const ROLLED_BACK: Record<(typeof HOSTS)[number], string[]> = {
  relay1: [
    '/etc/mail/Makefile',
    '/etc/mail/access',
    '/etc/mail/access.db',
    '/etc/mail/databases',
    '/etc/mail/sendmail.cf',
    '/etc/mail/sendmail.mc',
  ],
  centos1: ['/etc/mail/access', '/etc/mail/access.db', '/etc/mail/sendmail.cf', '/etc/mail/sendmail.cf.bak', '/etc/mail/sendmail.mc'],
};

/** What a rollback must give back: the managed files, the live and saved firewall, and the built cf minus its stamps. */
const snapshot = (name: string) =>
  out(
    name,
    'cd /etc/mail && sha256sum sendmail.mc authinfo access; iptables -S INPUT; ' +
      'cat /etc/iptables/rules.v4 /etc/sysconfig/iptables 2>/dev/null | grep -v "^#" | sed "s/\\[[0-9:]*\\]//"; grep -v "^#" sendmail.cf | sha256sum',
  );

describe('a mixed inventory (Debian and CentOS-like hosts)', () => {
  it('is applied in one run: each host gets its own package manager and mc, and both relay with AUTH over STARTTLS', async () => {
    const since = Date.now();
    const results = byHost(await apply(inventory()));
    for (const name of HOSTS) {
      expect(results[name].error, name).toBeUndefined();
      expect(results[name].status).toBe('changed');
    }
    // iptables-persistent is its own transaction, on Debian only (on RHEL the rule goes to /etc/sysconfig/iptables)
    expect(results.relay1.changes.slice(0, 2).map((c) => c.summary)).toEqual([
      'install sendmail, sendmail-cf, libsasl2-modules (apt)',
      'install iptables-persistent (apt)',
    ]);
    expect(results.centos1.changes[0].summary).toBe('install sendmail, sendmail-cf, cyrus-sasl-plain (dnf)');
    expect(resourceIds(results.centos1)).not.toContain('packages:iptables-persistent');
    expect(await out('relay1', 'cat /etc/mail/sendmail.mc')).toContain("OSTYPE(`debian')dnl");
    expect(await out('centos1', 'cat /etc/mail/sendmail.mc')).toContain(
      "include(`/usr/share/sendmail-cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl",
    );
    // the rule (relayFrom's network only) is saved where each distro loads it at boot, before RHEL's stock REJECT
    const rule = '-A INPUT -s 192.168.0.0/16 -p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT';
    expect((await out('relay1', 'cat /etc/iptables/rules.v4')).split('\n')).toContain(rule);
    expect((await out('centos1', 'cat /etc/sysconfig/iptables')).split('\n')).toContain(rule);
    expect((await out('centos1', 'iptables -S INPUT')).trim().split('\n').at(-1)).toBe(
      '-A INPUT -j REJECT --reject-with icmp-host-prohibited',
    );
    for (const name of HOSTS) {
      const m = await waitForMessage(
        sandbox.state.smartHost.storeDir,
        (x) => x.subject === `mailprov verification from ${name}` && Date.parse(x.receivedAt) >= since - 1000,
        15_000,
      );
      expect(m).toMatchObject({ authUser: sandbox.state.smartHost.user, tls: true });
    }
  });

  it('changes nothing on either host the second time, and a plan says so', async () => {
    const again = await apply(inventory());
    expect(again.map((r) => [r.host, r.status, r.changes.length])).toEqual([
      ['relay1', 'unchanged', 0],
      ['centos1', 'unchanged', 0],
    ]);
    const plan = await apply(inventory(), true);
    expect(plan.map((r) => [r.host, r.status, r.changes.length])).toEqual([
      ['relay1', 'unchanged', 0],
      ['centos1', 'unchanged', 0],
    ]);
  });

  it('shows a hand edit on the CentOS-like host as drift, on that host alone, and repairs it', async () => {
    const edited = await out('centos1', 'echo "Connect:10.9                     RELAY" >> /etc/mail/access && cat /etc/mail/access');
    const plan = byHost(await apply(inventory(), true));
    expect(plan.relay1.status).toBe('unchanged');
    expect(plan.centos1.status).toBe('pending');
    expect(resourceIds(plan.centos1)).toEqual(['file:/etc/mail/access', 'command:makemap access']);
    expect(plan.centos1.changes[0].diff).toMatchObject({ path: '/etc/mail/access', before: edited });
    expect(await out('centos1', 'cat /etc/mail/access')).toBe(edited); // the plan changed nothing
    const fixed = byHost(await apply(inventory()));
    expect(resourceIds(fixed.centos1)).toEqual(['file:/etc/mail/access', 'command:makemap access']);
    expect(await out('centos1', 'cat /etc/mail/access')).not.toContain('10.9');
  });

  it('rolls each host back to the previous generation: files, firewall and cf as they were, relaying again', async () => {
    const before = Object.fromEntries(await Promise.all(HOSTS.map(async (n) => [n, await snapshot(n)])));
    const b = byHost(await apply(inventory({ relayFrom: ['10.0.0'], localDomain: 'lan.example.org' })));
    for (const name of HOSTS) {
      expect(b[name].error, name).toBeUndefined();
      expect(await snapshot(name)).not.toBe(before[name]);
    }
    for (const host of inventory().hosts) {
      const dry = await rollbackHost(host, { dryRun: true, packages: false, inventoryFile: 'mixed.ts', log: () => {} });
      const rolledBack = ROLLED_BACK[host.name as (typeof HOSTS)[number]];
      expect(dry.plan?.diffs.map((d) => d.path).sort(), host.name).toEqual(rolledBack);
      const rb = await rollbackHost(host, { dryRun: false, packages: false, inventoryFile: 'mixed.ts', log: () => {} });
      expect(rb.error, host.name).toBeUndefined();
      expect(rb.restored?.sort(), host.name).toEqual(rolledBack);
      expect(await snapshot(host.name)).toBe(before[host.name]);
    }
    for (const name of HOSTS) {
      const subject = `after rollback on ${name}`;
      await out(name, '/usr/sbin/sendmail -Am -odi -oi ops@example.com', `Subject: ${subject}\n\nok\n`);
      expect(await waitForMessage(sandbox.state.smartHost.storeDir, (m) => m.subject === subject, 15_000)).toMatchObject({
        authUser: sandbox.state.smartHost.user,
      });
    }
    const converged = await apply(inventory(), true);
    expect(converged.map((r) => r.status)).toEqual(['unchanged', 'unchanged']);
  });
});
