// Generations and rollback on real hosts: apply A, apply B, rollback -> A again (files, firewall)
// and relaying; a rollback can be undone; a controller killed mid-apply leaves a host the next run
// repairs; two applies on one host -> one refused; --serial 1 --max-fail 0 stops a rollout.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sendmailSmartHost, type SendmailSettingsInput } from '../../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../../src/engine/index.ts';
import { readHistory, rollbackHost } from '../../src/engine/rollback-host.ts';
import { definePlaybook } from '../../src/playbook/index.ts';
import { command, file, firewallRule } from '../../src/resources/index.ts';
import { relaySettings, waitForMessage } from '../../src/sandbox/index.ts';
import { secret } from '../../src/secrets/index.ts';
import { apply, byHost, casesUnderTest, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

// relay1 to relay3 are Debian 13; relay4 is Debian 12, where the first test runs too (under `npm run test:matrix`)
const sandbox = useSandbox(4, { releases: { relay4: 12 } });

const remote = (host: number, cmd: string, stdin?: string) => remoteExec(sandbox.state, host, cmd, stdin);

/** Waits for an event on a host, asking again every 100 ms; the deadline is only for a hang. */
async function until(what: string, happened: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await happened())) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within 120 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const settings = (over: Partial<SendmailSettingsInput> = {}) => relaySettings(sandbox.state, { openSmtpPort: false, ...over });
const sendmailOn = (host: string, s: SendmailSettingsInput) =>
  sandboxInventory(sandbox.state, [{ on: host, use: sendmailSmartHost(s) }], {}, [host]);

/** What rollback must give back: the managed files, the firewall, and the derived cf minus its build stamp. */
const snapshot = async (host: number) =>
  (
    await remote(
      host,
      'cd /etc/mail && sha256sum sendmail.mc authinfo access; ls /etc/iptables/rules.v4 2>&1; iptables -S INPUT; grep -v "^#" sendmail.cf | sha256sum',
    )
  ).stdout;

const SMTP_MARKED = '-p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT';

