// Jump hosts on real sandbox hosts. relay1 is the bastion, the only host with a port on this machine;
// relay2 and relay3 are private, on the sandbox LAN only (reached as relayN.sandbox.test:22, a name
// only the hosts resolve), through relay1; relay4 is reached through relay2, so two jumps away. The sendmail playbook is
// planned and applied through the bastion over one shared connection to it; a wrong bastion key is
// refused for every host behind it; ssh_config aliases (--ssh-config) lead the same way.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SMTP_RULE, sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { ConnectError } from '../../src/errors.ts';
import { resolveInventory, type Inventory } from '../../src/inventory/load.ts';
import type { InventoryInput } from '../../src/inventory/schema.ts';
import { relaySettings, sandboxAddress, type SandboxHost } from '../../src/sandbox/index.ts';
import { connect, jumpConnections, type SshTarget } from '../../src/transport/ssh.ts';
import { apply, byHost, useSandbox } from './helpers.ts';

const BIN = resolve(import.meta.dirname, '../../bin/mailprov.mjs');

const sandbox = useSandbox(4, { private: { relay2: ['relay1'], relay3: ['relay1'], relay4: ['relay2'] } });
let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mailprov-it-jump-work-'));
});

afterAll(async () => {
  rmSync(work, { recursive: true, force: true });
});

// no run may leave a jump host connection open behind it
afterEach(() => expect(jumpConnections().size).toBe(0));

const host = (name: string): SandboxHost => sandbox.state.hosts.find((h) => h.name === name)!;
const bastion = () => `root@127.0.0.1:${host('relay1').port}`;
const playbooks = (): InventoryInput['playbooks'] => [{ on: 'all', use: sendmailSmartHost(relaySettings(sandbox.state)) }];

function inventory(hosts: InventoryInput['hosts'], over: Partial<NonNullable<InventoryInput['defaults']>> = {}): Inventory {
  return resolveInventory(
    {
      defaults: {
        privateKey: sandbox.state.privateKey,
        knownHosts: sandbox.state.knownHosts,
        hostKeyPolicy: 'strict',
        connectTimeoutMs: 5000,
        ...over,
      },
      hosts,
      playbooks: playbooks(),
    },
    join(work, 'inventory.ts'),
  );
}

/** The private hosts as the sandbox says to reach them (through relay1). */
const privateHosts = (over = {}) =>
  inventory({ relay2: sandboxAddress(sandbox.state, host('relay2')), relay3: sandboxAddress(sandbox.state, host('relay3')) }, over);

/** "Accepted publickey" lines in relay1's sshd log: one per SSH connection made to the bastion. */
const bastionLogins = () => (readFileSync(join(host('relay1').dir, 'host.log'), 'utf8').match(/Accepted publickey for root/g) ?? []).length;

const pubKey = (name: string) =>
  readFileSync(join(host(name).dir, 'upper/etc/ssh/ssh_host_ed25519_key.pub'), 'utf8')
    .trim()
    .split(' ')
    .slice(0, 2)
    .join(' ');

async function run(target: SshTarget, command: string): Promise<string> {
  const c = await connect(target);
  try {
    return (await c.exec(command)).stdout.trim();
  } finally {
    c.close();
  }
}

async function refusal(target: SshTarget): Promise<string> {
  try {
    await run(target, 'true');
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    return (err as Error).message;
  }
  throw new Error(`${target.name}: expected the connection to fail`);
}

