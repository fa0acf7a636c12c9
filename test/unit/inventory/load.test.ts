// Inventory mistakes fail before any connection, naming the file, the field and what was expected.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InventoryError } from '../../../src/errors.ts';
import { hostsFromIni, hostsFromYaml, limitHosts, loadInventory, resolveInventory } from '../../../src/inventory/load.ts';
import { definePlaybook } from '../../../src/playbook/index.ts';
import { redact } from '../../../src/secrets/index.ts';

const FILE = '/srv/inv/prod.ts';
const pb = definePlaybook({
  name: 'demo',
  settings: z.object({ port: z.number().int().default(587), host: z.string() }).strict(),
  build: (s) => ({ resources: [], lint: () => [{ level: 'warning', code: 'x', message: `${s.host}:${s.port}` }] }),
});

function err(raw: unknown): InventoryError {
  try {
    resolveInventory(raw, FILE);
  } catch (e) {
    if (e instanceof InventoryError) return e;
    throw e;
  }
  throw new Error('expected an InventoryError');
}

describe('resolveInventory', () => {
  it('applies defaults, resolves relative paths against the inventory, binds playbooks by group and host', () => {
    const inv = resolveInventory(
      {
        defaults: { user: 'deploy', privateKey: 'keys/id', sudo: true },
        hosts: { a: { address: '10.0.0.1', groups: ['relays'] }, b: { address: '10.0.0.2', port: 2222, user: 'root' } },
        playbooks: [
          { on: 'relays', use: pb({ host: 'x' }) },
          { on: ['b'], use: pb({ host: 'y', port: 25 }) },
        ],
      },
      FILE,
    );
    const [a, b] = inv.hosts;
    expect(a.target).toMatchObject({
      address: '10.0.0.1',
      port: 22,
      user: 'deploy',
      privateKey: '/srv/inv/keys/id',
      sudo: true,
      hostKeyPolicy: 'strict',
    });
    expect(b.target).toMatchObject({ port: 2222, user: 'root' });
    expect(a.playbooks.map((p) => p.parts.lint?.()[0].message)).toEqual(['x:587']);
    expect(b.playbooks.map((p) => p.parts.lint?.()[0].message)).toEqual(['y:25']);
  });

  it('names the field of a wrong type', () => {
    const e = err({ hosts: { relay1: { address: 'x', port: '22' } } });
    expect(e.message).toMatch(/^\/srv\/inv\/prod\.ts: hosts\.relay1\.port: .*expected number/);
  });

  it('names an unknown field', () => {
    expect(err({ hosts: { relay1: { address: 'x', adress: 'y' } } }).message).toMatch(/hosts\.relay1: no such field.*adress/);
  });

  it('names an unknown playbook setting', () => {
    const e = err({ hosts: { r: { address: 'x' } }, playbooks: [{ use: pb({ host: 'h', prot: 1 } as never) }] });
    expect(e.message).toMatch(/playbooks\.0\.use\(demo\)\.settings: no such field.*prot/);
  });

  it('refuses a host listed twice, and a binding to nothing', () => {
    expect(err({ hosts: { a: { address: 'x' }, b: { address: 'x', port: 22 } } }).message).toMatch(
      /hosts\.b: a host listed once.*same address and port as hosts\.a/,
    );
    expect(err({ hosts: { a: { address: 'x' } }, playbooks: [{ on: 'relayz', use: pb({ host: 'h' }) }] }).message).toMatch(
      /playbooks\.0\.on.*"relayz" is neither/,
    );
  });

  it('refuses a --limit that matches nothing', () => {
    const inv = resolveInventory({ hosts: { a: { address: 'x', groups: ['g'] }, b: { address: 'y' } } }, FILE);
    expect(limitHosts(inv, 'g').map((h) => h.name)).toEqual(['a']);
    expect(() => limitHosts(inv, 'nope')).toThrow(/--limit.*"nope" matches nothing/);
  });
});

describe('keepGenerations', () => {
  it('defaults to 10, set per inventory in defaults and overridden per host', () => {
    const keep = (raw: unknown) => resolveInventory(raw, FILE).hosts.map((h) => [h.name, h.keepGenerations]);
    expect(keep({ hosts: { a: { address: '10.0.0.1' } } })).toEqual([['a', 10]]);
    expect(
      keep({ defaults: { keepGenerations: 3 }, hosts: { a: { address: '10.0.0.1' }, b: { address: '10.0.0.2', keepGenerations: 1 } } }),
    ).toEqual([
      ['a', 3],
      ['b', 1],
    ]);
  });

  it('is a whole number of at least 1, with an error naming file and field', () => {
    for (const bad of [0, 2.5, '10', -1]) {
      const e = err({ hosts: { a: { address: '10.0.0.1', keepGenerations: bad } } });
      expect(e.message).toBe(`${FILE}: hosts.a.keepGenerations: a whole number of generations to keep on the host, at least 1`);
    }
    expect(err({ defaults: { keepGenerations: 0 }, hosts: {} }).field).toBe('defaults.keepGenerations');
  });
});

