// The sender domain's SPF and DMARC, judged from TXT answers (issue 27, item 6): SPF as RFC 7208
// reads it (include: and redirect= followed, 10 DNS-querying terms at most, one record), DMARC at
// _dmarc.<domain> and its parents, and what to publish when the provider is not authorised.
import { describe, expect, it } from 'vitest';
import type { TxtAnswer, TxtLookup } from '../../../../playbooks/sendmail-smarthost/dns-txt.ts';
import { lintSettingsBeforeConnecting } from '../../../../playbooks/sendmail-smarthost/lint.ts';
import { presetOf } from '../../../../playbooks/sendmail-smarthost/providers.ts';
import {
  checkDmarc,
  checkSpf,
  dmarcCandidates,
  judgeSenderAuth,
  mergeSpf,
  spfWithInclude,
  type SenderAuthInput,
} from '../../../../playbooks/sendmail-smarthost/sender-auth.ts';
import { probeSenderAuthentication, senderAddresses } from '../../../../playbooks/sendmail-smarthost/sender-auth-probe.ts';
import { sendmailSettingsSchema, type SendmailSettingsInput } from '../../../../playbooks/sendmail-smarthost/settings.ts';
import { secret } from '../../../../src/secrets/index.ts';
import { hostFacts } from '../../fixtures.ts';

/** A zone: TXT records by name; a name not there is NXDOMAIN; a failure by its answer. */
function zone(z: Record<string, string[] | TxtAnswer>): TxtLookup & { asked: string[] } {
  const asked: string[] = [];
  const lookup = async (name: string): Promise<TxtAnswer> => {
    asked.push(name);
    const e = z[name];
    if (e === undefined) return { kind: 'nxdomain' };
    return Array.isArray(e) ? { kind: 'records', records: e } : e;
  };
  return Object.assign(lookup, { asked });
}

const SES_SPF = 'v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 -all';
const timeout: TxtAnswer = {
  kind: 'failed',
  cause: 'timeout',
  message: 'no answer from 127.0.0.1:53 for x (TXT), asked 2 times in 6.0 s',
};

