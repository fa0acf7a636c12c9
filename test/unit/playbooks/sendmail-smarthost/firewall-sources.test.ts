// Port 25 opened to relayFrom's networks: access-map entries as firewall sources, and the playbook
// planned on hosts whose firewall is ufw or native nftables (no iptables-persistent, no iptables rule).
import { describe, expect, it } from 'vitest';
import { sendmailSettingsSchema, sendmailSmartHost, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost.ts';
import { relaySources, smtpOpening } from '../../../../playbooks/sendmail-smarthost/firewall-sources.ts';
import { planHost } from '../../../../src/engine/plan.ts';
import type { FirewallFacts } from '../../../../src/facts/firewall.ts';
import { secret } from '../../../../src/secrets/index.ts';
import { debianOs, fileFact, hostFacts } from '../../fixtures.ts';

const build = (s: Partial<SendmailSettingsInput> = {}) =>
  sendmailSmartHost.definition.build(
    sendmailSettingsSchema.parse({
      smartHost: 'smtp.gmail.com',
      relayFrom: ['192.168.77', '10', 'IPv6:fd00:1'],
      auth: { user: 'u@example.org', password: secret.value('pw-fw-1') },
      ...s,
    }),
  );

describe('relayFrom as firewall sources', () => {
  it('turns octet prefixes and whole-group IPv6 prefixes into networks, and names what it cannot', () => {
    expect(relaySources(['192.168', '10.0.0.5', '10', '172.16.0', 'IPv6:2001:DB8', 'IPv6:fd00::1', 'printer.lan', '300.1'])).toEqual({
      ipv4: ['192.168.0.0/16', '10.0.0.5/32', '10.0.0.0/8', '172.16.0.0/24'],
      ipv6: ['2001:db8::/32'],
      underived: ['IPv6:fd00::1', 'printer.lan', '300.1'],
    });
    expect(smtpOpening(['192.168'], 'everyone').sources).toBe('everyone');
    // no relayFrom but the port asked open: a host that receives mail, open to everyone
    expect(smtpOpening([], 'relayFrom').sources).toBe('everyone');
  });

  it('warns when relayFrom names a host the firewall cannot match, unless the port is open to everyone', () => {
    const codes = (s: Partial<SendmailSettingsInput>) => (build(s).lint?.() ?? []).map((f) => f.code);
    expect(codes({ relayFrom: ['192.168', 'printer.lan'] })).toContain('firewall-source-unknown');
    expect(codes({ relayFrom: ['192.168', 'printer.lan'], smtpPortFrom: 'everyone' })).not.toContain('firewall-source-unknown');
    expect(codes({ relayFrom: ['192.168', 'printer.lan'], openSmtpPort: false })).not.toContain('firewall-source-unknown');
  });
});

const NFT: FirewallFacts = {
  manager: 'nftables',
  why: 'nftables table inet filter, chain input: policy drop',
  nft: { family: 'inet', table: 'filter', chain: 'input', drops: 'policy drop', ours: [] },
};
const conf = { '/etc/nftables.conf': fileFact('#!/usr/sbin/nft -f\nflush ruleset\n') };

describe('the playbook where ufw or nftables decides', () => {
  it('installs no iptables-persistent and opens port 25 to relayFrom in nftables, both families in one resource', () => {
    const plan = planHost(
      build({ listen: ['0.0.0.0', '::'] }).resources,
      hostFacts({ os: debianOs, files: conf, extra: { firewall: NFT } }),
    );
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, libsasl2-modules (apt)');
    expect(plan.changes.filter((c) => c.summary.includes('iptables-persistent'))).toEqual([]);
    expect(plan.unchanged.find((u) => u.resourceId === 'packages:iptables-persistent')?.reason).toMatch(/persists its own rules/);
    const fw = plan.changes.filter((c) => c.resourceId.startsWith('firewall'));
    expect(fw.map((c) => c.summary)).toEqual([
      'open tcp/25 to 192.168.77.0/24, 10.0.0.0/8, fd00:1::/32 in nftables inet filter chain input',
    ]);
    expect(plan.unchanged.find((u) => u.resourceId.startsWith('firewall6:'))?.reason).toMatch(/cover IPv6 too/);
  });

  it('says so in the plan when the port opens to everyone', () => {
    const ufw: FirewallFacts = { manager: 'ufw', why: 'ufw is active', ufwAdded: [] };
    const plan = planHost(build({ smtpPortFrom: 'everyone' }).resources, hostFacts({ os: debianOs, extra: { firewall: ufw } }));
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, libsasl2-modules (apt)');
    expect(plan.changes.find((c) => c.resourceId.startsWith('firewall:'))?.summary).toBe('open tcp/25 to everyone in ufw');
  });

  it('keeps iptables-persistent where iptables is the firewall', () => {
    const plan = planHost(build().resources, hostFacts({ os: debianOs, extra: { firewall: { manager: 'iptables', why: 'x' } } }));
    expect(plan.changes[0].summary).toBe('install sendmail, sendmail-cf, libsasl2-modules (apt)');
    expect(plan.changes[1].summary).toBe('install iptables-persistent (apt)');
  });
});
