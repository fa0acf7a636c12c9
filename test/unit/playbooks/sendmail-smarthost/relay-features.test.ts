// Relay-widening FEATUREs (issue 24, defect 10): the playbook's lint refuses each one, in `features`
// or in the user's own mc, unless allowRelayFeatures names it; `force` does not lift the refusal.
import { describe, expect, it } from 'vitest';
import { sendmailSettingsSchema, sendmailSmartHost, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost.ts';
import { mcFeatures, RELAY_WIDENING_NAMES } from '../../../../playbooks/sendmail-smarthost/relay-features.ts';
import { renderMc } from '../../../../playbooks/sendmail-smarthost/render.ts';

const base = { smartHost: 'smtp.gmail.com', relayFrom: ['192.168'] };
const lint = (s: Partial<SendmailSettingsInput>) =>
  sendmailSmartHost.definition.build(sendmailSettingsSchema.parse({ ...base, ...s })).lint?.() ?? [];
const relayFindings = (s: Partial<SendmailSettingsInput>) =>
  lint(s)
    .filter((f) => f.code === 'relay-widening-feature')
    .map((f) => [f.level, f.message]);

describe('relay-widening FEATUREs', () => {
  it('knows the six that cf/README and the features themselves say widen relaying, and not the narrowing ones', () => {
    expect(RELAY_WIDENING_NAMES).toEqual([
      'promiscuous_relay',
      'relay_entire_domain',
      'relay_based_on_MX',
      'relay_local_from',
      'relay_mail_from',
      'loose_relay_check',
    ]);
    for (const fine of ['relay_hosts_only', 'accept_unresolvable_domains', 'accept_unqualified_senders', 'nouucp']) {
      expect(relayFindings({ features: [fine] }), fine).toEqual([]);
    }
  });

  it.each(RELAY_WIDENING_NAMES)('refuses features: [%s] as an error, even with force', (name) => {
    for (const force of [false, true]) {
      const found = relayFindings({ features: ['nouucp', name], force });
      expect(found).toHaveLength(1);
      expect(found[0][0]).toBe('error');
      expect(found[0][1]).toMatch(
        new RegExp(`^features\\[1\\]: FEATURE\\(${name}\\) widens relaying: .*; .*name it in allowRelayFeatures: \\['${name}'\\]$`),
      );
    }
  });

  it('lets through only what allowRelayFeatures names, each by name, as a warning the plan shows', () => {
    expect(relayFindings({ features: ['relay_mail_from', 'relay_local_from'], allowRelayFeatures: ['relay_mail_from'] })).toEqual([
      [
        'warning',
        expect.stringMatching(/^features\[0\]: FEATURE\(relay_mail_from\) widens relaying: .* \(allowed by allowRelayFeatures\)$/),
      ],
      ['error', expect.stringMatching(/^features\[1\]: FEATURE\(relay_local_from\) widens relaying/)],
    ]);
    // a name that is not a relay-widening FEATURE is no opt-in at all
    expect(() => sendmailSettingsSchema.parse({ ...base, allowRelayFeatures: ['nouucp'] })).toThrow(/allowRelayFeatures/);
  });

  it("finds them in the user's own mc too, leaving out commented lines", () => {
    const mc = renderMc(sendmailSettingsSchema.parse(base), { family: 'debian', major: 12 }).replace(
      'MAILER_DEFINITIONS\n',
      "dnl FEATURE(`relay_entire_domain')dnl\nFEATURE(`relay_based_on_MX')dnl\nMAILER_DEFINITIONS\n",
    );
    expect(mcFeatures(mc)).toContain('relay_based_on_MX');
    expect(mcFeatures(mc)).not.toContain('relay_entire_domain');
    expect(relayFindings({ mc: { text: mc } })).toEqual([
      ['error', expect.stringMatching(/^the mc: FEATURE\(relay_based_on_MX\) widens relaying/)],
    ]);
    expect(relayFindings({ mc: { text: mc }, allowRelayFeatures: ['relay_based_on_MX'] })[0][0]).toBe('warning');
  });
});
