import { describe, expect, it } from 'vitest';
import { InventoryError } from '../../../src/errors.ts';
import { parseIniInventory, splitWords } from '../../../src/inventory/ini.ts';

const FILE = 'inventories/test.ini';

function parse(text: string) {
  return parseIniInventory(text, FILE);
}

function errorOf(text: string): InventoryError {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(InventoryError);
    return err as InventoryError;
  }
  throw new Error('expected an InventoryError');
}

describe('parseIniInventory: hosts', () => {
  it('reads connection variables from a host line', () => {
    const inv = parse(
      '[relays]\nrelay1 ansible_host=10.0.0.5 ansible_port=2222 ansible_user=deploy ansible_ssh_private_key_file=~/.ssh/relay\n',
    );
    expect(inv.hosts.relay1).toEqual({
      address: '10.0.0.5',
      port: 2222,
      user: 'deploy',
      privateKey: '~/.ssh/relay',
      groups: ['relays'],
      vars: {
        ansible_host: '10.0.0.5',
        ansible_port: '2222',
        ansible_user: 'deploy',
        ansible_ssh_private_key_file: '~/.ssh/relay',
      },
    });
  });

  it('leaves unset connection fields out', () => {
    const inv = parse('[relays]\nrelay1\n');
    expect(inv.hosts.relay1).toEqual({ groups: ['relays'], vars: {} });
  });

  it('puts hosts before any section in ungrouped', () => {
    const inv = parse('bastion ansible_host=192.0.2.1\n\n[relays]\nrelay1\n');
    expect(inv.hosts.bastion.groups).toEqual(['ungrouped']);
    expect(inv.hosts.bastion.address).toBe('192.0.2.1');
    expect(inv.groups.ungrouped).toEqual({ vars: {}, children: [] });
    expect(inv.hosts.relay1.groups).toEqual(['relays']);
  });

  it('does not list ungrouped when every host has a group', () => {
    expect(Object.keys(parse('[relays]\nrelay1\n').groups)).toEqual(['relays']);
  });

  it('a host listed before any section and in a group is only in the group', () => {
    const inv = parse('relay1\n[relays]\nrelay1\n');
    expect(inv.hosts.relay1.groups).toEqual(['relays']);
    expect(inv.groups.ungrouped).toBeUndefined();
  });

  it('a host only under [all] is ungrouped', () => {
    const inv = parse('[all]\nrelay1\n');
    expect(inv.hosts.relay1.groups).toEqual(['ungrouped']);
  });

  it('unquotes quoted values and keeps = inside values', () => {
    const inv = parse(`[relays]\nrelay1 motd="hello world" tag='a b' expr=a=b esc="say \\"hi\\""\n`);
    expect(inv.hosts.relay1.vars).toEqual({ motd: 'hello world', tag: 'a b', expr: 'a=b', esc: 'say "hi"' });
  });

  it('treats # outside quotes as a comment on host lines', () => {
    const inv = parse('[relays]\nrelay1 ansible_user=ops # the first relay\nrelay2 note="not # a comment"\n');
    expect(inv.hosts.relay1.vars).toEqual({ ansible_user: 'ops' });
    expect(inv.hosts.relay2.vars).toEqual({ note: 'not # a comment' });
  });

  it('skips comment lines (# and ;), blank lines and CRLF endings', () => {
    const inv = parse('# comment\r\n; another\r\n\r\n[relays]\r\n  # indented comment\r\nrelay1 ansible_port=25\r\n');
    expect(Object.keys(inv.hosts)).toEqual(['relay1']);
    expect(inv.hosts.relay1.port).toBe(25);
  });

  it('merges a host listed in two groups into one host in both', () => {
    const inv = parse('[relays]\nrelay1 ansible_host=10.0.0.5\n[eu]\nrelay1 ansible_user=ops\n[us]\nrelay2\n');
    expect(Object.keys(inv.hosts)).toEqual(['relay1', 'relay2']);
    expect(inv.hosts.relay1.groups).toEqual(['eu', 'relays']);
    expect(inv.hosts.relay1.address).toBe('10.0.0.5');
    expect(inv.hosts.relay1.user).toBe('ops');
  });

  it('a later host line overrides an earlier one for the same variable', () => {
    const inv = parse('[a]\nrelay1 ansible_user=one\n[b]\nrelay1 ansible_user=two\n');
    expect(inv.hosts.relay1.user).toBe('two');
  });

  it('accepts host:port as a short form of ansible_port', () => {
    const inv = parse('[relays]\nrelay1:2201\nrelay2:2202 ansible_port=2203\n');
    expect(inv.hosts.relay1.port).toBe(2201);
    expect(inv.hosts.relay2.port).toBe(2203);
  });

  it('keeps IPv6 addresses as names', () => {
    const inv = parse('[relays]\nfe80::1\n');
    expect(Object.keys(inv.hosts)).toEqual(['fe80::1']);
    expect(inv.hosts['fe80::1'].port).toBeUndefined();
  });

  it('keeps unusual names as ordinary keys', () => {
    const inv = parse('[__proto__]\n__proto__ x=1\nconstructor\n');
    expect(Object.keys(inv.hosts)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(inv.hosts)).toBe(Object.prototype);
    expect(inv.hosts.__proto__).toEqual({ groups: ['__proto__'], vars: { x: '1' } });
    expect(Object.keys(inv.groups)).toEqual(['__proto__']);
  });
});