describe('checkSpf', () => {
  it('finds the one SPF record among other TXT records, in any case, and what it authorises through includes', async () => {
    const z = zone({
      'example.org': ['google-site-verification=abc', 'V=SPF1 include:_spf.example.org ~all', 'v=spf10 not spf'],
      '_spf.example.org': ['v=spf1 ip4:192.0.2.0/24 include:amazonses.com -all'],
      'amazonses.com': [SES_SPF],
    });
    expect(await checkSpf('Example.ORG.', z)).toEqual({
      kind: 'found',
      domain: 'example.org',
      record: 'V=SPF1 include:_spf.example.org ~all',
      lookups: 2,
      all: '~',
      authorised: ['_spf.example.org', 'amazonses.com'],
      unfollowed: [],
    });
  });

  it('follows redirect= (its all is the policy), and ignores it after an all', async () => {
    const z = zone({
      'gmail.example': ['v=spf1 redirect=_spf.google.com'],
      '_spf.google.com': ['v=spf1 include:_netblocks.google.com ~all'],
      '_netblocks.google.com': ['v=spf1 ip4:35.190.247.0/24 ~all'],
      'both.example': ['v=spf1 a -all redirect=_spf.google.com'],
    });
    expect(await checkSpf('gmail.example', z)).toMatchObject({
      kind: 'found',
      lookups: 2,
      all: '~',
      authorised: ['_spf.google.com', '_netblocks.google.com'],
    });
    expect(await checkSpf('both.example', z)).toMatchObject({ kind: 'found', lookups: 1, all: '-', authorised: [] });
  });

  it('authorises only through pass-qualified includes, and nothing after all', async () => {
    const z = zone({
      'example.org': ['v=spf1 -include:amazonses.com ?include:sendgrid.net -all include:mailgun.org'],
      'amazonses.com': [SES_SPF],
      'sendgrid.net': ['v=spf1 ip4:167.89.0.0/17 -all'],
      'mailgun.org': ['v=spf1 ip4:209.61.151.0/24 -all'],
    });
    expect(await checkSpf('example.org', z)).toMatchObject({ kind: 'found', lookups: 2, all: '-', authorised: [] });
    expect(z.asked).not.toContain('mailgun.org');
  });

  it('counts a, mx, ptr and exists without following them, and stops at the 11th DNS-querying term (permerror)', async () => {
    const ten =
      'v=spf1 a mx ptr exists:%{i}.e.example a:b.example mx:c.example/24 a/24 include:amazonses.com include:x.example include:y.example -all';
    const z = zone({ 'ten.example': [ten], 'amazonses.com': [SES_SPF], 'x.example': ['v=spf1 -all'], 'y.example': ['v=spf1 -all'] });
    expect(await checkSpf('ten.example', z)).toMatchObject({ kind: 'found', lookups: 10 });
    // one more, inside an include: the count is across the whole evaluation
    z.asked.length = 0;
    const eleven = zone({
      'eleven.example': [ten],
      'amazonses.com': [SES_SPF],
      'x.example': ['v=spf1 -all'],
      'y.example': ['v=spf1 mx -all'],
    });
    expect(await checkSpf('eleven.example', eleven)).toEqual({
      kind: 'permerror',
      domain: 'eleven.example',
      reason: "it needs more than 10 DNS lookups (include, a, mx, ptr, exists, redirect; the 11th is mx), SPF's limit",
      records: [ten],
    });
  });

  it('an include loop ends at the limit, a permerror', async () => {
    const z = zone({ 'a.example': ['v=spf1 include:b.example -all'], 'b.example': ['v=spf1 include:a.example -all'] });
    expect(await checkSpf('a.example', z)).toMatchObject({
      kind: 'permerror',
      reason: expect.stringContaining('more than 10 DNS lookups'),
    });
    expect(z.asked.length).toBe(11);
  });

  it('two SPF records, an include with none, an unknown mechanism and redirect= twice are permerrors', async () => {
    const z = zone({
      'two.example': ['v=spf1 include:amazonses.com -all', 'v=spf1 a ~all'],
      'noinc.example': ['v=spf1 include:nowhere.example -all'],
      'emptyinc.example': ['v=spf1 include:empty.example -all'],
      'empty.example': ['not spf'],
      'typo.example': ['v=spf1 ip4:192.0.2.1 inclde:amazonses.com -all'],
      'allarg.example': ['v=spf1 all:x'],
      'redir.example': ['v=spf1 redirect=a.example redirect=b.example'],
    });
    expect(await checkSpf('two.example', z)).toEqual({
      kind: 'permerror',
      domain: 'two.example',
      reason: 'two.example has 2 SPF records, and receivers take none of them',
      records: ['v=spf1 include:amazonses.com -all', 'v=spf1 a ~all'],
    });
    expect(await checkSpf('noinc.example', z)).toMatchObject({
      reason: 'include:nowhere.example has no SPF record (nowhere.example does not exist)',
    });
    expect(await checkSpf('emptyinc.example', z)).toMatchObject({ reason: 'include:empty.example has no SPF record' });
    expect(await checkSpf('typo.example', z)).toMatchObject({
      kind: 'permerror',
      reason: `typo.example's record has "inclde:amazonses.com", which is no SPF mechanism or modifier`,
    });
    expect(await checkSpf('allarg.example', z)).toMatchObject({ kind: 'permerror' });
    expect(await checkSpf('redir.example', z)).toMatchObject({ kind: 'permerror', reason: "redir.example's record has redirect= twice" });
  });

  it('no record, a domain that does not exist, and a lookup that fails (at the top or in an include)', async () => {
    const z = zone({
      'nospf.example': ['google-site-verification=abc'],
      'slow.example': timeout,
      'inc.example': ['v=spf1 include:slow.example -all'],
    });
    expect(await checkSpf('nospf.example', z)).toEqual({ kind: 'none', domain: 'nospf.example', nxdomain: false });
    expect(await checkSpf('relay1.internal', z)).toEqual({ kind: 'none', domain: 'relay1.internal', nxdomain: true });
    expect(await checkSpf('slow.example', z)).toEqual({ kind: 'temperror', domain: 'slow.example', reason: timeout.message });
    expect(await checkSpf('inc.example', z)).toEqual({ kind: 'temperror', domain: 'inc.example', reason: timeout.message });
  });

  it('does not follow an include with macros, and says so', async () => {
    const z = zone({ 'm.example': ['v=spf1 include:%{ir}.%{v}._spf.m.example ~all'] });
    expect(await checkSpf('m.example', z)).toMatchObject({ kind: 'found', lookups: 1, unfollowed: ['include:%{ir}.%{v}._spf.m.example'] });
  });
});

