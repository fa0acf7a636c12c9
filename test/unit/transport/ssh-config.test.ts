// ssh_config as OpenSSH reads it: first match wins per keyword, Host patterns with negation, Match,
// Include, tokens; and what the inventory says wins over the file.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SshConfigError } from '../../../src/errors.ts';
import { type ConnectionSettings, resolveTargets } from '../../../src/inventory/targets.ts';
import {
  collectSshConfig,
  globPaths,
  hostLineMatches,
  loadSshConfig,
  matchPatternList,
  nodeSshConfigFs,
  parseSshConfig,
  resolveSshConfig,
  type SshConfigEnv,
  type SshConfigFs,
} from '../../../src/transport/ssh-config.ts';

const FILE = '/home/ops/.ssh/config';
const ENV: SshConfigEnv = {
  home: '/home/ops',
  localUser: 'ops',
  localHost: 'ctl.example.org',
  uid: 1000,
  env: { KEYS: '/keys' },
  defaultUser: 'root',
};
const parse = (text: string) => parseSshConfig(text, FILE);
const resolveFor = (text: string, alias: string, given = {}) => resolveSshConfig(parse(text), alias, given, ENV);

describe('parseSshConfig', () => {
  it('reads keywords in any case, = or spaces, quotes and comments, each with its line', () => {
    const file = parse(
      '# top\n\nPort=2222\nHost a b !c  # trailing\n  HOSTNAME  10.0.0.5\n  IdentityFile "~/my key"\n  UserKnownHostsFile /a /b\n',
    );
    expect(file.entries.map((e) => [e.keyword, e.args, e.line])).toEqual([
      ['port', ['2222'], 3],
      ['host', ['a', 'b', '!c'], 4],
      ['hostname', ['10.0.0.5'], 5],
      ['identityfile', ['~/my key'], 6],
      ['userknownhostsfile', ['/a', '/b'], 7],
    ]);
  });

  it('says which file cannot be parsed', () => {
    expect(() => parse('Host a\n  IdentityFile "~/unterminated\n')).toThrow(SshConfigError);
    expect(() => parse('Host a\n  IdentityFile "~/unterminated\n')).toThrow(/^\/home\/ops\/\.ssh\/config: cannot parse it/);
  });
});

describe('patterns', () => {
  it('matches * and ? (exactly one character), case-insensitively, negation vetoing the line', () => {
    expect(hostLineMatches('relay1', ['relay?'])).toBe(true);
    expect(hostLineMatches('relay10', ['relay?'])).toBe(false);
    expect(hostLineMatches('relay', ['relay?'])).toBe(false);
    expect(hostLineMatches('Relay1.Example.ORG', ['*.example.org'])).toBe(true);
    expect(hostLineMatches('bastion', ['*', '!bastion'])).toBe(false);
    expect(hostLineMatches('relay1', ['*', '!bastion'])).toBe(true);
    // a line of negations only matches nothing
    expect(hostLineMatches('relay1', ['!bastion'])).toBe(false);
    // on a Host line a comma is part of the pattern
    expect(hostLineMatches('a', ['a,b'])).toBe(false);
  });

  it('reads comma-separated lists with negation for Match', () => {
    expect(matchPatternList('db1', 'web*,db*')).toBe(true);
    expect(matchPatternList('db1', 'db*,!db1')).toBe(false);
    expect(matchPatternList('x', '!db1')).toBe(false);
  });
});