describe('parseIniInventory: host ranges', () => {
  it('expands zero-padded numeric ranges', () => {
    const inv = parse('[relays]\nrelay[01:03] ansible_user=ops\n');
    expect(Object.keys(inv.hosts)).toEqual(['relay01', 'relay02', 'relay03']);
    for (const host of Object.values(inv.hosts)) expect(host).toMatchObject({ user: 'ops', groups: ['relays'] });
  });

  it('expands unpadded, stepped, alphabetic and multiple ranges with a suffix', () => {
    expect(Object.keys(parse('[a]\nweb[8:11]\n').hosts)).toEqual(['web8', 'web9', 'web10', 'web11']);
    expect(Object.keys(parse('[a]\nweb[0:6:3].example.com\n').hosts)).toEqual(['web0.example.com', 'web3.example.com', 'web6.example.com']);
    expect(Object.keys(parse('[a]\ndb-[a:c]\n').hosts)).toEqual(['db-a', 'db-b', 'db-c']);
    expect(Object.keys(parse('[a]\nr[1:2]-[x:y]\n').hosts)).toEqual(['r1-x', 'r1-y', 'r2-x', 'r2-y']);
    expect(Object.keys(parse('[a]\nr[:2]\n').hosts)).toEqual(['r0', 'r1', 'r2']);
  });

  it('combines a range with a port', () => {
    const inv = parse('[a]\nrelay[1:2]:2200\n');
    expect(inv.hosts.relay1.port).toBe(2200);
    expect(inv.hosts.relay2.port).toBe(2200);
  });

  it.each([
    ['reversed', 'relay[3:1]'],
    ['unequal padding', 'relay[01:100]'],
    ['mixed kinds', 'relay[1:c]'],
    ['multi-letter', 'relay[aa:cc]'],
    ['no colon', 'relay[1]'],
    ['bad stride', 'relay[1:5:0]'],
    ['unclosed', 'relay[1:3'],
    ['stray bracket', 'relay]1'],
  ])('rejects a malformed range (%s)', (_name, pattern) => {
    const err = errorOf(`[relays]\n${pattern}\n`);
    expect(err.file).toBe(FILE);
    expect(err.field).toBe('groups.relays');
    expect(err.expected).toMatch(/host range/);
    expect(err.message).toContain('at line 2');
  });

  it('refuses a range that would make an absurd number of hosts', () => {
    expect(errorOf('[a]\nr[0:99999999]\n').expected).toMatch(/at most 10000 hosts/);
    expect(errorOf('[a]\nr[0:999]-[0:999]\n').expected).toMatch(/at most 10000 hosts/);
  });
});

