// The whole playbook planned against fixture facts: Debian, and RHEL 6, 7 and 8+ (packages,
// mc layout, service control, firewall and SELinux), without a host.
import { describe, expect, it } from 'vitest';
import { sendmailSettingsSchema, sendmailSmartHost, type SendmailSettingsInput } from '../../../playbooks/sendmail-smarthost.ts';
import { runHosts } from '../../../src/engine/index.ts';
import { planHost } from '../../../src/engine/plan.ts';
import { resolveInventory } from '../../../src/inventory/load.ts';
import { secret } from '../../../src/secrets/index.ts';
import { centosOs, debianOs, fileFact, hostFacts } from '../fixtures.ts';

const build = (s: Partial<SendmailSettingsInput> = {}) =>
  sendmailSmartHost.definition.build(
    sendmailSettingsSchema.parse({
      smartHost: 'smtp.gmail.com',
      // a LAN relay: listens on every address and opens port 25 (the derived defaults)
      relayFrom: ['192.168'],
      auth: { user: 'u@example.org', password: secret.value('pw-rhel-1') },
      ...s,
    }),
  );
const REJECT = [
  '-P INPUT ACCEPT',
  '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
  '-A INPUT -i lo -j ACCEPT',
  '-A INPUT -j REJECT --reject-with icmp-host-prohibited',
];
const commands = (p: ReturnType<typeof planHost>) => p.changes.flatMap((c) => c.steps.map((s) => s.label));

describe('sendmail playbook on a fresh Debian host', () => {
  it('installs with apt, renders the Debian mc, keeps the rule in rules.v4 and never runs restorecon', () => {
    const plan = planHost(build().resources, hostFacts({ os: debianOs }));
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, libsasl2-modules (apt)');
    expect(plan.changes[1].summary).toBe('install iptables-persistent (apt)');
    expect(plan.changes.find((c) => c.resourceId === 'file:/etc/mail/sendmail.mc')?.diff?.after).toContain("OSTYPE(`debian')");
    expect(commands(plan)).toContain('save rules to /etc/iptables/rules.v4');
    expect(plan.unchanged.find((u) => u.resourceId === 'command:restorecon /etc/mail')?.reason).toBe('SELinux is not enabled');
    expect(commands(plan).at(-1)).toBe('start sendmail');
  });
});

