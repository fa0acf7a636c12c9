// Inventory mistakes fail before any connection, naming the file, the field and what was expected.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { InventoryError } from '../../../src/errors.ts';
import { settingsKey } from '../../../src/inventory/bindings.ts';
import { planHost } from '../../../src/engine/plan.ts';
import {
  defineInventory,
  hostsFromIni,
  hostsFromYaml,
  limitHosts,
  loadInventory,
  resolveInventory,
  type ResolvedHost,
} from '../../../src/inventory/load.ts';
import { definePlaybook } from '../../../src/playbook/index.ts';
import { redact, Secret, secret } from '../../../src/secrets/index.ts';
import { sendmailSmartHost } from '../../../playbooks/sendmail-smarthost.ts';
import { hostFacts } from '../fixtures.ts';

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

describe('per-host settings: use: (host) => ...', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  const counted = () => {
    const built: string[] = [];
    const playbook = definePlaybook({
      name: 'demo',
      settings: z.object({ port: z.number().int().default(587), host: z.string() }).strict(),
      build: (s) => {
        built.push(`${s.host}:${s.port}`);
        return { resources: [], lint: () => [{ level: 'warning', code: 'x', message: `${s.host}:${s.port}` }] };
      },
    });
    return { playbook, built };
  };
  const lintOf = (h: { playbooks: { parts: { lint?: () => { message: string }[] } }[] }) =>
    h.playbooks.map((p) => p.parts.lint?.()[0].message);

  it('calls the function per host with its name, groups and vars merged: defaults < groups by name < host', () => {
    const seen: unknown[] = [];
    const inv = resolveInventory(
      defineInventory({
        defaults: { vars: { smarthost: 'default.example.org', port: 587, site: 'none' } },
        groups: { eu: { vars: { smarthost: 'eu.example.org', site: 'eu' } }, zz: { vars: { site: 'zz' } } },
        hosts: {
          a: { address: '10.0.0.1', groups: ['eu'] },
          b: { address: '10.0.0.2', groups: ['zz', 'eu'], vars: { port: 2525 } },
          c: { address: '10.0.0.3' },
        },
        playbooks: [
          {
            use: (host) => {
              seen.push({ name: host.name, groups: host.groups, vars: host.vars });
              return pb({ host: `${host.vars.smarthost}/${host.vars.site}`, port: host.vars.port });
            },
          },
        ],
      }),
      FILE,
    );
    expect(seen).toEqual([
      { name: 'a', groups: ['eu'], vars: { smarthost: 'eu.example.org', port: 587, site: 'eu' } },
      // groups by name, later wins (as Ansible and the INI reader): zz over eu, whatever the listed order
      { name: 'b', groups: ['zz', 'eu'], vars: { smarthost: 'eu.example.org', port: 2525, site: 'zz' } },
      { name: 'c', groups: [], vars: { smarthost: 'default.example.org', port: 587, site: 'none' } },
    ]);
    expect(inv.hosts.map(lintOf)).toEqual([['eu.example.org/eu:587'], ['eu.example.org/zz:2525'], ['default.example.org/none:587']]);
    expect(inv.hosts[1].vars).toEqual({ smarthost: 'eu.example.org', port: 2525, site: 'zz' });
  });

  it('calls it only for the hosts the binding is on, next to fixed bindings', () => {
    const called: string[] = [];
    const inv = resolveInventory(
      defineInventory({
        hosts: { a: { address: 'x', groups: ['relays'], vars: { h: 'ha' } }, b: { address: 'y' } },
        playbooks: [
          { on: 'all', use: pb({ host: 'fixed' }) },
          {
            on: 'relays',
            use: (host) => {
              called.push(host.name);
              return pb({ host: host.vars.h });
            },
          },
        ],
      }),
      FILE,
    );
    expect(called).toEqual(['a']);
    expect(inv.hosts.map(lintOf)).toEqual([['fixed:587', 'ha:587'], ['fixed:587']]);
  });

  it('validates and builds once per distinct settings, so a large inventory loads in linear time', () => {
    // counted, not timed (speed is the benchmark's): the host function runs once per host, and the
    // validation and the build once per distinct settings, at 100 hosts as at 1000
    const load = (count: number) => {
      let validated = 0;
      const built: string[] = [];
      const calls: string[] = [];
      const playbook = definePlaybook({
        name: 'demo',
        settings: z
          .object({ port: z.number().int().default(587), host: z.string() })
          .strict()
          .superRefine(() => {
            validated++;
          }),
        build: (s) => {
          built.push(`${s.host}:${s.port}`);
          return { resources: [] };
        },
      });
      const hosts = Object.fromEntries(
        Array.from({ length: count }, (_, i) => [`relay${i}`, { address: `10.0.${i >> 8}.${i & 255}`, groups: [i % 2 ? 'eu' : 'us'] }]),
      );
      const inv = resolveInventory(
        defineInventory({
          hosts,
          groups: { eu: { vars: { smarthost: 'eu.example.org' } }, us: { vars: { smarthost: 'us.example.org' } } },
          playbooks: [
            {
              on: ['eu', 'us'],
              use: (host) => {
                calls.push(host.name);
                return playbook({ host: host.vars.smarthost });
              },
            },
          ],
        }),
        FILE,
      );
      return { calls: calls.length, validated, built, shared: new Set(inv.hosts.map((h) => h.playbooks[0].parts)).size };
    };
    const two = ['us.example.org:587', 'eu.example.org:587'];
    expect(load(100)).toEqual({ calls: 100, validated: 2, built: two, shared: 2 });
    expect(load(1000)).toEqual({ calls: 1000, validated: 2, built: two, shared: 2 });
  });

  it('builds per host when the settings differ per host', () => {
    const { playbook, built } = counted();
    resolveInventory(
      defineInventory({
        hosts: { a: { address: 'x' }, b: { address: 'y' } },
        playbooks: [{ use: (host) => playbook({ host: `${host.name}.example.org` }) }],
      }),
      FILE,
    );
    expect(built).toEqual(['a.example.org:587', 'b.example.org:587']);
  });

  it('names the file, the host and the field of a setting that is wrong for that host', () => {
    const e = err(
      defineInventory({
        groups: { eu: { vars: { smarthost: 'eu.example.org' } } },
        hosts: { relay1: { address: 'x', groups: ['eu'] }, relay7: { address: 'y', groups: ['eu'], vars: { smarthost: 7 } } },
        playbooks: [{ on: 'eu', use: (host) => pb({ host: host.vars.smarthost }) }],
      }),
    );
    expect(e.message).toBe(`${FILE}: host relay7: playbooks.0.use(demo).settings.host: Invalid input: expected string, received number`);
    expect(e).toMatchObject({ host: 'relay7', field: 'playbooks.0.use(demo).settings.host' });
  });

  it('names the host when the function throws, as secret.env() does for a var that is missing', () => {
    const demo = definePlaybook({
      name: 'demo',
      settings: z.object({ password: z.instanceof(Secret) }).strict(),
      build: () => ({ resources: [] }),
    });
    const e = err(
      defineInventory({
        hosts: { relay1: { address: 'x', vars: { passwordEnv: 'PW' } }, relay2: { address: 'y' } },
        playbooks: [{ use: (host) => demo({ password: secret.env(host.vars.passwordEnv) }) }],
      }),
    );
    expect(e.message).toBe(
      `${FILE}: host relay2: playbooks.0.use: a function of the host returning a playbook with its settings, e.g. (host) => sendmailSmartHost({ ... }) (it threw: secret.env() needs the name of an environment variable, not undefined)`,
    );
  });

  it('refuses a function that returns no playbook, and a playbook given without its settings', () => {
    expect(err({ hosts: { a: { address: 'x' } }, playbooks: [{ use: () => pb }] }).message).toMatch(
      /host a: playbooks\.0\.use: a function of the host .* \(it returned a function \(a playbook not called with its settings\?\)\)$/,
    );
    expect(err({ hosts: { a: { address: 'x' } }, playbooks: [{ use: () => undefined }] }).message).toMatch(/\(it returned undefined\)$/);
    expect(err({ hosts: { a: { address: 'x' } }, playbooks: [{ use: () => ({ host: 'x' }) }] }).message).toMatch(
      /\(it returned an object without playbook and settings\)$/,
    );
    expect(err({ hosts: { a: { address: 'x' } }, playbooks: [{ use: pb }] }).message).toMatch(
      /^\/srv\/inv\/prod\.ts: playbooks\.0\.use: a playbook with its settings, e\.g\. sendmailSmartHost\(\{ \.\.\. \}\), or a function of the host/,
    );
  });

  it('refuses group vars for a group no host is in, and for all', () => {
    expect(err({ hosts: { a: { address: 'x', groups: ['eu'] } }, groups: { ue: { vars: {} } } }).message).toBe(
      `${FILE}: groups.ue: a group some host is in (hosts.<name>.groups) (no host is in "ue")`,
    );
    expect(err({ hosts: { a: { address: 'x' } }, groups: { all: { vars: {} } } }).message).toMatch(/groups\.all: .*defaults\.vars/);
    expect(err({ hosts: { a: { address: 'x', groups: ['eu'] } }, groups: { eu: { var: {} } } }).message).toMatch(
      /groups\.eu: no such field.*var/,
    );
  });

  it('gives each host its group credentials in authinfo (the README example)', () => {
    vi.stubEnv('SMTP_PASSWORD_EU', 'pw-eu');
    vi.stubEnv('SMTP_PASSWORD_US', 'pw-us');
    const inv = resolveInventory(
      defineInventory({
        defaults: { vars: { smartHost: 'smtp.gmail.com' } },
        groups: {
          eu: { vars: { smtpUser: 'eu-alerts@example.org', smtpPasswordEnv: 'SMTP_PASSWORD_EU' } },
          us: { vars: { smtpUser: 'us-alerts@example.org', smtpPasswordEnv: 'SMTP_PASSWORD_US' } },
        },
        hosts: {
          relay1: { address: '192.0.2.10', groups: ['eu'] },
          relay2: { address: '192.0.2.11', groups: ['us'] },
          relay3: { address: '192.0.2.12', groups: ['us'], vars: { smtpUser: 'relay3@example.org' } },
        },
        playbooks: [
          {
            on: ['eu', 'us'],
            use: (host) =>
              sendmailSmartHost({
                smartHost: host.vars.smartHost,
                auth: { user: host.vars.smtpUser, password: secret.env(host.vars.smtpPasswordEnv) },
              }),
          },
        ],
      }),
      FILE,
    );
    expect(inv.hosts.map(authinfoOf)).toEqual([
      'AuthInfo:smtp.gmail.com "U:eu-alerts@example.org" "I:eu-alerts@example.org" "P:********" "M:PLAIN LOGIN"\n',
      'AuthInfo:smtp.gmail.com "U:us-alerts@example.org" "I:us-alerts@example.org" "P:********" "M:PLAIN LOGIN"\n',
      'AuthInfo:smtp.gmail.com "U:relay3@example.org" "I:relay3@example.org" "P:********" "M:PLAIN LOGIN"\n',
    ]);
  });

  it('names the host and field for the sendmail playbook, with its real schema', () => {
    const e = err(
      defineInventory({
        groups: { eu: { vars: { smtpUser: 'eu@example.org', smtpPasswordEnv: 'PW_EU' } }, us: { vars: { smtpPasswordEnv: 'PW_US' } } },
        hosts: { relay1: { address: 'x', groups: ['eu'] }, relay7: { address: 'y', groups: ['us'] } },
        playbooks: [
          {
            on: ['eu', 'us'],
            use: (host) =>
              sendmailSmartHost({
                smartHost: 'smtp.gmail.com',
                auth: { user: host.vars.smtpUser, password: secret.env(host.vars.smtpPasswordEnv) },
              }),
          },
        ],
      }),
    );
    expect(e.message).toBe(
      `${FILE}: host relay7: playbooks.0.use(sendmail-smarthost).settings.auth.user: Invalid input: expected string, received undefined`,
    );
  });
});