describe('the record to publish', () => {
  it('adds the include before all, else before redirect=, else at the end; a new record ends in ~all', () => {
    expect(spfWithInclude(undefined, 'amazonses.com')).toBe('v=spf1 include:amazonses.com ~all');
    expect(spfWithInclude('v=spf1 ip4:192.0.2.1 -all', 'amazonses.com')).toBe('v=spf1 ip4:192.0.2.1 include:amazonses.com -all');
    expect(spfWithInclude('v=spf1 mx redirect=_spf.example.org', 'sendgrid.net')).toBe(
      'v=spf1 mx include:sendgrid.net redirect=_spf.example.org',
    );
    expect(spfWithInclude('v=spf1 mx', '_spf.google.com')).toBe('v=spf1 mx include:_spf.google.com');
  });

  it('merges several records into one: their mechanisms once each, the first all, the include if missing', () => {
    expect(mergeSpf(['v=spf1 include:_spf.google.com ~all', 'v=spf1 mx include:_spf.google.com -all'], 'amazonses.com')).toBe(
      'v=spf1 include:_spf.google.com mx include:amazonses.com ~all',
    );
    expect(mergeSpf(['v=spf1 include:amazonses.com -all', 'v=spf1 a'], 'amazonses.com')).toBe('v=spf1 include:amazonses.com a -all');
  });
});

describe('checkDmarc', () => {
  it("reads the record at _dmarc.<domain>, else a parent's, where sp= applies to subdomains", async () => {
    const z = zone({
      '_dmarc.example.org': ['v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org'],
      '_dmarc.other.example': ['v=DMARC1; p=none'],
    });
    expect(await checkDmarc('example.org', z)).toEqual({
      kind: 'found',
      domain: 'example.org',
      at: '_dmarc.example.org',
      record: 'v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org',
      policy: 'reject',
      tags: { v: 'DMARC1', p: 'reject', sp: 'quarantine', rua: 'mailto:d@example.org' },
    });
    z.asked.length = 0;
    expect(await checkDmarc('mail.eu.example.org', z)).toMatchObject({ kind: 'found', at: '_dmarc.example.org', policy: 'quarantine' });
    expect(z.asked).toEqual(['_dmarc.mail.eu.example.org', '_dmarc.eu.example.org', '_dmarc.example.org']);
    expect(await checkDmarc('mail.other.example', z)).toMatchObject({ kind: 'found', at: '_dmarc.other.example', policy: 'none' });
  });

  it('none anywhere, two records, no p=, and a lookup that fails', async () => {
    const z = zone({
      '_dmarc.two.example': ['v=DMARC1; p=none', 'v=DMARC1; p=reject'],
      '_dmarc.nop.example': ['v=DMARC1; rua=mailto:d@nop.example'],
      '_dmarc.slow.example': timeout,
      '_dmarc.notdmarc.example': ['v=spf1 -all'],
    });
    expect(await checkDmarc('a.notdmarc.example', z)).toEqual({
      kind: 'none',
      domain: 'a.notdmarc.example',
      tried: ['_dmarc.a.notdmarc.example', '_dmarc.notdmarc.example'],
    });
    expect(await checkDmarc('two.example', z)).toMatchObject({
      kind: 'invalid',
      reason: '_dmarc.two.example has 2 DMARC records, and receivers apply none of them',
    });
    expect(await checkDmarc('nop.example', z)).toMatchObject({
      kind: 'invalid',
      reason: '_dmarc.nop.example has "v=DMARC1; rua=mailto:d@nop.example", whose p= is missing',
    });
    expect(await checkDmarc('slow.example', z)).toEqual({ kind: 'failed', domain: 'slow.example', reason: timeout.message });
  });

  it('walks up at most 8 names, never to the top-level domain alone', () => {
    expect(dmarcCandidates('a.b.example.org')).toEqual(['a.b.example.org', 'b.example.org', 'example.org']);
    expect(dmarcCandidates('a.b.c.d.e.f.g.h.i.example.org')).toHaveLength(8);
    expect(dmarcCandidates('localhost')).toEqual(['localhost']);
  });
});

