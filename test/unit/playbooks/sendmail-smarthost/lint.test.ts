// Every lint: a case where it fires and one where it does not.
import { describe, expect, it } from 'vitest';
import { secret } from '../../../../src/secrets/index.ts';
import {
  applyForce,
  lintMc,
  lintSettings,
  lintSettingsBeforeConnecting,
  lintSettingsForHost,
  lintUserMcTls,
  UNFORCEABLE,
} from '../../../../playbooks/sendmail-smarthost/lint.ts';
import { lintRelayFrom } from '../../../../playbooks/sendmail-smarthost/relay-from.ts';
import { renderMc } from '../../../../playbooks/sendmail-smarthost/render.ts';
import { sendmailSettingsSchema, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost/settings.ts';

const debian = { family: 'debian' as const, major: 12 };
const rhel = { family: 'rhel' as const, major: 9 };
const settings = (s: Partial<SendmailSettingsInput> = {}) =>
  sendmailSettingsSchema.parse({
    smartHost: 'smtp.gmail.com',
    listen: ['0.0.0.0'],
    auth: { user: 'u@example.org', password: secret.value('pw-123') },
    ...s,
  });
const codes = (f: { code: string }[]) => f.map((x) => x.code);
const good = renderMc(settings(), debian);

// the line from the seed blog post (SENDMAIL.md, "Pitfalls seen in the wild")
const SEED_LINE =
  "define(`confPRIVACY_FLAGS',dnl`needmailhelo,needexpnhelo,needvrfyhelo,restrictqrun,restrictexpand,nobodyreturn,authwarnings')dnl";

describe('lintMc', () => {
  it('finds nothing wrong in the generated mc, for either distro', () => {
    expect(lintMc(good, debian)).toEqual([]);
    expect(lintMc(renderMc(settings(), rhel), rhel)).toEqual([]);
  });

  it('catches the one-line dnl inside an argument list, with its line number', () => {
    const mc = good.replace(/^define\(`confPRIVACY_FLAGS'.*$/m, SEED_LINE);
    const findings = lintMc(mc, debian);
    expect(codes(findings)).toEqual(['dnl-in-arguments']);
    expect(findings[0].line).toBe(mc.split('\n').indexOf(SEED_LINE) + 1);
    expect(findings[0].level).toBe('error');
  });

  it("accepts Debian's own two-line form, where dnl ends the line inside the list", () => {
    const mc = good.replace(/^define\(`confPRIVACY_FLAGS'.*$/m, "define(`confPRIVACY_FLAGS',dnl\n`needmailhelo,needexpnhelo,goaway')dnl");
    expect(lintMc(mc, debian)).toEqual([]);
    expect(codes(lintMc("define(`A', dnl   \n`x')dnl\nMAILER(`smtp')dnl\n"))).toEqual([]);
  });

  it('accepts dnl after a closed list, inside quotes, and in comments; and multi-line argument lists', () => {
    expect(codes(lintMc("define(`A', `x dnl y')dnl\n# dnl (\nFEATURE(`x',\n  `y')dnl\nMAILER(`smtp')dnl\n"))).toEqual([]);
  });

  it('reports unbalanced quotes and parentheses', () => {
    expect(codes(lintMc("define(`A', `x)\nMAILER(`smtp')\n"))).toContain('unbalanced-quotes');
    expect(codes(lintMc("define(`A', `x'\nMAILER(`smtp')\n"))).toContain('unbalanced-parens');
  });

  it('warns of include() of optional Debian files', () => {
    expect(codes(lintMc(`${good}include(\`/etc/mail/m4/dialup.m4')dnl\n`))).toEqual(['include-may-be-missing']);
    expect(codes(lintMc(`${good}sinclude(\`/etc/mail/m4/dialup.m4')dnl\n`))).toEqual([]);
  });

  it('refuses host:port in SMART_HOST and warns when brackets are missing', () => {
    expect(codes(lintMc(good.replace('[smtp.gmail.com]', 'smtp.gmail.com:587')))).toEqual(['smart-host-port-in-name']);
    expect(codes(lintMc(good.replace('[smtp.gmail.com]', '[smtp.gmail.com:587]')))).toEqual(['smart-host-port-in-name']);
    expect(codes(lintMc(good.replace('[smtp.gmail.com]', 'smtp.gmail.com')))).toEqual(['smart-host-mx-lookup']);
  });

  it('refuses an mc without the smtp mailer', () => {
    expect(codes(lintMc(good.replace("MAILER(`smtp')dnl", '')))).toEqual(['no-smtp-mailer']);
  });

  it("refuses a user's mc that points a mailer at port 465 (implicit TLS)", () => {
    for (const line of ["define(`RELAY_MAILER_ARGS', `TCP $h 465')dnl", "define(`ESMTP_MAILER_ARGS',`TCP $h smtps')dnl"]) {
      const found = lintMc(good.replace("define(`RELAY_MAILER_ARGS', `TCP $h 587')dnl", line), debian);
      expect(codes(found)).toEqual(['implicit-tls-port']);
      expect(found[0].message).toContain('use port 587 with STARTTLS');
    }
    expect(codes(lintMc(good.replace("`TCP $h 587'", "`TCP $h 4650'"), debian))).toEqual([]);
  });

  it('refuses an mc written for the other distro', () => {
    expect(codes(lintMc(good, rhel))).toEqual(['wrong-distro-mc']);
    expect(codes(lintMc(renderMc(settings(), rhel), debian))).toEqual(['wrong-distro-mc']);
  });
});

describe('lintSettings', () => {
  it('finds nothing in good settings', () => {
    expect(lintSettings(settings(), { distro: debian, hostFqdn: 'relay1.example.org' })).toEqual([]);
  });

  // one list of checks: what runs before connecting and what waits for the host are its two parts
  it('is the checks before connecting and the checks for the host, nothing more or less', () => {
    const s = settings({
      provider: 'microsoft-365',
      smartHost: 'smtp.sandbox.test',
      smartHostTls: 'encrypt',
      localDomain: 'sandbox.test',
      genericsTable: { root: 'ops@example.org' },
      genericsDomains: ['example.org'],
    });
    const ctx = { distro: debian, hostFqdn: 'relay1' };
    const before = lintSettingsBeforeConnecting(s);
    const forHost = lintSettingsForHost(s, ctx);
    expect(codes(before)).toEqual(
      expect.arrayContaining(['local-domain-covers-destination', 'smart-host-tls-unverified', 'provider-basic-auth-retiring']),
    );
    expect(codes(forHost)).toEqual(['generics-domain-misses-host', 'unqualified-hostname']);
    expect(codes(lintSettings(s, ctx)).sort()).toEqual([...codes(before), ...codes(forHost)].sort());
  });

  // the schema refuses these values; settings that reach the lint some other way are checked again
  it('refuses an apostrophe in a value that goes into the mc', () => {
    expect(codes(lintSettings({ ...settings(), trustedCa: "/etc/ssl/it's.pem" }, { distro: debian }))).toEqual(['apostrophe-in-value']);
  });

  it('refuses a line break in a value that goes into the mc or the access map', () => {
    const ctx = { distro: debian };
    expect(codes(lintSettings({ ...settings(), trustedCa: "/etc/ssl/ca.pem\nFEATURE(`promiscuous_relay')dnl" }, ctx))).toContain(
      'line-break-in-value',
    );
    expect(codes(lintSettings({ ...settings(), relayFrom: ['10.0\nConnect:0'] }, ctx))).toEqual(['line-break-in-value']);
  });

  it('refuses a word in a value that m4 would run as a macro when it reads the value again', () => {
    const ctx = { distro: debian };
    expect(codes(lintSettings(settings({ trustedCa: '/etc/ssl/dnl/ca.pem' }), ctx))).toEqual(['m4-macro-in-value']);
    expect(codes(lintSettings(settings({ smartHost: 'm4exit.example.org' }), ctx))).toEqual(['m4-macro-in-value']);
    expect(codes(lintSettings(settings({ localDomain: 'divert.example.org' }), ctx))).toEqual(['m4-macro-in-value']);
    // part of a longer word is no macro
    expect(lintSettings(settings({ trustedCa: '/etc/ssl/mydnl/dnl_ca.pem', localDomain: 'divert-1.example.org' }), ctx)).toEqual([
      expect.objectContaining({ code: 'm4-macro-in-value', message: expect.stringContaining('localDomain') }),
    ]);
  });

  it('refuses a LOCAL_DOMAIN that covers the relay destination or the smart host', () => {
    expect(
      codes(lintSettings(settings({ localDomain: 'Example.org', verify: { recipient: 'ops@example.org' } }), { distro: debian })),
    ).toEqual(['local-domain-covers-destination']);
    expect(codes(lintSettings(settings({ localDomain: 'gmail.com' }), { distro: debian }))).toEqual(['local-domain-covers-destination']);
    expect(codes(lintSettings(settings({ localDomain: 'smtp.gmail.com' }), { distro: debian }))).toEqual([
      'local-domain-covers-destination',
    ]);
    // class w matches whole names: neither a parent nor a subdomain of the destination is local
    expect(
      codes(lintSettings(settings({ localDomain: 'relay.example.org', verify: { recipient: 'ops@example.org' } }), { distro: debian })),
    ).toEqual([]);
    expect(
      codes(lintSettings(settings({ localDomain: 'example.org', verify: { recipient: 'ops@mail.example.org' } }), { distro: debian })),
    ).toEqual([]);
  });

  it('warns when port 25 is opened by hand while sendmail listens on loopback only', () => {
    expect(codes(lintSettings(settings({ listen: ['127.0.0.1'], openSmtpPort: true }), { distro: debian }))).toEqual([
      'port-25-loopback-only',
    ]);
    expect(codes(lintSettings(settings({ listen: ['127.0.0.1'], openSmtpPort: false }), { distro: debian }))).toEqual([]);
  });

  it('derives defaults that never contradict each other', () => {
    const local = settings({ listen: undefined });
    expect([local.listen, local.openSmtpPort]).toEqual([['127.0.0.1'], false]);
    const lan = settings({ listen: undefined, relayFrom: ['192.168'] });
    expect([lan.listen, lan.openSmtpPort]).toEqual([['0.0.0.0'], true]);
    for (const s of [local, lan]) expect(codes(lintSettings(s, { distro: debian }))).toEqual([]);
    // explicit settings win over the derived ones
    expect(settings({ relayFrom: ['192.168'], listen: ['192.0.2.10'], openSmtpPort: false })).toMatchObject({
      listen: ['192.0.2.10'],
      openSmtpPort: false,
    });
  });

  it('warns when TLS to the smart host is not verified', () => {
    expect(codes(lintSettings(settings({ smartHostTls: 'encrypt' }), { distro: debian }))).toEqual(['smart-host-tls-unverified']);
    expect(codes(lintSettings(settings({ smartHostTls: 'none', auth: undefined }), { distro: debian }))).toEqual([
      'smart-host-tls-unverified',
    ]);
    expect(codes(lintSettings(settings({ smartHostTls: 'verify' }), { distro: debian }))).toEqual([]);
  });

  it("refuses AUTH in the clear (smartHostTls 'none' with auth) unless allowPlaintextAuth says so, whatever force says", () => {
    const none = settings({ smartHostTls: 'none' });
    const refused = lintSettings(none, { distro: debian }).find((f) => f.code === 'plaintext-auth');
    expect(refused).toMatchObject({
      level: 'error',
      message: expect.stringMatching(/password of u@example\.org in the clear.*allowPlaintextAuth: true/),
    });
    // force is for what a valid mc means, not for sending a password in the clear
    expect(applyForce(lintSettings(settings({ smartHostTls: 'none', force: true }), { distro: debian }), true)).toContainEqual(refused);
    const allowed = lintSettings(settings({ smartHostTls: 'none', allowPlaintextAuth: true }), { distro: debian });
    expect(allowed.find((f) => f.code === 'plaintext-auth')).toMatchObject({
      level: 'warning',
      message: expect.stringMatching(/allowed by allowPlaintextAuth/),
    });
    // with TLS required (or no password to send) there is nothing to allow
    for (const s of [
      settings({ smartHostTls: 'verify' }),
      settings({ smartHostTls: 'encrypt' }),
      settings({ smartHostTls: 'none', auth: undefined }),
    ])
      expect(codes(lintSettings(s, { distro: debian }))).not.toContain('plaintext-auth');
    // off unless said
    expect(none.allowPlaintextAuth).toBe(false);
  });

  it("warns when a user's mc does not read the access map, where the TLS requirement is", () => {
    expect(codes(lintUserMcTls("FEATURE(`access_db')dnl\n", { smartHostTls: 'verify' }))).toEqual([]);
    expect(codes(lintUserMcTls("FEATURE(`use_cw_file')dnl\n", { smartHostTls: 'verify' }))).toEqual(['tls-requirement-not-read']);
    expect(codes(lintUserMcTls("FEATURE(`use_cw_file')dnl\n", { smartHostTls: 'none' }))).toEqual([]);
  });

  it('refuses listen addresses whose daemons would fight over port 25', () => {
    expect(codes(lintSettings(settings({ listen: ['0.0.0.0', '192.0.2.10'] }), { distro: debian }))).toEqual(['listen-overlap']);
    expect(codes(lintSettings(settings({ listen: ['192.0.2.10', '192.0.2.10'] }), { distro: debian }))).toEqual(['listen-overlap']);
    expect(codes(lintSettings(settings({ listen: ['::', '2001:db8::1'] }), { distro: debian }))).toEqual(['listen-overlap']);
    expect(codes(lintSettings(settings({ listen: ['127.0.0.1', '192.0.2.10', '::1', '2001:db8::25'] }), { distro: debian }))).toEqual([]);
    expect(codes(lintSettings(settings({ listen: ['0.0.0.0', '::'] }), { distro: debian }))).toEqual([]);
    // :: is dual-stack (sendmail sets no IPV6_V6ONLY): it takes 127.0.0.1 too, whose daemon could not bind
    const dual = lintSettings(settings({ listen: ['127.0.0.1', '192.0.2.10', '::'] }), { distro: debian });
    expect(codes(dual)).toEqual(['listen-overlap']);
    expect(dual[0].message).toContain('takes IPv4 connections on every address, 127.0.0.1, 192.0.2.10 included');
  });

  it('refuses a host name without a domain', () => {
    expect(codes(lintSettings(settings(), { distro: debian, hostFqdn: 'relay1' }))).toEqual(['unqualified-hostname']);
    expect(codes(lintSettings(settings(), { distro: debian, hostFqdn: 'relay1.example.org' }))).toEqual([]);
  });

  it('refuses smartHostPort 465: sendmail 8.17 has implicit TLS as a daemon only, not as a client', () => {
    const found = lintSettings(settings({ smartHostPort: 465 }), { distro: debian });
    // once, in the settings' words, although the generated mc says `TCP $h 465' too
    expect(codes(found)).toEqual(['implicit-tls-port']);
    expect(found[0].level).toBe('error');
    expect(found[0].message).toContain('smartHostPort 465: port 465 is SMTPS (implicit TLS from the first byte)');
    expect(found[0].message).toContain('upgrade only with STARTTLS');
    expect(found[0].message).toContain('use port 587 with STARTTLS (smartHostPort: 587, the default)');
    expect(codes(lintSettings(settings({ smartHostPort: 587 }), { distro: debian }))).toEqual([]);
    expect(codes(lintSettings(settings({ smartHostPort: 465 }), { distro: rhel }))).toEqual(['implicit-tls-port']);
  });

  it('warns about mechanisms without PLAIN/LOGIN and AUTH on port 25', () => {
    expect(
      codes(lintSettings(settings({ auth: { user: 'u', password: secret.value('pw-1'), mechanisms: ['CRAM-MD5'] } }), { distro: debian })),
    ).toEqual(['no-plain-login']);
    expect(codes(lintSettings(settings({ smartHostPort: 25 }), { distro: debian }))).toEqual(['auth-on-port-25']);
  });
});

describe('lintRelayFrom', () => {
  // past the schema, as settings that reach the lint some other way would be
  const lint = (relayFrom: string[], allowPublicRelayFrom = false) => lintRelayFrom({ ...settings(), relayFrom, allowPublicRelayFrom });
  const found = (relayFrom: string[], allow = false) => lint(relayFrom, allow).map((f) => [f.level, f.code]);

  it('accepts networks inside the private, link-local and loopback ranges', () => {
    const ok = ['10', '10.0.0', '10.0.0.5', '172.16', '172.31.255', '192.168', '127', '169.254', 'localhost', 'IPv6:fd00', 'IPv6:fe80:1'];
    expect(lint([...ok, 'IPv6:fc00:0:0:0:0:0:0:1', 'IPv6:::1'])).toEqual([]);
    expect(lintSettings(settings({ relayFrom: ok }), { distro: debian })).toEqual([]);
  });

  it('refuses an entry that is no network sendmail can match, naming it', () => {
    for (const entry of [
      '',
      '0',
      '0.0.0.0',
      '256.1',
      '10.0.0.300',
      '1.2.3.4.5',
      '010.1',
      '10.',
      'IPv6:',
      'IPv6:2001:0db8',
      'IPv6:fd00:::1',
      'com',
    ]) {
      const f = lint(['192.168', entry]);
      expect(
        f.map((x) => [x.level, x.code]),
        entry,
      ).toEqual([['error', 'relay-from-invalid']]);
      expect(f[0].message, entry).toContain(`relayFrom[1] ${JSON.stringify(entry)} is not a network sendmail can match: `);
    }
    expect(lint(['1.2.3.4.5'])[0].message).toBe(
      'relayFrom[0] "1.2.3.4.5" is not a network sendmail can match: 5 octets, where an IPv4 network has at most 4',
    );
  });

  it('refuses an entry wider than or outside the private ranges, unless allowPublicRelayFrom says it is meant', () => {
    for (const entry of ['172', '172.32', '192', '198.51', '8.8.8.8', '11', 'IPv6:2001:db8', 'IPv6:fec0', 'clients.example.com']) {
      expect(found([entry]), entry).toEqual([['error', 'relay-from-public']]);
      expect(found([entry], true), entry).toEqual([['warning', 'relay-from-public']]);
    }
    expect(lint(['172'])[0].message).toBe(
      'relayFrom[0] "172" reaches beyond the private ranges (10, 172.16 to 172.31, 192.168, 127, 169.254): clients there could relay through this host to anywhere (set allowPublicRelayFrom: true if that is meant)',
    );
    // a domain: its reverse DNS decides who relays, from anywhere
    expect(lint(['clients.example.com'])[0].message).toContain(
      'is a domain: every client whose reverse DNS (forward-confirmed) is under it may relay',
    );
    // allowPublicRelayFrom never makes an invalid entry valid
    expect(found(['0', 'com'], true)).toEqual([
      ['error', 'relay-from-invalid'],
      ['error', 'relay-from-invalid'],
    ]);
  });

  it('warns of an entry that is one address where a network was likely meant, and of IPv6 written with ::', () => {
    expect(found(['10.0.0.0'])).toEqual([['warning', 'relay-from-single-address']]);
    expect(lint(['10.0.0.0'])[0].message).toBe(
      'relayFrom[0] "10.0.0.0" is the one address 10.0.0.0, not a network: write 10.0.0 for 10.0.0.0/24',
    );
    expect(found(['IPv6:fd00::5'])).toEqual([['warning', 'relay-from-ipv6-compressed']]);
    expect(found(['IPv6:fd00:0:0:0:0:0:0:5'])).toEqual([]);
  });

  it('leaves an entry with a line break to line-break-in-value', () => {
    expect(lint(['10.0\nConnect:0'])).toEqual([]);
  });
});

describe('applyForce', () => {
  const f = (code: string, level: 'error' | 'warning' = 'error') => ({ level, code, message: code });

  it('leaves findings alone without force', () => {
    expect(applyForce([f('dnl-in-arguments'), f('apostrophe-in-value')], false)).toEqual([f('dnl-in-arguments'), f('apostrophe-in-value')]);
  });

  it('downgrades findings about the mc to warnings, never injections or a missing secret', () => {
    const forced = applyForce(
      [
        f('local-domain-covers-destination'),
        f('apostrophe-in-value'),
        f('line-break-in-value'),
        f('secret-missing'),
        f('port-25-loopback-only', 'warning'),
      ],
      true,
    );
    expect(forced.map((x) => [x.code, x.level])).toEqual([
      ['local-domain-covers-destination', 'warning'],
      ['apostrophe-in-value', 'error'],
      ['line-break-in-value', 'error'],
      ['secret-missing', 'error'],
      ['port-25-loopback-only', 'warning'],
    ]);
    expect(forced[0].message).toBe('local-domain-covers-destination (forced)');
    expect(forced[4].message).toBe('port-25-loopback-only');
    expect([...UNFORCEABLE].sort()).toEqual([
      'apostrophe-in-value',
      'feature-argument',
      'implicit-tls-port',
      'line-break-in-value',
      'm4-macro-in-value',
      'plaintext-auth',
      'relay-from-invalid',
      'relay-from-public',
      'reserved-define',
      'reserved-feature',
      'secret-missing',
      'submission-ca',
      'submission-cert',
      'submission-cert-expired',
      'submission-self-signed',
    ]);
    const relay = applyForce([f('relay-from-invalid'), f('relay-from-public')], true);
    expect(relay.map((x) => [x.code, x.level, x.message])).toEqual([
      ['relay-from-invalid', 'error', 'relay-from-invalid'],
      ['relay-from-public', 'error', 'relay-from-public'],
    ]);
    // nothing makes sendmail speak implicit TLS: force would only leave every message queued
    expect(applyForce([f('implicit-tls-port')], true)).toEqual([f('implicit-tls-port')]);
  });
});