describe('hostsFromIni', () => {
  it('turns an Ansible INI host list into inventory hosts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ini-'));
    const file = join(dir, 'hosts.ini');
    writeFileSync(
      file,
      '[relays]\nrelay1 ansible_host=10.0.0.5 ansible_port=2222 mailprov_keep_generations=4\nrelay2\n[relays:vars]\nansible_user=admin\n',
    );
    const hosts = hostsFromIni(file);
    expect(hosts.relay1).toMatchObject({ address: '10.0.0.5', port: 2222, user: 'admin', groups: ['relays'], keepGenerations: 4 });
    expect(hosts.relay2).toMatchObject({ address: 'relay2', user: 'admin' });
  });
});

describe('Ansible inventories, loaded', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ansible-'));

  it('loads a YAML inventory by its extension, hosts mapped as from INI, warnings said once', async () => {
    const file = join(dir, 'hosts.yml');
    writeFileSync(
      file,
      'all:\n  vars:\n    ansible_python_interpreter: /usr/bin/python3\n  children:\n    relays:\n      hosts:\n        relay1: {ansible_host: 192.0.2.10, ansible_ssh_extra_args: "-J ops@bastion"}\n        relay2: {ansible_host: 192.0.2.11}\n',
    );
    const inv = await loadInventory(file);
    expect(inv.hosts.map((h) => [h.name, h.target.address, h.target.jump, h.groups])).toEqual([
      ['relay1', '192.0.2.10', 'ops@bastion', ['relays']],
      ['relay2', '192.0.2.11', undefined, ['relays']],
    ]);
    expect(inv.warnings).toEqual([
      { file, message: 'Ansible variables mailprov does not read, ignored: ansible_python_interpreter', hosts: ['relay1', 'relay2'] },
    ]);
    expect(hostsFromYaml(file).relay2).toMatchObject({ address: '192.0.2.11', groups: ['relays'] });
  });

  it("the issue's INI inventory loads: accept-new into /dev/null, with one loud warning for all its hosts", async () => {
    const file = join(dir, 'hosts');
    writeFileSync(
      file,
      "[relays]\nrelay[1:3] ansible_user=root\n[relays:vars]\nansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n",
    );
    const inv = await loadInventory(file);
    expect(inv.hosts.map((h) => [h.target.knownHosts, h.target.hostKeyPolicy])).toEqual(Array(3).fill(['/dev/null', 'accept-new']));
    expect(inv.warnings).toHaveLength(1);
    expect(inv.warnings[0].message).toMatch(/^HOST KEYS NOT VERIFIED: known_hosts is \/dev\/null with accept-new/);
    expect(inv.warnings[0].hosts).toEqual(['relay1', 'relay2', 'relay3']);
  });

  it('says that group_vars/ and host_vars/ beside the inventory are not read', async () => {
    const sub = mkdtempSync(join(dir, 'vars-'));
    mkdirSync(join(sub, 'group_vars'));
    writeFileSync(join(sub, 'hosts.ini'), '[relays]\nrelay1\n');
    const inv = await loadInventory(join(sub, 'hosts.ini'));
    expect(inv.warnings).toEqual([
      {
        file: join(sub, 'hosts.ini'),
        message: 'group_vars/ beside the inventory is not read: mailprov reads the variables in the inventory file only',
      },
    ]);
  });
});

describe('connection settings carried to the target', () => {
  it('reads the key passphrase from the environment variable named, masked; carries the jump host', () => {
    process.env.MAILPROV_TEST_KEY_PASS = 'Key-pass-from-env';
    try {
      const inv = resolveInventory(
        {
          defaults: { privateKeyPassphraseEnv: 'MAILPROV_TEST_KEY_PASS', jump: 'bastion' },
          hosts: {
            a: { address: '10.0.0.1' },
            b: { address: '10.0.0.2', jump: 'ops@other:2222', privateKeyPassphraseEnv: 'MAILPROV_TEST_UNSET' },
          },
        },
        FILE,
      );
      expect(inv.hosts[0].target).toMatchObject({
        privateKeyPassphrase: 'Key-pass-from-env',
        privateKeyPassphraseEnv: 'MAILPROV_TEST_KEY_PASS',
        jump: 'bastion',
      });
      expect(inv.hosts[1].target).toMatchObject({ privateKeyPassphrase: undefined, jump: 'ops@other:2222' });
      expect(redact('passphrase Key-pass-from-env')).toBe('passphrase ********');
      expect(inv.warnings).toEqual([]);
    } finally {
      delete process.env.MAILPROV_TEST_KEY_PASS;
    }
  });

  it('warns once about hosts whose keys are kept nowhere (known_hosts /dev/null with accept-new), whatever the inventory kind', () => {
    const inv = resolveInventory(
      {
        defaults: { knownHosts: '/dev/null', hostKeyPolicy: 'accept-new' },
        hosts: { a: { address: '10.0.0.1' }, b: { address: '10.0.0.2', hostKeyPolicy: 'strict' }, c: { address: '10.0.0.3' } },
      },
      FILE,
    );
    expect(inv.warnings.map((w) => w.hosts)).toEqual([['a', 'c']]);
  });
});