describe('judgeSenderAuth', () => {
  const ses = presetOf({ name: 'ses', region: 'eu-west-1' });
  const judge = async (z: Record<string, string[] | TxtAnswer>, over: Partial<SenderAuthInput> = {}) => {
    const lookup = zone(z);
    const envelope = over.envelopeDomain ?? 'example.org';
    const header = over.headerDomain ?? envelope;
    return judgeSenderAuth({
      envelopeDomain: envelope,
      headerDomain: header,
      spf: await checkSpf(envelope, lookup),
      dmarc: await checkDmarc(header, lookup),
      provider: ses,
      smartHost: ses.host,
      ...over,
    });
  };
  const DMARC = { '_dmarc.example.org': ['v=DMARC1; p=none; rua=mailto:postmaster@example.org'] };

  it('passes quietly (info only) when SPF authorises the provider and DMARC is there', async () => {
    const f = await judge({ 'example.org': ['v=spf1 include:amazonses.com ~all'], 'amazonses.com': [SES_SPF], ...DMARC });
    expect(f).toEqual([
      {
        level: 'info',
        code: 'sender-spf',
        message:
          'SPF of example.org authorises Amazon SES (eu-west-1) (include:amazonses.com): "v=spf1 include:amazonses.com ~all", 1 of 10 DNS lookups',
      },
      {
        level: 'info',
        code: 'sender-dmarc',
        message: 'DMARC of example.org: p=none ("v=DMARC1; p=none; rua=mailto:postmaster@example.org")',
      },
    ]);
  });

  it('gives the record with the include added when SPF lacks it, and says what DMARC then does', async () => {
    const f = await judge({
      'example.org': ['v=spf1 include:_spf.google.com -all'],
      '_spf.google.com': ['v=spf1 ip4:35.190.247.0/24 ~all'],
      '_dmarc.example.org': ['v=DMARC1; p=reject'],
    });
    expect(f.map((x) => [x.level, x.code, x.required])).toEqual([
      ['warning', 'sender-spf-provider-missing', true],
      ['info', 'sender-dmarc', undefined],
    ]);
    expect(f[0].message).toBe(
      'the SPF record of example.org does not authorise Amazon SES (eu-west-1) (no include:amazonses.com): its -all tells receivers to reject mail from servers it does not name; with DMARC\'s p=reject for example.org, mail that neither SPF nor a DKIM signature of example.org authenticates is rejected; replace the TXT record at example.org ("v=spf1 include:_spf.google.com -all") with: v=spf1 include:_spf.google.com include:amazonses.com -all',
    );
  });

  it('gives a whole SPF record and a DMARC record where there are none', async () => {
    const f = await judge({ 'example.org': ['google-site-verification=abc'] });
    expect(f.map((x) => x.message)).toEqual([
      'the sender domain example.org has no SPF record, so receivers cannot tell that Amazon SES (eu-west-1) may send its mail: add a TXT record at example.org: v=spf1 include:amazonses.com ~all',
      'no DMARC record for example.org (looked up _dmarc.example.org): receivers such as Gmail and Yahoo ask senders for one; add a TXT record at _dmarc.example.org: v=DMARC1; p=none; rua=mailto:postmaster@example.org',
    ]);
    expect(f.every((x) => x.level === 'warning' && x.required)).toBe(true);
  });

  it('a sender domain that does not exist: one warning, to rewrite the sender', async () => {
    const f = await judge({}, { envelopeDomain: 'relay1.internal' });
    expect(f.map((x) => [x.code, x.message])).toEqual([
      [
        'sender-domain-missing',
        "the sender domain relay1.internal does not exist in DNS (NXDOMAIN): receivers refuse or junk mail from an address there; rewrite the sender to a domain of yours (masquerade: { as: 'example.org' }, or verify.from) and publish its SPF record",
      ],
    ]);
  });

  it('two SPF records: the merged one to publish; a lookup that failed: its cause', async () => {
    const two = await judge({
      'example.org': ['v=spf1 mx -all', 'v=spf1 include:_spf.google.com ~all'],
      '_spf.google.com': ['v=spf1 -all'],
      ...DMARC,
    });
    expect(two[0]).toMatchObject({
      code: 'sender-spf-permerror',
      message:
        'example.org has 2 SPF records, and receivers take none of them (a permanent error: most count it as failing): "v=spf1 mx -all", "v=spf1 include:_spf.google.com ~all"; publish one TXT record at example.org instead: v=spf1 mx include:_spf.google.com include:amazonses.com -all',
    });
    const failed = await judge({ 'example.org': timeout, '_dmarc.example.org': timeout });
    expect(failed.map((x) => [x.code, x.message, x.required])).toEqual([
      ['sender-spf-lookup-failed', `the SPF record of example.org could not be read: ${timeout.message}`, true],
      ['sender-dmarc-lookup-failed', `the DMARC record of example.org could not be read: ${timeout.message}`, true],
    ]);
  });

  it('warns of +all (not required), and of a record one include short of the limit', async () => {
    const plus = await judge({ 'example.org': ['v=spf1 +all'], ...DMARC });
    expect(plus[0]).toMatchObject({ code: 'sender-spf-pass-all', required: false });
    const full = await judge({
      'example.org': ['v=spf1 a mx a:1.example a:2.example a:3.example a:4.example a:5.example a:6.example a:7.example a:8.example ~all'],
      ...DMARC,
    });
    expect(full[0].message).toMatch(
      /with: v=spf1 a mx .* a:8\.example include:amazonses\.com ~all; it would then need more than 10 DNS lookups: replace an include with the ip4:\/ip6: ranges it names$/,
    );
  });

  it('with no provider: what is there, without guessing an include', async () => {
    const z = { 'example.org': ['v=spf1 mx -all'], ...DMARC };
    const f = await judge(z, { provider: undefined, smartHost: 'hub.corp.example' });
    expect(f[0]).toEqual({
      level: 'info',
      code: 'sender-spf',
      message:
        'SPF of example.org: "v=spf1 mx -all", 1 of 10 DNS lookups (with no provider named, which servers hub.corp.example sends from is not checked)',
    });
    const none = await judge({}, { provider: undefined, smartHost: 'hub.corp.example', envelopeDomain: 'example.org' });
    expect(none[0].message).not.toMatch(/include:\w/);
  });

  it('an envelope and a header From of different domains cannot align for DMARC through SPF', async () => {
    const f = await judge(
      { 'relay1.example.net': ['v=spf1 include:amazonses.com -all'], 'amazonses.com': [SES_SPF], ...DMARC },
      { envelopeDomain: 'relay1.example.net', headerDomain: 'example.org' },
    );
    expect(f.map((x) => x.code)).toEqual(['sender-spf', 'sender-dmarc', 'sender-dmarc-unaligned']);
    // a subdomain aligns (relaxed), so nothing is said
    const sub = await judge(
      { 'relay1.example.org': ['v=spf1 include:amazonses.com -all'], 'amazonses.com': [SES_SPF], ...DMARC },
      { envelopeDomain: 'relay1.example.org', headerDomain: 'example.org' },
    );
    expect(sub.map((x) => x.code)).toEqual(['sender-spf', 'sender-dmarc']);
  });
});

