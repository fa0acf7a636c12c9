// The fact script and its parser: raw command output in, parsed facts out (no host needed).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileFact, iptablesFact, packagesFact, parseOs, pidFileRunningScript, testFact } from '../../../src/facts/builtin.ts';
import { buildFactScript, parseFacts, uniqueQueries } from '../../../src/facts/gather.ts';

const DEBIAN = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
MAILPROV_FQDN=relay1.example.org
MAILPROV_HAS_apt_get=1
MAILPROV_HAS_service=1
`;

describe('parseOs', () => {
  it('reads Debian from /etc/os-release', () => {
    expect(parseOs(DEBIAN)).toMatchObject({
      family: 'debian',
      id: 'debian',
      version: '12',
      major: 12,
      packageManager: 'apt',
      serviceManager: 'sysv',
      fqdn: 'relay1.example.org',
    });
  });
  it('reads Rocky 9 with systemd and dnf', () => {
    const os = parseOs(
      'ID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3"\nMAILPROV_HAS_dnf=1\nMAILPROV_HAS_yum=1\nMAILPROV_SYSTEMD_RUNNING=1\n',
    );
    expect(os).toMatchObject({ family: 'rhel', major: 9, packageManager: 'dnf', serviceManager: 'systemd' });
  });
  it('falls back to /etc/redhat-release on CentOS 6', () => {
    const os = parseOs('MAILPROV_REDHAT_RELEASE=CentOS release 6.10 (Final)\nMAILPROV_HAS_yum=1\nMAILPROV_HAS_service=1\n');
    expect(os).toMatchObject({ family: 'rhel', id: 'centos', version: '6.10', major: 6, packageManager: 'yum', serviceManager: 'sysv' });
  });
});

describe('buildFactScript', () => {
  it('asks for each fact once, os always first', () => {
    const q = uniqueQueries([fileFact.query('/a'), fileFact.query('/a'), iptablesFact.query()]);
    expect(q.map((x) => x.key)).toEqual(['os', 'file:/a', 'iptables']);
  });

  it('runs under dash and its output parses back, whatever the files contain', () => {
    const dir = mkdtempSync(join(tmpdir(), 'facts-'));
    const tricky = join(dir, 'it\'s a "file" $x');
    // content that looks like a section marker must not confuse the parser
    writeFileSync(tricky, '@@mailprov-0000@@ end\nsecond line\n', { mode: 0o640 });
    const built = buildFactScript([
      fileFact.query(tricky),
      fileFact.query(join(dir, 'missing')),
      fileFact.query(dir),
      testFact.query('exit 3'),
      packagesFact.query(['dash', 'no-such-package-xyz']),
    ]);
    const out = execFileSync('/bin/dash', ['-c', built.script]).toString();
    const facts = parseFacts(out, built);
    expect(facts.get(fileFact, tricky)).toMatchObject({
      exists: true,
      type: 'file',
      mode: '0640',
      content: '@@mailprov-0000@@ end\nsecond line\n',
    });
    expect(facts.get(fileFact, join(dir, 'missing'))).toEqual({ exists: false });
    expect(facts.get(fileFact, dir)).toMatchObject({ exists: true, type: 'directory' });
    expect(facts.get(testFact, 'exit 3')).toBe(3);
    const pkgs = facts.get(packagesFact, ['dash', 'no-such-package-xyz']);
    expect(pkgs.get('dash')?.installed).toBe(true);
    expect(pkgs.get('no-such-package-xyz')).toEqual({ installed: false });
    // a fact nobody asked for is a bug in the resource, said as such
    expect(() => facts.get(fileFact, '/not/asked')).toThrow(/was not gathered/);
    expect(facts.os.family).toBe('debian');
  });

  it('reads a check of several lines (a key with a line break) as its own exit code', () => {
    const check = 'if true; then\n  exit 4\nfi';
    const built = buildFactScript([testFact.query(check), testFact.query('exit 0')]);
    const facts = parseFacts(execFileSync('/bin/dash', ['-c', built.script]).toString(), built);
    expect(facts.get(testFact, check)).toBe(4);
    expect(facts.get(testFact, 'exit 0')).toBe(0);
  });

  it('refuses output that was cut short', () => {
    const built = buildFactScript([]);
    expect(() => parseFacts(`${built.marker} os\nID=debian\n`, built)).toThrow(/cut short/);
  });
});

describe('pidFileRunningScript (a service on a host without systemd)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidfiles-'));
  const pidFile = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const running = (...files: string[]) => execFileSync('/bin/dash', ['-c', pidFileRunningScript(files)]).toString() === 'running\n';

  it('reads running when a pid file names a live process, as the daemon writes it (pid, then its command)', () => {
    expect(running(pidFile('live', `${process.pid}\n/usr/sbin/sendmail-mta -bd\n`))).toBe(true);
    // any of the listed files: the ones of other distros are simply absent
    expect(running(join(dir, 'absent'), pidFile('live2', `${process.pid}\n`))).toBe(true);
  });

  it('reads not running with no pid file, an empty or garbled one, or one a dead daemon left (stale)', () => {
    const dead = spawnSync('/bin/true').pid;
    expect(running(join(dir, 'absent'))).toBe(false);
    expect(running(pidFile('empty', ''))).toBe(false);
    expect(running(pidFile('garbled', '12ab\n'))).toBe(false);
    expect(running(pidFile('path', '../1\n'))).toBe(false);
    expect(running(pidFile('stale', `${dead}\n/usr/sbin/sendmail-mta -bd\n`))).toBe(false);
  });

  it("reads not running when a stale pid file's number now belongs to another program (processName)", () => {
    const named = (name: string, ...files: string[]) =>
      execFileSync('/bin/dash', ['-c', pidFileRunningScript(files, name)]).toString() === 'running\n';
    const comm = readFileSync(`/proc/${process.pid}/comm`, 'utf8').trim();
    const mine = pidFile('reused', `${process.pid}\n`);
    expect(named(comm.slice(0, 3), mine)).toBe(true);
    expect(named('sendmail', mine)).toBe(false);
    // a name with shell characters is a name, not a pattern
    expect(named('*', mine)).toBe(false);
  });

  it('reads not running when the pid is a zombie (the daemon died, its parent has not reaped it)', async () => {
    // the child (head) waits for a byte from the test; its parent, exec'd into sleep, never reaps it
    const parent = spawn('/bin/sh', ['-c', 'exec 3<&0; head -c1 <&3 >/dev/null & echo $!; exec sleep 30'], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 1000 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
    };
    try {
      const child = (await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString())))).trim();
      const read = (path: string) => readFileSync(path, 'utf8');
      await until(() => read(`/proc/${parent.pid}/comm`) === 'sleep\n');
      expect(running(pidFile('alive', `${child}\n`))).toBe(true);
      parent.stdin.write('x');
      const state = () => read(`/proc/${child}/stat`).replace(/^.*\) /s, '')[0];
      await until(() => state() === 'Z');
      expect(state()).toBe('Z');
      expect(running(pidFile('zombie', `${child}\n`))).toBe(false);
    } finally {
      parent.kill();
    }
  });
});
