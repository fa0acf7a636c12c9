// The whole playbook planned against fixture facts: Debian, and RHEL 6, 7 and 8+ (packages,
// mc layout, service control, firewall and SELinux), without a host.
import { describe, expect, it } from 'vitest';
import { sendmailSettingsSchema, sendmailSmartHost, type SendmailSettingsInput } from '../../../playbooks/sendmail-smarthost.ts';
import { planHost } from '../../../src/engine/plan.ts';
import { secret } from '../../../src/secrets/index.ts';
import { centosOs, debianOs, hostFacts } from '../fixtures.ts';

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
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, libsasl2-modules, iptables-persistent (apt)');
    expect(plan.changes.find((c) => c.resourceId === 'file:/etc/mail/sendmail.mc')?.diff?.after).toContain("OSTYPE(`debian')");
    expect(commands(plan)).toContain('save rules to /etc/iptables/rules.v4');
    expect(plan.unchanged.find((u) => u.resourceId === 'command:restorecon /etc/mail')?.reason).toBe('SELinux is not enabled');
    expect(commands(plan).at(-1)).toBe('start sendmail');
  });
});

describe('sendmail playbook on RHEL', () => {
  it('CentOS 6: yum, cyrus-sasl-plain, RHEL mc, rule inserted before REJECT and saved to /etc/sysconfig/iptables, service', () => {
    const plan = planHost(build().resources, hostFacts({ os: centosOs(6), rules: REJECT, services: { sendmail: true } }));
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, cyrus-sasl-plain (yum)');
    expect(plan.changes[0].steps[0].command).toBe("yum install -y -q 'sendmail' 'sendmail-cf' 'cyrus-sasl-plain'");
    const mc = plan.changes.find((c) => c.resourceId === 'file:/etc/mail/sendmail.mc')?.diff?.after ?? '';
    expect(mc).toContain("include(`/usr/share/sendmail-cf/m4/cf.m4')dnl\nOSTYPE(`linux')dnl");
    expect(mc).toContain("define(`confCACERT', `/etc/pki/tls/certs/ca-bundle.crt')dnl");
    expect(commands(plan)).toContain('iptables -I INPUT 3 -p tcp -m state --state NEW -m tcp --dport 25 -j ACCEPT');
    expect(commands(plan)).toContain('save rules to /etc/sysconfig/iptables');
    expect(commands(plan)).toContain('restorecon /etc/mail');
    const restart = plan.changes.at(-1)!;
    expect(restart.summary).toBe('restart sendmail');
    expect(restart.steps.map((s) => s.command)).toEqual([
      "if command -v service >/dev/null 2>&1; then service 'sendmail' 'restart'; else '/etc/init.d/sendmail' 'restart'; fi",
    ]);
  });

  it('CentOS 7 with firewalld: allows the smtp service, restarts sendmail and sm-client with systemctl', () => {
    const plan = planHost(
      build().resources,
      hostFacts({ os: centosOs(7), firewalld: { runtime: ['ssh', 'dhcpv6-client'], permanent: ['ssh'] }, services: { sendmail: true } }),
    );
    expect(plan.changes[0].steps[0].command).toMatch(/^yum install/);
    const fw = plan.changes.find((c) => c.resourceId.startsWith('firewall:'))!;
    expect(fw.steps.map((s) => s.command)).toEqual(["firewall-cmd --permanent --add-service='smtp' && firewall-cmd --reload"]);
    expect(fw.undo).toEqual([{ kind: 'firewalld-service', service: 'smtp', added: true }]);
    expect(plan.changes.at(-1)!.steps.map((s) => s.command)).toEqual(["systemctl 'restart' 'sendmail'", "systemctl 'restart' 'sm-client'"]);
  });

  it('Rocky/CentOS 8+: dnf, and nothing to do for firewalld when smtp is allowed already', () => {
    const plan = planHost(
      build().resources,
      hostFacts({ os: centosOs(9), firewalld: { runtime: ['smtp'], permanent: ['smtp'] }, services: { sendmail: true } }),
    );
    expect(plan.changes[0].steps[0].command).toBe("dnf install -y -q 'sendmail' 'sendmail-cf' 'cyrus-sasl-plain'");
    expect(plan.unchanged.find((u) => u.resourceId.startsWith('firewall:'))?.reason).toBe('firewalld allows smtp');
  });

  it('refuses a Debian-style user mc on a RHEL host', () => {
    const parts = build({ mc: { text: "include(`/usr/share/sendmail/cf/m4/cf.m4')\nOSTYPE(`debian')\nMAILER(`smtp')\n" } });
    expect(parts.checkFacts?.(hostFacts({ os: centosOs(8) })).map((f) => f.code)).toEqual(['wrong-distro-mc']);
    expect(parts.checkFacts?.(hostFacts({ os: { ...centosOs(8), fqdn: 'relay1' } })).map((f) => f.code)).toContain('unqualified-hostname');
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