describe('sendmail playbook on RHEL', () => {
  it("CentOS 6: yum, cyrus-sasl-plain, RHEL mc, relayFrom's rule inserted before REJECT and saved to /etc/sysconfig/iptables, service", () => {
    const plan = planHost(build().resources, hostFacts({ os: centosOs(6), rules: REJECT, services: { sendmail: true } }));
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, cyrus-sasl-plain (yum)');
    // after the wait for rpm's lock: the install (yum 3 knows no weak dependencies)
    expect(plan.changes[0].steps[0].command.split('\n').at(-1)).toBe("yum install -y -q 'sendmail' 'sendmail-cf' 'cyrus-sasl-plain'");
    const mc = plan.changes.find((c) => c.resourceId === 'file:/etc/mail/sendmail.mc')?.diff?.after ?? '';
    expect(mc).toContain("include(`/usr/share/sendmail-cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl");
    expect(mc).toContain("define(`confCACERT', `/etc/pki/tls/certs/ca-bundle.crt')dnl");
    expect(commands(plan)).toContain('iptables -I INPUT 3 -s 192.168.0.0/16 -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT');
    expect(commands(plan)).toContain('save rules to /etc/sysconfig/iptables');
    expect(commands(plan)).toContain('restorecon /etc/mail');
    const restart = plan.changes.at(-1)!;
    expect(restart.summary).toBe('restart sendmail');
    expect(restart.steps.map((s) => s.command)).toEqual([
      "if command -v service >/dev/null 2>&1; then service 'sendmail' 'restart'; else '/etc/init.d/sendmail' 'restart'; fi",
    ]);
  });

  it('CentOS 7 with firewalld: allows the smtp service (open to everyone), restarts sendmail and sm-client with systemctl', () => {
    const plan = planHost(
      build({ smtpPortFrom: 'everyone' }).resources,
      hostFacts({ os: centosOs(7), firewalld: { runtime: ['ssh', 'dhcpv6-client'], permanent: ['ssh'] }, services: { sendmail: true } }),
    );
    expect(plan.changes[0].steps[0].command.split('\n').at(-1)).toMatch(/^yum install/);
    const fw = plan.changes.find((c) => c.resourceId.startsWith('firewall:'))!;
    expect(fw.summary).toBe('allow smtp in firewalld (tcp/25 open to everyone)');
    // allowed at runtime already (dhcpv6-client), not smtp: added now and permanently, each directly, never --reload
    expect(fw.steps.map((s) => s.command)).toEqual([
      "firewall-cmd '--add-service=smtp' >/dev/null && firewall-cmd --permanent '--add-service=smtp' >/dev/null",
    ]);
    expect(fw.undo).toEqual([{ kind: 'firewalld-service', service: 'smtp', added: true, runtime: true, permanent: true }]);
    expect(plan.changes.at(-1)!.steps.map((s) => s.command)).toEqual(["systemctl 'restart' 'sendmail'", "systemctl 'restart' 'sm-client'"]);
  });

  it('Rocky/CentOS 8+: dnf, and nothing to do for firewalld when smtp is allowed already (open to everyone)', () => {
    const plan = planHost(
      build({ smtpPortFrom: 'everyone' }).resources,
      hostFacts({ os: centosOs(9), firewalld: { runtime: ['smtp'], permanent: ['smtp'] }, services: { sendmail: true } }),
    );
    expect(plan.changes[0].steps[0].command.split('\n').at(-1)).toBe(
      "dnf install -y -q --setopt=install_weak_deps=False 'sendmail' 'sendmail-cf' 'cyrus-sasl-plain'",
    );
    expect(plan.unchanged.find((u) => u.resourceId.startsWith('firewall:'))?.reason).toBe(
      'firewalld allows smtp (tcp/25 open to everyone)',
    );
  });

  it('firewalld, open to relayFrom: a rich rule per network for the smtp service, now and permanently, no reload', () => {
    const plan = planHost(
      build({ relayFrom: ['192.168', 'IPv6:fd00:1'], listen: ['0.0.0.0', '::'] }).resources,
      hostFacts({ os: centosOs(9), firewalld: { runtime: ['ssh'], permanent: ['ssh'] }, services: { sendmail: true } }),
    );
    const fw = plan.changes.find((c) => c.resourceId.startsWith('firewall:'))!;
    const rules = [
      'rule priority="25" family="ipv4" source address="192.168.0.0/16" service name="smtp" accept',
      'rule priority="25" family="ipv6" source address="fd00:1::/32" service name="smtp" accept',
    ];
    expect(fw.summary).toBe('open tcp/25 to 192.168.0.0/16, fd00:1::/32 in firewalld (rich rules for its smtp service)');
    expect(fw.steps.map((s) => s.command)).toEqual(
      rules.map((r) => `firewall-cmd '--add-rich-rule=${r}' >/dev/null && firewall-cmd --permanent '--add-rich-rule=${r}' >/dev/null`),
    );
    expect(fw.undo).toEqual([{ kind: 'firewalld-rich-rules', added: rules, removed: [] }]);
    expect(plan.unchanged.find((u) => u.resourceId.startsWith('firewall6:'))?.reason).toMatch(/cover IPv6 too/);
  });

  it('refuses a Debian-style user mc on a RHEL host', () => {
    const parts = build({ mc: { text: "include(`/usr/share/sendmail/cf/m4/cf.m4')\nOSTYPE(`debian')\nMAILER(`smtp')\n" } });
    expect(parts.checkFacts?.(hostFacts({ os: centosOs(8) })).map((f) => f.code)).toEqual(['wrong-distro-mc']);
    expect(parts.checkFacts?.(hostFacts({ os: { ...centosOs(8), fqdn: 'relay1' } })).map((f) => f.code)).toContain('unqualified-hostname');
  });
});

