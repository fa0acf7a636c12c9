// The engine against real sandbox hosts: the first apply changes them, the second changes nothing
// and runs no handler; an unreachable host, a refused key and a changed host key fail alone.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { definePlaybook } from '../../src/playbook/index.ts';
import { command, file, firewallRule, packages, service, serviceId } from '../../src/resources/index.ts';
import { closedPort } from '../closed-port.ts';
import { apply, byHost, remote as remoteExec, resourceIds, sandboxInventory, useSandbox } from './helpers.ts';

// A small playbook that uses every kind of resource, without sendmail.
const demo = definePlaybook({
  name: 'engine-demo',
  settings: z.object({ motd: z.string() }).strict(),
  build: ({ motd }) => ({
    resources: [
      packages({ names: ['netfilter-persistent'] }),
      file({ path: '/etc/motd', content: `${motd}\n`, mode: '0644', notify: [serviceId('dnsmasq-demo')] }),
      file({ path: '/etc/demo dir/it\'s "quoted" $HOME.conf', content: 'a\nb\n', owner: 'root', group: 'root', mode: '0600' }),
      command({ name: 'stamp', run: 'date > /var/tmp/stamp', creates: '/var/tmp/stamp' }),
      command({ name: 'count motd changes', run: 'echo x >> /var/tmp/motd-changes', onChangeOf: ['file:/etc/motd'] }),
      firewallRule({ rule: '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT' }),
      service({ name: 'dnsmasq-demo' }),
    ],
  }),
});

const sandbox = useSandbox(2);

beforeAll(async () => {
  // a service the demo playbook can restart: an init script that counts its restarts
  const script =
    '#!/bin/sh\ncase "$1" in start|restart) echo "$1" >> /var/tmp/demo-restarts; touch /run/demo.running;; status) [ -e /run/demo.running ];; esac\n';
  for (const i of sandbox.state.hosts.keys()) {
    await remoteExec(
      sandbox.state,
      i,
      'cat > /etc/init.d/dnsmasq-demo && chmod 755 /etc/init.d/dnsmasq-demo && iptables -A INPUT -p tcp --dport 9 -j REJECT',
      script,
    );
  }
});

const made: string[] = [];
const tempDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};

afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const remote = async (host: number, cmd: string) => (await remoteExec(sandbox.state, host, cmd)).stdout;