describe('every preset names the SPF include its provider documents', () => {
  it.each([
    ['gmail', '_spf.google.com'],
    ['google-workspace-relay', '_spf.google.com'],
    ['microsoft-365', 'spf.protection.outlook.com'],
    [{ name: 'microsoft-365-connector', tenant: 'contoso-com' }, 'spf.protection.outlook.com'],
    [{ name: 'ses', region: 'us-east-1' }, 'amazonses.com'],
    ['sendgrid', 'sendgrid.net'],
    ['mailgun', 'mailgun.org'],
    ['mailgun-eu', 'mailgun.org'],
    ['postmark', 'spf.mtasv.net'],
  ] as const)('%j: include:%s', (provider, include) => {
    expect(presetOf(provider).spfIncludes[0]).toBe(include);
  });
});

describe('the senderAuthentication setting', () => {
  const parse = (senderAuthentication: unknown) => sendmailSettingsSchema.safeParse({ smartHost: 'smtp.gmail.com', senderAuthentication });

  it("is 'warn' unless said, and takes DNS servers by address only", () => {
    expect(sendmailSettingsSchema.parse({ smartHost: 'smtp.gmail.com' }).senderAuthentication).toEqual({ check: 'warn' });
    expect(parse({ check: 'require', dnsServers: ['127.0.0.1:5353', '[::1]:53'] }).data?.senderAuthentication).toEqual({
      check: 'require',
      dnsServers: ['127.0.0.1:5353', '[::1]:53'],
    });
    const bad = parse({ dnsServers: ['dns.example.org'] }).error?.issues[0];
    expect(bad?.path).toEqual(['senderAuthentication', 'dnsServers', 0]);
    expect(bad?.message).toBe('a DNS server address: 192.0.2.53, 192.0.2.53:5353, 2001:db8::53 or [2001:db8::53]:5353');
    expect(parse({ check: 'always' }).error?.issues[0].path).toEqual(['senderAuthentication', 'check']);
    expect(parse({ servers: ['127.0.0.1'] }).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['servers'] });
  });

  it('the lint says when servers are named for a check that is off', () => {
    const lint = (senderAuthentication: unknown) =>
      lintSettingsBeforeConnecting(sendmailSettingsSchema.parse({ smartHost: 'smtp.gmail.com', senderAuthentication })).filter((f) =>
        f.code.startsWith('sender-authentication'),
      );
    expect(lint({ check: 'off', dnsServers: ['192.0.2.53'] })).toEqual([
      {
        level: 'warning',
        code: 'sender-authentication-unused',
        message: "senderAuthentication.dnsServers is set but check is 'off': no SPF or DMARC record is looked up",
      },
    ]);
    expect(lint({ check: 'warn', dnsServers: ['192.0.2.53'] })).toEqual([]);
  });
});