describe('resolveSshConfig', () => {
  const config = `
Host bastion
  HostName 203.0.113.5
  User jump
  Port 2200
  ProxyJump none

Host relay-* !relay-old
  HostName %h.dc1.example.org
  User deploy
  ProxyJump bastion
  IdentityFile ~/.ssh/relay_%r
  ConnectTimeout 7

Host relay-old
  HostName 198.51.100.9

Host *
  User fallback
  Port 2222
  IdentityFile %d/.ssh/id_%L_%n
  IdentitiesOnly yes
  UserKnownHostsFile \${KEYS}/known_%h_%p
  StrictHostKeyChecking accept-new
`;

  it('takes the first value of each keyword from the lines that apply, IdentityFile accumulating', () => {
    const r = resolveFor(config, 'relay-a');
    expect(r).toMatchObject({
      hostName: 'relay-a.dc1.example.org',
      user: 'deploy',
      port: 2222,
      identityFiles: ['/home/ops/.ssh/relay_deploy', '/home/ops/.ssh/id_ctl_relay-a'],
      identitiesOnly: true,
      knownHosts: '/keys/known_relay-a.dc1.example.org_2222',
      hostKeyPolicy: 'accept-new',
      connectTimeoutMs: 7000,
    });
    expect(r.proxyJump).toMatchObject({ value: 'bastion', line: 11 });
    expect(r.warnings).toEqual([]);
  });

  it('lets a negated pattern keep a host out of a block', () => {
    const r = resolveFor(config, 'relay-old');
    expect(r.hostName).toBe('198.51.100.9');
    expect(r.user).toBe('fallback');
    expect(r.proxyJump).toBeUndefined();
  });

  it('reads the jump host itself, whose ProxyJump none comes first', () => {
    const r = resolveFor(config, 'bastion');
    expect(r).toMatchObject({ hostName: '203.0.113.5', user: 'jump', port: 2200 });
    expect(r.proxyJump?.value).toBe('none');
  });

  it('leaves to the inventory what it says, and expands tokens with its values', () => {
    const r = resolveFor(config, 'relay-a', {
      user: 'root',
      port: 22,
      knownHosts: '/inv/known_hosts',
      hostKeyPolicy: 'strict',
      connectTimeoutMs: 1000,
    });
    expect(r.user).toBeUndefined();
    expect(r.port).toBeUndefined();
    expect(r.knownHosts).toBeUndefined();
    expect(r.hostKeyPolicy).toBeUndefined();
    expect(r.connectTimeoutMs).toBeUndefined();
    // %r is the user the inventory chose
    expect(r.identityFiles[0]).toBe('/home/ops/.ssh/relay_root');
    // a key in the inventory: the file's keys are not used at all
    expect(resolveFor(config, 'relay-a', { privateKey: '/inv/key' }).identityFiles).toEqual([]);
  });

  it('knows nothing of an alias no line matches, except Host * and lines before any Host', () => {
    const r = resolveFor('Port 2201\nHost other\n  User x\n', 'relay1');
    expect(r).toMatchObject({ port: 2201, identityFiles: [] });
    expect(r.user).toBeUndefined();
    expect(r.hostName).toBeUndefined();
  });

  it('evaluates Match host against HostName, originalhost against the alias, and user', () => {
    const text = `
Host short
  HostName long.example.org
Match host *.example.org user root
  Port 2022
Match originalhost short !user admin
  User matched
Match all
  ConnectTimeout 3
`;
    const r = resolveFor(text, 'short');
    expect(r).toMatchObject({ hostName: 'long.example.org', port: 2022, user: 'matched', connectTimeoutMs: 3000 });
    // the inventory's user is what Match user sees
    expect(resolveFor(text, 'short', { user: 'admin' }).port).toBeUndefined();
  });

  it('ignores a Match block it cannot evaluate (never running exec), with a warning', () => {
    const r = resolveFor('Match exec "touch /tmp/pwned"\n  User bad\nHost *\n  User good\n', 'a');
    expect(r.user).toBe('good');
    expect(r.warnings).toEqual([{ file: FILE, line: 1, message: 'Match exec is not supported by mailprov: this Match block is ignored' }]);
  });

  it('maps StrictHostKeyChecking: yes and ask strict, accept-new, no and off accept-new with a warning', () => {
    const policy = (v: string) => resolveFor(`StrictHostKeyChecking ${v}\n`, 'a');
    expect(policy('yes').hostKeyPolicy).toBe('strict');
    expect(policy('ask').hostKeyPolicy).toBe('strict');
    expect(policy('accept-new')).toMatchObject({ hostKeyPolicy: 'accept-new', warnings: [] });
    for (const v of ['no', 'off']) {
      const r = policy(v);
      expect(r.hostKeyPolicy).toBe('accept-new');
      expect(r.warnings[0].message).toMatch(/is taken as accept-new: .*never connects to a host whose key changed/);
    }
    // set by the inventory: the file's value is not used, so no warning either
    expect(resolveSshConfig(parse('StrictHostKeyChecking no\n'), 'a', { hostKeyPolicy: 'strict' }, ENV).warnings).toEqual([]);
    expect(() => policy('maybe')).toThrow(/line 1: StrictHostKeyChecking maybe: expected yes, accept-new, no, off or ask/);
  });

  it('warns about a second known_hosts file', () => {
    const r = resolveFor('Host a\n  UserKnownHostsFile /k1 /k2\n', 'a');
    expect(r.knownHosts).toBe('/k1');
    expect(r.warnings.map((w) => [w.line, w.message])).toEqual([
      [2, 'UserKnownHostsFile names 2 files: mailprov reads and records only the first'],
    ]);
  });

  it('refuses values that cannot be right, naming the line', () => {
    expect(() => resolveFor('Port http\n', 'a')).toThrow(/config line 1: Port http: expected a port number/);
    expect(() => resolveFor('ConnectTimeout 1.5\n', 'a')).toThrow(/line 1: ConnectTimeout 1.5: expected whole seconds/);
    expect(() => resolveFor('IdentityFile ~/.ssh/%C\n', 'a')).toThrow(/the token %C is not supported/);
    expect(() => resolveFor('IdentityFile ${NOPE}/k\n', 'a')).toThrow(/the environment variable NOPE is not set/);
    expect(() => resolveFor('IdentitiesOnly sure\n', 'a')).toThrow(/sure: expected yes or no/);
  });
});