describe('rollback', () => {
  it.each(
    casesUnderTest(
      [
        ['relay1', 13, 0],
        ['relay4', 12, 3],
      ] as const,
      ([, release]) => release,
    ),
  )(
    'apply A, apply B, rollback: the host is back to A and relaying; the rollback itself can be undone (%s, Debian %s)',
    async (name, _release, i) => {
      // a rule that existed before, and a host that already persists its rules (iptables-persistent)
      await remote(
        i,
        'iptables -A INPUT -p tcp -m tcp --dport 2525 -j ACCEPT && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iptables-persistent',
      );
      const [a] = await apply(sendmailOn(name, settings()));
      expect(a.error).toBeUndefined();
      const afterA = await snapshot(i);
      const [b] = await apply(sendmailOn(name, settings({ relayFrom: ['10.0.0'], localDomain: `${name}.lan`, openSmtpPort: true })));
      expect(b.error).toBeUndefined();
      const afterB = await snapshot(i);
      expect(afterB).not.toBe(afterA);
      // B opens port 25 to its relayFrom (10.0.0) only
      expect(afterB.split('\n')).toContain(`-A INPUT -s 10.0.0.0/24 ${SMTP_MARKED}`);

      const host = sendmailOn(name, settings()).hosts[0];
      const history = (await readHistory(host)).generations;
      expect(history.map((g) => [g.id, g.kind, g.status])).toEqual([
        [1, 'apply', 'complete'],
        [2, 'apply', 'complete'],
      ]);
      expect(history[1].undo).toEqual([
        {
          kind: 'iptables-rule',
          chain: 'INPUT',
          rule: '-s 10.0.0.0/24 -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT',
          added: true,
          persistFile: '/etc/iptables/rules.v4',
          // iptables-persistent saved one: the undo takes mailprov's line out of it, never the file
          createdFile: false,
        },
      ]);

      // the dry run shows the way back as diffs and changes nothing
      const log: string[] = [];
      const dry = await rollbackHost(host, { dryRun: true, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
      expect(dry.ok).toBe(true);
      expect(dry.plan?.target).toBe(1);
      // make's outputs too: the journal keeps them and puts them back, never rebuilt from the mc
      expect(dry.plan?.diffs.map((d) => d.path).sort()).toEqual([
        '/etc/mail/Makefile',
        '/etc/mail/access',
        '/etc/mail/access.db',
        '/etc/mail/databases',
        '/etc/mail/sendmail.cf',
        '/etc/mail/sendmail.mc',
      ]);
      expect(dry.plan?.diffs.find((d) => d.path === '/etc/mail/access.db')?.after).toMatch(
        /^\(binary, \d+ bytes, sha256 [0-9a-f]{16}\)\n$/,
      );
      // the saved rules are not put back whole: the rule mailprov added is deleted and the rules saved again
      expect(dry.plan?.actions).toEqual([
        '- iptables rule -A INPUT -s 10.0.0.0/24 -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT',
      ]);
      expect(await snapshot(i)).toBe(afterB);

      const rb = await rollbackHost(host, { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
      expect(rb.error).toBeUndefined();
      expect(rb.generation).toBe(3);
      expect(await snapshot(i)).toBe(afterA);
      expect((await remote(i, 'iptables -S INPUT')).stdout).toContain('--dport 2525 -j ACCEPT');
      // relaying again with A's configuration
      const sent = await remote(i, '/usr/sbin/sendmail -Am -odi -oi ops@example.com', `Subject: after rollback on ${name}\n\nok\n`);
      expect(sent.code).toBe(0);
      await waitForMessage(sandbox.state.smartHost.storeDir, (m) => m.subject === `after rollback on ${name}`, 10_000);
      // and the apply of A has nothing to do
      const [again] = await apply(sendmailOn(name, settings()));
      expect([again.status, again.changes]).toEqual(['unchanged', []]);

      // undo the rollback: back to B
      const undo = await rollbackHost(host, { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: () => {} });
      expect(undo.error).toBeUndefined();
      expect(await snapshot(i)).toBe(afterB);
      // the story as recorded on the host: 2 was undone by 3, and 3 by 4
      expect((await readHistory(host)).generations.map((g) => [g.id, g.kind, g.status, g.reason ?? ''])).toEqual([
        [1, 'apply', 'complete', ''],
        [2, 'apply', 'rolled-back', 'undone by generation 3'],
        [3, 'rollback', 'rolled-back', 'undone by generation 4'],
        [4, 'rollback', 'complete', ''],
      ]);
    },
  );

  it('apply, apply with a narrower source, rollback, rollback --to 0: nothing of the second apply comes back (relay3, iptables)', async () => {
    // the /24 rule, then the /32 rule in its place and a file of its own; the port is 2500, no MTA needed
    const port = definePlaybook({
      name: 'port',
      settings: z.object({ sources: z.array(z.string()), office: z.boolean() }).strict(),
      build: ({ sources, office }) => ({
        resources: [
          firewallRule({
            rule: '-p tcp -m state --state NEW -m tcp --dport 2500 -j ACCEPT',
            open: { proto: 'tcp', port: 2500, sources: { ipv4: sources, ipv6: [] } },
          }),
          ...(office ? [file({ path: '/etc/mailprov-office', content: 'office\n' })] : []),
        ],
      }),
    });
    const inv = (sources: string[], office: boolean) =>
      sandboxInventory(sandbox.state, [{ on: 'relay3', use: port({ sources, office }) }], {}, ['relay3']);
    const state = async () =>
      (
        await remote(
          2,
          'iptables -S INPUT | grep -e 2500 || true; cat /etc/iptables/rules.v4 2>&1 | grep -e 2500; ls /etc/mailprov-office 2>&1',
        )
      ).stdout;
    const before = await state();
    const host = inv([], false).hosts[0];
    const rollback = async (to?: number) => {
      const r = await rollbackHost(host, { to, dryRun: false, packages: false, inventoryFile: 'inv.ts', log: () => {} });
      expect(r.error).toBeUndefined();
      return r;
    };
    const rule = (net: string) =>
      `-A INPUT -s ${net} -p tcp -m state --state NEW -m tcp --dport 2500 -m comment --comment mailprov -j ACCEPT`;

    const [a] = await apply(inv(['10.0.0.0/24'], false));
    expect(a.error).toBeUndefined();
    const afterA = await state();
    expect(afterA).toContain(rule('10.0.0.0/24'));
    const [b] = await apply(inv(['10.0.0.7'], true));
    expect(b.error).toBeUndefined();
    expect(await state()).toContain(rule('10.0.0.7/32'));
    expect(await state()).not.toContain('10.0.0.0/24');
    await rollback();
    expect(await state()).toBe(afterA);

    const back = await rollback(0);

    // the /32 rule and the file stay gone: the rollback of the second apply is left as it is, with it
    expect(await state()).toBe(before);
    expect(back.plan?.closed.map((g) => g.id)).toEqual([back.generation! - 1]);
    expect(before).not.toContain('2500 -m comment');
  });

  const slow = definePlaybook({
    name: 'slow',
    settings: z.object({ motd: z.string(), seconds: z.number() }).strict(),
    build: ({ motd, seconds }) => ({
      resources: [
        file({ path: '/etc/motd', content: `${motd}\n` }),
        command({ name: 'slow step', run: `sleep ${seconds}`, onChangeOf: ['file:/etc/motd'] }),
      ],
    }),
  });

  it('a controller killed mid-apply leaves an incomplete generation that the next run rolls back first', async () => {
    await apply(sandboxInventory(sandbox.state, [{ on: 'relay2', use: slow({ motd: 'first', seconds: 0 }) }], {}, ['relay2']));
    const inv = join(sandbox.state.dir, 'slow-inventory.ts');
    writeFileSync(
      inv,
      `import { defineInventory, file, command, definePlaybook, z } from 'mailprov';
       const slow = definePlaybook({ name: 'slow', settings: z.object({}).strict(), build: () => ({ resources: [
         file({ path: '/etc/motd', content: 'second\\n' }),
         command({ name: 'slow step', run: 'sleep 15', onChangeOf: ['file:/etc/motd'] }) ] }) });
       export default defineInventory({
         defaults: { privateKey: ${JSON.stringify(sandbox.state.privateKey)}, knownHosts: ${JSON.stringify(sandbox.state.knownHosts)} },
         hosts: { relay2: { address: '127.0.0.1', port: ${sandbox.state.hosts[1].port} } },
         playbooks: [{ use: slow({}) }],
       });\n`,
    );
    const child = spawn(process.execPath, [resolve(__dirname, '../../bin/mailprov.mjs'), 'apply', inv], {
      cwd: resolve(__dirname, '../..'),
      stdio: 'ignore',
    });
    // wait until the new motd is written (the slow step comes next), then kill the controller
    await until('the new motd written on relay2', async () => (await remote(1, 'cat /etc/motd')).stdout === 'second\n');
    expect(child.exitCode).toBeNull(); // still running: killed mid-apply, not finished or failed
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const host = sandboxInventory(sandbox.state, [], {}, ['relay2']).hosts[0];
    expect((await readHistory(host)).generations.at(-1)?.status).toBe('in-progress');

    const [next] = await apply(
      sandboxInventory(sandbox.state, [{ on: 'relay2', use: slow({ motd: 'first', seconds: 0 }) }], {}, ['relay2']),
    );
    expect(next.findings.map((f) => f.code)).toContain('incomplete-generation');
    expect(next.error).toBeUndefined();
    // the incomplete generation was undone (motd back to "first"), so there is nothing left to do
    expect(next.status).toBe('unchanged');
    expect((await remote(1, 'cat /etc/motd')).stdout).toBe('first\n');
    expect((await readHistory(host)).generations.at(-1)?.status).toBe('rolled-back');
  });

  it('refuses a second concurrent apply on the same host, naming the holder', async () => {
    // the first run's step waits for a gate the test opens: it holds the lock for as long as the test
    // needs, however slow the machine, and the second run starts only once the first is inside its apply
    const gate = '/run/mailprov-test-gate';
    const gated = definePlaybook({
      name: 'gated',
      settings: z.object({ motd: z.string(), wait: z.boolean() }).strict(),
      build: ({ motd, wait }) => ({
        resources: [
          file({ path: '/etc/motd', content: `${motd}\n` }),
          command({
            name: 'gated step',
            // only the first run waits: a second one let through (no lock) would end, and fail the test at once
            run: wait ? `touch ${gate}.waiting; while [ ! -e ${gate}.open ]; do sleep 0.05; done` : 'true',
            onChangeOf: ['file:/etc/motd'],
          }),
        ],
      }),
    });
    await remote(1, `rm -f ${gate}.waiting ${gate}.open; echo before > /etc/motd`);
    const inv = (motd: string, wait: boolean) =>
      sandboxInventory(sandbox.state, [{ on: 'relay2', use: gated({ motd, wait }) }], {}, ['relay2']);
    const first = apply(inv('one', true));
    try {
      await until('the first apply inside its gated step', async () => (await remote(1, `test -e ${gate}.waiting`)).code === 0);
      const [two] = await apply(inv('two', false));
      expect(two.status).toBe('failed');
      expect(two.error).toMatch(/another mailprov run holds the host's lock \(.*pid \d+ since/);
    } finally {
      await remote(1, `touch ${gate}.open`);
    }
    const [one] = await first;
    expect(one.status).toBe('changed');
    expect((await remote(1, 'cat /etc/motd')).stdout).toBe('one\n');
    await remote(1, `rm -f ${gate}.waiting ${gate}.open`);
  });

  it("an apply reads the host's facts under its lock, taken in the same round trip; a plan takes none", async () => {
    // the command's guard is a fact: it says whether the lock was free while the facts were read
    const probe = definePlaybook({
      name: 'lock-probe',
      settings: z.object({}).strict(),
      build: () => ({
        resources: [
          command({ name: 'lock held', run: 'true', unless: '[ ! -e /var/lib/mailprov/lock ] || flock -n /var/lib/mailprov/lock true' }),
        ],
      }),
    });
    const inv = sandboxInventory(sandbox.state, [{ on: 'relay2', use: probe({}) }], {}, ['relay2']);
    const [planned] = await apply(inv, true);
    expect([planned.status, planned.changes]).toEqual(['unchanged', []]);
    const [applied] = await apply(inv);
    expect(applied.changes.map((c) => [c.resourceId, c.reason])).toEqual([['command:lock held', expect.stringContaining('check failed')]]);
    expect(applied.status).toBe('changed');
    // and the lock is free again once the run is over
    expect((await remote(1, 'flock -n /var/lib/mailprov/lock true')).code).toBe(0);
  });

  it('a firewall change that cuts off new SSH connections is reverted by the host itself, and the host rolled back', async () => {
    const lockout = definePlaybook({
      name: 'lockout',
      settings: z.object({}).strict(),
      build: () => ({ resources: [firewallRule({ rule: '-p tcp -m tcp --dport 22 -m state --state NEW -j DROP' })] }),
    });
    const inv = sandboxInventory(sandbox.state, [{ on: 'relay3', use: lockout({}) }], {}, ['relay3']);
    const [r] = await runHosts(inv.hosts, { dryRun: false, forks: 1, emit: () => {}, firewallConfirmSeconds: 2 });
    expect(r.status).toBe('rolled-back');
    expect(r.error).toMatch(/reverted by the host before it could be confirmed|cut off new SSH connections/);
    // the watcher on the host did it (2 s), before the confirming connection got through
    const gen = (await readHistory(inv.hosts[0])).generations.at(-1)!;
    expect(gen.status).toBe('rolled-back');
    expect((await remote(2, `cat /var/lib/mailprov/generations/${gen.id}/firewall-1.decided/outcome`)).stdout).toBe('reverted\n');
    expect((await remote(2, 'iptables -S INPUT')).stdout).not.toContain('--dport 22');
  });

  it('--serial 1 --max-fail 0 stops the rollout at a broken first host and leaves the rest untouched', async () => {
    const wrong = join(sandbox.state.dir, 'wrong');
    writeFileSync(wrong, 'not-the-password\n');
    const inv = sandboxInventory(sandbox.state, [
      { on: 'relay1', use: sendmailSmartHost(settings({ auth: { user: sandbox.state.smartHost.user, password: secret.file(wrong) } })) },
      { on: ['relay2', 'relay3'], use: sendmailSmartHost(settings()) },
    ]);
    const results = byHost(await runHosts(inv.hosts, { dryRun: false, forks: 5, emit: () => {}, serial: '1', maxFail: 0 }));
    expect(results.relay1.status).toBe('rolled-back');
    expect(results.relay2.status).toBe('skipped');
    expect(results.relay3.status).toBe('skipped');
    for (const i of [1, 2]) expect((await remote(i, 'command -v sendmail || echo none')).stdout.trim()).toBe('none');
  });
});