describe('which sender is checked', () => {
  // relay1.example.org is the host's FQDN (the fixture's); `bt` is what the host's sendmail -bt prints, if it runs
  const senders = async (over: Partial<SendmailSettingsInput>, bt?: string) => {
    const asked: string[] = [];
    const exec = async (cmd: string, stdin?: string) => {
      asked.push(`${cmd}\n${stdin ?? ''}`);
      return { command: cmd, ...(bt === undefined ? { code: 1, stdout: '', stderr: '' } : { code: 0, stdout: bt, stderr: '' }) };
    };
    const settings = sendmailSettingsSchema.parse({ smartHost: 'smtp.gmail.com', ...over });
    return { ...(await senderAddresses({ exec, facts: hostFacts() }, settings)), asked };
  };

  it('the sender as it is, without rewriting: verify.from, else root at the host', async () => {
    expect(await senders({})).toEqual({
      envelope: 'root@relay1.example.org',
      header: 'root@relay1.example.org',
      source: 'no sender rewriting',
      asked: [],
    });
    expect(await senders({ verify: { recipient: 'ops@example.org', from: 'alerts@example.net' } })).toMatchObject({
      envelope: 'alerts@example.net',
      header: 'alerts@example.net',
    });
  });

  it("as the settings will rewrite it, not as the host's sendmail does now", async () => {
    const bt = 'Rcode = 0, addr = root@old.example\nRcode = 0, addr = root@old.example\n';
    expect(await senders({ masquerade: { as: 'example.org' } }, bt)).toEqual({
      envelope: 'root@example.org',
      header: 'root@example.org',
      source: 'as the settings rewrite it',
      asked: [],
    });
    // the envelope left alone: SPF is the host's domain's, DMARC the masquerade's
    expect(await senders({ masquerade: { as: 'example.org', envelope: false } })).toMatchObject({
      envelope: 'root@relay1.example.org',
      header: 'root@example.org',
    });
    expect(await senders({ genericsTable: { root: 'ops@example.com' } })).toMatchObject({
      envelope: 'ops@example.com',
      header: 'ops@example.com',
    });
  });

  it("with your own mc, as the host's sendmail -bt rewrites it (envelope, then header); before sendmail is there, as it is", async () => {
    const own = { mc: { text: "MASQUERADE_AS(`example.org')dnl\n" } };
    const read = await senders(own, 'Rcode = 0, addr = bounces@example.org\nRcode = 0, addr = root@example.org\n');
    expect([read.envelope, read.header, read.source]).toEqual([
      'bounces@example.org',
      'root@example.org',
      "as the host's sendmail.cf rewrites it",
    ]);
    expect(read.asked).toEqual([
      '[ -x /usr/sbin/sendmail ] && /usr/sbin/sendmail -bt\n/tryflags ES\n/try relay root@relay1.example.org\n/tryflags HS\n/try relay root@relay1.example.org\n',
    ]);
    expect(await senders(own)).toMatchObject({
      envelope: 'root@relay1.example.org',
      header: 'root@relay1.example.org',
      source: "as it is (the host's sendmail -bt did not say how it leaves: not installed yet?)",
    });
  });
});