describe('Include', () => {
  const memoryFs = (files: Record<string, string>): SshConfigFs => ({
    home: '/home/ops',
    readFile: (p) => {
      if (!(p in files)) throw Object.assign(new Error('no'), { code: 'ENOENT' });
      return files[p];
    },
    glob: (pattern) => {
      const re = new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace(/\*/g, '[^/]*')}$`);
      return Object.keys(files)
        .filter((f) => re.test(f))
        .sort();
    },
  });

  it('reads included files in place, relative to ~/.ssh, only where the Include applies', () => {
    const fs = memoryFs({
      [FILE]: 'Include conf.d/*.conf\nHost db\n  Include /etc/db.conf\nHost *\n  User last\n',
      '/home/ops/.ssh/conf.d/10-relays.conf': 'Host relay*\n  User relayuser\n',
      '/home/ops/.ssh/conf.d/20-all.conf': 'Port 2020\n',
      '/etc/db.conf': 'User dbuser\n',
    });
    const config = loadSshConfig(FILE, fs);
    const user = (alias: string) => collectSshConfig(config, alias, { defaultUser: 'root', localUser: 'ops' }).values.user?.value;
    expect(user('relay1')).toBe('relayuser');
    expect(user('db')).toBe('dbuser');
    expect(user('web')).toBe('last');
    // a Host line inside an included file does not leak into the rest of the including file
    expect(collectSshConfig(config, 'web', { defaultUser: 'root', localUser: 'ops' }).values.port?.value).toBe('2020');
  });

  it('skips a pattern that matches nothing, as ssh does, and refuses a loop', () => {
    expect(loadSshConfig(FILE, memoryFs({ [FILE]: 'Include nothing/*\nUser x\n' })).entries).toHaveLength(2);
    expect(() => loadSshConfig(FILE, memoryFs({ [FILE]: `Include ${FILE}\n` }))).toThrow(/Include nested more than 16 deep/);
  });

  it('says which file cannot be read', () => {
    expect(() => loadSshConfig('/nope/config', memoryFs({}))).toThrow(/^\/nope\/config: cannot read it \(ENOENT\)/);
  });

  it('globs real files with * and ?, hiding dotfiles from wildcards', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailprov-glob-'));
    mkdirSync(join(dir, 'conf.d'));
    for (const f of ['a.conf', 'b.conf', '.hidden.conf', 'c.txt']) writeFileSync(join(dir, 'conf.d', f), '');
    expect(globPaths(join(dir, 'conf.d/*.conf'))).toEqual([join(dir, 'conf.d/a.conf'), join(dir, 'conf.d/b.conf')]);
    expect(globPaths(join(dir, 'c*/?.txt'))).toEqual([join(dir, 'conf.d/c.txt')]);
    expect(globPaths(join(dir, 'conf.d/a.conf'))).toEqual([join(dir, 'conf.d/a.conf')]);
    expect(globPaths(join(dir, 'missing.conf'))).toEqual([]);
    // a relative Include is under ~/.ssh
    mkdirSync(join(dir, '.ssh'));
    writeFileSync(join(dir, '.ssh', 'x.conf'), 'User included\n');
    writeFileSync(join(dir, 'config'), 'Include x.conf conf.d/*.conf\n');
    const config = loadSshConfig(join(dir, 'config'), nodeSshConfigFs(dir));
    expect(config.entries[0].included?.map((f) => f.path)).toEqual([join(dir, '.ssh', 'x.conf')]);
  });
});

// issue 24: OpenSSH keeps the first of ProxyCommand and ProxyJump; mailprov took ProxyJump whenever
// there was one, so db hosts went through the general bastion instead of their own, silently.
describe('ProxyCommand and ProxyJump, as ssh reads them (real files in a temp dir)', () => {
  const withConfig = (text: string) => {
    const home = mkdtempSync(join(tmpdir(), 'mailprov-proxy-'));
    mkdirSync(join(home, '.ssh'));
    const path = join(home, '.ssh', 'config');
    writeFileSync(path, text);
    const config = loadSshConfig(path, nodeSshConfigFs(home));
    return {
      path,
      resolve: (alias: string, given = {}) => resolveSshConfig(config, alias, given, { ...ENV, home }),
      targets: (hosts: Record<string, ConnectionSettings>) =>
        resolveTargets({
          file: '/srv/inv.ts',
          hosts: Object.fromEntries(Object.entries(hosts).map(([n, settings]) => [n, { address: n, settings }])),
          defaults: {},
          sshConfig: config,
          env: { ...ENV, home },
          exists: () => true,
        }).targets,
    };
  };

  it('takes whichever of the two comes first; later values of either are ignored', () => {
    const c = withConfig(
      'Host secure-bastion general\n  ProxyJump none\nHost db-*\n  ProxyCommand ssh -W %h:%p secure-bastion\nHost *\n  ProxyJump general\n',
    );
    expect(c.resolve('db-1').proxyJump).toMatchObject({ value: 'secure-bastion', keyword: 'ProxyCommand', file: c.path, line: 4 });
    expect(c.resolve('web-1').proxyJump).toMatchObject({ value: 'general', keyword: 'ProxyJump', line: 6 });
    // the whole chain, as the inventory loads it
    const t = c.targets({ 'db-1': {}, 'web-1': {} });
    expect(t.get('db-1')!.jump!.map((h) => h.name)).toEqual(['secure-bastion']);
    expect(t.get('web-1')!.jump!.map((h) => h.name)).toEqual(['general']);
    // ProxyJump first: a later ProxyCommand is not even read (one mailprov could not follow is no error)
    const j = withConfig('Host db-*\n  ProxyJump secure-bastion\nHost *\n  ProxyCommand nc -x proxy:1080 %h %p\n');
    expect(j.resolve('db-1').proxyJump).toMatchObject({ value: 'secure-bastion', keyword: 'ProxyJump' });
    expect(() => j.resolve('web-1')).toThrow(SshConfigError);
  });

  it('lets ProxyCommand none and ProxyJump none stop later values of either', () => {
    const c = withConfig(
      'Host bastion\n  ProxyCommand none\nHost gw\n  ProxyJump none\nHost *\n  ProxyJump general\n  ProxyCommand nc %h %p\n',
    );
    expect(c.resolve('bastion').proxyJump).toMatchObject({ value: 'none', keyword: 'ProxyCommand', line: 2 });
    expect(c.resolve('gw').proxyJump).toMatchObject({ value: 'none', keyword: 'ProxyJump', line: 4 });
    const t = c.targets({ bastion: {}, gw: {} });
    expect(t.get('bastion')!.jump).toBeUndefined();
    expect(t.get('gw')!.jump).toBeUndefined();
  });

  it('reads ssh -W %h:%p (or [%h]:%p) with -q, -p, -l, -J as a jump', () => {
    const c = withConfig(
      [
        'Host a\n  ProxyCommand ssh -q -W [%h]:%p -p 2222 -l ops bastion.example.net',
        'Host b\n  ProxyCommand exec /usr/bin/ssh -W %h:%p -J outer ops@inner',
        'Host c\n  ProxyCommand ssh -W %h:%p -p2200 fd00::5',
        'Host d\n  ProxyCommand ssh -T -N -W %h:%p ssh://jump@gw:2022',
      ].join('\n') + '\n',
    );
    expect(c.resolve('a').proxyJump?.value).toBe('ops@bastion.example.net:2222');
    expect(c.resolve('b').proxyJump?.value).toBe('outer,ops@inner');
    expect(c.resolve('c').proxyJump?.value).toBe('[fd00::5]:2200');
    expect(c.resolve('d').proxyJump?.value).toBe('jump@gw:2022');
    expect(
      c
        .targets({ a: {} })
        .get('a')!
        .jump!.map((h) => `${h.user}@${h.address}:${h.port}`),
    ).toEqual(['ops@bastion.example.net:2222']);
  });

  it('refuses any other ProxyCommand that applies, naming the host, the file and the line', () => {
    const refused = (command: string) => {
      const c = withConfig(`Host *.example.org\n  User deploy\n  ProxyCommand ${command}\n`);
      try {
        c.resolve('relay1.example.org');
      } catch (e) {
        if (!(e instanceof SshConfigError)) throw e;
        expect([e.file, e.line, e.host]).toEqual([c.path, 3, 'relay1.example.org']);
        expect(e.message.startsWith(`${c.path} line 3: host relay1.example.org: ProxyCommand ${command}: `)).toBe(true);
        return e.message.slice(`${c.path} line 3: host relay1.example.org: ProxyCommand ${command}: `.length);
      }
      throw new Error(`ProxyCommand ${command} was accepted`);
    };
    expect(refused('nc -x proxy:1080 %h %p')).toMatch(
      /^it runs nc, not ssh -W %h:%p: mailprov runs no local command to connect\. mailprov connects only/,
    );
    expect(refused('ssh bastion nc %h %p')).toMatch(/^no -W %h:%p|^"nc" after the bastion bastion/);
    expect(refused('ssh -W %h:25 bastion')).toMatch(/^-W %h:25: only -W %h:%p/);
    expect(refused('ssh -i ~/.ssh/bastion_key -W %h:%p bastion')).toMatch(
      /^the ssh option -i cannot be said as a jump: a jump names only \[user@\]host\[:port\]; give the bastion its key \(IdentityFile\) in a Host block of its own/,
    );
    expect(refused('ssh -o StrictHostKeyChecking=no -W %h:%p bastion')).toMatch(/^the ssh option -o cannot be said as a jump/);
    expect(refused("ssh -W '%h:%p' bastion 'nc -q0 %h %p'")).toMatch(/^"nc -q0 %h %p" after the bastion bastion: a remote command/);
    expect(refused("ssh -W '%h:%p' bastion 'nc -q0 %h %p'")).toMatch(/^"nc -q0 %h %p" after the bastion bastion: a remote command/);
    expect(refused('ssh -l a -W %h:%p b@bastion')).toMatch(/^the user is named twice/);
    // and through the targets, as the inventory loads them: the typed error, not a warning
    const c = withConfig('Host relay1\n  ProxyCommand socat - PROXY:proxy:%h:%p\n');
    expect(() => c.targets({ relay1: {} })).toThrow(SshConfigError);
    expect(() => c.targets({ relay1: {} })).toThrow(/line 2: host relay1: ProxyCommand socat/);
    // a host whose jump the inventory gives does not read the file's at all
    expect(
      c
        .targets({ relay1: { jump: 'bastion' } })
        .get('relay1')!
        .jump!.map((h) => h.name),
    ).toEqual(['bastion']);
  });

  it('reads UserKnownHostsFile none as /dev/null, loudly, never as a file called none', () => {
    const c = withConfig('Host a\n  UserKnownHostsFile none\n');
    const r = c.resolve('a');
    expect(r.knownHosts).toBe('/dev/null');
    expect(r.warnings.map((w) => [w.line, w.message])).toEqual([
      [2, expect.stringMatching(/^UserKnownHostsFile none is read as \/dev\/null: NO HOST KEY IS KEPT from one run to the next/)],
    ]);
    expect(c.targets({ a: {} }).get('a')!.knownHosts).toBe('/dev/null');
  });
});
