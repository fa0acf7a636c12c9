// The package step on real sandbox hosts (issue 35; issue 34, item 3): the plan shows the package
// manager's own transaction, an install that would remove a package nobody named (ufw, which
// iptables-persistent breaks) is refused on that host before any change while the others apply,
// the host's MTA (exim4) is replaced as the sendmail playbook declares and put back, running, by
// `rollback --to 0 --packages`, an upgrade the install pulls in is shown, a dpkg lock held by
// another process is waited for with its holder named, and a dpkg interrupted by hand is finished
// first. The CentOS-like host shows dnf's transaction the same way.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import { definePlaybook } from '../../src/playbook/index.ts';
import { packages } from '../../src/resources/index.ts';
import { installCommand } from '../../src/resources/packages.ts';
import { type DebianRelease, relaySettings, sandboxUp, type SandboxState, type UpOptions } from '../../src/sandbox/index.ts';
import { apply, byHost, casesUnderTest, remote as remoteExec, sandboxInventory, stopSandbox } from './helpers.ts';

/** The Debian releases these tests run on, each in a sandbox of its own with five hosts (12: `npm run test:matrix`). */
const DEBIAN: { release: string; up: Omit<UpOptions, 'dir'> & { release: DebianRelease } }[] = [
  { release: 'Debian 13', up: { count: 5, release: 13 } },
  { release: 'Debian 12', up: { count: 5, release: 12 } },
];

/** Test packages built on the host: mailprov-dep 1.0 installed, 2.0 in a repository with mailprov-want, which needs it. */
const TEST_REPO = `set -e
d=/srv/mailprov-test-repo; mkdir -p $d && cd $d
mk() {
  mkdir -p "b/$1-$2/DEBIAN"
  printf 'Package: %s\\nVersion: %s\\nArchitecture: all\\nMaintainer: mailprov tests <t@example.org>\\nDescription: mailprov test package\\n' "$1" "$2" > "b/$1-$2/DEBIAN/control"
  [ -z "$3" ] || printf 'Depends: %s\\n' "$3" >> "b/$1-$2/DEBIAN/control"
  dpkg-deb --build -Zgzip "b/$1-$2" "$1_$2_all.deb" >/dev/null
}
mk mailprov-dep 1.0 ""
mk mailprov-dep 2.0 ""
mk mailprov-want 1.0 "mailprov-dep (>= 2.0)"
dpkg -i mailprov-dep_1.0_all.deb >/dev/null
rm mailprov-dep_1.0_all.deb
for deb in *.deb; do dpkg-deb -f "$deb"; printf 'Filename: ./%s\\nSize: %s\\nSHA256: %s\\n\\n' "$deb" "$(stat -c %s "$deb")" "$(sha256sum "$deb" | cut -d' ' -f1)"; done > Packages
echo "deb [trusted=yes] file:$d ./" > /etc/apt/sources.list.d/mailprov-test.list
apt-get update -q >/dev/null 2>&1
`;

/** A package whose first configure kills dpkg (SIGKILL to its parent): dpkg left interrupted, as by a lost session. */
const INTERRUPT_DPKG = `set -e
d=/tmp/mailprov-killer; mkdir -p $d/p/DEBIAN
printf 'Package: mailprov-interrupted\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: mailprov tests <t@example.org>\\nDescription: its first configure kills dpkg\\n' > $d/p/DEBIAN/control
printf '#!/bin/sh\\nif [ ! -e /var/tmp/mailprov-killed ]; then touch /var/tmp/mailprov-killed; kill -KILL $PPID; fi\\nexit 0\\n' > $d/p/DEBIAN/postinst
chmod 755 $d/p/DEBIAN/postinst
dpkg-deb --build -Zgzip $d/p $d/k.deb >/dev/null
dpkg -i $d/k.deb >/dev/null 2>&1 || true
`;

/** Holds dpkg's frontend lock or another (fcntl, as apt, dpkg and rpm take theirs) for `seconds` in a process of its own, detached from the session. */
const holdLock = (seconds: number, path = '/var/lib/dpkg/lock-frontend') =>
  `rm -f /run/mailprov-lock-held; setsid python3 -c 'import fcntl, time
f = open("${path}", "a")
fcntl.lockf(f, fcntl.LOCK_EX)
open("/run/mailprov-lock-held", "w").close()
time.sleep(${seconds})' </dev/null >/dev/null 2>&1 &
while [ ! -e /run/mailprov-lock-held ]; do sleep 0.1; done`;

