// Fault tests for what mailprov guarantees on a host: a late firewall confirmation, a rule a person
// added by hand, a full journal disk, hostile journal records, a first apply that fails before
// sendmail exists. Each injects the fault on real sandbox hosts.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runHosts } from '../../src/engine/index.ts';
import { readHistory, rollbackHost } from '../../src/engine/rollback-host.ts';
import { definePlaybook } from '../../src/playbook/index.ts';
import { file, firewallRule, packages } from '../../src/resources/index.ts';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { relaySettings } from '../../src/sandbox/index.ts';
import { apply, remote as remoteExec, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(3);

const remote = (host: number, cmd: string, stdin?: string) => remoteExec(sandbox.state, host, cmd, stdin);
const out = async (host: number, cmd: string) => {
  const r = await remote(host, cmd);
  expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};
const RULE = '-p tcp -m tcp --dport 2626 -j ACCEPT';
const port = definePlaybook({
  name: 'port',
  settings: z.object({ motd: z.string() }).strict(),
  build: ({ motd }) => ({
    resources: [file({ path: '/etc/motd', content: `${motd}\n` }), firewallRule({ rule: RULE, persistFile: '/etc/iptables/rules.v4' })],
  }),
});
const motd = definePlaybook({
  name: 'motd',
  settings: z.object({ text: z.string() }).strict(),
  build: ({ text }) => ({ resources: [file({ path: '/etc/motd', content: text })] }),
});
const only = (host: string, use: ReturnType<typeof port> | ReturnType<typeof motd>) =>
  sandboxInventory(sandbox.state, [{ on: host, use }], {}, [host]);

describe('what mailprov guarantees', () => {
  it('a firewall confirmation that comes after the host reverted reports the host reverted and failed, never complete', async () => {
    const inv = only('relay1', port({ motd: 'late' }));
    const [r] = await runHosts(inv.hosts, {
      dryRun: false,
      forks: 1,
      emit: () => {},
      firewallConfirmSeconds: 1,
      firewallConfirmDelayMs: 3000,
    });
    expect(r.status).toBe('rolled-back');
    expect(r.error).toMatch(/reverted by the host before it could be confirmed/);
    const gen = (await readHistory(inv.hosts[0])).generations.at(-1)!;
    expect(gen.status).toBe('rolled-back');
    expect(await out(0, `cat /var/lib/mailprov/generations/${gen.id}/firewall-2.decided/outcome`)).toBe('reverted\n');
    expect(await out(0, 'iptables -S INPUT')).not.toContain('--dport 2626');
    // and no watcher is left behind on the host
    expect((await remote(0, `pgrep -f "[m]ailprov-firewall-watcher-${gen.id}-"`)).stdout).toBe('');
  });

  it('a rollback deletes exactly the rule mailprov added: a rule a person added, identical or not, and rules saved since stay', async () => {
    const inv = only('relay1', port({ motd: 'one' }));
    const [a] = await apply(inv);
    expect(a.error).toBeUndefined();
    expect(await out(0, 'iptables -S INPUT')).toContain('--dport 2626 -m comment --comment mailprov -j ACCEPT');
    // a person adds the same rule by hand, and another one, and saves
    await out(
      0,
      `iptables -A INPUT ${RULE} && iptables -A INPUT -p tcp -m tcp --dport 2727 -j ACCEPT && iptables-save > /etc/iptables/rules.v4`,
    );
    const rb = await rollbackHost(inv.hosts[0], { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: () => {} });
    expect(rb.error).toBeUndefined();
    const live = await out(0, 'iptables -S INPUT');
    expect(live).not.toContain('--comment mailprov');
    expect(live).toContain(`-A INPUT ${RULE}`);
    expect(live).toContain('--dport 2727 -j ACCEPT');
    const saved = await out(0, 'cat /etc/iptables/rules.v4');
    expect(saved).not.toContain('--comment mailprov');
    expect(saved).toContain('--dport 2727 -j ACCEPT');
    // the saved file was copied aside before the save
    const gen = (await readHistory(inv.hosts[0])).generations.at(-1)!;
    expect(await out(0, `cat /var/lib/mailprov/generations/${gen.id}/files/etc/iptables/rules.v4`)).toContain('--dport 2727');
    await out(
      0,
      `iptables -D INPUT ${RULE}; iptables -D INPUT -p tcp -m tcp --dport 2727 -j ACCEPT; iptables-save > /etc/iptables/rules.v4`,
    );
  });

  it('a journal that cannot take the backup (a full disk) stops the host before the change it protects', async () => {
    await out(
      1,
      'head -c 300000 /dev/zero | tr "\\0" x > /etc/motd && mkdir -p /var/lib/mailprov && mount -t tmpfs -o size=64k tmpfs /var/lib/mailprov',
    );
    try {
      const [r] = await apply(only('relay2', motd({ text: 'new text\n' })));
      expect(r.status).not.toBe('changed');
      expect(r.error).toMatch(/cannot back up into .*the change was not made/);
      expect((await out(1, 'wc -c < /etc/motd')).trim()).toBe('300000');
    } finally {
      await out(1, 'umount /var/lib/mailprov');
    }
  });

  it('hostile or truncated records on the host block nothing, show in history, and never reach a command', async () => {
    const canary = '/tmp/mailprov-pwned';
    const record = { kind: 'apply', status: 'in-progress', startedAt: 'x', by: 'x', inventory: 'x', summary: [] };
    // a record whose undo record would inject a command: set aside whole
    const injecting = JSON.stringify({
      ...record,
      id: 50,
      files: [],
      undo: [{ kind: 'iptables-rule', chain: `INPUT; touch ${canary}`, rule: '-j ACCEPT', added: true }],
    });
    // a well-formed record left in progress with a quote-laden path: repaired, the path quoted
    const quoted = JSON.stringify({ ...record, id: 60, files: [`/etc/x'; touch ${canary}; '`] });
    await out(
      2,
      `mkdir -p /var/lib/mailprov/generations/40 /var/lib/mailprov/generations/50 /var/lib/mailprov/generations/60 && printf '{"id": 40, "kind": "app' > /var/lib/mailprov/generations/40/meta.json`,
    );
    await remote(2, 'cat > /var/lib/mailprov/generations/50/meta.json', injecting);
    await remote(2, 'cat > /var/lib/mailprov/generations/60/meta.json', quoted);
    const inv = only('relay3', motd({ text: 'after hostile records\n' }));
    const [plan] = await apply(inv, true);
    expect(plan.error).toBeUndefined();
    const [r] = await apply(inv);
    expect(r.error).toBeUndefined();
    expect(r.status).toBe('changed');
    const history = await readHistory(inv.hosts[0]);
    expect(history.unreadable.map((u) => u.dir).sort()).toEqual(['40', '50']);
    expect(history.generations.map((g) => [g.id, g.status])).toEqual([
      [60, 'rolled-back'],
      [61, 'complete'],
    ]);
    expect((await remote(2, `ls ${canary}`)).code).not.toBe(0);
    const rb = await rollbackHost(inv.hosts[0], { dryRun: true, packages: false, inventoryFile: 'inv.ts', log: () => {} });
    expect(rb.error ?? '').not.toMatch(/JSON/);
  });

  it('a first apply that fails before sendmail exists is rolled back without starting it, reporting the original failure', async () => {
    const broken = definePlaybook({
      name: 'broken',
      settings: z.object({}).strict(),
      build: () => ({
        resources: [packages({ names: ['mailprov-no-such-package'] }), file({ path: '/etc/mailprov-test', content: 'x\n' })],
      }),
    });
    // bound before the relay playbook: the install fails before sendmail's own
    const playbooks = [
      { on: 'relay2', use: broken({}) },
      { on: 'relay2', use: sendmailSmartHost(relaySettings(sandbox.state, { openSmtpPort: false })) },
    ];
    const [r] = await apply(sandboxInventory(sandbox.state, playbooks, {}, ['relay2']));
    expect(r.status).toBe('rolled-back');
    expect(r.error).toMatch(/install mailprov-no-such-package/);
    expect(r.error).not.toMatch(/rollback failed|unrecognized service/i);
    expect((await remote(1, 'ls /etc/init.d/sendmail')).code).not.toBe(0);
  });
});
