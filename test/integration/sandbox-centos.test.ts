// The CentOS-like sandbox host: a Debian-built root in RHEL's layout (rpm and dnf with a local
// repository only, sendmail packaged as RHEL's, SysV `service`, the stock iptables ruleset), next to
// a Debian host in the same sandbox, and a `down` that leaves nothing behind.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { packagesFact } from '../../src/facts/builtin.ts';
import { buildFactScript, parseFacts } from '../../src/facts/gather.ts';
import { relaySettings, sandboxDown, sandboxStatus, waitForMessage } from '../../src/sandbox/index.ts';
import { apply, pidsNaming, remote as remoteExec, resourceIds, sandboxInventory, useSandbox } from './helpers.ts';

// the last test takes it down itself; useSandbox's afterAll then finds nothing left, and checks so
const sandbox = useSandbox(1, { centos: 1 });

const CENTOS = 1; // index of centos1 in sandbox.state.hosts (after relay1)
const remote = (cmd: string, stdin?: string) => remoteExec(sandbox.state, CENTOS, cmd, stdin);
const out = async (cmd: string) => {
  const r = await remote(cmd);
  expect(r.code, `${cmd}\n${r.stderr}`).toBe(0);
  return r.stdout;
};

describe('a CentOS-like sandbox host', () => {
  it('is named centosN after the Debian hosts, with its kind recorded, and answers SSH', async () => {
    expect(sandbox.state.hosts.map((h) => [h.name, h.fqdn, h.kind])).toEqual([
      ['relay1', 'relay1.sandbox.test', 'debian'],
      ['centos1', 'centos1.sandbox.test', 'centos'],
    ]);
    expect((await out('hostname -f')).trim()).toBe('centos1.sandbox.test');
    expect((await remoteExec(sandbox.state, 0, '. /etc/os-release; echo $ID')).stdout.trim()).toBe('debian');
    expect((await sandboxStatus(sandbox.state.dir)).hosts.map((h) => h.up)).toEqual([true, true]);
  });

  it("says CentOS, and mailprov's facts see an rpm/dnf host with SysV services", async () => {
    expect(await out('. /etc/os-release; echo "$ID|$ID_LIKE|$VERSION_ID|$PRETTY_NAME"')).toBe(
      'centos|rhel fedora|8|CentOS Stream 8 (mailprov sandbox stand-in)\n',
    );
    expect(await out('cat /etc/redhat-release')).toMatch(/^CentOS Stream release 8/);
    expect((await remote('command -v apt-get || command -v dpkg-query || command -v dpkg || echo none')).stdout.trim()).toBe('none');
    expect((await out('readlink -f /usr/bin/yum')).trim()).toBe('/usr/bin/dnf-3');
    const names = ['mailprov-sandbox-base', 'sendmail'];
    const built = buildFactScript([packagesFact.query(names)]);
    const facts = parseFacts(await out(built.script), built);
    expect(facts.os).toMatchObject({
      family: 'rhel',
      id: 'centos',
      major: 8,
      packageManager: 'dnf',
      serviceManager: 'sysv',
      fqdn: 'centos1.sandbox.test',
    });
    expect(facts.get(packagesFact, names).get('mailprov-sandbox-base')?.installed).toBe(true);
    expect(facts.get(packagesFact, names).get('sendmail')?.installed).toBe(false);
  });

  it('has rpm and dnf working offline, with only the local repository', async () => {
    expect((await out('ip -o link show')).trim().split('\n')).toHaveLength(1); // loopback only: no route out
    expect(await out('rpm -qa')).toBe('mailprov-sandbox-base-8-1.mailprov.noarch\n');
    expect((await remote('rpm -q sendmail')).code).toBe(1);
    const repos = await out('dnf repolist -q');
    expect(repos).toContain('mailprov-local');
    expect(repos.trim().split('\n')).toHaveLength(2); // header + the local repository
    expect(await out('grep -h "^baseurl\\|^gpgcheck" /etc/yum.repos.d/*.repo')).toBe('baseurl=file:///srv/mailprov-rpms\ngpgcheck=0\n');
    expect(await out("dnf list -q --available | awk 'NR>1 {print $1}' | sort")).toBe(
      'cyrus-sasl-plain.x86_64\ncyrus-sasl.x86_64\nsendmail-cf.noarch\nsendmail.x86_64\n',
    );
  });

  it("installs sendmail, sendmail-cf and cyrus-sasl-plain with dnf, laid out as RHEL's", async () => {
    // how long it takes is the benchmark's business; that it works offline is proven above
    await out('dnf install -y -q sendmail sendmail-cf cyrus-sasl-plain');
    expect(await out('rpm -q --qf "%{NAME}\\n" sendmail sendmail-cf cyrus-sasl-plain')).toBe('sendmail\nsendmail-cf\ncyrus-sasl-plain\n');
    expect(await out('rpm -qf /usr/share/sendmail-cf/m4/cf.m4 /etc/mail/make /etc/rc.d/init.d/sendmail --qf "%{NAME}\\n"')).toBe(
      'sendmail-cf\nsendmail\nsendmail\n',
    );
    expect((await out('readlink -f /usr/sbin/sendmail /usr/bin/newaliases /usr/bin/mailq')).trim().split('\n')).toEqual(
      Array(3).fill('/usr/sbin/sendmail.sendmail'),
    );
    expect(await out('stat -c "%n %a %U:%G" /usr/sbin/sendmail.sendmail /var/spool/mqueue /var/spool/clientmqueue')).toBe(
      '/usr/sbin/sendmail.sendmail 2755 root:smmsp\n/var/spool/mqueue 700 root:mail\n/var/spool/clientmqueue 770 smmsp:smmsp\n',
    );
    expect(await out('id -u mailnull; id -u smmsp')).toBe('47\n51\n');
    const mc = await out('cat /etc/mail/sendmail.mc');
    for (const line of [
      "include(`/usr/share/sendmail-cf/m4/cf.m4')dnl",
      "OSTYPE(`linux')dnl",
      "DAEMON_OPTIONS(`Port=smtp,Addr=127.0.0.1, Name=MTA')dnl",
    ]) {
      expect(mc.split('\n')).toContain(line);
    }
    expect(await out('ls /etc/mail/access.db /etc/aliases.db /usr/lib/*/sasl2/libplain.so.2 /usr/lib/*/sasl2/liblogin.so.2 | wc -l')).toBe(
      '4\n',
    );
    // the stock sendmail.cf is one sendmail accepts
    expect((await remote('/usr/sbin/sendmail -bt -d0.1 </dev/null')).code).toBe(0);
  });

  it("rebuilds through /etc/mail/Makefile -> /etc/mail/make, keeping RHEL's m4 trap", async () => {
    expect(await out('cat /etc/mail/Makefile')).toMatch(/^all:\n\t@\.\/make$/m);
    const sha = (f: string) => out(`sha256sum < ${f}`);
    const bt = async () => (await remote('/usr/sbin/sendmail -bt -d0.1 </dev/null')).code;
    const olderCf = 'touch -d "1 minute ago" /etc/mail/sendmail.cf';
    // nothing newer than its target: nothing rebuilt
    const shipped = await sha('/etc/mail/sendmail.cf');
    await out('make -s -C /etc/mail');
    expect(await sha('/etc/mail/sendmail.cf')).toBe(shipped);
    expect(await out('ls /etc/mail/sendmail.cf.bak 2>/dev/null || echo none')).toBe('none\n');
    // a newer mc: m4 rebuilds sendmail.cf, the old one kept as .cf.bak
    await out(`cp /etc/mail/sendmail.mc /root/sendmail.mc.good && echo "dnl changed" >> /etc/mail/sendmail.mc && ${olderCf}`);
    await out('make -s -C /etc/mail');
    expect(await sha('/etc/mail/sendmail.cf.bak')).toBe(shipped);
    expect(await sha('/etc/mail/sendmail.cf')).not.toBe(shipped);
    expect(await bt()).toBe(0);
    // a broken mc (the classic dnl inside an argument list): make still exits 0, sendmail.cf is truncated
    expect((await remote(`cat >> /etc/mail/sendmail.mc && ${olderCf}`, "define(`confPRIVACY_FLAGS',dnl`goaway')dnl\n")).code).toBe(0);
    const broken = await remote('make -s -C /etc/mail');
    expect(broken.code).toBe(0);
    expect(broken.stderr).toContain('end of file in argument list');
    expect(Number(await out('wc -c < /etc/mail/sendmail.cf'))).toBeLessThan(10_000);
    expect(await bt()).toBe(70);
    await out(`cp /root/sendmail.mc.good /etc/mail/sendmail.mc && ${olderCf} && make -s -C /etc/mail`);
    expect(await bt()).toBe(0);
  });

  it('runs sendmail through `service` as CentOS 6 does', async () => {
    expect((await remote('service sendmail status')).code).toBe(3);
    expect(await out('service sendmail start')).toMatch(/Starting sendmail: \[ {2}OK {2}\]\nStarting sm-client: \[ {2}OK {2}\]/);
    expect((await remote('service sendmail status')).code).toBe(0);
    expect(await out("ss -ltnH | awk '{print $4}'")).toContain('127.0.0.1:25\n');
    expect(await out('ps -eo args | grep "^sendmail" | sort')).toMatch(
      /^sendmail: Queue runner@01:00:00 for \/var\/spool\/clientmqueue\nsendmail: accepting connections\n$/,
    );
    const restart = await remote('service sendmail restart');
    expect(restart.code).toBe(0);
    expect((await remote('service sendmail status')).code).toBe(0);
    await out('service sendmail stop');
    expect((await remote('service sendmail status')).code).toBe(3);
  });

  it('boots with the stock RHEL firewall, which ends in REJECT', async () => {
    const input = (await out('iptables -S INPUT')).trim().split('\n');
    expect(input).toContain('-A INPUT -i lo -j ACCEPT');
    expect(input).toContain('-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT');
    expect(input.at(-1)).toBe('-A INPUT -j REJECT --reject-with icmp-host-prohibited');
    expect((await out('iptables -S FORWARD')).trim().split('\n').at(-1)).toBe('-A FORWARD -j REJECT --reject-with icmp-host-prohibited');
    expect(await out('tail -n 3 /etc/sysconfig/iptables')).toBe(
      '-A INPUT -j REJECT --reject-with icmp-host-prohibited\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n',
    );
    // CentOS 6's way to persist the live rules
    expect(await out('service iptables save')).toContain('Saving firewall rules to /etc/sysconfig/iptables');
    expect(await out('grep "^-A" /etc/sysconfig/iptables | tail -n 1')).toBe('-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n');
  });

  it("trusts the sandbox CA through RHEL's bundle, and relays through the smart host with the playbook", async () => {
    const ca = readFileSync(sandbox.state.smartHost.caCert, 'utf8');
    expect(await out('cat /etc/pki/tls/certs/ca-bundle.crt')).toContain(ca.trim());
    const results = await apply(
      sandboxInventory(sandbox.state, [{ on: 'relays', use: sendmailSmartHost(relaySettings(sandbox.state)) }], {}, ['centos1']),
    );
    expect(results[0].error).toBeUndefined();
    expect(results[0].status).toBe('changed');
    expect(resourceIds(results[0])).toContain('firewall:INPUT -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT');
    const m = await waitForMessage(sandbox.state.smartHost.storeDir, (x) => x.subject === 'mailprov verification from centos1', 10_000);
    expect(m).toMatchObject({ authUser: sandbox.state.smartHost.user, tls: true });
    // the rule went in before the stock REJECT and was saved where RHEL keeps its rules
    const input = (await out('iptables -S INPUT')).trim().split('\n');
    expect(input.at(-1)).toBe('-A INPUT -j REJECT --reject-with icmp-host-prohibited');
    expect((await out('cat /etc/sysconfig/iptables')).split('\n')).toContain(
      '-A INPUT -s 192.168.0.0/16 -p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT',
    );
  });
});

describe('a sandbox with a CentOS-like host', () => {
  it('leaves no process, mount or folder after down', async () => {
    const dir = sandbox.state.dir;
    await sandboxDown({ dir });
    expect(pidsNaming(dir)).toEqual([]);
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(dir);
    expect(existsSync(dir)).toBe(false);
  });
});