const want = definePlaybook({
  name: 'want',
  settings: z.object({ names: z.array(z.string()), lockWaitSeconds: z.number().optional() }).strict(),
  build: ({ names, lockWaitSeconds }) => ({ resources: [packages({ names, lockWaitSeconds })] }),
});

describe.each(casesUnderTest(DEBIAN, (d) => d.up.release))('the package step on $release', ({ up }) => {
  let state: SandboxState;
  const UFW = 0;
  const PLAIN = 1;
  // 2 and 4: the MTAs below
  const SPARE = 3;
  beforeAll(async () => {
    state = await sandboxUp({ ...up, dir: mkdtempSync(join(tmpdir(), 'mailprov-it-pkg-')) });
  });
  afterAll(async () => {
    await stopSandbox(state);
  });
  const remote = (host: number, cmd: string) => remoteExec(state, host, cmd);
  const out = async (host: number, cmd: string) => {
    const r = await remote(host, cmd);
    expect(r.code, `${cmd}\n${r.stdout}${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const name = (i: number) => state.hosts[i].name;

  // ufw installed but not enabled: iptables decides on this host, so iptables-persistent is planned
  // for the rule's persistence, and its install would remove ufw (ufw breaks it). (Where ufw is
  // active, port 25 is opened with ufw itself and iptables-persistent is never planned.)
  it('a package step never removes a package it was not told to: ufw is refused on its host, before any change, and the other host applies', async () => {
    await out(UFW, 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null && ufw allow 22/tcp >/dev/null');
    const rulesBefore = await out(UFW, 'iptables -S');
    const inv = sandboxInventory(state, [{ on: 'relays', use: sendmailSmartHost(relaySettings(state)) }], {}, [name(UFW), name(PLAIN)]);

    const plan = byHost(await apply(inv, true));
    expect(plan[name(UFW)].status).toBe('failed');
    expect(plan[name(UFW)].error).toContain(
      'refusing to install: installing iptables-persistent would remove ufw, which nobody asked to remove; nothing was changed on this host',
    );
    expect(plan[name(UFW)].error).toMatch(/remove ufw \S+: ufw breaks (netfilter|iptables)-persistent/);
    // the host that needs no removal: its whole transaction in the plan
    const [pkg, persistent] = plan[name(PLAIN)].changes;
    expect(pkg.summary).toBe('install sendmail, sendmail-cf, libsasl2-modules (apt)');
    expect(pkg.details?.[0]).toMatch(/^install .*, sendmail-bin \S+/);
    expect(pkg.details).not.toContainEqual(expect.stringMatching(/^remove/));
    expect(pkg.details).toContainEqual(expect.stringMatching(/^recommended packages not installed/));
    expect(persistent.summary).toBe('install iptables-persistent (apt)');
    expect(persistent.details?.[0]).toMatch(/^install .*netfilter-persistent \S+/);
    expect(persistent.details).not.toContainEqual(expect.stringMatching(/^remove/));

    const applied = byHost(await apply(inv));
    expect(applied[name(UFW)].status).toBe('failed');
    expect(applied[name(UFW)].applied).toBe(0);
    expect(applied[name(UFW)].error).toMatch(/would remove ufw/);
    expect(applied[name(PLAIN)].status).toBe('changed');
    // nothing changed on the refused host: ufw installed and active, no sendmail, no generation, same rules
    expect(await out(UFW, "dpkg-query -W -f='${db:Status-Abbrev}' ufw")).toBe('ii ');
    expect(await out(UFW, 'ufw status')).toMatch(/^Status: inactive/);
    expect((await remote(UFW, "dpkg-query -W -f='${db:Status-Abbrev}' sendmail-bin iptables-persistent 2>/dev/null")).stdout).not.toMatch(
      /ii/,
    );
    expect((await remote(UFW, 'ls /var/lib/mailprov/generations 2>/dev/null')).stdout.trim()).toBe('');
    expect(await out(UFW, 'iptables -S')).toBe(rulesBefore);

    // the install checks again itself: run as planned for a host without the conflict (a repository
    // that changed after the plan), it refuses before apt touches anything, and apt could not remove anyway
    const direct = await remote(UFW, installCommand('apt', ['iptables-persistent']));
    expect([direct.code, direct.stderr.trim()]).toEqual([
      3,
      'mailprov: refusing to install: apt would remove ufw, which nobody asked it to remove',
    ]);
    expect(await out(UFW, "dpkg-query -W -f='${db:Status-Abbrev}' ufw")).toBe('ii ');
  });

  // (the sandbox has no init system: dpkg starts no daemon, the host's admin did)
  const MTAS = [
    {
      mta: 'exim4',
      host: 2,
      install: 'apt-get install -y -q exim4-daemon-light exim4 >/dev/null 2>&1 && /etc/init.d/exim4 start',
      daemon: 'exim4',
      removed: ['exim4-daemon-light', 'exim4-config'],
      back: ['exim4-daemon-light', 'exim4'],
    },
    {
      mta: 'postfix',
      host: 4,
      install:
        "echo 'postfix postfix/main_mailer_type select Local only' | debconf-set-selections && apt-get install -y -q postfix >/dev/null 2>&1 && /etc/init.d/postfix start",
      daemon: 'master',
      removed: ['postfix'],
      back: ['postfix'],
    },
  ];
  it.each(MTAS)(
    "replaces $mta as the playbook's job: named in the plan, sendmail relays, and rollback --to 0 --packages brings $mta back, running",
    async ({ mta, host, install, daemon, removed, back }) => {
      await out(host, `export DEBIAN_FRONTEND=noninteractive; ${install}`);
      await out(host, `pgrep -x ${daemon}`);
      const inv = sandboxInventory(state, [{ on: 'relays', use: sendmailSmartHost(relaySettings(state)) }], {}, [name(host)]);

      const [plan] = await apply(inv, true);
      expect(plan.changes[0].details).toEqual(expect.arrayContaining(removed.map((p) => `remove ${p}: replaced by sendmail`)));
      expect(plan.changes[0].steps.map((s) => s.label)).toEqual([
        `stop ${mta} (replaced by sendmail)`,
        expect.stringMatching(/^install sendmail, sendmail-cf/),
      ]);
      const [applied] = await apply(inv);
      expect(applied.error).toBeUndefined();
      expect(applied.status).toBe('changed');
      expect(applied.findings.map((f) => f.message)).toContain(`removing ${removed[0]}`);
      expect((await remote(host, `pgrep -x ${daemon}`)).code).not.toBe(0);
      await out(host, "pgrep -f '^sendmail: MTA'");
      expect((await remote(host, `dpkg-query -W -f='\${db:Status-Abbrev}' ${removed[0]}`)).stdout).not.toBe('ii ');

      const rb = await rollbackHost(inv.hosts[0], { to: 0, dryRun: false, packages: true, inventoryFile: 'inv.ts', log: () => {} });
      expect(rb.error).toBeUndefined();
      expect(await out(host, `dpkg-query -W -f='\${db:Status-Abbrev}' ${back.join(' ')}`)).toBe('ii '.repeat(back.length));
      await out(host, `pgrep -x ${daemon}`);
      // what the generation installed is gone again, dependencies too, and sendmail is not running
      expect(
        (await remote(host, "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' sendmail-bin sendmail-base m4 2>/dev/null | grep ' ii'"))
          .stdout,
      ).toBe('');
      expect((await remote(host, "pgrep -f '^sendmail: MTA'")).code).not.toBe(0);
    },
  );

  it('shows an upgrade the install pulls in, waits out a dpkg lock held 20 s by another process, naming it, and fails naming it when the wait is too short', async () => {
    await out(PLAIN, TEST_REPO);
    const inv = (lockWaitSeconds?: number) =>
      sandboxInventory(state, [{ on: 'relays', use: want({ names: ['mailprov-want'], lockWaitSeconds }) }], {}, [name(PLAIN)]);
    const [plan] = await apply(inv(), true);
    expect(plan.changes[0].details).toEqual([
      'install mailprov-want 1.0',
      'upgrade mailprov-dep 1.0 -> 2.0: a dependency of the install',
      expect.any(String),
    ]);

    await out(PLAIN, holdLock(20));
    const [short] = await apply(inv(2));
    expect(short.status).toBe('rolled-back');
    expect(short.error).toMatch(/gave up after waiting 2 s for dpkg's lock, held by python3 \(pid \d+, \/var\/lib\/dpkg\/lock-frontend\)/);

    const t0 = Date.now();
    const [applied] = await apply(inv());
    expect(applied.error).toBeUndefined();
    expect(applied.status).toBe('changed');
    const messages = applied.findings.map((f) => f.message);
    expect(messages).toContainEqual(
      expect.stringMatching(/^waited \d+ s for dpkg's lock, held by python3 \(pid \d+, \/var\/lib\/dpkg\/lock-frontend\)$/),
    );
    expect(messages).toContain('upgrading mailprov-dep from 1.0 to 2.0');
    // it waited for the holder to end, not for a fixed time: the holder is gone now
    expect(Date.now() - t0).toBeGreaterThan(5000);
    expect((await remote(PLAIN, 'pgrep -f "time[.]sleep"')).code).not.toBe(0);
    expect(await out(PLAIN, "dpkg-query -W -f='${Version}' mailprov-dep")).toBe('2.0');
  });

  it('a dpkg interrupted by hand is finished first by the next apply, with the step shown in the plan', async () => {
    await out(SPARE, INTERRUPT_DPKG);
    expect(await out(SPARE, 'ls /var/lib/dpkg/updates')).not.toBe('');
    const inv = sandboxInventory(state, [{ on: 'relays', use: want({ names: ['m4'] }) }], {}, [name(SPARE)]);
    const [plan] = await apply(inv, true);
    expect(plan.changes[0].steps.map((s) => s.label)).toEqual(['dpkg --configure -a (finish the interrupted dpkg run)', 'install m4']);
    expect(plan.changes[0].reason).toBe(
      'not installed; dpkg was interrupted (The following packages are only half configured: mailprov-interrupted): dpkg --configure -a finishes it first',
    );

    const [applied] = await apply(inv);
    expect(applied.error).toBeUndefined();
    expect(applied.status).toBe('changed');
    expect(await out(SPARE, 'ls /var/lib/dpkg/updates; dpkg --audit')).toBe('');
    expect(await out(SPARE, "dpkg-query -W -f='${db:Status-Abbrev}' m4 mailprov-interrupted")).toBe('ii ii ');
  });
});

describe('the package step on the CentOS-like host (dnf)', () => {
  let state: SandboxState;
  beforeAll(async () => {
    state = await sandboxUp({ dir: mkdtempSync(join(tmpdir(), 'mailprov-it-pkg-rpm-')), count: 0, centos: 1 });
  });
  afterAll(async () => {
    await stopSandbox(state);
  });

  it("shows dnf's transaction, waits for rpm's lock naming its holder, and refuses an install that would remove a package nobody named", async () => {
    const inv = sandboxInventory(state, [{ on: 'relays', use: sendmailSmartHost(relaySettings(state)) }]);
    const [plan] = await apply(inv, true);
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, cyrus-sasl-plain (dnf)');
    expect(plan.changes[0].details).toEqual([
      expect.stringMatching(/^install cyrus-sasl-plain \S+, sendmail \S+, sendmail-cf \S+$/),
      'weak dependencies not installed',
    ]);

    // rpm's lock held by another process: waited for, its holder named
    await remoteExec(state, 0, holdLock(6, '/var/lib/rpm/.rpm.lock'));
    const [waited] = await apply(sandboxInventory(state, [{ on: 'relays', use: want({ names: ['cyrus-sasl-plain'] }) }]));
    expect(waited.error).toBeUndefined();
    expect(waited.findings.map((f) => f.message)).toContainEqual(
      expect.stringMatching(/^waited \d+ s for rpm's lock, held by python3 \(pid \d+, \/var\/lib\/rpm\/\.rpm\.lock\)$/),
    );

    // a package that conflicts with sendmail, built on the host: dnf would remove it (with --allowerasing)
    const spec = [
      'Name: mailprov-other',
      'Version: 1.0',
      'Release: 1',
      'Summary: x',
      'License: none',
      'BuildArch: noarch',
      'Conflicts: sendmail-cf',
      '%description',
      'x',
      '%files',
      '',
    ].join('\n');
    const built = await remoteExec(
      state,
      0,
      'mkdir -p /tmp/other && cat > /tmp/other/o.spec && rpmbuild -bb --quiet --define "_topdir /tmp/other" /tmp/other/o.spec && rpm -i /tmp/other/RPMS/noarch/mailprov-other-1.0-1.noarch.rpm',
      spec,
    );
    expect(built.code, built.stderr).toBe(0);
    const [refused] = await apply(inv);
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/would remove mailprov-other, which nobody asked to remove; nothing was changed on this host/);
    expect((await remoteExec(state, 0, 'rpm -q mailprov-other && ! rpm -q sendmail')).code).toBe(0);
  });
});
