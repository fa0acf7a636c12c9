// Ansible inventories as operators have them: the ansible_* variables mailprov reads (one mapping for
// INI and YAML), the ssh arguments in ansible_ssh_common_args, and what is ignored, said once.
import { describe, expect, it } from 'vitest';
import { InventoryError } from '../../../src/errors.ts';
import { hostFields, jumpFromProxyCommand } from '../../../src/inventory/ansible-vars.ts';
import { parseIniInventory } from '../../../src/inventory/ini.ts';
import { parseYamlInventory } from '../../../src/inventory/yaml.ts';
import { redact } from '../../../src/secrets/index.ts';

const FILE = '/srv/ansible/hosts';

const fields = (vars: Record<string, unknown>) => hostFields('relay1', new Map(Object.entries(vars)), FILE);

function errorOf(run: () => unknown): InventoryError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(InventoryError);
    return err as InventoryError;
  }
  throw new Error('expected an InventoryError');
}

// An inventory as it grew over the years under Ansible: sudo everywhere, host keys unchecked, a
// bastion for the private relays (the old ProxyCommand way), a local host for monitoring.
const PRODUCTION_INI = `# production relays
[all:vars]
ansible_user=deploy
ansible_become=true
ansible_python_interpreter=/usr/bin/python3
ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'

[relays_eu]
mx-eu-[01:02].example.net

[relays_us]
mx-us-01.example.net ansible_host=203.0.113.10 ansible_port=2222
mx-us-02.example.net ansible_host=203.0.113.11 ansible_ssh_private_key_file=~/.ssh/us_deploy ansible_ssh_pipelining=true

[relays_private]
mx-int-01 ansible_host=10.20.0.5

[relays_private:vars]
ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p -q admin@bastion.example.net" -o ControlMaster=auto -o ControlPersist=60s'
ansible_host_key_checking=false

[relays:children]
relays_eu
relays_us
relays_private

[monitoring]
localhost ansible_connection=local
`;

describe('Ansible INI inventories as they are', () => {
  it('maps the connection variables, ssh arguments and become of every host, by group precedence', () => {
    const inv = parseIniInventory(PRODUCTION_INI, FILE);
    expect(Object.keys(inv.hosts)).toEqual([
      'mx-eu-01.example.net',
      'mx-eu-02.example.net',
      'mx-us-01.example.net',
      'mx-us-02.example.net',
      'mx-int-01',
    ]);
    const { groups: _g, vars: _v, ...eu } = inv.hosts['mx-eu-01.example.net'];
    expect(eu).toEqual({ user: 'deploy', sudo: true, knownHosts: '/dev/null', hostKeyPolicy: 'accept-new' });
    expect(inv.hosts['mx-us-01.example.net']).toMatchObject({ address: '203.0.113.10', port: 2222, user: 'deploy', sudo: true });
    expect(inv.hosts['mx-us-02.example.net']).toMatchObject({ address: '203.0.113.11', privateKey: '~/.ssh/us_deploy' });
    // the deeper group's ssh arguments replace all's: a jump host, and host key checking off by its own variable
    const { groups, vars: _vi, ...internal } = inv.hosts['mx-int-01'];
    expect(internal).toEqual({
      address: '10.20.0.5',
      user: 'deploy',
      sudo: true,
      jump: 'admin@bastion.example.net',
      hostKeyPolicy: 'accept-new',
    });
    expect(groups).toEqual(['relays', 'relays_private']);
  });

  it('says once, for the whole inventory, what it ignores, what it reads as accept-new, and the hosts it leaves out', () => {
    const { warnings } = parseIniInventory(PRODUCTION_INI, FILE);
    expect(warnings.map((w) => w.message)).toEqual([
      'Ansible variables mailprov does not read, ignored: ansible_python_interpreter, ansible_ssh_pipelining',
      'ssh arguments mailprov does not read (in ansible_ssh_*_args), ignored: ControlMaster, ControlPersist',
      "ansible_host_key_checking=false is read as hostKeyPolicy 'accept-new': an unknown host key is recorded on first contact, and a host whose key changed is refused all the same (mailprov never connects to one)",
      'hosts with ansible_connection=local are left out: mailprov manages hosts over SSH only',
    ]);
    expect(warnings.map((w) => w.hosts)).toEqual([
      // a host left out has nothing to ignore
      ['mx-eu-01.example.net', 'mx-eu-02.example.net', 'mx-us-01.example.net', 'mx-us-02.example.net', 'mx-int-01'],
      ['mx-int-01'],
      ['mx-int-01'],
      ['localhost'],
    ]);
    expect(warnings.every((w) => w.file === FILE)).toBe(true);
  });

  it("the issue's inventory: StrictHostKeyChecking=no with UserKnownHostsFile=/dev/null gives accept-new into /dev/null", () => {
    const inv = parseIniInventory(
      "[relays]\nrelay1 ansible_host=192.0.2.10\n[relays:vars]\nansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n",
      FILE,
    );
    expect(inv.hosts.relay1).toMatchObject({ hostKeyPolicy: 'accept-new', knownHosts: '/dev/null' });
    // the loud warning about /dev/null comes from the loader (load.test.ts), for every kind of inventory
    expect(inv.warnings).toEqual([]);
  });
});