describe('probeSenderAuthentication', () => {
  const run = async (check: 'warn' | 'require' | 'off') => {
    const lookup = zone({ 'example.org': ['v=spf1 mx -all'] });
    const reported: string[] = [];
    const ctx = {
      hostName: 'relay1',
      exec: async (command: string) => ({ command, code: 1, stdout: '', stderr: '' }),
      connect: () => Promise.reject(new Error('no connection in this test')),
      facts: hostFacts(),
      log: () => {},
      warn: (_m: string, code?: string) => reported.push(`warning ${code}`),
      info: (_m: string, code?: string) => reported.push(`info ${code}`),
    };
    const settings = sendmailSettingsSchema.parse({
      provider: 'sendgrid',
      auth: { user: 'apikey', password: secret.value('SG.a.b') },
      masquerade: { as: 'example.org' },
      senderAuthentication: { check },
    });
    const failing = await probeSenderAuthentication(ctx, settings, lookup);
    return { failing: failing.map((f) => f.code), reported, asked: lookup.asked };
  };

  it("reports each finding with its code; only 'require' returns those that fail the host; 'off' asks nothing", async () => {
    expect(await run('warn')).toEqual({
      failing: [],
      reported: ['warning sender-spf-provider-missing', 'warning sender-dmarc-missing'],
      asked: ['example.org', '_dmarc.example.org'],
    });
    expect((await run('require')).failing).toEqual(['sender-spf-provider-missing', 'sender-dmarc-missing']);
    expect(await run('off')).toEqual({ failing: [], reported: [], asked: [] });
  });
});