describe('apply', () => {
  it('changes both hosts the first time, in order, with handlers run once at the end', async () => {
    const inv = sandboxInventory(sandbox.state, [{ on: 'relays', use: demo({ motd: 'hello $USER `id`' }) }]);
    const results = await apply(inv);
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expect(r.status).toBe('changed');
      expect(resourceIds(r)).toEqual([
        'packages:netfilter-persistent',
        'file:/etc/motd',
        'file:/etc/demo dir/it\'s "quoted" $HOME.conf',
        'command:stamp',
        'command:count motd changes',
        'firewall:INPUT -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT',
        'service:dnsmasq-demo', // started (was not running): the notification needs no extra restart
      ]);
    }
    expect(await remote(0, 'cat /etc/motd')).toBe('hello $USER `id`\n');
    expect(await remote(0, 'stat -c "%a %U" "/etc/demo dir/it\'s \\"quoted\\" \\$HOME.conf"')).toBe('600 root\n');
    expect(await remote(0, "dpkg-query -W -f '${Status}' netfilter-persistent")).toBe('install ok installed');
    // inserted before the REJECT rule, and saved
    const rules = (await remote(0, 'iptables -S INPUT')).trim().split('\n');
    expect(rules.findIndex((l) => l.includes('--dport 25'))).toBeLessThan(rules.findIndex((l) => l.includes('REJECT')));
    expect(await remote(0, 'cat /etc/iptables/rules.v4')).toContain('--dport 25 -m comment --comment mailprov -j ACCEPT');
    expect(await remote(1, 'cat /var/tmp/demo-restarts')).toBe('start\n');
  });

  it('changes nothing and runs no handler the second time', async () => {
    const inv = sandboxInventory(sandbox.state, [{ on: 'relays', use: demo({ motd: 'hello $USER `id`' }) }]);
    const results = await apply(inv);
    for (const r of results) {
      expect(r.status).toBe('unchanged');
      expect(r.changes).toEqual([]);
    }
    expect(await remote(0, 'cat /var/tmp/demo-restarts')).toBe('start\n');
    expect(await remote(0, 'cat /var/tmp/motd-changes')).toBe('x\n');
    expect((await remote(0, 'iptables -S INPUT')).match(/--dport 25/g)).toHaveLength(1);
  });

  it('restarts a notified handler once when a watched file changes', async () => {
    const inv = sandboxInventory(sandbox.state, [{ on: 'relay1', use: demo({ motd: 'changed' }) }]);
    const [r] = await apply(inv);
    expect(resourceIds(r)).toEqual(['file:/etc/motd', 'command:count motd changes', 'service:dnsmasq-demo']);
    expect(r.changes.at(-1)?.action).toBe('restart');
    expect(await remote(0, 'cat /var/tmp/demo-restarts')).toBe('start\nrestart\n');
  });

  it('fails an unreachable host and a refused key alone; the others finish', async () => {
    const badKey = tempDir('mailprov-key-');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(badKey, 'id')]);
    // a port this test bound and closed: nothing answers there (port 1, say, might)
    const nothing = await closedPort();
    // relay2's sshd, but a key it does not accept
    const inv = sandboxInventory(
      sandbox.state,
      [{ on: 'all', use: demo({ motd: 'third' }) }],
      {
        gone: { address: '127.0.0.1', port: nothing, hostKeyPolicy: 'accept-new' },
        refused: { address: '127.0.0.1', port: sandbox.state.hosts[1].port, privateKey: join(badKey, 'id') },
      },
      ['relay1'],
    );
    const results = byHost(await apply(inv));
    expect(results.relay1.status).toBe('changed');
    expect(results.gone.status).toBe('failed');
    expect(results.gone.error).toMatch(new RegExp(`^gone: cannot connect to 127\\.0\\.0\\.1:${nothing}: .*ECONNREFUSED`));
    expect(results.refused.status).toBe('failed');
    expect(results.refused.error).toMatch(/authentication refused for user root/);
  });

  it('runs changes through sudo for a non-root user, with or without a sudo password', async () => {
    await remote(
      1,
      [
        'for u in deploy deploy2; do useradd -m -s /bin/bash $u; mkdir -p /home/$u/.ssh; cp /root/.ssh/authorized_keys /home/$u/.ssh/; chown -R $u: /home/$u/.ssh; done',
        "echo 'deploy ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/deploy",
        "echo 'deploy2 ALL=(ALL) ALL' > /etc/sudoers.d/deploy2",
        "echo 'deploy2:S3cret pass' | chpasswd",
      ].join(' && '),
    );
    process.env.MAILPROV_TEST_SUDO = 'S3cret pass';
    for (const [user, extra] of [
      ['deploy', {}],
      ['deploy2', { sudoPasswordEnv: 'MAILPROV_TEST_SUDO' }],
    ] as const) {
      const inv = sandboxInventory(sandbox.state, [{ on: 'relay2', use: demo({ motd: `via sudo as ${user}` }) }], {}, ['relay2']);
      Object.assign(inv.hosts[0].target, {
        user,
        sudo: true,
        sudoPassword: 'sudoPasswordEnv' in extra ? process.env.MAILPROV_TEST_SUDO : undefined,
      });
      const [r] = await apply(inv);
      expect(r.error).toBeUndefined();
      expect(resourceIds(r)).toContain('file:/etc/motd');
      expect(await remote(1, 'cat /etc/motd; stat -c %U /etc/motd')).toBe(`via sudo as ${user}\nroot\n`);
    }
  });

  it("records an unknown host key on first contact with hostKeyPolicy 'accept-new', then checks it", async () => {
    const known = join(tempDir('mailprov-kh-'), 'sub', 'known_hosts');
    const inv = sandboxInventory(sandbox.state, [{ on: 'relay1', use: demo({ motd: 'changed' }) }], {}, ['relay1']);
    Object.assign(inv.hosts[0].target, { knownHosts: known, hostKeyPolicy: 'accept-new' });
    const [first] = await apply(inv);
    expect(first.error).toBeUndefined();
    const recorded = readFileSync(known, 'utf8');
    expect(recorded).toBe(
      `[127.0.0.1]:${sandbox.state.hosts[0].port} ${readFileSync(join(sandbox.state.hosts[0].dir, 'upper/etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
    );
    Object.assign(inv.hosts[0].target, { hostKeyPolicy: 'strict' });
    const [second] = await apply(inv);
    expect(second.error).toBeUndefined();
    expect(readFileSync(known, 'utf8')).toBe(recorded);
  });

  it('refuses a changed host key, naming the host and both fingerprints', async () => {
    const known = join(tempDir('mailprov-kh-'), 'known_hosts');
    const other = join(tempDir('mailprov-otherkey-'), 'key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const pub = readFileSync(`${other}.pub`, 'utf8').trim().split(' ');
    writeFileSync(known, `[127.0.0.1]:${sandbox.state.hosts[0].port} ${pub[0]} ${pub[1]}\n`);
    const inv = sandboxInventory(sandbox.state, [{ on: 'all', use: demo({ motd: 'third' }) }]);
    inv.hosts[0].target.knownHosts = known;
    const [r1] = await apply({ ...inv, hosts: [inv.hosts[0]] });
    expect(r1.status).toBe('failed');
    expect(r1.error).toMatch(/relay1: HOST KEY CHANGED/);
    const expected = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${other}.pub`])
      .toString()
      .split(' ')[1];
    const actual = execFileSync('ssh-keygen', [
      '-l',
      '-E',
      'sha256',
      '-f',
      join(sandbox.state.hosts[0].dir, 'upper/etc/ssh/ssh_host_ed25519_key.pub'),
    ])
      .toString()
      .split(' ')[1];
    expect(r1.error).toContain(expected);
    expect(r1.error).toContain(actual);
  });
});
