// Provider presets (issue 27): what each fills in, what shape of credentials it refuses (an
// inventory error naming the file and the field), and how it reads its own replies.
import { describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../../../playbooks/sendmail-smarthost.ts';
import { diagnoseProbe, diagnoseText, oneLine } from '../../../../playbooks/sendmail-smarthost/diagnose.ts';
import { lintSettings, lintSettingsBeforeConnecting } from '../../../../playbooks/sendmail-smarthost/lint.ts';
import { PROVIDER_NAMES, presetOf, type ProviderSetting } from '../../../../playbooks/sendmail-smarthost/providers.ts';
import { describeQueue } from '../../../../playbooks/sendmail-smarthost/queue.ts';
import { sendmailSettingsSchema, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost/settings.ts';
import { resolveInventory } from '../../../../src/inventory/load.ts';
import { secret } from '../../../../src/secrets/index.ts';

const debian = { family: 'debian' as const, major: 12 };
const parse = (s: Partial<SendmailSettingsInput>) => sendmailSettingsSchema.parse(s);

/** Each preset with credentials of the right shape (or none, where it takes none). */
const GOOD: [ProviderSetting, SendmailSettingsInput['auth'], string, number][] = [
  ['gmail', { user: 'ops@gmail.com', password: secret.value('abcd efgh ijkl mnop') }, 'smtp.gmail.com', 587],
  ['google-workspace-relay', undefined, 'smtp-relay.gmail.com', 587],
  ['google-workspace-relay', { user: 'relay@example.org', password: secret.value('abcdefghijklmnop') }, 'smtp-relay.gmail.com', 587],
  ['microsoft-365', { user: 'relay@contoso.com', password: secret.value('a-password') }, 'smtp.office365.com', 587],
  [{ name: 'microsoft-365-connector', tenant: 'contoso-com' }, undefined, 'contoso-com.mail.protection.outlook.com', 25],
  [
    { name: 'ses', region: 'eu-west-1' },
    { user: 'AKIAIOSFODNN7EXAMPLE', password: secret.value('BMW5RDrXmmVs0lV7GpI4oLkHXpZ4stDsk6q91z1g38Pk') },
    'email-smtp.eu-west-1.amazonaws.com',
    587,
  ],
  ['sendgrid', { user: 'apikey', password: secret.value('SG.abc-DEF_1.xyz-2') }, 'smtp.sendgrid.net', 587],
  ['mailgun', { user: 'postmaster@mg.example.org', password: secret.value('pw') }, 'smtp.mailgun.org', 587],
  ['mailgun-eu', { user: 'postmaster@mg.example.org', password: secret.value('pw') }, 'smtp.eu.mailgun.org', 587],
  [
    'postmark',
    { user: '00000000-1111-2222-3333-444444444444', password: secret.value('00000000-1111-2222-3333-444444444444') },
    'smtp.postmarkapp.com',
    587,
  ],
];

describe('provider presets', () => {
  it('covers every provider the setting accepts', () => {
    expect(new Set(GOOD.map(([p]) => (typeof p === 'string' ? p : p.name)))).toEqual(new Set(PROVIDER_NAMES));
  });

  it.each(GOOD)('%j fills host, port and verified TLS, and its lint finds no error', (provider, auth, host, port) => {
    const s = parse({ provider, auth });
    expect([s.smartHost, s.smartHostPort, s.smartHostTls]).toEqual([host, port, 'verify']);
    const errors = lintSettings(s, { distro: debian, hostFqdn: 'relay1.example.org' }).filter((f) => f.level === 'error');
    expect(errors).toEqual([]);
  });

  it('explicit settings win over the preset, and the lint says so', () => {
    const s = parse({ provider: 'sendgrid', smartHost: 'smtp.sandbox.test', smartHostPort: 2525, auth: GOOD[6][1] });
    expect([s.smartHost, s.smartHostPort]).toEqual(['smtp.sandbox.test', 2525]);
    const f = lintSettingsBeforeConnecting(s).find((x) => x.code === 'provider-overridden');
    expect(f?.message).toBe(
      "smartHost smtp.sandbox.test (the preset's: smtp.sendgrid.net) and smartHostPort 2525 (the preset's: 587) given explicitly: used instead of SendGrid's; its reply codes are still decoded as SendGrid's",
    );
  });

  it('without a provider, smartHost is required and the port defaults to 587', () => {
    expect(parse({ smartHost: 'smtp.example.org' }).smartHostPort).toBe(587);
    const r = sendmailSettingsSchema.safeParse({});
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['smartHost', 'a host name, or a provider that names one']]);
  });

  it('warns loudly of basic auth for Microsoft 365, and points to the connector', () => {
    const f = lintSettingsBeforeConnecting(parse({ provider: 'microsoft-365', auth: GOOD[3][1] })).filter(
      (x) => x.code === 'provider-basic-auth-retiring',
    );
    expect(f).toHaveLength(1);
    expect(f[0].level).toBe('warning');
    expect(f[0].message).toMatch(/^MICROSOFT IS RETIRING BASIC AUTH FOR SMTP AUTH: .*microsoft-365-connector/);
  });
});