describe('settingsKey', () => {
  it('is equal for equal plain data and secrets of one source, and keeps key order', () => {
    const a = { smartHost: 'x', auth: { user: 'u', password: secret.env('PW') }, relayFrom: ['10.0'] };
    expect(settingsKey(a)).toBe(settingsKey({ smartHost: 'x', auth: { user: 'u', password: secret.env('PW') }, relayFrom: ['10.0'] }));
    expect(settingsKey(a)).not.toBe(settingsKey({ ...a, auth: { user: 'u', password: secret.env('PW2') } }));
    expect(settingsKey(a)).not.toBe(settingsKey({ ...a, auth: { user: 'u', password: secret.file('PW') } }));
    expect(settingsKey({ a: 1, b: 2 })).not.toBe(settingsKey({ b: 2, a: 1 }));
    expect(settingsKey({ a: 1 })).not.toBe(settingsKey({ a: '1' }));
    expect(settingsKey({ a: null })).not.toBe(settingsKey({ a: Number.NaN }));
  });

  it('gives no key (build for that host alone) for functions, class instances, inline secrets and cycles', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const v of [{ f: () => 1 }, { d: new Date(0) }, { s: secret.value('x') }, cycle]) expect(settingsKey(v)).toBeUndefined();
  });
});

/** The host's /etc/mail/authinfo as `plan` would show it (password masked), planned against a fresh host. */
function authinfoOf(host: ResolvedHost): string | null | undefined {
  const plan = planHost(
    host.playbooks.flatMap((p) => p.parts.resources),
    hostFacts(),
  );
  return plan.changes.find((c) => c.resourceId === 'file:/etc/mail/authinfo')?.diff?.after;
}

