// Dry runs on real hosts: read-only to the byte, truthful (the plan equals what apply then does),
// drift shows up as a diff back to the desired state, secrets stay masked, exit codes gate CI.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { relaySettings } from '../../src/sandbox/index.ts';
import { apply, releasesUnderTest, remote as remoteExec, resourceIds, sandboxInventory, useSandbox, writeInventory } from './helpers.ts';

// the release under test: Debian 13 in npm test, Debian 12 in npm run test:matrix
const release = releasesUnderTest()[0];
const sandbox = useSandbox(1, { releases: { relay1: release } });
const OS_NAME = { 12: 'Debian GNU/Linux 12 (bookworm)', 13: 'Debian GNU/Linux 13 (trixie)' }[release];

const settings = () => relaySettings(sandbox.state);
const inventory = () => sandboxInventory(sandbox.state, [{ on: 'relays', use: sendmailSmartHost(settings()) }]);

const remote = async (cmd: string) => (await remoteExec(sandbox.state, 0, cmd)).stdout;

/** Everything a dry run could touch: every file written on the host (its overlay's upper layer and
 * its tmpfs /run and /tmp), the package database, the firewall, the processes. */
async function snapshot(): Promise<string> {
  const upper = join(sandbox.state.hosts[0].dir, 'upper');
  const files = spawnSync('sh', ['-c', 'cd "$1" && find . -printf "%p %s %m %u %T@\\n" | sort', 'sh', upper]).stdout.toString();
  // PAM rewrites /run/motd.dynamic (and so touches /run) at every SSH login, this snapshot's own included
  const inside = await remote(
    'find /run /tmp -mindepth 1 -xdev ! -path /run/motd.dynamic -printf "%p %s %m %T@\\n" 2>/dev/null | sort; md5sum /var/lib/dpkg/status; iptables-save | grep -v "^#" | sed "s/\\[[0-9:]*\\]//"; ps -e -o pid=,comm=',
  );
  // the snapshot's own processes (its SSH session and pipeline) come and go; every other one must stay
  // (OpenSSH 10, Debian 13's, names a session's processes sshd-session; Debian 12's, sshd)
  const own = /\s(ps|sh|bash|sshd|sshd-session|socat|find|sort|md5sum|grep|sed|iptables-save|xtables-nft-mu)$/;
  return (
    files +
    inside
      .split('\n')
      .filter((l) => !own.test(l))
      .join('\n')
  );
}

function cli(args: string[]) {
  const inv = writeInventory(join(sandbox.state.dir, 'inventory.ts'), sandbox.state, {
    password: `secret.file(${JSON.stringify(sandbox.state.smartHost.passwordFile)})`,
    settings: "listen: ['0.0.0.0'], relayFrom: ['192.168'], verify: { recipient: 'ops@example.com' }",
  });
  const r = spawnSync(process.execPath, [resolve(__dirname, '../../bin/mailprov.mjs'), ...args, inv], {
    encoding: 'utf8',
    cwd: sandbox.state.dir,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('plan (dry run)', () => {
  it('shows the whole plan for a host without sendmail, and changes nothing on it', async () => {
    const before = await snapshot();
    const [r] = await apply(inventory(), true);
    expect(r.status).toBe('pending');
    expect(r.os).toContain(OS_NAME);
    const mc = r.changes.find((c) => c.resourceId === 'file:/etc/mail/sendmail.mc');
    expect(mc?.diff).toMatchObject({ before: null });
    expect(mc?.diff?.after).toContain("define(`SMART_HOST', `[smtp.sandbox.test]')dnl");
    const authinfo = r.changes.find((c) => c.resourceId === 'file:/etc/mail/authinfo');
    expect(authinfo?.diff?.after).toMatch(/"P:\*{8}"/);
    expect(resourceIds(r)).toContain('command:make in /etc/mail');
    expect(r.changes.find((c) => c.resourceId === 'command:make in /etc/mail')?.reason).toBe('because /etc/mail/sendmail.mc changes');
    expect(await snapshot()).toBe(before);
  });

  it('is truthful: the plan lists exactly the changes the following apply makes', async () => {
    const [planned] = await apply(inventory(), true);
    const [applied] = await apply(inventory());
    expect(applied.error).toBeUndefined();
    expect(resourceIds(applied)).toEqual(resourceIds(planned));
    expect(applied.changes.map((c) => c.summary)).toEqual(planned.changes.map((c) => c.summary));
  });

  it('exits 0 with nothing to do, and shows drift as a diff back to the desired state with exit 2', async () => {
    const clean = cli(['plan']);
    expect(clean.stderr).toBe('');
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/0 changes pending on 0 hosts, 1 host unchanged/);

    await remote("sed -i 's/^Connect:192.168.*$/Connect:10 RELAY/' /etc/mail/access && chmod 0600 /etc/mail/access");
    const before = await snapshot();
    const drift = cli(['plan']);
    expect(drift.code).toBe(2);
    expect(drift.stdout).toContain('update /etc/mail/access (content and mode 0600 -> 0644 differ)');
    expect(drift.stdout).toMatch(/^\s+-Connect:10 RELAY$/m);
    expect(drift.stdout).toMatch(/^\s+\+Connect:192\.168\s+RELAY$/m);
    // two reasons: the text changes, and the .db no longer holds what the hand-edited text says
    expect(drift.stdout).toContain(
      'run makemap access (because /etc/mail/access changes; /etc/mail/access.db does not hold what /etc/mail/access says (rebuilt by hand, or a makemap that failed))',
    );
    expect(await snapshot()).toBe(before);

    const json = JSON.parse(cli(['plan', '--json']).stdout);
    expect(json.summary).toMatchObject({ hosts: 1, changed: 1 });
    expect(json.hosts[0].changes[0].diff.unified).toContain('+Connect:192.168');

    expect(cli(['apply']).code).toBe(0);
    expect(cli(['plan']).code).toBe(0);
  });

  it('masks the password in diffs and JSON but still shows that it changed', async () => {
    await remote('sed -i \'s/"P:[^"]*"/"P:old-password"/\' /etc/mail/authinfo');
    const r = cli(['plan', '--json']);
    expect(r.code).toBe(2);
    const text = r.stdout + r.stderr;
    expect(text).not.toContain('old-password');
    expect(text).not.toContain(readFileSync(sandbox.state.smartHost.passwordFile, 'utf8').trim());
    const doc = JSON.parse(r.stdout);
    const change = doc.hosts[0].changes.find((c: { resource: string }) => c.resource === 'file:/etc/mail/authinfo');
    expect(change.summary).toBe('update /etc/mail/authinfo (a secret value changed)');
    expect(change.diff.secretChanged).toBe(true);
    const human = cli(['plan']);
    expect(human.stdout).toContain('a secret value changed (masked)');
    expect(human.stdout).not.toContain('old-password');
  });
});
