// From inventory hosts to SSH targets: the inventory wins over ssh_config, which wins over mailprov's
// defaults; jump chains (inventory names, user@host:port, ProxyJump) are resolved whole, loops refused.
import { describe, expect, it } from 'vitest';
import { InventoryError } from '../../../src/errors.ts';
import { resolveInventory } from '../../../src/inventory/load.ts';
import { formatWarning, resolveTargets, type ConnectionSettings, type TargetsInput } from '../../../src/inventory/targets.ts';
import { parseSshConfig, type SshConfigEnv } from '../../../src/transport/ssh-config.ts';

const ENV: SshConfigEnv = { home: '/home/ops', localUser: 'ops', localHost: 'ctl', uid: 1000, env: {}, defaultUser: 'root' };
const FILE = '/srv/inv/prod.ts';

function targets(
  hosts: Record<string, { address: string; settings?: ConnectionSettings }>,
  opts: { config?: string; defaults?: ConnectionSettings; exists?: (p: string) => boolean } = {},
) {
  const input: TargetsInput = {
    file: FILE,
    hosts: Object.fromEntries(
      Object.entries(hosts).map(([n, h]) => [n, { address: h.address, settings: { ...opts.defaults, ...h.settings } }]),
    ),
    defaults: opts.defaults ?? {},
    sshConfig: opts.config === undefined ? undefined : parseSshConfig(opts.config, '/home/ops/.ssh/config'),
    env: ENV,
    exists: opts.exists ?? (() => true),
  };
  return resolveTargets(input);
}

const hop = (t: { user: string; address: string; port: number }) => `${t.user}@${t.address}:${t.port}`;

describe('ssh_config and the inventory', () => {
  const config = `
Host r1
  HostName 10.0.0.1
  User deploy
  Port 2201
  IdentityFile /keys/a
  IdentityFile /keys/b
  IdentitiesOnly yes
  UserKnownHostsFile /kh/file
  StrictHostKeyChecking accept-new
  ConnectTimeout 4
`;

  it('takes from the file what the inventory does not say, the address being the alias looked up', () => {
    const t = targets({ r1: { address: 'r1' } }, { config }).targets.get('r1')!;
    expect(t).toMatchObject({
      address: '10.0.0.1',
      user: 'deploy',
      port: 2201,
      privateKey: '/keys/a',
      identityFiles: ['/keys/b'],
      identitiesOnly: true,
      knownHosts: '/kh/file',
      hostKeyPolicy: 'accept-new',
      connectTimeoutMs: 4000,
    });
  });

  it('lets every value of the inventory win over the file, host fields and defaults alike', () => {
    const t = targets(
      { r1: { address: 'r1', settings: { user: 'root', port: 22, privateKey: '/inv/key' } } },
      { config, defaults: { knownHosts: '/inv/known_hosts', hostKeyPolicy: 'strict', connectTimeoutMs: 9000 } },
    ).targets.get('r1')!;
    expect(t).toMatchObject({
      address: '10.0.0.1', // the address is what the file says the alias is
      user: 'root',
      port: 22,
      privateKey: '/inv/key',
      knownHosts: '/inv/known_hosts',
      hostKeyPolicy: 'strict',
      connectTimeoutMs: 9000,
    });
    expect(t.identityFiles).toBeUndefined();
  });

  it("falls back to mailprov's defaults without a file", () => {
    const t = targets({ r1: { address: 'r1' } }).targets.get('r1')!;
    expect(t).toMatchObject({ address: 'r1', user: 'root', port: 22, hostKeyPolicy: 'strict', connectTimeoutMs: 10_000, sudo: false });
    expect(t.knownHosts).toMatch(/\/\.ssh\/known_hosts$/);
    expect(t.privateKey).toBeUndefined();
  });

  it('skips IdentityFile lines naming no file, and says so once for all the hosts concerned', () => {
    const r = targets(
      { a: { address: 'a' }, b: { address: 'b' } },
      { config: 'Host *\n  IdentityFile /keys/gone\n  IdentityFile /keys/here\n', exists: (p) => p === '/keys/here' },
    );
    expect(r.targets.get('a')).toMatchObject({ privateKey: '/keys/here' });
    expect(r.warnings.map(formatWarning)).toEqual(['ssh_config: IdentityFile /keys/gone does not exist: skipped (hosts a, b)']);
  });

  it('names the jump hosts a warning concerns apart from the inventory hosts', () => {
    const r = targets({ a: { address: 'a', settings: { jump: 'gw' } } }, { config: 'Match exec true\n  User x\n' });
    expect(r.warnings.map(formatWarning)).toEqual([
      'ssh_config /home/ops/.ssh/config line 1: Match exec is not supported by mailprov: this Match block is ignored (host a; jump host gw)',
    ]);
  });

  it('prints a StrictHostKeyChecking no warning once, naming its line and every host', () => {
    const r = targets(
      { a: { address: 'a' }, b: { address: 'b' }, c: { address: 'c', settings: { hostKeyPolicy: 'strict' } } },
      { config: 'StrictHostKeyChecking no\n' },
    );
    expect(r.targets.get('a')?.hostKeyPolicy).toBe('accept-new');
    expect(r.targets.get('c')?.hostKeyPolicy).toBe('strict');
    expect(r.warnings.map(formatWarning)).toEqual([
      'ssh_config /home/ops/.ssh/config line 1: StrictHostKeyChecking no is taken as accept-new: mailprov records unknown host keys but never connects to a host whose key changed (hosts a, b)',
    ]);
  });
});