describe('INI inventories with --with: use: (host) => ... sees the INI vars', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  it('merges group vars (children over parents) under host vars, as Ansible does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ini-with-'));
    writeFileSync(
      join(dir, 'hosts.ini'),
      [
        '[eu]',
        'relay1 ansible_host=10.0.0.1',
        'relay2 ansible_host=10.0.0.2 smtp_user=relay2@example.org',
        '[us]',
        'relay3 ansible_host=10.0.0.3',
        '[relays:children]',
        'eu',
        'us',
        '[relays:vars]',
        'smtp_user=relays@example.org',
        'smtp_password_env=PW_RELAYS',
        '[eu:vars]',
        'smtp_user=eu@example.org',
        'smtp_password_env=PW_EU',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'playbooks.ts'),
      `import { secret, type Binding } from 'mailprov';
       import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
       export default [
         {
           on: 'relays',
           use: (host) =>
             sendmailSmartHost({ smartHost: 'smtp.gmail.com', auth: { user: host.vars.smtp_user, password: secret.env(host.vars.smtp_password_env) } }),
         },
       ] satisfies Binding[];`,
    );
    const inv = await loadInventory(join(dir, 'hosts.ini'), { withPlaybooks: join(dir, 'playbooks.ts') });
    expect(inv.hosts.map((h) => [h.name, h.vars.smtp_user, h.vars.smtp_password_env])).toEqual([
      ['relay1', 'eu@example.org', 'PW_EU'],
      ['relay2', 'relay2@example.org', 'PW_EU'],
      ['relay3', 'relays@example.org', 'PW_RELAYS'],
    ]);
    vi.stubEnv('PW_EU', 'pw-eu');
    vi.stubEnv('PW_RELAYS', 'pw-relays');
    expect(inv.hosts.map(authinfoOf)).toEqual([
      'AuthInfo:smtp.gmail.com "U:eu@example.org" "I:eu@example.org" "P:********" "M:PLAIN LOGIN"\n',
      'AuthInfo:smtp.gmail.com "U:relay2@example.org" "I:relay2@example.org" "P:********" "M:PLAIN LOGIN"\n',
      'AuthInfo:smtp.gmail.com "U:relays@example.org" "I:relays@example.org" "P:********" "M:PLAIN LOGIN"\n',
    ]);
    expect(new Set(inv.hosts.map((h) => h.playbooks[0].parts)).size).toBe(3);
  });
});