describe('parseIniInventory: groups and variables', () => {
  it('reads [group:vars] with ini: spaces around =, quotes, inline comments', () => {
    const inv = parse(
      [
        '[relays]',
        'relay1',
        '[relays:vars]',
        'ansible_user = ops',
        'smarthost="mx.example.com"',
        "banner='hello world'",
        'relay_domain = example.org ; inline comment',
        'quoted_then_comment = "a b" # note',
        'flag=true',
        'empty=',
        'url=http://x/?a=b',
      ].join('\n'),
    );
    expect(inv.groups.relays.vars).toEqual({
      ansible_user: 'ops',
      smarthost: 'mx.example.com',
      banner: 'hello world',
      relay_domain: 'example.org',
      quoted_then_comment: 'a b',
      flag: 'true',
      empty: '',
      url: 'http://x/?a=b',
    });
    expect(inv.hosts.relay1.user).toBe('ops');
    expect(inv.hosts.relay1.vars.smarthost).toBe('mx.example.com');
  });

  it('host line variables win over group variables', () => {
    const inv = parse('[relays]\nrelay1 ansible_user=root\nrelay2\n[relays:vars]\nansible_user=ops\nansible_port=2222\n');
    expect(inv.hosts.relay1.user).toBe('root');
    expect(inv.hosts.relay1.port).toBe(2222);
    expect(inv.hosts.relay2.user).toBe('ops');
    expect(inv.groups.relays.vars).toEqual({ ansible_user: 'ops', ansible_port: '2222' });
  });

  it('applies [all:vars] to every host, lowest precedence', () => {
    const inv = parse(
      'bastion\n[relays]\nrelay1\n[relays:vars]\nansible_user=ops\n[all:vars]\nansible_user=admin\nansible_ssh_private_key_file=/keys/id\n',
    );
    expect(inv.hosts.bastion).toMatchObject({ user: 'admin', privateKey: '/keys/id' });
    expect(inv.hosts.relay1).toMatchObject({ user: 'ops', privateKey: '/keys/id' });
    expect(inv.groups.all.vars).toEqual({ ansible_user: 'admin', ansible_ssh_private_key_file: '/keys/id' });
  });

  it("makes children's hosts members of the parent, transitively", () => {
    const inv = parse(
      [
        '[eu_relays]',
        'relay1',
        '[us_relays]',
        'relay2',
        '[relays:children]',
        'eu_relays',
        'us_relays',
        '[mail:children]',
        'relays',
        '[mail]',
        'mx1',
      ].join('\n'),
    );
    expect(inv.hosts.relay1.groups).toEqual(['eu_relays', 'mail', 'relays']);
    expect(inv.hosts.relay2.groups).toEqual(['mail', 'relays', 'us_relays']);
    expect(inv.hosts.mx1.groups).toEqual(['mail']);
    expect(inv.groups.relays).toEqual({ vars: {}, children: ['eu_relays', 'us_relays'] });
    expect(inv.groups.mail.children).toEqual(['relays']);
  });

  it('child group vars win over parent vars, whatever the file order', () => {
    const inv = parse(
      [
        '[eu_relays:vars]',
        'smarthost=eu.example.com',
        '[eu_relays]',
        'relay1',
        '[us_relays]',
        'relay2',
        '[relays:children]',
        'eu_relays',
        'us_relays',
        '[relays:vars]',
        'smarthost=mx.example.com',
        'ansible_user=ops',
        '[all:vars]',
        'smarthost=fallback.example.com',
        'ansible_user=admin',
      ].join('\n'),
    );
    expect(inv.hosts.relay1.vars).toEqual({ smarthost: 'eu.example.com', ansible_user: 'ops' });
    expect(inv.hosts.relay2.vars).toEqual({ smarthost: 'mx.example.com', ansible_user: 'ops' });
  });

  it('between groups at the same depth, the later name wins (as Ansible)', () => {
    const inv = parse('[alpha]\nrelay1\n[beta]\nrelay1\n[beta:vars]\nx=beta\n[alpha:vars]\nx=alpha\n');
    expect(inv.hosts.relay1.vars.x).toBe('beta');
  });

  it('keeps empty groups and groups only named as children', () => {
    const inv = parse('[empty]\n[parent:children]\nlater\n');
    expect(inv.groups).toEqual({
      empty: { vars: {}, children: [] },
      parent: { vars: {}, children: ['later'] },
      later: { vars: {}, children: [] },
    });
    expect(inv.hosts).toEqual({});
  });

  it('accepts the [group:hosts] spelling and comments after a header', () => {
    const inv = parse('[relays:hosts] # the relays\nrelay1\n');
    expect(inv.hosts.relay1.groups).toEqual(['relays']);
  });
});

