// Extra sendmail knobs: `defines` and `features` checked against the names of cf/README (a typo
// names the closest one), mailprov's own names refused, values checked for m4 injection, and the
// lines they become in the mc.
import { describe, expect, it } from 'vitest';
import { sendmailSettingsSchema, sendmailSmartHost, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost.ts';
import { CF_MACROS, DEPRECATED_DEFINES, KNOWN_DEFINES, KNOWN_FEATURES } from '../../../../playbooks/sendmail-smarthost/cf-names.ts';
import { closestName, levenshtein, lintKnobs } from '../../../../playbooks/sendmail-smarthost/knobs.ts';
import { applyForce, lintSettings } from '../../../../playbooks/sendmail-smarthost/lint.ts';
import { m4MacroWords } from '../../../../playbooks/sendmail-smarthost/m4.ts';
import { renderMc } from '../../../../playbooks/sendmail-smarthost/render.ts';
import { secret } from '../../../../src/secrets/index.ts';

const debian = { family: 'debian' as const, major: 12 };
const parse = (s: Partial<SendmailSettingsInput> = {}) =>
  sendmailSettingsSchema.parse({ smartHost: 'smtp.gmail.com', auth: { user: 'u@example.org', password: secret.value('pw') }, ...s });
const lint = (s: Partial<SendmailSettingsInput>) => lintSettings(parse(s), { distro: debian });
const codes = (f: { code: string }[]) => f.map((x) => x.code);
const messages = (f: { message: string }[]) => f.map((x) => x.message);

describe('the names of cf/README', () => {
  it('holds the conf* options and FEATUREs of sendmail 8.17', () => {
    expect(KNOWN_DEFINES).toHaveLength(193);
    expect(new Set(KNOWN_DEFINES).size).toBe(KNOWN_DEFINES.length);
    expect(KNOWN_DEFINES).toEqual(expect.arrayContaining(['confMAX_MESSAGE_SIZE', 'confTO_QUEUEWARN', 'confMILTER_MACROS_DATA']));
    expect(KNOWN_DEFINES.every((d) => /^conf[A-Z0-9_]+$/.test(d))).toBe(true);
    expect([...DEPRECATED_DEFINES].every((d) => KNOWN_DEFINES.includes(d))).toBe(true);
    expect(KNOWN_FEATURES).toHaveLength(60);
    expect(KNOWN_FEATURES).toEqual(
      expect.arrayContaining(['nouucp', 'masquerade_entire_domain', 'relay_based_on_MX', 'tls_session_features']),
    );
    expect(CF_MACROS.has('MAILER')).toBe(true);
  });
});

describe('closestName', () => {
  it('measures edits', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('same', 'same')).toBe(0);
  });

  it('finds what a typo meant, ignoring case, and nothing when no name is near', () => {
    expect(closestName('confMAX_MESAGE_SIZE', KNOWN_DEFINES)).toBe('confMAX_MESSAGE_SIZE');
    expect(closestName('confmax_message_size', KNOWN_DEFINES)).toBe('confMAX_MESSAGE_SIZE');
    expect(closestName('MAX_MESSAGE_SIZE', KNOWN_DEFINES)).toBe('confMAX_MESSAGE_SIZE');
    expect(closestName('no_uucp', KNOWN_FEATURES)).toBe('nouucp');
    expect(closestName('masquerade_enveloppe', KNOWN_FEATURES)).toBe('masquerade_envelope');
    expect(closestName('completely_different', KNOWN_FEATURES)).toBeUndefined();
  });
});

describe('lintKnobs', () => {
  const knobs = (defines: Record<string, string | number | boolean>, features: string[] = []) =>
    lintKnobs({ defines, features: features.map((name) => ({ name, args: [] })) });

  it('accepts known names', () => {
    expect(
      knobs({ confMAX_MESSAGE_SIZE: 10485760, confTO_QUEUEWARN: '4h', confSEVEN_BIT_INPUT: false }, ['nouucp', 'always_add_domain']),
    ).toEqual([]);
  });

  it('refuses a typo, naming the closest known name', () => {
    expect(knobs({ confMAX_MESAGE_SIZE: 1000 }, ['nouucpp'])).toEqual([
      {
        level: 'error',
        code: 'unknown-define',
        message: "defines: confMAX_MESAGE_SIZE is not a conf* option sendmail's cf/README knows; did you mean confMAX_MESSAGE_SIZE?",
      },
      {
        level: 'error',
        code: 'unknown-feature',
        message: "features: nouucpp is not a FEATURE sendmail's cf/README knows; did you mean nouucp?",
      },
    ]);
    expect(messages(knobs({ LOCAL_RELAY: 'x' }))).toEqual([
      "defines: LOCAL_RELAY is not a conf* option sendmail's cf/README knows; defines takes the conf* options of cf/README (other m4 macros have settings of their own, or need your own mc)",
    ]);
  });

  it('refuses what mailprov sets itself, saying why, and force does not let it through', () => {
    const f = knobs({ confAUTH_MECHANISMS: 'PLAIN', SMART_HOST: '[x]', confCACERT: '/x' }, [
      'authinfo',
      'masquerade_envelope',
      'nullclient',
    ]);
    expect(codes(f)).toEqual([
      'reserved-define',
      'reserved-define',
      'reserved-define',
      'reserved-feature',
      'reserved-feature',
      'reserved-feature',
    ]);
    expect(f[0].message).toBe('defines: confAUTH_MECHANISMS cannot be set here: mailprov sets it from auth.mechanisms');
    expect(f[4].message).toBe('features: masquerade_envelope cannot be set here: use masquerade.envelope');
    expect(applyForce(f, true).every((x) => x.level === 'error')).toBe(true);
  });

  it('lets force take an unknown name as a warning (a feature newer than the list)', () => {
    expect(applyForce(knobs({}, ['tls_failures']), true)).toEqual([expect.objectContaining({ level: 'warning', code: 'unknown-feature' })]);
  });

  it('warns of options cf/README marks deprecated', () => {
    expect(knobs({ confSAFE_QUEUE: true })).toEqual([
      { level: 'warning', code: 'deprecated-define', message: 'defines: confSAFE_QUEUE is marked deprecated in cf/README' },
    ]);
  });
});