describe('jump chains', () => {
  it("names another inventory host, with that host's settings (never its sudo)", () => {
    const { targets: t } = targets({
      bastion: { address: '203.0.113.5', settings: { user: 'jump', port: 2200, sudo: true, privateKey: '/k/jump' } },
      relay: { address: '10.0.0.5', settings: { jump: 'bastion', privateKey: '/k/relay' } },
    });
    const relay = t.get('relay')!;
    expect(relay.jump).toHaveLength(1);
    expect(relay.jump![0]).toMatchObject({
      name: 'bastion',
      user: 'jump',
      address: '203.0.113.5',
      port: 2200,
      privateKey: '/k/jump',
      sudo: false,
    });
    expect(t.get('bastion')!.jump).toBeUndefined();
  });

  it("reads user@host:port hops with the inventory's defaults, a chain of two, first hop first", () => {
    const { targets: t } = targets(
      { relay: { address: '10.1.0.5', settings: { jump: 'ops@198.51.100.1:2222,10.0.0.1' } } },
      { defaults: { privateKey: '/k/default', knownHosts: '/kh', user: 'admin' } },
    );
    const chain = t.get('relay')!.jump!;
    expect(chain.map(hop)).toEqual(['ops@198.51.100.1:2222', 'admin@10.0.0.1:22']);
    expect(chain[0]).toMatchObject({ name: 'ops@198.51.100.1:2222', privateKey: '/k/default', knownHosts: '/kh' });
  });

  it("puts the first hop's own jump before it (its ProxyJump, or its jump if it is an inventory host)", () => {
    const config = 'Host inner\n  HostName 10.0.0.9\n  ProxyJump outer\nHost outer\n  HostName 203.0.113.1\n  Port 2022\n';
    const { targets: t } = targets(
      {
        relay: { address: '10.2.0.5', settings: { jump: 'inner' } },
        b2: { address: '10.3.0.1', settings: { jump: 'mid' } },
        mid: { address: '10.0.0.7', settings: { jump: 'inner' } },
      },
      { config },
    );
    expect(t.get('relay')!.jump!.map(hop)).toEqual(['root@203.0.113.1:2022', 'root@10.0.0.9:22']);
    expect(t.get('b2')!.jump!.map(hop)).toEqual(['root@203.0.113.1:2022', 'root@10.0.0.9:22', 'root@10.0.0.7:22']);
  });

  it('takes ProxyJump from ssh_config, and the inventory jump over it; none is no jump', () => {
    const config = 'Host relay*\n  ProxyJump jumpbox\nHost jumpbox\n  HostName 203.0.113.7\n';
    const { targets: t } = targets(
      {
        relay1: { address: 'relay1' },
        relay2: { address: 'relay2', settings: { jump: 'none' } },
        relay3: { address: 'relay3', settings: { jump: 'x@y' } },
      },
      { config },
    );
    expect(t.get('relay1')!.jump!.map(hop)).toEqual(['root@203.0.113.7:22']);
    expect(t.get('relay2')!.jump).toBeUndefined();
    expect(t.get('relay3')!.jump!.map(hop)).toEqual(['x@y:22']);
  });

  it("doesn't take an ssh_config ProxyJump name for an inventory host: ssh would not", () => {
    const { targets: t } = targets(
      { bastion: { address: '192.0.2.1', settings: { port: 2000 } }, relay: { address: 'relay' } },
      { config: 'Host relay\n  ProxyJump bastion\n' },
    );
    expect(t.get('relay')!.jump!.map(hop)).toEqual(['root@bastion:22']);
  });

  it("resolves the README's example: defaults.jump for all, jump: 'none' on the bastion, a chain of two", () => {
    const { targets: t } = targets(
      {
        bastion: { address: 'bastion.example.org', settings: { user: 'jump', jump: 'none' } },
        relay1: { address: '10.0.0.11' },
        relay2: { address: '10.0.1.12', settings: { jump: 'bastion,ops@10.0.0.2:2222' } },
      },
      { defaults: { privateKey: '/k/id', jump: 'bastion' } },
    );
    expect(t.get('bastion')!.jump).toBeUndefined();
    expect(t.get('relay1')!.jump!.map(hop)).toEqual(['jump@bastion.example.org:22']);
    expect(t.get('relay2')!.jump!.map(hop)).toEqual(['jump@bastion.example.org:22', 'ops@10.0.0.2:2222']);
    expect(t.get('relay2')!.jump![1]).toMatchObject({ privateKey: '/k/id', sudo: false });
  });

  it('refuses a chain that loops, saying how to break it', () => {
    const loop = (hosts: Parameters<typeof targets>[0], opts?: Parameters<typeof targets>[1]) => {
      try {
        targets(hosts, opts);
      } catch (e) {
        if (e instanceof InventoryError) return e.message;
        throw e;
      }
      throw new Error('expected an InventoryError');
    };
    // a defaults.jump that also applies to the bastion itself
    expect(loop({ bastion: { address: 'b' }, relay: { address: 'r' } }, { defaults: { jump: 'bastion' } })).toMatch(
      /^\/srv\/inv\/prod\.ts: hosts\.bastion\.jump: .* \(hosts\.bastion\.jump: the jump chain comes back to bastion \(root@b:22 -> root@b:22\); .*needs jump: 'none'/,
    );
    // Host * ProxyJump that also applies to the jump host
    expect(loop({ relay: { address: 'r' } }, { config: 'Host *\n  ProxyJump gw\n' })).toMatch(
      /hosts\.relay: .*ProxyJump at .*line 2: the jump chain comes back to gw/,
    );
    expect(loop({ a: { address: 'a', settings: { jump: 'b' } }, b: { address: 'b', settings: { jump: 'a' } } })).toMatch(/comes back to a/);
    expect(loop({ a: { address: 'a', settings: { jump: 'a:x' } } })).toMatch(/hosts\.a\.jump: .*"x" is not a port number/);
  });
});

describe('resolveInventory with jump hosts', () => {
  it('tells hosts apart by the way they are reached: one private address behind two bastions is two hosts', () => {
    const inv = resolveInventory(
      {
        hosts: {
          dc1: { address: '10.0.0.5', jump: 'root@203.0.113.1' },
          dc2: { address: '10.0.0.5', jump: 'root@203.0.113.2' },
        },
      },
      FILE,
    );
    expect(inv.hosts.map((h) => h.target.jump?.[0].address)).toEqual(['203.0.113.1', '203.0.113.2']);
    expect(() =>
      resolveInventory({ hosts: { a: { address: '10.0.0.5', jump: 'j' }, b: { address: '10.0.0.5', jump: 'j' } } }, FILE),
    ).toThrow('hosts.b: a host listed once (same address and port as hosts.a (j:22 -> 10.0.0.5:22))');
  });

  it('applies an ssh_config given to it, the inventory first', () => {
    const sshConfig = parseSshConfig('Host r\n  HostName 10.9.9.9\n  User fromfile\n  Port 2222\n', '/cfg');
    const inv = resolveInventory({ defaults: { user: 'root' }, hosts: { relay: { address: 'r' } } }, FILE, { sshConfig });
    expect(inv.hosts[0].target).toMatchObject({ address: '10.9.9.9', user: 'root', port: 2222 });
    expect(inv.warnings).toEqual([]);
  });
});
