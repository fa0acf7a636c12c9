// The sendmail smart-host playbook end to end on real sandbox hosts: real apt, sendmail, m4,
// makemap and iptables inside each host, and the stand-in smart host with STARTTLS and AUTH.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../../src/engine/index.ts';
import { resultsToJson } from '../../src/report/json.ts';
import { readMessages, relaySettings, waitForMessage } from '../../src/sandbox/index.ts';
import { secret } from '../../src/secrets/index.ts';
import { renderMc, sendmailSettingsSchema, type SendmailSettingsInput } from '../../playbooks/sendmail-smarthost/index.ts';
import { apply, remote as remoteExec, resourceIds, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(2, { releases: { relay2: 12 } });

// relay1 is Debian 13 (trixie, sendmail 8.18), relay2 Debian 12 (bookworm, sendmail 8.17): every
// test below that runs on both hosts proves the relay on both releases
const settings = (over: Partial<SendmailSettingsInput> = {}) => relaySettings(sandbox.state, over);

const inventory = (s: SendmailSettingsInput, only?: string[]) =>
  sandboxInventory(sandbox.state, [{ on: 'relays', use: sendmailSmartHost(s) }], {}, only);

const remote = (host: number, cmd: string, stdin?: string) => remoteExec(sandbox.state, host, cmd, stdin);

const sendmailPid = async (host: number) => (await remote(host, 'head -n1 /run/sendmail/mta/sendmail.pid')).stdout.trim();

describe('sendmail smart-host playbook', () => {
  it('turns fresh hosts into relays that send through the smart host with AUTH over STARTTLS', async () => {
    expect((await remote(0, '. /etc/os-release; echo $VERSION_CODENAME')).stdout.trim()).toBe('trixie');
    expect((await remote(1, '. /etc/os-release; echo $VERSION_CODENAME')).stdout.trim()).toBe('bookworm');
    const results = await apply(inventory(settings()));
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.status).toBe('changed');
      // iptables decides on both hosts: iptables-persistent, its own transaction, keeps the rule at boot
      expect(resourceIds(r)).toEqual([
        'packages:sendmail',
        'packages:iptables-persistent',
        'file:/etc/mail/sendmail.mc',
        'file:/etc/mail/authinfo',
        'command:makemap authinfo',
        'file:/etc/mail/access',
        'command:makemap access',
        'command:make in /etc/mail',
        'firewall:INPUT -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT',
        'service:sendmail',
      ]);
    }
    // the verification message of each host reached the stand-in, authenticated, over TLS
    for (const h of sandbox.state.hosts) {
      const m = await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === `mailprov verification from ${h.name}`, 10_000);
      expect(m).toMatchObject({ authUser: sandbox.state.smartHost.user, tls: true, rcptTo: ['ops@example.com'] });
    }
    // and ordinary mail submitted on the host goes MSP -> daemon -> smart host
    const sub = await remote(
      0,
      '/usr/sbin/sendmail -oi ops@example.com',
      'From: root\nTo: ops@example.com\nSubject: submitted on relay1\n\nhello\n',
    );
    expect(sub.code).toBe(0);
    const m = await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === 'submitted on relay1', 30_000);
    expect(m).toMatchObject({ authUser: sandbox.state.smartHost.user, tls: true });
    // the pieces are where SENDMAIL.md says they belong
    expect((await remote(0, 'stat -c "%a %U:%G" /etc/mail/authinfo /etc/mail/authinfo.db')).stdout).toBe(
      '600 root:root\n640 smmta:smmsp\n',
    );
    // port 25 opens to relayFrom's network (192.168) only, live and saved
    const rule = '-A INPUT -s 192.168.0.0/16 -p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT';
    expect((await remote(0, 'iptables -S INPUT')).stdout.split('\n')).toContain(rule);
    expect((await remote(0, 'cat /etc/iptables/rules.v4')).stdout.split('\n')).toContain(rule);
  });

  it('changes nothing and does not restart on the second apply', async () => {
    const pid = await sendmailPid(0);
    const results = await apply(inventory(settings()));
    for (const r of results) expect([r.status, r.changes]).toEqual(['unchanged', []]);
    expect(await sendmailPid(0)).toBe(pid);
  });

  it('a daemon that died (killed, its pid file left behind) reads as stopped and is started again', async () => {
    const pid = await sendmailPid(0);
    // SIGKILL: sendmail cannot remove its pid file; tini, the host's init, reaps it
    await remote(0, `kill -KILL ${pid}; while [ -e /proc/${pid} ]; do sleep 0.1; done`);
    expect(await sendmailPid(0)).toBe(pid);
    // Debian's init script says so, but exits 0 all the same: its status is not a signal
    const status = await remote(0, '/etc/init.d/sendmail status');
    expect([status.code, status.stdout]).toEqual([0, expect.stringContaining('MTA: is not running')]);
    const [planned] = await apply(inventory(settings(), ['relay1']), true);
    expect(planned.changes.map((c) => [c.resourceId, c.reason])).toEqual([['service:sendmail', 'not running']]);
    const [applied] = await apply(inventory(settings(), ['relay1']));
    expect([applied.status, resourceIds(applied)]).toEqual(['changed', ['service:sendmail']]);
    const started = await sendmailPid(0);
    expect(started).not.toBe(pid);
    expect((await remote(0, `test -d /proc/${started}`)).code).toBe(0);
  });

  it('a start that leaves no daemon fails verification as not running, though the init script says started and running', async () => {
    const pid = await sendmailPid(0);
    await remote(0, `kill -KILL ${pid}; while [ -e /proc/${pid} ]; do sleep 0.1; done`);
    // an init script whose start starts nothing and whose status says running (Debian's says so of a
    // stopped sendmail): only the daemon's own pid file tells the truth
    await remote(
      0,
      "mv /etc/init.d/sendmail /etc/init.d/sendmail.real && printf '%s\\n' '#!/bin/sh' 'case $1 in start|restart|status) exit 0 ;; esac' 'exec /etc/init.d/sendmail.real \"$@\"' > /etc/init.d/sendmail && chmod 755 /etc/init.d/sendmail",
    );
    try {
      const [r] = await apply(inventory(settings(), ['relay1']));
      expect(resourceIds(r)).toEqual(['service:sendmail']);
      expect(r.status).not.toBe('changed');
      expect(r.error).toMatch(/verification failed: sendmail is not running after the restart/);
    } finally {
      await remote(0, 'mv -f /etc/init.d/sendmail.real /etc/init.d/sendmail');
    }
    const [again] = await apply(inventory(settings(), ['relay1']));
    expect([again.status, resourceIds(again)]).toEqual(['changed', ['service:sendmail']]);
    expect((await remote(0, `test -d /proc/${await sendmailPid(0)}`)).code).toBe(0);
  });

  it('a changed password updates only authinfo and its map; refused by the smart host, the host rolls back by itself', async () => {
    const pid = await sendmailPid(0);
    const good = readFileSync(sandbox.state.smartHost.passwordFile, 'utf8').trim();
    const authinfoBefore = (await remote(0, 'sha256sum /etc/mail/authinfo')).stdout;
    const wrong = join(sandbox.state.dir, 'wrong-password');
    writeFileSync(wrong, 'Wr0ng"pass$word\n', { mode: 0o600 });
    const runDir = join(sandbox.state.dir, 'runs');
    const bad = await runHosts(
      inventory(settings({ auth: { user: sandbox.state.smartHost.user, password: secret.file(wrong) } }), ['relay1']).hosts,
      { dryRun: false, forks: 1, emit: () => {}, runDir },
    );
    const r = bad[0];
    expect(resourceIds(r)).toEqual(['file:/etc/mail/authinfo', 'command:makemap authinfo']);
    expect(r.changes[0].diff?.secretChanged).toBe(true);
    // the stand-in refuses the wrong password: the host fails with the server's answer as evidence,
    // and goes back to the authinfo that worked, with no restart
    expect(r.status).toBe('rolled-back');
    expect(r.error).toMatch(/535/);
    // the journal kept authinfo.db too (makemap's own file): it comes back with its text
    expect([...(r.rolledBack?.restored ?? [])].sort()).toEqual(['/etc/mail/authinfo', '/etc/mail/authinfo.db']);
    expect((await remote(0, 'sha256sum /etc/mail/authinfo')).stdout).toBe(authinfoBefore);
    const json = resultsToJson('apply', bad);
    for (const text of [json, r.error ?? '', readFileSync(join(runDir, 'relay1.log'), 'utf8')]) {
      expect(text).not.toContain('Wr0ng');
      expect(text).not.toContain(good);
    }
    expect(await sendmailPid(0)).toBe(pid);
    const again = await apply(inventory(settings(), ['relay1']));
    expect([again[0].status, again[0].changes]).toEqual(['unchanged', []]);
    // the journal tells the story
    const metas = (await remote(0, 'cat /var/lib/mailprov/generations/*/meta.json')).stdout;
    expect(metas).toContain('"status": "rolled-back"');
    expect(metas).not.toContain('Wr0ng');
  });

  it('refuses a user mc with the one-line dnl mistake by lint, and when forced, by validation before any restart', async () => {
    const parsed = sendmailSettingsSchema.parse(settings());
    const broken = renderMc(parsed, { family: 'debian', major: 12 }).replace(
      /^define\(`confPRIVACY_FLAGS'.*$/m,
      "define(`confPRIVACY_FLAGS',dnl`needmailhelo,needexpnhelo,needvrfyhelo,restrictqrun,restrictexpand,nobodyreturn,authwarnings,goaway')dnl",
    );
    expect(broken).toContain("',dnl`needmailhelo");
    const before = (await remote(1, 'sha256sum /etc/mail/sendmail.mc /etc/mail/sendmail.cf')).stdout;
    const pid = await sendmailPid(1);

    const [linted] = await apply(inventory(settings({ mc: { text: broken } }), ['relay2']));
    expect(linted.status).toBe('failed');
    expect(linted.error).toMatch(/lint found .*dnl-in-arguments/s);
    expect(linted.applied).toBe(0);

    const [forced] = await apply(inventory(settings({ mc: { text: broken }, force: true }), ['relay2']));
    // the candidate never replaced the mc, so the automatic rollback has nothing to restore
    expect(forced.status).toBe('rolled-back');
    expect(forced.rolledBack?.restored).toEqual([]);
    expect(forced.error).toMatch(/m4 rejects the new sendmail\.mc/);
    expect(forced.error).toMatch(/end of file in argument list|EOF in argument list/i);
    expect((await remote(1, 'sha256sum /etc/mail/sendmail.mc /etc/mail/sendmail.cf')).stdout).toBe(before);
    expect((await remote(1, 'ls /etc/mail | grep -c mailprov || true')).stdout.trim()).toBe('0');
    expect(await sendmailPid(1)).toBe(pid);
    // and the host still relays
    const count = (await readMessages(sandbox.state.smartHost.storeDir)).length;
    const [again] = await apply({ ...inventory(settings(), ['relay2']) });
    expect(again.status).toBe('unchanged');
    const v = await remote(1, '/usr/sbin/sendmail -Am -odi -oi ops@example.com', 'Subject: still relaying\n\nok\n');
    expect(v.code).toBe(0);
    await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === 'still relaying', 10_000);
    expect((await readMessages(sandbox.state.smartHost.storeDir)).length).toBe(count + 1);
  });
});