describe('the ansible_* mapping', () => {
  it('reads the old ansible_ssh_* spellings, the dedicated variable winning over the ssh argument', () => {
    expect(
      fields({ ansible_ssh_host: 'h', ansible_ssh_port: '2200', ansible_ssh_user: 'u', ansible_private_key_file: 'k' }).fields,
    ).toEqual({
      address: 'h',
      port: 2200,
      user: 'u',
      privateKey: 'k',
    });
    const both = fields({
      ansible_port: 2201,
      ansible_user: 'a',
      ansible_ssh_common_args: '-o Port=2202 -o User=b -i other -o ConnectTimeout=7',
    });
    expect(both.fields).toEqual({ port: 2201, user: 'a', privateKey: 'other', connectTimeoutMs: 7000 });
    expect(fields({ ansible_ssh_timeout: '30' }).fields).toEqual({ connectTimeoutMs: 30_000 });
  });

  it('reads -o in every spelling ssh accepts, and the short forms -J, -i, -p, -l; the first value of an option wins', () => {
    const { fields: f, notes } = fields({
      ansible_ssh_args: '-C -oStrictHostKeyChecking=yes',
      ansible_ssh_common_args: '-o "UserKnownHostsFile ~/.ssh/relays_known_hosts ~/.ssh/other" -o stricthostkeychecking=no -p 2222 -l ops',
      ansible_ssh_extra_args: '-J jump1,admin@jump2:2200 -o ProxyJump=ignored-later -F /etc/ssh/other_config',
    });
    expect(f).toEqual({
      port: 2222,
      user: 'ops',
      knownHosts: '~/.ssh/relays_known_hosts',
      hostKeyPolicy: 'strict',
      jump: 'jump1,admin@jump2:2200',
    });
    expect(notes.map((n) => n.kind === 'ignored-ssh-option' && n.name)).toEqual(['-C', '-F']);
  });

  it.each([
    ['yes', 'strict'],
    ['ask', 'strict'],
    ['accept-new', 'accept-new'],
    ['no', 'accept-new'],
    ['off', 'accept-new'],
  ])('StrictHostKeyChecking=%s is %s', (value, policy) => {
    expect(fields({ ansible_ssh_common_args: `-o StrictHostKeyChecking=${value}` }).fields.hostKeyPolicy).toBe(policy);
  });

  it('UserKnownHostsFile=none is /dev/null; ProxyJump=none is no jump', () => {
    expect(fields({ ansible_ssh_common_args: '-o UserKnownHostsFile=none -o ProxyJump=none' }).fields).toEqual({ knownHosts: '/dev/null' });
  });

  it('become: sudo as root; another user or method cannot manage the host', () => {
    expect(fields({ ansible_become: 'yes', ansible_become_user: 'root', ansible_become_method: 'sudo' }).fields).toEqual({ sudo: true });
    expect(fields({ ansible_become: false, ansible_become_user: 'postgres' }).fields).toEqual({ sudo: false });
    expect(errorOf(() => fields({ ansible_become: true, ansible_become_user: 'postgres' })).message).toBe(
      `${FILE}: hosts.relay1.ansible_become_user: root (mailprov changes system files and services as root) (got "postgres")`,
    );
    expect(errorOf(() => fields({ ansible_become: 'True', ansible_become_method: 'su' })).field).toBe('hosts.relay1.ansible_become_method');
    expect(errorOf(() => fields({ ansible_become: 'maybe' })).expected).toBe('a boolean (true/false, yes/no)');
  });

  it('carries the mailprov_* settings, and refuses an unknown one', () => {
    expect(
      fields({ mailprov_keep_generations: 4, mailprov_sudo_password_env: 'SUDO_PW', mailprov_private_key_passphrase_env: 'KEY_PW' }).fields,
    ).toEqual({ keepGenerations: 4, sudoPasswordEnv: 'SUDO_PW', privateKeyPassphraseEnv: 'KEY_PW' });
    expect(errorOf(() => fields({ mailprov_keep_generation: 4 })).field).toBe('hosts.relay1.mailprov_keep_generation');
  });

  it('refuses a Jinja template, a value that is a list, and malformed ssh arguments, naming the variable', () => {
    expect(errorOf(() => fields({ ansible_host: '{{ inventory_hostname }}.example.org' })).expected).toMatch(/does not evaluate Jinja/);
    expect(errorOf(() => fields({ ansible_user: ['a', 'b'] })).expected).toBe('a single value');
    expect(errorOf(() => fields({ ansible_ssh_common_args: "-o 'StrictHostKeyChecking=no" })).field).toBe(
      'hosts.relay1.ansible_ssh_common_args',
    );
    expect(errorOf(() => fields({ ansible_ssh_common_args: '-o' })).expected).toBe('a value after -o');
    expect(errorOf(() => fields({ ansible_ssh_common_args: '-o StrictHostKeyChecking=perhaps' })).expected).toMatch(
      /^StrictHostKeyChecking: yes/,
    );
    expect(errorOf(() => fields({ ansible_ssh_extra_args: '-o Port=0' })).expected).toMatch(/^Port: an integer port/);
    expect(errorOf(() => fields({ ansible_ssh_common_args: '-o ProxyCommand="nc -x proxy:1080 %h %p"' })).expected).toMatch(
      /ProxyCommand of the form ssh -W/,
    );
  });

  it('masks a password written in the inventory, though it is not used', () => {
    const { notes } = fields({ ansible_become_password: 'Pl4in-in-inventory' });
    expect(notes).toEqual([{ kind: 'ignored-var', host: 'relay1', name: 'ansible_become_password' }]);
    expect(redact('sudo: Pl4in-in-inventory')).toBe('sudo: ********');
  });

  it('reads a bastion ProxyCommand as a jump host', () => {
    expect(jumpFromProxyCommand('ssh -W %h:%p -q bastion')).toBe('bastion');
    expect(jumpFromProxyCommand('ssh -q -W %h:%p ops@bastion -p 2222')).toBe('ops@bastion:2222');
    expect(jumpFromProxyCommand('/usr/bin/ssh -l ops -W %h:%p bastion.example.net')).toBe('ops@bastion.example.net');
    expect(jumpFromProxyCommand('ssh bastion nc %h %p')).toBeUndefined();
    expect(jumpFromProxyCommand('ssh -i key -W %h:%p bastion')).toBeUndefined();
    expect(jumpFromProxyCommand('ssh -W [%h]:%p bastion')).toBe('bastion');
  });

  it('takes the first of ProxyCommand and ProxyJump, as ssh does (issue 24)', () => {
    const jump = (args: string) => fields({ ansible_ssh_common_args: args }).fields.jump;
    expect(jump('-o ProxyCommand="ssh -W %h:%p secure-bastion" -o ProxyJump=general')).toBe('secure-bastion');
    expect(jump('-o ProxyJump=general -o ProxyCommand="ssh -W %h:%p secure-bastion"')).toBe('general');
    expect(jump('-o ProxyCommand=none -J general')).toBeUndefined();
  });
});