describe('sendmail playbook with IPv6 listen addresses', () => {
  const V6_RULE = '-p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT';
  /** A LAN with an IPv6 network too: ip6tables admits only that one. */
  const V6_RELAY = ['192.168', 'IPv6:fd00:1'];
  const ids = (p: ReturnType<typeof planHost>) => p.changes.map((c) => c.resourceId).filter((id) => id.startsWith('firewall'));
  const firewallIds = (s: Partial<SendmailSettingsInput>) =>
    build(s)
      .resources.map((r) => r.id)
      .filter((id) => id.startsWith('firewall'));

  it('opens TCP 25 in ip6tables too when listen has an IPv6 address, :: included', () => {
    for (const listen of [['0.0.0.0', '::'], ['::'], ['127.0.0.1', '::1'], ['192.0.2.10', '2001:db8::25']]) {
      expect(firewallIds({ listen, openSmtpPort: true })).toEqual([`firewall:INPUT ${V6_RULE}`, `firewall6:INPUT ${V6_RULE}`]);
    }
    // the derived default (relayFrom set): 0.0.0.0 only, so iptables only
    expect(firewallIds({})).toEqual([`firewall:INPUT ${V6_RULE}`]);
    // no port opened, in neither family
    expect(firewallIds({ listen: ['0.0.0.0', '::'], openSmtpPort: false })).toEqual([]);
    expect(firewallIds({ relayFrom: [], listen: ['::1'] })).toEqual([]);
  });

  it("Debian: adds relayFrom's IPv6 rule with ip6tables, saves it to rules.v6, renders the inet6 daemon", () => {
    const plan = planHost(build({ relayFrom: V6_RELAY, listen: ['0.0.0.0', '::'] }).resources, hostFacts({ os: debianOs }));
    expect(ids(plan)).toEqual([`firewall:INPUT ${V6_RULE}`, `firewall6:INPUT ${V6_RULE}`]);
    const fw6 = plan.changes.find((c) => c.resourceId.startsWith('firewall6:'))!;
    expect(fw6.summary).toBe(`add ip6tables rule -A INPUT -s fd00:1::/32 ${V6_RULE} (tcp/25 open to 192.168.0.0/16, fd00:1::/32)`);
    expect(fw6.steps.map((s) => s.label)).toEqual([`ip6tables -A INPUT -s fd00:1::/32 ${V6_RULE}`, 'save rules to /etc/iptables/rules.v6']);
    expect(fw6.undo).toEqual([
      {
        kind: 'iptables-rule',
        family: 'ipv6',
        chain: 'INPUT',
        rule: `-s fd00:1::/32 ${V6_RULE}`,
        added: true,
        persistFile: '/etc/iptables/rules.v6',
        createdFile: true,
      },
    ]);
    // netfilter-persistent restores rules.v6 at boot: iptables-persistent is installed as for IPv4
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, libsasl2-modules (apt)');
    expect(plan.changes[1].summary).toBe('install iptables-persistent (apt)');
    const mc = plan.changes.find((c) => c.resourceId === 'file:/etc/mail/sendmail.mc')?.diff?.after ?? '';
    expect(mc).toContain("DAEMON_OPTIONS(`Family=inet6, Name=MTA-v6, Port=smtp')dnl");
  });

  it('RHEL with the stock ip6tables ruleset: inserted before its REJECT, saved to /etc/sysconfig/ip6tables', () => {
    const rules6 = [
      '-P INPUT ACCEPT',
      '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
      '-A INPUT -p ipv6-icmp -j ACCEPT',
      '-A INPUT -i lo -j ACCEPT',
      '-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT',
      '-A INPUT -j REJECT --reject-with icmp6-adm-prohibited',
    ];
    const plan = planHost(
      build({ relayFrom: V6_RELAY, listen: ['127.0.0.1', '::1'], openSmtpPort: true }).resources,
      hostFacts({ os: centosOs(6), rules: REJECT, rules6, services: { sendmail: true } }),
    );
    expect(commands(plan)).toContain(`iptables -I INPUT 3 -s 192.168.0.0/16 ${V6_RULE}`);
    expect(commands(plan)).toContain(`ip6tables -I INPUT 5 -s fd00:1::/32 ${V6_RULE}`);
    expect(commands(plan)).toContain('save rules to /etc/sysconfig/ip6tables');
  });

  it('firewalld: the smtp service (open to everyone) covers both families and is added once', () => {
    const s = build({ listen: ['0.0.0.0', '::'], smtpPortFrom: 'everyone' }).resources;
    const plan = planHost(
      s,
      hostFacts({ os: centosOs(8), firewalld: { runtime: ['ssh'], permanent: ['ssh'] }, services: { sendmail: true } }),
    );
    expect(ids(plan)).toEqual([`firewall:INPUT ${V6_RULE}`]);
    expect(plan.changes.flatMap((c) => c.undo).filter((u) => u.kind !== 'packages')).toEqual([
      { kind: 'firewalld-service', service: 'smtp', added: true, runtime: true, permanent: true },
    ]);
    expect(plan.unchanged.find((u) => u.resourceId.startsWith('firewall6:'))?.reason).toBe(
      `firewalld's smtp service covers IPv6 too (firewall:INPUT ${V6_RULE})`,
    );
  });

  it('a second run finds both rules live and saved, and changes nothing in the firewall', () => {
    const marked = '-p tcp -m state --state NEW -m tcp --dport 25 -m comment --comment mailprov -j ACCEPT';
    const v4 = `-A INPUT -s 192.168.0.0/16 ${marked}`;
    const v6 = `-A INPUT -s fd00:1::/32 ${marked}`;
    const plan = planHost(
      build({ relayFrom: V6_RELAY, listen: ['0.0.0.0', '::'] }).resources,
      hostFacts({
        os: debianOs,
        rules: ['-P INPUT ACCEPT', v4],
        rules6: ['-P INPUT ACCEPT', v6],
        files: {
          '/etc/iptables/rules.v4': fileFact(`*filter\n${v4}\nCOMMIT\n`),
          '/etc/iptables/rules.v6': fileFact(`*filter\n${v6}\nCOMMIT\n`),
        },
      }),
    );
    expect(ids(plan)).toEqual([]);
    expect(plan.unchanged.filter((u) => u.resourceId.startsWith('firewall')).map((u) => u.reason)).toEqual([
      'rule present and saved in /etc/iptables/rules.v4 (tcp/25 open to 192.168.0.0/16, fd00:1::/32)',
      'rule present and saved in /etc/iptables/rules.v6 (tcp/25 open to 192.168.0.0/16, fd00:1::/32)',
    ]);
  });
});