describe('knob values', () => {
  it('finds the words m4 would run: builtins, cf.m4 macros and its naming schemes', () => {
    expect(m4MacroWords('needmailhelo,goaway')).toEqual([]);
    expect(m4MacroWords('$j ready (no UCE), see len and index')).toEqual([]);
    expect(m4MacroWords('a dnl b')).toEqual(['dnl']);
    expect(m4MacroWords('len(abc)')).toEqual(['len']);
    expect(m4MacroWords('define(x,y)')).toEqual(['define']);
    expect(m4MacroWords('x MAILER y FEATURE')).toEqual(['MAILER', 'FEATURE']);
    expect(m4MacroWords('_ARG_ confLOG_LEVEL sm_version')).toEqual(['_ARG_', 'confLOG_LEVEL', 'sm_version']);
    expect(m4MacroWords('HIGH:!aNULL +SSL_OP_NO_SSLv3 A,p')).toEqual([]);
  });

  it('refuses quotes, line breaks and macros in define values and feature arguments', () => {
    expect(codes(lint({ defines: { confSMTP_LOGIN_MSG: "$j it's me" } }))).toEqual(['apostrophe-in-value']);
    expect(codes(lint({ defines: { confSMTP_LOGIN_MSG: "hi\nFEATURE(`promiscuous_relay')" } }))).toEqual(
      expect.arrayContaining(['line-break-in-value', 'm4-macro-in-value']),
    );
    expect(messages(lint({ defines: { confSMTP_LOGIN_MSG: '$j OSTYPE' } }))).toEqual([
      'defines.confSMTP_LOGIN_MSG "$j OSTYPE" contains "OSTYPE", which m4 runs as a macro when it builds sendmail.cf',
    ]);
    expect(codes(lint({ features: [{ name: 'mailertable', args: ['hash -o /etc/mail/dnl/mt'] }] }))).toEqual(['m4-macro-in-value']);
    expect(codes(lint({ defines: { confMAX_MESSAGE_SIZE: 1000, confSEVEN_BIT_INPUT: true } }))).toEqual([]);
  });

  it("refuses commas and parentheses in a feature's arguments", () => {
    const f = lint({ features: [{ name: 'nouucp', args: ['reject,nospecial'] }] });
    expect(f).toEqual([
      {
        level: 'error',
        code: 'feature-argument',
        message:
          'features[0].args[0] "reject,nospecial" of FEATURE(nouucp) contains a comma or a parenthesis, which m4 reads as argument syntax when the feature uses it (give each argument as its own element)',
      },
    ]);
  });
});

describe('knobs in the mc and the settings', () => {
  it('become define and FEATURE lines before the mailers; booleans as True/False', () => {
    const mc = renderMc(
      parse({
        defines: { confMAX_MESSAGE_SIZE: 10485760, confSEVEN_BIT_INPUT: true, confTO_QUEUEWARN: '4h' },
        features: ['always_add_domain', { name: 'nouucp', args: ['reject'] }, { name: 'access_db_x', args: ['', 'skip'] }],
      }),
      debian,
    );
    expect(mc).toContain(
      [
        "FEATURE(`authinfo', `hash /etc/mail/authinfo')dnl",
        "define(`confMAX_MESSAGE_SIZE', `10485760')dnl",
        "define(`confSEVEN_BIT_INPUT', `True')dnl",
        "define(`confTO_QUEUEWARN', `4h')dnl",
        "FEATURE(`always_add_domain')dnl",
        "FEATURE(`nouucp', `reject')dnl",
        "FEATURE(`access_db_x', `', `skip')dnl",
        'MAILER_DEFINITIONS',
      ].join('\n'),
    );
  });

  it('takes features as names or { name, args }, and refuses names that are no m4 name', () => {
    expect(parse({ features: ['nouucp', { name: 'redirect' }] }).features).toEqual([
      { name: 'nouucp', args: [] },
      { name: 'redirect', args: [] },
    ]);
    const issue = (s: Partial<SendmailSettingsInput>) =>
      sendmailSettingsSchema.safeParse({ smartHost: 'h.example', ...s }).error?.issues[0];
    expect(issue({ defines: { "confX')dnl": 1 } })?.path).toEqual(['defines', "confX')dnl"]);
    expect(issue({ defines: { confMAX_MESSAGE_SIZE: 1.5 } })?.path).toEqual(['defines', 'confMAX_MESSAGE_SIZE']);
    expect(issue({ features: ['no uucp'] })?.path).toEqual(['features', 0]);
  });

  it('fails a typo before connecting: the playbook lint is an error', () => {
    const parts = sendmailSmartHost.definition.build(parse({ defines: { confMAX_MESAGE_SIZE: 1000 } }));
    expect(
      parts
        .lint?.()
        .filter((f) => f.level === 'error')
        .map((f) => f.code),
    ).toEqual(['unknown-define']);
  });
});
