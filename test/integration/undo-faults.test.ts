import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readHistory, rollbackHost } from '../../src/engine/rollback-host.ts';
import { definePlaybook } from '../../src/playbook/index.ts';
import { command, file, firewallRule, packages } from '../../src/resources/index.ts';
import { apply, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(3, { centos: 1 });
/** centos1 comes after the three Debian hosts. */
const CENTOS = 3;

const remote = (host: number, cmd: string, stdin?: string) => remoteExec(sandbox.state, host, cmd, stdin);
const out = async (host: number, cmd: string) => {
  const r = await remote(host, cmd);
  expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};

const CONF = '/etc/mailprov-undo.conf';
const RULES = '/etc/iptables/rules.v4';
const RULES_B = '/etc/iptables/rules-b.v4';
const SMTP = '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT';
const OTHER = '-p tcp -m tcp --dport 2626 -j ACCEPT';
/** The fault: a read-only bind mount over the saved rules of port 25, so no rename can replace it. */
const BREAK = `mount --bind -o ro ${RULES} ${RULES}`;
const FIX = `if grep -q ' ${RULES} ' /proc/mounts; then umount ${RULES}; fi`;

// a file and two rules, each saved in a file of its own; `fail` adds a step that injects the fault
// and then fails, so that the automatic rollback meets it
const guarded = definePlaybook({
  name: 'guarded',
  settings: z.object({ fail: z.boolean() }).strict(),
  build: ({ fail }) => ({
    resources: [
      file({ path: CONF, content: 'one\n' }),
      firewallRule({ rule: SMTP, persistFile: RULES }),
      firewallRule({ rule: OTHER, persistFile: RULES_B }),
      ...(fail ? [command({ name: 'break the undo, then fail', run: `${BREAK} && exit 3`, onChangeOf: [`file:${CONF}`] })] : []),
    ],
  }),
});
const motd = definePlaybook({
  name: 'motd',
  settings: z.object({ text: z.string() }).strict(),
  build: ({ text }) => ({ resources: [file({ path: '/etc/motd', content: text })] }),
});
const smtpPort = definePlaybook({
  name: 'smtp-port',
  settings: z.object({}).strict(),
  // with iptables-persistent, as the relay playbook installs it: its install must not save the live table either
  build: () => ({ resources: [packages({ names: ['iptables-persistent'] }), firewallRule({ rule: SMTP })] }),
});
const sendmailPackage = definePlaybook({
  name: 'sendmail-package',
  settings: z.object({}).strict(),
  build: () => ({ resources: [packages({ names: ['sendmail'] })] }),
});
type Use = ReturnType<typeof guarded> | ReturnType<typeof motd> | ReturnType<typeof smtpPort> | ReturnType<typeof sendmailPackage>;
const only = (host: string, use: Use) => sandboxInventory(sandbox.state, [{ on: host, use }], {}, [host]);
const rollback = (inv: ReturnType<typeof only>, opts: { to?: number; packages?: boolean; dryRun?: boolean } = {}) =>
  rollbackHost(inv.hosts[0], {
    dryRun: opts.dryRun ?? false,
    packages: opts.packages ?? false,
    to: opts.to,
    inventoryFile: 'inv.ts',
    log: () => {},
  });

/** What "as before generation 1" compares: the file, both saved rule files, every live rule, the motd. */
const snapshot = (host: number) =>
  out(host, `for f in ${CONF} ${RULES} ${RULES_B} /etc/motd; do echo "== $f"; cat "$f" 2>/dev/null || echo absent; done; iptables -S`);

const PORT_25_LINE = `- iptables rule -A INPUT ${SMTP}`;
const PORT_2626_LINE = `- iptables rule -A INPUT ${OTHER}`;

describe('an undo that fails halfway', () => {
  it('automatic rollback: what it did not undo stays owned, the next run says so, and rollback --to 0 after the fix undoes it', async () => {
    const before = await snapshot(0);
    const host = only('relay1', guarded({ fail: true })).hosts[0];
    try {
      const [r] = await apply(only('relay1', guarded({ fail: true })));
      expect(r.status).toBe('failed');
      expect(r.error).toMatch(/break the undo, then fail/);
      expect(r.error).toMatch(/the automatic rollback of generation 1 stopped halfway: /);
      expect(r.error).toContain(`records undone: ${PORT_2626_LINE}`);
      expect(r.error).toContain(`records still live, kept in generation 1 for the next rollback: ${PORT_25_LINE}`);
      const [g1] = (await readHistory(host)).generations;
      expect([g1.id, g1.status, g1.undone]).toEqual([1, 'rollback-failed', [1]]);
      expect(g1.reason).toMatch(/^the automatic rollback stopped halfway: /);
      // port 25's line is still saved: the host would open port 25 again at boot
      expect(await out(0, `cat ${RULES}`)).toContain('--dport 25 -m comment --comment mailprov -j ACCEPT');

      // the next run says exactly that, and nothing about a controller that died
      const [next] = await apply(only('relay1', guarded({ fail: false })), true);
      expect(next.error).toBeUndefined();
      const codes = next.findings.map((f) => f.code);
      expect(codes).toContain('rollback-failed');
      expect(codes).not.toContain('incomplete-generation');
      const said = next.findings.find((f) => f.code === 'rollback-failed')!.message;
      expect(said).toMatch(/^generation 1 was not fully undone \(the automatic rollback stopped halfway: /);
      expect(said).toContain(`Records undone: ${PORT_2626_LINE}.`);
      expect(said).toContain(`Records still live and still its own: ${PORT_25_LINE}`);
      expect(said).not.toMatch(/died/);
    } finally {
      await out(0, FIX);
    }
    // the fault fixed, the rollback to before generation 1 undoes what is left
    const rb = await rollback(only('relay1', guarded({ fail: false })), { to: 0 });
    expect(rb.error).toBeUndefined();
    expect(await snapshot(0)).toBe(before);
    expect((await readHistory(host)).generations.map((g) => [g.id, g.kind, g.status, g.undone])).toEqual([
      [1, 'apply', 'rolled-back', [0, 1]],
      [2, 'rollback', 'complete', []],
    ]);
  });

  it('manual rollback: recorded as failed, never repaired by re-applying what it rolled back from; rollback --to 0 after the fix finishes it', async () => {
    const before = await snapshot(1);
    const inv = only('relay2', guarded({ fail: false }));
    const [a] = await apply(inv);
    expect(a.error).toBeUndefined();
    try {
      await out(1, BREAK);
      const rb = await rollback(inv, { to: 0 });
      expect(rb.ok).toBe(false);
      expect(rb.error).toMatch(/the rollback \(generation 2\) of generation 1 stopped halfway: /);
      expect(rb.error).toContain(`records still live, kept in generation 1 for the next rollback: ${PORT_25_LINE}`);
      const history = (await readHistory(inv.hosts[0])).generations;
      expect(history.map((g) => [g.id, g.kind, g.status, g.undone])).toEqual([
        [1, 'apply', 'rollback-failed', [1]],
        [2, 'rollback', 'failed', []],
      ]);
      expect(history[1].reason).toMatch(/^the rollback failed: /);

      // the next apply (of something else) says what happened and does not put generation 1 back
      const [next] = await apply(only('relay2', motd({ text: 'motd of generation 3\n' })));
      expect(next.error).toBeUndefined();
      expect(next.findings.map((f) => f.code)).toEqual(['rollback-failed']);
      expect(next.findings[0].message).toMatch(/^generation 1 was not fully undone \(the rollback \(generation 2\) stopped halfway: /);
      expect(await out(1, `cat ${CONF} 2>/dev/null || echo absent`)).toBe('absent\n');
      expect(await out(1, 'iptables -S INPUT')).not.toContain('--dport 2626');
    } finally {
      await out(1, FIX);
    }
    const rb = await rollback(inv, { to: 0 });
    expect(rb.error).toBeUndefined();
    expect(rb.plan?.undo.map((g) => g.id)).toEqual([3, 1]);
    expect(await snapshot(1)).toBe(before);
  });
});

describe('a rollback a controller left in progress', () => {
  it('is recorded as failed and never undone: the next apply does not re-apply what it was rolling back from', async () => {
    // as a controller killed mid-rollback leaves it: the current files copied aside, then nothing
    const host = only('relay1', motd({ text: 'x' })).hosts[0];
    const id = Math.max(0, ...(await readHistory(host)).generations.map((g) => g.id)) + 1;
    const dir = `/var/lib/mailprov/generations/${id}`;
    const meta = {
      id,
      kind: 'rollback',
      status: 'in-progress',
      startedAt: new Date().toISOString(),
      by: 'a controller that died',
      inventory: 'inv.ts',
      summary: ['roll back to generation 0: undo 1'],
      files: [CONF],
      undid: [1],
    };
    await out(0, `mkdir -p ${dir}/files/etc && printf 'one\\n' > ${dir}/files${CONF}`);
    await remote(0, `cat > ${dir}/meta.json`, JSON.stringify(meta));
    expect(await out(0, `cat ${CONF} 2>/dev/null || echo absent`)).toBe('absent\n');
    const [next] = await apply(only('relay1', motd({ text: 'after a dead rollback\n' })));
    expect(next.error).toBeUndefined();
    // not put back from the copy the dead rollback took before it began
    expect(await out(0, `cat ${CONF} 2>/dev/null || echo absent`)).toBe('absent\n');
    expect(next.findings.map((f) => [f.code, f.message])).toEqual([
      [
        'incomplete-generation',
        `generation ${id}, a rollback, was left incomplete (its run, a controller that died, lost its connection or stopped): recorded as failed, not undone; what it had not undone yet stays with the generations it was undoing, for the next rollback`,
      ],
    ]);
    const gen = (await readHistory(host)).generations.find((g) => g.id === id)!;
    expect([gen.status, gen.reason]).toEqual([
      'failed',
      'left incomplete: its run lost its connection or stopped mid-rollback; run the rollback again to finish it',
    ]);
  });
});

describe('the saved rules file', () => {
  const RUNTIME = [
    // a Docker-like chain, and a fail2ban-like ban, added at runtime by other tools
    'iptables -N DOCKER',
    'iptables -A DOCKER -d 172.17.0.2/32 ! -i docker0 -p tcp -m tcp --dport 80 -j ACCEPT',
    'iptables -N f2b-sshd',
    'iptables -A f2b-sshd -s 192.0.2.7/32 -j REJECT --reject-with icmp-port-unreachable',
    'iptables -A f2b-sshd -j RETURN',
    'iptables -A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd',
  ].join(' && ');
  const foreign = /DOCKER|f2b-sshd|192\.0\.2\.7/;

  it("holds mailprov's own line and none of other tools' runtime rules, after apply and after rollback", async () => {
    await out(2, RUNTIME);
    const inv = only('relay3', smtpPort({}));
    // no saved rules file before: mailprov creates it, and its rollback removes it
    expect((await remote(2, `ls ${RULES}`)).code).not.toBe(0);
    const [a] = await apply(inv);
    expect(a.error).toBeUndefined();
    const saved = await out(2, `cat ${RULES}`);
    expect(saved).toContain(`-A INPUT -p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT`);
    expect(saved).not.toMatch(foreign);
    expect(await out(2, 'iptables -S')).toMatch(foreign);
    const rb = await rollback(inv);
    expect(rb.error).toBeUndefined();
    expect((await remote(2, `ls ${RULES}`)).code).not.toBe(0);
    const live = await out(2, 'iptables -S');
    expect(live).not.toContain('--comment mailprov');
    expect(live).toContain('-A f2b-sshd -s 192.0.2.7/32 -j REJECT');

    // a saved file that was there: mailprov adds its line, and its rollback leaves the file as it was
    const own =
      '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 2727 -j ACCEPT\nCOMMIT\n';
    await remote(2, `cat > ${RULES}`, own);
    const [b] = await apply(inv);
    expect(b.error).toBeUndefined();
    const saved2 = await out(2, `cat ${RULES}`);
    expect(saved2).toContain('--dport 25 -m comment --comment mailprov -j ACCEPT');
    expect(saved2).toContain('--dport 2727 -j ACCEPT');
    expect(saved2).not.toMatch(foreign);
    expect((await rollback(inv)).error).toBeUndefined();
    expect(await out(2, `cat ${RULES}`)).toBe(own);
  });
});

describe('rollback --packages', () => {
  it('refuses to remove a package that a package installed since depends on, naming it, and changes nothing', async () => {
    const inv = only('relay3', sendmailPackage({}));
    const [a] = await apply(inv);
    expect(a.error).toBeUndefined();
    const gen = (await readHistory(inv.hosts[0])).generations.at(-1)!;
    // what the install brought, its dependencies too (issue 35): a rollback removes exactly that
    expect(gen.undo).toEqual([{ kind: 'packages', manager: 'apt', installed: expect.arrayContaining(['sendmail', 'sendmail-bin', 'm4']) }]);
    // a package installed by hand since, that depends on sendmail
    await out(
      2,
      [
        'd=$(mktemp -d) && mkdir "$d/DEBIAN"',
        `printf 'Package: mailprov-needs-sendmail\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: test <test@example.com>\\nDepends: sendmail\\nDescription: needs sendmail\\n' > "$d/DEBIAN/control"`,
        'dpkg-deb --build "$d" /tmp/mailprov-needs-sendmail.deb >/dev/null && dpkg -i /tmp/mailprov-needs-sendmail.deb >/dev/null && rm -rf "$d"',
      ].join(' && '),
    );
    const refusal = ', sendmail: it would also remove mailprov-needs-sendmail, which mailprov did not install';
    // the dry run says so already
    const dry = await rollback(inv, { packages: true, dryRun: true });
    expect([dry.ok, dry.error]).toEqual([false, expect.stringContaining(refusal)]);
    const rb = await rollback(inv, { packages: true });
    expect(rb.ok).toBe(false);
    expect(rb.error).toContain(refusal);
    const installed = (p: string) => out(2, `dpkg-query -W -f='\${Status}' ${p} 2>/dev/null || true`);
    expect(await installed('sendmail')).toBe('install ok installed');
    expect(await installed('mailprov-needs-sendmail')).toBe('install ok installed');
    // refused before anything changed: the generation is as it was, and no rollback was recorded
    const after = (await readHistory(inv.hosts[0])).generations.at(-1)!;
    expect([after.id, after.status]).toEqual([gen.id, 'complete']);

    // once that package is gone, the same rollback removes what mailprov installed
    await out(2, 'dpkg -r mailprov-needs-sendmail >/dev/null && rm -f /tmp/mailprov-needs-sendmail.deb');
    const again = await rollback(inv, { packages: true });
    expect(again.error).toBeUndefined();
    expect(await installed('sendmail')).not.toBe('install ok installed');
  });

  it('on the CentOS-like host (dnf, rpm): the same refusal, naming the dependent rpm', async () => {
    const inv = only('centos1', sendmailPackage({}));
    const [a] = await apply(inv);
    expect(a.error).toBeUndefined();
    expect((await readHistory(inv.hosts[0])).generations.at(-1)!.undo).toEqual([
      { kind: 'packages', manager: 'dnf', installed: ['sendmail'] },
    ]);
    const spec = [
      'Name: mailprov-needs-sendmail',
      'Version: 1.0',
      'Release: 1',
      'Summary: needs sendmail',
      'License: none',
      'BuildArch: noarch',
      'Requires: sendmail',
      '%description',
      'needs sendmail',
      '%files',
      '',
    ].join('\n');
    await remote(CENTOS, 'mkdir -p /tmp/needs && cat > /tmp/needs/needs.spec', spec);
    await out(
      CENTOS,
      'rpmbuild -bb --quiet --define "_topdir /tmp/needs" /tmp/needs/needs.spec && rpm -i /tmp/needs/RPMS/noarch/mailprov-needs-sendmail-1.0-1.noarch.rpm',
    );
    const rb = await rollback(inv, { packages: true });
    expect(rb.ok).toBe(false);
    expect(rb.error).toContain(
      'refusing to remove sendmail: it would also remove mailprov-needs-sendmail-1.0-1.noarch, which mailprov did not install',
    );
    expect((await remote(CENTOS, 'rpm -q sendmail mailprov-needs-sendmail')).code).toBe(0);

    await out(CENTOS, 'rpm -e mailprov-needs-sendmail && rm -rf /tmp/needs');
    const again = await rollback(inv, { packages: true });
    expect(again.error).toBeUndefined();
    expect((await remote(CENTOS, 'rpm -q sendmail')).code).not.toBe(0);
  });
});