// The same relays as an Ansible YAML inventory: nested groups, vars at each level, a range, a
// host in two groups.
const PRODUCTION_YAML = `
all:
  vars:
    ansible_user: ops
    ansible_ssh_private_key_file: keys/ops_ed25519
    ntp_servers: [0.pool.ntp.org, 1.pool.ntp.org]
  children:
    relays:
      vars:
        ansible_become: yes
        ansible_become_user: root
        mailprov_keep_generations: 5
      children:
        dc1:
          hosts:
            relay[1:2].dc1.example.org:
            relay3.dc1.example.org:
              ansible_host: 192.0.2.13
              ansible_port: 2200
        dc2:
          vars:
            ansible_ssh_extra_args: -J bastion.dc2.example.org:2222
            mailprov_keep_generations: 3
          hosts:
            relay1.dc2.example.org:
              ansible_ssh_common_args: "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=~/.ssh/known_hosts_dc2"
    web:
      hosts:
        relay3.dc1.example.org:
          ansible_port: 2201
        web1.example.org:
          ansible_become: false
`;

describe('Ansible YAML inventories', () => {
  it('reads nested groups with group vars inherited as Ansible does (deeper wins, host vars win)', () => {
    const inv = parseYamlInventory(PRODUCTION_YAML, FILE);
    expect(Object.keys(inv.hosts).sort()).toEqual([
      'relay1.dc1.example.org',
      'relay1.dc2.example.org',
      'relay2.dc1.example.org',
      'relay3.dc1.example.org',
      'web1.example.org',
    ]);
    expect(inv.hosts['relay1.dc1.example.org']).toMatchObject({
      user: 'ops',
      privateKey: 'keys/ops_ed25519',
      sudo: true,
      keepGenerations: 5,
      groups: ['dc1', 'relays'],
    });
    // a host defined in two groups: its own variables merge, the later definition winning
    expect(inv.hosts['relay3.dc1.example.org']).toMatchObject({ address: '192.0.2.13', port: 2201, groups: ['dc1', 'relays', 'web'] });
    expect(inv.hosts['relay1.dc2.example.org']).toMatchObject({
      keepGenerations: 3,
      jump: 'bastion.dc2.example.org:2222',
      hostKeyPolicy: 'accept-new',
      knownHosts: '~/.ssh/known_hosts_dc2',
    });
    expect(inv.hosts['web1.example.org']).toMatchObject({ user: 'ops', sudo: false, groups: ['web'] });
    expect(inv.hosts['web1.example.org'].vars.ntp_servers).toEqual(['0.pool.ntp.org', '1.pool.ntp.org']);
    expect(inv.groups.relays).toEqual({
      vars: { ansible_become: 'yes', ansible_become_user: 'root', mailprov_keep_generations: 5 },
      children: ['dc1', 'dc2'],
    });
    expect(inv.warnings).toEqual([]);
  });

  it('gives the same hosts as the same inventory in INI', () => {
    const ini = parseIniInventory(
      '[all:vars]\nansible_user=ops\n[dc1]\nrelay[1:2] ansible_port=2200\n[dc1:vars]\nansible_become=yes\n[relays:children]\ndc1\n',
      FILE,
    );
    const yaml = parseYamlInventory(
      'all:\n  vars: {ansible_user: ops}\n  children:\n    relays:\n      children:\n        dc1:\n          vars: {ansible_become: yes}\n          hosts:\n            relay[1:2]: {ansible_port: 2200}\n',
      FILE,
    );
    const shape = (inv: typeof ini) => Object.entries(inv.hosts).map(([n, { vars: _v, ...h }]) => [n, h]);
    expect(shape(yaml)).toEqual(shape(ini));
  });

  it('puts hosts directly under all in ungrouped, and reads host:port', () => {
    const inv = parseYamlInventory('all:\n  hosts:\n    relay1:2222:\n    relay2:\n', FILE);
    expect(inv.hosts.relay1).toEqual({ port: 2222, groups: ['ungrouped'], vars: { ansible_port: '2222' } });
    expect(inv.groups.ungrouped).toEqual({ vars: {}, children: [] });
  });

  it('an empty file is an empty inventory', () => {
    expect(parseYamlInventory('# nothing yet\n', FILE)).toEqual({ hosts: {}, groups: {}, warnings: [] });
  });

  it.each([
    ['all:\n  hosts:\n    - relay1\n', 'all.hosts', 'a mapping of host names to their variables'],
    ['all:\n  host:\n    relay1:\n', 'all.host', 'hosts:, vars: or children: (Ansible skips anything else)'],
    [
      'all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n',
      'all.children.a.children.b',
      'groups that do not contain themselves',
    ],
    ['all:\n  vars:\n    bad-name: 1\n', 'all.vars.bad-name', 'a variable name (letters, digits, "_")'],
    ['- all\n', '(top level)', 'a mapping of groups, such as all:'],
    ['all:\n  hosts:\n    relay[3:1]:\n', 'groups.all', 'a host range like relay[01:03] or relay[a:c] (start <= end)'],
  ])('refuses %j naming %s', (text, field, expected) => {
    const e = errorOf(() => parseYamlInventory(text, FILE));
    expect([e.field, e.expected]).toEqual([field, expected]);
  });

  it('reports a YAML syntax error with its line', () => {
    const e = errorOf(() => parseYamlInventory('all:\n  hosts:\n    relay1: {ansible_port: 22\n', FILE));
    expect(e.field).toBe('(file)');
    expect(e.message).toMatch(/at line \d/);
    const dup = errorOf(() => parseYamlInventory('all:\n  hosts: {}\n  hosts: {}\n', FILE));
    expect(dup.message).toMatch(/unique/);
  });
});
