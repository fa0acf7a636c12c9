// Per-host settings on real hosts: one inventory, two groups whose smart-host credentials differ
// (group vars read by `use: (host) => ...`). Each host's authinfo holds its own account, the probe
// and the test message authenticate as it, and mail submitted on each host arrives as its own user.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadInventory } from '../../src/inventory/load.ts';
import { readSmartHostEvents, waitForMessage } from '../../src/sandbox/index.ts';
import { apply, byHost, remote, useSandbox } from './helpers.ts';

const sandbox = useSandbox(2);

/**
 * Written as a user writes one: group vars for the credentials, the rest from the sandbox's relay
 * settings. A new file name each time: a module is imported once per path.
 */
function writeInventory(name: string, hosts: string): string {
  const file = join(sandbox.state.dir, name);
  writeFileSync(
    file,
    `import { defineInventory, hostsFromIni, secret } from 'mailprov';
     import { readState, relaySettings } from 'mailprov/sandbox';
     import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
     const state = readState(${JSON.stringify(sandbox.state.dir)})!;
     export default defineInventory({
       defaults: { privateKey: state.privateKey, knownHosts: state.knownHosts },
       ${hosts}
       playbooks: [
         {
           on: 'relays',
           use: (host) =>
             sendmailSmartHost(relaySettings(state, { auth: { user: host.vars.smtpUser, password: secret.file(host.vars.smtpPasswordFile) } })),
         },
       ],
     });\n`,
  );
  return file;
}

// the stand-in's two real accounts, each with its own password file
const eu = () => sandbox.state.smartHost;
const us = () => sandbox.state.smartHost.second;

const tsInventory = (name: string) =>
  writeInventory(
    name,
    `
    groups: {
      eu: { vars: { smtpUser: ${JSON.stringify(eu().user)}, smtpPasswordFile: ${JSON.stringify(eu().passwordFile)} } },
      us: { vars: { smtpUser: ${JSON.stringify(us().user)}, smtpPasswordFile: ${JSON.stringify(us().passwordFile)} } },
    },
    hosts: {
      relay1: { address: '127.0.0.1', port: ${sandbox.state.hosts[0].port}, groups: ['relays', 'eu'] },
      relay2: { address: '127.0.0.1', port: ${sandbox.state.hosts[1].port}, groups: ['relays', 'us'] },
    },`,
  );

const authinfoUser = async (i: number) => (await remote(sandbox.state, i, 'grep -o \'"U:[^"]*"\' /etc/mail/authinfo')).stdout.trim();

describe('per-host settings from group vars', () => {
  it('gives each host its own smart-host account, proven by the probe and the test message', async () => {
    const inv = await loadInventory(tsInventory('per-host.ts'));
    // one build per distinct settings
    expect(inv.hosts[0].playbooks[0]).not.toBe(inv.hosts[1].playbooks[0]);
    const results = byHost(await apply(inv));
    for (const [name, user] of [
      ['relay1', eu().user],
      ['relay2', us().user],
    ]) {
      expect(results[name].error, name).toBeUndefined();
      expect(results[name].status).toBe('changed');
      const info = results[name].findings.map((f) => f.message).join('\n');
      expect(info).toContain(`AUTH PLAIN accepted for ${user}`);
      const m = await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === `mailprov verification from ${name}`, 15_000);
      expect(m).toMatchObject({ authUser: user, tls: true });
    }
    expect(await authinfoUser(0)).toBe(`"U:${eu().user}"`);
    expect(await authinfoUser(1)).toBe(`"U:${us().user}"`);
    // the stand-in took both accounts, each with its own password
    const auths = (await readSmartHostEvents(sandbox.state)).flatMap((e) => (e.kind === 'auth' && e.code === 235 ? [e.user] : []));
    expect(new Set(auths)).toEqual(new Set([eu().user, us().user]));
  });

  it('mail submitted on each host arrives authenticated as the user of its group', async () => {
    for (const [i, user] of [
      [0, eu().user],
      [1, us().user],
    ] as const) {
      const subject = `per-host mail from relay${i + 1}`;
      const r = await remote(
        sandbox.state,
        i,
        '/usr/sbin/sendmail -oi ops@example.com',
        `From: root\nTo: ops@example.com\nSubject: ${subject}\n\nhello\n`,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === subject, 30_000)).toMatchObject({
        authUser: user,
        tls: true,
      });
    }
  });

  it('changes nothing the second time, and the same vars from an INI host list plan no change', async () => {
    const again = await apply(await loadInventory(tsInventory('per-host-again.ts')));
    expect(again.map((r) => [r.host, r.status, r.changes.length])).toEqual([
      ['relay1', 'unchanged', 0],
      ['relay2', 'unchanged', 0],
    ]);
    const ini = join(sandbox.state.dir, 'hosts.ini');
    writeFileSync(
      ini,
      [
        '[eu]',
        `relay1 ansible_host=127.0.0.1 ansible_port=${sandbox.state.hosts[0].port}`,
        '[us]',
        `relay2 ansible_host=127.0.0.1 ansible_port=${sandbox.state.hosts[1].port}`,
        '[relays:children]',
        'eu',
        'us',
        '[eu:vars]',
        `smtpUser=${eu().user}`,
        `smtpPasswordFile=${eu().passwordFile}`,
        '[us:vars]',
        `smtpUser=${us().user}`,
        `smtpPasswordFile=${us().passwordFile}`,
      ].join('\n'),
    );
    const plan = await apply(await loadInventory(writeInventory('per-host-ini.ts', `hosts: hostsFromIni(${JSON.stringify(ini)}),`)), true);
    expect(plan.map((r) => [r.host, r.status, r.changes.length])).toEqual([
      ['relay1', 'unchanged', 0],
      ['relay2', 'unchanged', 0],
    ]);
  });
});
