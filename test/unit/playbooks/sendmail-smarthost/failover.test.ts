// Failover (issue 27, item 4): smart hosts tried in order, each with its own AuthInfo line and TLS
// requirement, as sendmail reads them (the host list in SMART_HOST, authinfo, access).
import { describe, expect, it } from 'vitest';
import { lintMc, lintSettingsBeforeConnecting } from '../../../../playbooks/sendmail-smarthost/lint.ts';
import { maskAuthinfo, renderAccessFor, renderAuthinfoFor, renderMc } from '../../../../playbooks/sendmail-smarthost/render.ts';
import { sendmailSettingsSchema, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost/settings.ts';
import { secret } from '../../../../src/secrets/index.ts';

const debian = { family: 'debian' as const, major: 12 };
const parse = (s: Partial<SendmailSettingsInput> = {}) =>
  sendmailSettingsSchema.parse({
    smartHost: 'smtp.gmail.com',
    auth: { user: 'ops@gmail.com', password: secret.value('first-pw') },
    fallbackSmartHosts: [
      { smartHost: 'smtp.sendgrid.net', auth: { user: 'apikey', password: secret.value('SG.a.b'), mechanisms: ['LOGIN'] } },
      { smartHost: 'relay.internal.example.org', smartHostTls: 'encrypt' },
    ],
    ...s,
  });
const codes = (f: { code: string }[]) => f.map((x) => x.code);

describe('fallbackSmartHosts', () => {
  it("is sendmail's host list, in order, with the relay mailer named", () => {
    const mc = renderMc(parse(), debian);
    expect(mc).toContain("define(`SMART_HOST', `relay:[smtp.gmail.com]:[smtp.sendgrid.net]:[relay.internal.example.org]')dnl\n");
    expect(mc).toContain("define(`RELAY_MAILER_ARGS', `TCP $h 587')dnl\n");
    // every mechanism any host authenticates with
    expect(mc).toContain("define(`confAUTH_MECHANISMS', `PLAIN LOGIN')dnl\n");
    expect(renderMc(parse({ fallbackSmartHosts: [] }), debian)).toContain("define(`SMART_HOST', `[smtp.gmail.com]')dnl\n");
  });

  it('the mc lint reads a host list as one: every host in brackets, each unbracketed one named', () => {
    expect(lintMc(renderMc(parse(), debian), debian)).toEqual([]);
    const mc = "define(`SMART_HOST', `relay:[a.example.org]:b.example.org')dnl\nMAILER(`smtp')dnl\n";
    expect(lintMc(mc).map((f) => [f.code, f.message])).toEqual([
      [
        'smart-host-mx-lookup',
        'SMART_HOST "relay:[a.example.org]:b.example.org": b.example.org without brackets makes sendmail look up MX records; write [b.example.org]',
      ],
    ]);
  });

  it('gives each host that authenticates its own AuthInfo line, and each its own TLS requirement', () => {
    expect(maskAuthinfo(renderAuthinfoFor(parse())!)).toBe(
      'AuthInfo:smtp.gmail.com "U:ops@gmail.com" "I:ops@gmail.com" "P:********" "M:PLAIN LOGIN"\n' +
        'AuthInfo:smtp.sendgrid.net "U:apikey" "I:apikey" "P:********" "M:LOGIN"\n',
    );
    expect(renderAccessFor(parse())).toContain(
      'TLS_Srv:smtp.gmail.com          VERIFY:128+CN:smtp.gmail.com\n' +
        'TLS_Srv:smtp.sendgrid.net       VERIFY:128+CN:smtp.sendgrid.net\n' +
        'TLS_Srv:relay.internal.example.org ENCR:128\n',
    );
    // a fallback with auth where the first has none: authinfo all the same
    expect(renderAuthinfoFor(parse({ auth: undefined }))).toMatch(/^AuthInfo:smtp\.sendgrid\.net /);
    expect(renderMc(parse({ auth: undefined }), debian)).toContain("FEATURE(`authinfo', `hash /etc/mail/authinfo')dnl");
  });

  it('refuses a host listed twice and a password in the clear to a fallback; warns of an unverified one', () => {
    const twice = parse({ fallbackSmartHosts: [{ smartHost: 'SMTP.gmail.com' }] });
    expect(lintSettingsBeforeConnecting(twice).find((f) => f.code === 'smart-host-listed-twice')?.message).toBe(
      'fallbackSmartHosts[0].smartHost SMTP.gmail.com is already in the list: sendmail would try it twice, and its AuthInfo and TLS_Srv lines would clash',
    );
    const clear = parse({
      fallbackSmartHosts: [{ smartHost: 'legacy.example.org', smartHostTls: 'none', auth: { user: 'u', password: secret.value('p') } }],
    });
    const findings = lintSettingsBeforeConnecting(clear);
    expect(findings.find((f) => f.code === 'plaintext-auth')).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/^fallbackSmartHosts\[0\]: smartHostTls 'none' with auth/),
    });
    expect(codes(lintSettingsBeforeConnecting(parse()))).toEqual(['smart-host-tls-unverified']);
  });
});
