// Inventory mistakes fail before any connection, naming the file, the field and what was expected.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InventoryError } from '../../../src/errors.ts';
import { hostsFromIni, limitHosts, resolveInventory } from '../../../src/inventory/load.ts';
import { definePlaybook } from '../../../src/playbook/index.ts';

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