describe('a bastion in front of private hosts', () => {
  it('the private hosts cannot be reached without the jump, and are recorded under the name the bastion uses', async () => {
    const [relay2] = privateHosts().hosts;
    // nothing on this machine leads to them: no forwarder was started for them
    const forwarded = JSON.parse(readFileSync(join(sandbox.state.dir, 'forwarder-ports.json'), 'utf8')) as Record<string, number>;
    expect(Object.keys(forwarded)).toEqual(['relay1']);
    // a direct connection: the name does not resolve here, and the address it has in the bastion leads nowhere here
    expect(await refusal({ ...relay2.target, jump: undefined })).toMatch(
      /^relay2: cannot connect to relay2\.sandbox\.test:22: .*ENOTFOUND/,
    );
    // its address is on the sandbox LAN, which has no leg on this machine (never addressed from here:
    // this machine would send it out of its default route)
    expect(host('relay2').lanAddress).toMatch(/^192\.168\.77\.\d+$/);
    expect(readFileSync('/proc/net/fib_trie', 'utf8')).not.toContain(host('relay2').lanAddress);
    // through the bastion it answers
    expect(await run(relay2.target, 'hostname')).toBe('relay2.sandbox.test');
    // ssh's own known_hosts line for a host reached by name on port 22
    expect(readFileSync(sandbox.state.knownHosts, 'utf8')).toContain(`\nrelay2.sandbox.test ${pubKey('relay2')}\n`);
  });

  it('plans and applies the sendmail playbook through the bastion, over one connection to it per run', async () => {
    const inv = privateHosts();
    const before = bastionLogins();
    const opened = () => [...jumpConnections().opened.values()].reduce((a, b) => a + b, 0);
    const opens = opened();

    const plan = byHost(await apply(inv, true));
    expect([plan.relay2.status, plan.relay3.status]).toEqual(['pending', 'pending']);
    expect(bastionLogins() - before).toBe(1);
    expect(opened() - opens).toBe(1);

    const applied = byHost(await apply(inv));
    for (const r of [applied.relay2, applied.relay3]) {
      expect(r.error).toBeUndefined();
      expect(r.status).toBe('changed');
      // the firewall rule is confirmed over a fresh connection to the host: that one went through the bastion too
      expect(r.changes.map((c) => c.resourceId)).toContain(`firewall:INPUT ${SMTP_RULE}`);
    }
    // both hosts and their fresh confirmations shared the run's one bastion connection
    expect(bastionLogins() - before).toBe(2);
    expect(opened() - opens).toBe(2);

    const again = byHost(await apply(inv, true));
    expect([again.relay2.status, again.relay3.status]).toEqual(['unchanged', 'unchanged']);
  });

  it('reaches a host two jumps away, by addresses or by inventory names, and not with one jump', async () => {
    const relay4 = { address: host('relay4').fqdn };
    // relay1 cannot reach relay4: only relay2 can
    const oneJump = inventory({ relay4: { ...relay4, jump: bastion() } }).hosts[0];
    expect(await refusal(oneJump.target)).toMatch(
      /^relay4: cannot connect to relay4\.sandbox\.test:22 through jump host root@127\.0\.0\.1:\d+: .*(failure|failed|refused|not known)/i,
    );
    const twoJumps = inventory({ relay4: { ...relay4, jump: `${bastion()},root@relay2.sandbox.test` } }).hosts[0];
    expect(twoJumps.target.jump?.map((j) => j.address)).toEqual(['127.0.0.1', 'relay2.sandbox.test']);
    expect(await run(twoJumps.target, 'hostname')).toBe('relay4.sandbox.test');

    // by names: relay4 jumps through relay2, whose own jump (relay1) comes first
    const named = inventory({
      relay1: { address: '127.0.0.1', port: host('relay1').port },
      relay2: { address: 'relay2.sandbox.test', jump: 'relay1' },
      relay4: { ...relay4, jump: 'relay2' },
    });
    const r4 = named.hosts.find((h) => h.name === 'relay4')!;
    expect(r4.target.jump?.map((j) => j.name)).toEqual(['relay1', 'relay2']);
    const plan = byHost(await apply({ ...named, hosts: [r4] }, true));
    expect(plan.relay4.error).toBeUndefined();
    expect(plan.relay4.status).toBe('pending');
  });

  it('refuses a wrong bastion host key for every host behind it, and a wrong key of a host behind a good bastion', async () => {
    const other = join(work, 'otherkey');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrong = readFileSync(`${other}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
    const known = readFileSync(sandbox.state.knownHosts, 'utf8');

    const badBastion = join(work, 'known_hosts.bad-bastion');
    writeFileSync(badBastion, known.replace(pubKey('relay1'), wrong));
    const before = bastionLogins();
    const results = byHost(await apply(privateHosts({ knownHosts: badBastion }), true));
    for (const name of ['relay2', 'relay3']) {
      expect(results[name].status).toBe('failed');
      expect(results[name].error).toMatch(
        new RegExp(
          `^${name}: jump host root@127\\.0\\.0\\.1:\\d+: HOST KEY CHANGED for 127\\.0\\.0\\.1:${host('relay1').port}: it offered SHA256:`,
        ),
      );
    }
    expect(bastionLogins()).toBe(before); // refused before authenticating

    const badTarget = join(work, 'known_hosts.bad-target');
    writeFileSync(badTarget, known.replace(pubKey('relay2'), wrong));
    const mixed = byHost(await apply(privateHosts({ knownHosts: badTarget }), true));
    expect(mixed.relay2.status).toBe('failed');
    expect(mixed.relay2.error).toMatch(/^relay2: HOST KEY CHANGED for relay2\.sandbox\.test:22: it offered SHA256:/);
    expect(mixed.relay3.status).toBe('unchanged');
  });
});

describe('ssh_config aliases', () => {
  // the CLI's home folder, empty: what the machine running the tests has in ~/.ssh plays no part
  let home: string;
  beforeAll(() => {
    home = join(work, 'home');
    mkdirSync(home);
  });

  /** `defaults` goes into the inventory as it is (the key and known_hosts a run without ssh_config needs). */
  function cli(args: string[], defaults = '{}') {
    const inv = join(work, 'aliases.ts');
    writeFileSync(
      inv,
      `import { defineInventory, secret } from 'mailprov';
       import { sendmailSmartHost } from 'mailprov/playbooks/sendmail-smarthost';
       export default defineInventory({
         defaults: ${defaults},
         hosts: { relay2: { address: 'private-2' }, relay3: { address: 'private-3' } },
         playbooks: [{ use: sendmailSmartHost({ smartHost: ${JSON.stringify(sandbox.state.smartHost.name)}, listen: ['0.0.0.0'],
           relayFrom: ${JSON.stringify(relaySettings(sandbox.state).relayFrom)}, verify: { recipient: 'ops@example.com' },
           auth: { user: ${JSON.stringify(sandbox.state.smartHost.user)}, password: secret.file(${JSON.stringify(sandbox.state.smartHost.passwordFile)}) } }) }],
       });\n`,
    );
    const r = spawnSync(process.execPath, [BIN, 'plan', inv, '--json', ...args], {
      encoding: 'utf8',
      cwd: work,
      env: { ...process.env, HOME: home },
    });
    return { code: r.status, json: r.stdout ? JSON.parse(r.stdout) : undefined, stderr: r.stderr };
  }

  it('reaches the hosts by their aliases: HostName, Port, User, IdentityFile, UserKnownHostsFile and ProxyJump from the file', () => {
    const config = join(work, 'ssh_config');
    writeFileSync(
      config,
      [
        'Host gw',
        '  HostName 127.0.0.1',
        `  Port ${host('relay1').port}`,
        'Host private-* !private-none',
        '  ProxyJump gw',
        'Host private-2',
        '  HostName relay2.sandbox.test',
        'Host private-3',
        '  HostName relay3.sandbox.test',
        'Match exec "false"',
        '  User nobody',
        'Host *',
        '  User root',
        `  IdentityFile ${sandbox.state.privateKey}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${sandbox.state.knownHosts}`,
        '  StrictHostKeyChecking yes',
        '  ConnectTimeout 5',
        '',
      ].join('\n'),
    );
    const r = cli(['--ssh-config', config]);
    expect(r.stderr).toContain(
      `mailprov: warning: ${join(work, 'aliases.ts')}: ssh_config ${config} line 10: Match exec is not supported by mailprov: this Match block is ignored (2 hosts: relay2 and relay3; jump host gw)\n`,
    );
    expect(
      r.json.hosts.map((h: { host: string; address: string; status: string; error: string | null }) => [
        h.host,
        h.address,
        h.status,
        h.error,
      ]),
    ).toEqual([
      ['relay2', 'relay2.sandbox.test:22', 'unchanged', null],
      ['relay3', 'relay3.sandbox.test:22', 'unchanged', null],
    ]);
    expect(r.code).toBe(0);

    // without the file the aliases are names nobody knows: given the key and known_hosts the file
    // named, a run gets as far as looking the names up, and finds none
    const none = cli(['--no-ssh-config'], JSON.stringify({ privateKey: sandbox.state.privateKey, knownHosts: sandbox.state.knownHosts }));
    expect(none.code).toBe(1);
    expect(none.json.hosts.map((h: { error: string }) => h.error)).toEqual([
      expect.stringMatching(/^relay2: cannot connect to private-2:22: .*ENOTFOUND/),
      expect.stringMatching(/^relay3: cannot connect to private-3:22: .*ENOTFOUND/),
    ]);
  });
});