describe('the per-group examples in inventories/ (shown in the README)', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  const examples = join(__dirname, '../../../inventories');
  const users = (inv: { hosts: ResolvedHost[] }) => inv.hosts.map((h) => [h.name, authinfoOf(h)?.match(/"U:([^"]*)"/)?.[1]]);

  it('give each group its account and relay3 its own, in TypeScript and in INI', async () => {
    for (const env of ['SMTP_PASSWORD_EU', 'SMTP_PASSWORD_US']) vi.stubEnv(env, 'pw');
    const expected = [
      ['relay1', 'eu-alerts@example.org'],
      ['relay2', 'us-alerts@example.org'],
      ['relay3', 'relay3@example.org'],
    ];
    expect(users(await loadInventory(join(examples, 'per-group.example.ts')))).toEqual(expected);
    const ini = await loadInventory(join(examples, 'hosts.example.ini'), { withPlaybooks: join(examples, 'relay-playbooks.example.ts') });
    expect(users(ini)).toEqual([['relay0', undefined], ...expected]);
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
    expect(inv.hosts.map((h) => [h.name, h.target.address, h.target.jump?.map((j) => j.name).join(','), h.groups])).toEqual([
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
  it('reads the key passphrase from the environment variable named, masked; resolves the jump host', () => {
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
        jump: [{ name: 'bastion', address: 'bastion', port: 22, user: 'root', privateKeyPassphrase: 'Key-pass-from-env' }],
      });
      expect(inv.hosts[1].target).toMatchObject({
        privateKeyPassphrase: undefined,
        jump: [{ name: 'ops@other:2222', address: 'other', port: 2222, user: 'ops' }],
      });
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