describe('sendmail playbook and port 465', () => {
  it('refuses smartHostPort 465 before connecting, even with force, pointing to 587 with STARTTLS', () => {
    for (const force of [false, true]) {
      const found = build({ smartHostPort: 465, force }).lint?.() ?? [];
      expect(found.map((f) => [f.code, f.level])).toEqual([['implicit-tls-port', 'error']]);
      expect(found[0].message).toMatch(
        /^smartHostPort 465: port 465 is SMTPS \(implicit TLS .*cannot speak as a client.*use port 587 with STARTTLS/,
      );
    }
    expect(build({ smartHostPort: 587 }).lint?.()).toEqual([]);
  });

  it('fails the host at lint, never connecting (nothing listens on the port the host names)', async () => {
    const planOn = async (smartHostPort: number) => {
      const inv = resolveInventory(
        {
          hosts: { relay1: { address: '127.0.0.1', port: 1, connectTimeoutMs: 1000 } },
          playbooks: [{ use: sendmailSmartHost({ smartHost: 'smtp.gmail.com', smartHostPort }) }],
        },
        '/nonexistent/inv.ts',
      );
      const phases: string[] = [];
      const [r] = await runHosts(inv.hosts, { dryRun: true, forks: 1, emit: (e) => e.kind === 'host-phase' && phases.push(e.phase) });
      return { ...r, phases };
    };
    const refused = await planOn(465);
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/^lint found 1 error\(s\)\n {2}\[implicit-tls-port\] smartHostPort 465: port 465 is SMTPS/);
    expect(refused.phases).not.toContain('connecting');
    // the same inventory with 587 gets as far as connecting (and fails there)
    const tried = await planOn(587);
    expect(tried.phases).toContain('connecting');
    expect(tried.error).not.toMatch(/lint/);
  });
});