// the inventory error a user sees: file, field, what was expected
const FILE = '/srv/inv/relays.ts';
function inventoryError(settings: SendmailSettingsInput): string {
  try {
    resolveInventory({ hosts: { relay1: { address: '10.0.0.1' } }, playbooks: [{ use: sendmailSmartHost(settings) }] }, FILE);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
}

const FIELD = `${FILE}: playbooks.0.use(sendmail-smarthost).settings`;
const pw = secret.value('pw');
const SHAPES: [string, SendmailSettingsInput, string][] = [
  [
    "SendGrid's user is the literal apikey",
    { provider: 'sendgrid', auth: { user: 'ops@example.org', password: pw } },
    `${FIELD}.auth.user: the literal 'apikey' (SendGrid's SMTP user; the API key is the password) for SendGrid, not "ops@example.org"`,
  ],
  [
    "SES's user is an access key id",
    { provider: { name: 'ses', region: 'us-east-1' }, auth: { user: 'ops@example.org', password: pw } },
    `${FIELD}.auth.user: the access key id of the IAM user that may send (20 characters, AKIA...) for Amazon SES (us-east-1), not "ops@example.org"`,
  ],
  ['Gmail needs auth', { provider: 'gmail' }, `${FIELD}.auth: Gmail takes mail only with SMTP AUTH: { user, password: secret.env(...) }`],
  [
    'the connector takes no auth',
    { provider: { name: 'microsoft-365-connector', tenant: 'contoso-com' }, auth: { user: 'a@contoso.com', password: pw } },
    `${FIELD}.auth: no auth: Microsoft 365 inbound connector authorises the relay by its IP address (or certificate) and takes no SMTP AUTH on port 25`,
  ],
  [
    'an SES region must be one',
    { provider: { name: 'ses', region: 'Ireland' }, auth: { user: 'AKIAIOSFODNN7EXAMPLE', password: pw } },
    `${FIELD}.provider`,
  ],
  [
    'a Gmail user is an address',
    { provider: 'gmail', auth: { user: 'ops', password: pw } },
    `${FIELD}.auth.user: the full Google account address`,
  ],
  [
    'Postmark takes a token',
    { provider: 'postmark', auth: { user: 'ops@example.org', password: pw } },
    `${FIELD}.auth.user: a Server API token`,
  ],
];

describe('credential shapes', () => {
  it.each(SHAPES)('%s', (_what, settings, message) => {
    expect(inventoryError(settings)).toContain(message);
  });

  it("an SES password that is the raw IAM secret is an error naming the secret's source, never its value", () => {
    const raw = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const s = parse({
      provider: { name: 'ses', region: 'eu-west-1' },
      auth: { user: 'AKIAIOSFODNN7EXAMPLE', password: secret.value(raw) },
    });
    const f = lintSettingsBeforeConnecting(s).filter((x) => x.code === 'provider-password-shape');
    expect(f.map((x) => [x.level, x.message])).toEqual([
      [
        'error',
        "auth.password (inline value) is an IAM secret access key (40 characters), which SES refuses as an SMTP password (535): derive the password with secret.sesSmtpPassword(<that secret>, 'eu-west-1') for Amazon SES (eu-west-1)",
      ],
    ]);
    expect(JSON.stringify(f)).not.toContain(raw);
  });

  it('an SES password derived for another region is an error; one derived for this region is not even read', () => {
    const ses = (region: string) =>
      parse({
        provider: { name: 'ses', region: 'eu-west-1' },
        auth: { user: 'AKIAIOSFODNN7EXAMPLE', password: secret.sesSmtpPassword(secret.env('MAILPROV_NO_SUCH_VARIABLE'), region) },
      });
    const shape = (region: string) =>
      lintSettingsBeforeConnecting(ses(region))
        .filter((x) => x.code.startsWith('provider-password'))
        .map((x) => x.message);
    expect(shape('us-east-1')).toEqual([
      'auth.password is the SES SMTP password for us-east-1, but provider.region is eu-west-1: SES refuses it there (535); derive it for eu-west-1',
    ]);
    expect(shape('eu-west-1')).toEqual([]);
  });

  it('a SendGrid password that is no API key, and a Gmail one that is no app password, are warnings', () => {
    const sg = parse({ provider: 'sendgrid', auth: { user: 'apikey', password: secret.value('hunter2') } });
    const gm = parse({ provider: 'gmail', auth: { user: 'a@gmail.com', password: secret.value('my own password') } });
    for (const s of [sg, gm]) {
      const f = lintSettingsBeforeConnecting(s).filter((x) => x.code === 'provider-password-shape');
      expect(f.map((x) => x.level)).toEqual(['warning']);
    }
  });
});

/** Each provider's replies (texts as the providers send them), and what they are read as. */
const REPLIES: [ProviderSetting, string, string, RegExp][] = [
  [
    'gmail',
    '534-5.7.9 Application-specific password required. Learn more at\n534 5.7.9 https://support.google.com/mail/?p=InvalidSecondFactor',
    'google-app-password',
    /app password/,
  ],
  ['gmail', '535-5.7.8 Username and Password not accepted.', 'google-credentials', /app password of that account/],
  ['gmail', '550 5.4.5 Daily user sending limit exceeded.', 'google-daily-quota', /reset/],
  ['google-workspace-relay', '550 5.7.1 Invalid credentials for relay [203.0.113.5].', 'workspace-relay-denied', /SMTP relay service/],
  ['google-workspace-relay', '534 5.7.9 Application-specific password required.', 'google-app-password', /app password/],
  ['google-workspace-relay', '535 5.7.8 Username and Password not accepted.', 'google-credentials', /app password of that account/],
  ['google-workspace-relay', '550 5.4.5 Daily SMTP relay limit exceeded for customer.', 'google-daily-quota', /reset/],
  [
    'microsoft-365',
    '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.',
    'm365-smtp-auth-disabled',
    /SmtpClientAuthenticationDisabled/,
  ],
  ['microsoft-365', '535 5.7.3 Authentication unsuccessful', 'm365-auth-unsuccessful', /Authenticated SMTP/],
  [
    'microsoft-365',
    '421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.',
    'm365-tls12-required',
    /OpenSSL/,
  ],
  ['microsoft-365', '554 5.2.252 SendAsDenied; relay@contoso.com not allowed to send as ops@other.org', 'm365-send-as-denied', /Send As/],
  [
    { name: 'microsoft-365-connector', tenant: 'contoso-com' },
    '550 5.7.64 TenantAttribution; Relay Access Denied',
    'm365-connector-not-attributed',
    /inbound connector/,
  ],
  [
    { name: 'microsoft-365-connector', tenant: 'contoso-com' },
    '550 5.7.1 Unable to relay for ops@example.org',
    'm365-connector-unable-to-relay',
    /accepted domain/,
  ],
  [
    { name: 'microsoft-365-connector', tenant: 'contoso-com' },
    '421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.',
    'm365-tls12-required',
    /OpenSSL/,
  ],
  [
    { name: 'ses', region: 'eu-west-1' },
    '554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: ops@example.org',
    'ses-not-verified',
    /production access/,
  ],
  [{ name: 'ses', region: 'eu-west-1' }, '454 Throttling failure: Maximum sending rate exceeded.', 'ses-throttled', /retried/],
  [{ name: 'ses', region: 'eu-west-1' }, '535 Authentication Credentials Invalid', 'ses-credentials', /sesSmtpPassword/],
  ['sendgrid', '535 Authentication failed: Bad username / password', 'sendgrid-credentials', /literal apikey/],
  ['sendgrid', '550 The from address does not match a verified Sender Identity.', 'sendgrid-sender-identity', /Sender Authentication/],
  ['sendgrid', '451 Authentication failed: Maximum credits exceeded', 'sendgrid-credits', /plan/],
  ['mailgun', '535 5.7.0 Mailgun is not loving your login or password', 'mailgun-credentials', /mailgun-eu/],
  ['mailgun-eu', '535 5.7.0 Mailgun is not loving your login or password', 'mailgun-credentials', /provider mailgun\b/],
  [
    'mailgun',
    '421 Domain sandbox123.mailgun.org is not allowed to send: Free accounts are for test purposes only. Please upgrade or add the address to authorized recipients.',
    'mailgun-sandbox-recipient',
    /authorised recipients/,
  ],
  [
    'mailgun-eu',
    '550 5.7.1 Sandbox subdomains are for test purposes only. Please add your own domain or add the address to authorized recipients in Account Settings.',
    'mailgun-sandbox-recipient',
    /authorised recipients/,
  ],
  ['postmark', '535 5.7.8 Authentication failed', 'postmark-credentials', /Server API token/],
  [
    'postmark',
    "550 The 'From' address you supplied (ops@example.org) is not a Sender Signature on your account.",
    'postmark-sender-signature',
    /Sender Signature/,
  ],
];

describe('provider replies', () => {
  const ctxOf = (provider: ProviderSetting) => ({
    smartHost: presetOf(provider).host,
    port: presetOf(provider).port,
    user: 'ops@example.org',
    caFile: '/etc/ssl/certs/ca-certificates.crt',
    provider,
  });

  it.each(REPLIES)('%j reads %j', (provider, reply, id, remedy) => {
    const ctx = ctxOf(provider);
    // a reply the probe got, a sendmail transcript line, a queue file's deferral reason: one reading
    const probe = diagnoseProbe({ step: 'auth', reply, detail: '' }, ctx);
    const text = diagnoseText(`>>> RCPT To:<ops@example.org>\n${reply}`, ctx);
    const queued = describeQueue(
      { count: 1, now: 10, messages: [{ dir: '/var/spool/mqueue', queuedAt: 5, reason: `Deferred: ${reply.split('\n').at(-1)}` }] },
      ctx,
    );
    expect(probe.code).toBe(id);
    expect(text?.code).toBe(id);
    expect(oneLine(probe)).toMatch(new RegExp(`^${presetOf(provider).title.replace(/[()]/g, '\\$&')} at ${ctx.smartHost}:${ctx.port} `));
    expect(probe.remedy).toMatch(remedy);
    expect(oneLine(probe)).not.toContain('\n');
    expect(queued).toContain(probe.remedy);
  });

  it('covers every decoder of every preset', () => {
    const key = (p: ProviderSetting, id: string) => `${presetOf(p).name}: ${id}`;
    const all = new Set(GOOD.flatMap(([p]) => presetOf(p).decoders.map((d) => key(p, d.id))));
    expect(new Set(REPLIES.map(([p, , id]) => key(p, id)))).toEqual(all);
  });

  it('falls back to the generic causes where the provider has no reading, and a reply is read only as its provider would', () => {
    const ctx = ctxOf('sendgrid');
    expect(diagnoseText('530 5.7.0 Must issue a STARTTLS command first.', ctx)?.code).toBe('starttls-required');
    // 5.7.64 means something only from Microsoft's connector
    expect(diagnoseText('550 5.7.64 TenantAttribution; Relay Access Denied', ctx)?.code).toBeUndefined();
    expect(diagnoseText('535 5.7.8 Username and Password not accepted', { ...ctx, provider: undefined })?.code).toBe('credentials-refused');
  });
});