describe('parseIniInventory: errors', () => {
  it('rejects a non-integer or out-of-range ansible_port on a host line', () => {
    for (const bad of ['x', '0', '65536', '22.5', '-1', '']) {
      const err = errorOf(`[relays]\n\nrelay1 ansible_port=${bad}\n`);
      expect(err.file).toBe(FILE);
      expect(err.field).toBe('hosts.relay1.ansible_port');
      expect(err.expected).toBe('an integer port from 1 to 65535');
      expect(err.message).toBe(`${FILE}: hosts.relay1.ansible_port: an integer port from 1 to 65535 (got "${bad}" at line 3)`);
    }
  });

  it('rejects a bad port in host:port and in group vars', () => {
    expect(errorOf('[a]\nrelay1:http\n').field).toBe('hosts.relay1.ansible_port');
    const err = errorOf('[a]\nrelay1\n[a:vars]\nansible_port=ssh\n');
    expect(err.field).toBe('groups.a.vars.ansible_port');
    expect(err.message).toContain('got "ssh" at line 4');
  });

  it('reads mailprov_keep_generations on a host line or in group vars, and rejects anything but a whole number of at least 1', () => {
    const inv = parse('[relays]\nrelay1 mailprov_keep_generations=3\nrelay2\n[relays:vars]\nmailprov_keep_generations=20\n');
    expect(inv.hosts.relay1.keepGenerations).toBe(3);
    expect(inv.hosts.relay2.keepGenerations).toBe(20);
    expect(parse('[relays]\nrelay1\n').hosts.relay1.keepGenerations).toBeUndefined();
    for (const bad of ['0', 'ten', '2.5', '-1', '']) {
      const err = errorOf(`[relays]\nrelay1 mailprov_keep_generations=${bad}\n`);
      expect(err.message).toBe(
        `${FILE}: hosts.relay1.mailprov_keep_generations: a whole number of generations to keep on the host, at least 1 (got "${bad}" at line 2)`,
      );
    }
    expect(errorOf('[a]\nrelay1\n[a:vars]\nmailprov_keep_generations=all\n').field).toBe('groups.a.vars.mailprov_keep_generations');
  });

  it('rejects a word without = after the host name', () => {
    const err = errorOf('[relays]\nrelay1 ansible_user=ops stray\n');
    expect(err.field).toBe('hosts.relay1');
    expect(err.expected).toBe('key=value variables after the host name');
    expect(err.message).toContain('got "stray" at line 2');
  });

  it('rejects a line that starts with a variable instead of a host', () => {
    const err = errorOf('[relays]\nansible_user=ops\n');
    expect(err.field).toBe('groups.relays');
    expect(err.message).toContain('at line 2');
  });

  it('rejects unbalanced quotes', () => {
    const err = errorOf('[relays]\nrelay1 motd="oops\n');
    expect(err.expected).toMatch(/balanced quotes/);
  });

  it('rejects a [group:vars] line without =', () => {
    const err = errorOf('[relays:vars]\nansible_user=ops\njust_a_word\n');
    expect(err.field).toBe('groups.relays.vars');
    expect(err.expected).toBe('key=value lines');
    expect(err.message).toContain('got "just_a_word" at line 3');
  });

  it('rejects a variable name that is not an identifier', () => {
    expect(errorOf('[a:vars]\nbad-name=1\n').field).toBe('groups.a.vars');
    expect(errorOf('[a:vars]\nlist[]=1\n').field).toBe('groups.a.vars');
    expect(errorOf('[a]\nh 1x=2\n').field).toBe('hosts.h');
  });

  it.each([['[relays'], ['[relays:wat]'], ['[]'], ['[re lays]'], ['[relays] trailing']])('rejects the header %s', (header) => {
    const err = errorOf(`relay0\n${header}\nrelay1\n`);
    expect(err.field).toBe('sections');
    expect(err.expected).toMatch(/\[group\], \[group:vars\] or \[group:children\]/);
    expect(err.message).toContain('at line 2');
  });

  it('rejects more than one name on a [group:children] line', () => {
    const err = errorOf('[relays:children]\neu us\n');
    expect(err.field).toBe('groups.relays.children');
    expect(err.expected).toBe('one group name per line');
  });

  it('rejects groups that contain themselves', () => {
    expect(errorOf('[a:children]\na\n').message).toContain('a -> a at line 2');
    const err = errorOf('[a:children]\nb\n[b:children]\nc\n[c:children]\na\n');
    expect(err.field).toBe('groups.c.children');
    expect(err.message).toContain('c -> a -> b -> c at line 6');
  });

  it('rejects all as a child group', () => {
    expect(errorOf('[a:children]\nall\n').expected).toBe('a group other than all');
  });
});

describe('splitWords', () => {
  it('splits like shlex: quotes, escapes and comments', () => {
    expect(splitWords(`a  b\tc`)).toEqual(['a', 'b', 'c']);
    expect(splitWords(`k="a b" j='c "d"' e=x\\ y`)).toEqual(['k=a b', `j=c "d"`, 'e=x y']);
    expect(splitWords(`a # b c`)).toEqual(['a']);
    expect(splitWords(`a "" b`)).toEqual(['a', '', 'b']);
    expect(splitWords(`"a\\"b\\\\c\\n"`)).toEqual(['a"b\\c\\n']);
    expect(splitWords(`# only a comment`)).toEqual([]);
    expect(splitWords(`"open`)).toBeUndefined();
    expect(splitWords(`'open`)).toBeUndefined();
  });
});