describe('force', () => {
  const parse = (s: Partial<SendmailSettingsInput>) =>
    sendmailSettingsSchema.parse({ smartHost: 'smtp.gmail.com', listen: ['0.0.0.0'], ...s });
  const levels = (f: { code: string; level: string }[] = []) => Object.fromEntries(f.map((x) => [x.code, x.level]));

  it("downgrades the lint's findings about the mc, but a missing secret stays an error", () => {
    delete process.env.MAILPROV_TEST_UNSET_PASSWORD;
    const settings = {
      auth: { user: 'u@example.org', password: secret.env('MAILPROV_TEST_UNSET_PASSWORD') },
      localDomain: 'example.org',
      verify: { recipient: 'ops@example.org' },
    };
    expect(levels(sendmailSmartHost.definition.build(parse(settings)).lint?.())).toEqual({
      'secret-missing': 'error',
      'local-domain-covers-destination': 'error',
    });
    expect(levels(sendmailSmartHost.definition.build(parse({ ...settings, force: true })).lint?.())).toEqual({
      'secret-missing': 'error',
      'local-domain-covers-destination': 'warning',
    });
  });

  it('never downgrades a value that would inject into the mc, even when it got past the schema', () => {
    const parsed = { ...parse({ force: true }), trustedCa: "/etc/ssl/ca.pem')dnl\nFEATURE(`promiscuous_relay')dnl" };
    const found = levels(sendmailSmartHost.definition.build(parsed).lint?.());
    expect(found['apostrophe-in-value']).toBe('error');
    expect(found['line-break-in-value']).toBe('error');
  });

  it('never downgrades an open-relay finding: only allowPublicRelayFrom lets a public network relay', () => {
    expect(levels(sendmailSmartHost.definition.build(parse({ force: true, relayFrom: ['0', '198.51'] })).lint?.())).toEqual({
      'relay-from-invalid': 'error',
      'relay-from-public': 'error',
    });
    const allowed = sendmailSmartHost.definition.build(parse({ relayFrom: ['198.51'], allowPublicRelayFrom: true })).lint?.();
    expect(levels(allowed)).toEqual({ 'relay-from-public': 'warning' });
  });

  it('downgrades what the host facts say about the mc', () => {
    const parts = build({ force: true, mc: { text: "include(`/usr/share/sendmail/cf/m4/cf.m4')\nOSTYPE(`debian')\nMAILER(`smtp')\n" } });
    const found = parts.checkFacts?.(hostFacts({ os: { ...centosOs(8), fqdn: 'relay1' } })) ?? [];
    expect(levels(found)).toEqual({ 'unqualified-hostname': 'warning', 'wrong-distro-mc': 'warning' });
    expect(found.every((f) => f.message.endsWith('(forced)'))).toBe(true);
  });
});
