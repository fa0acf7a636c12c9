// Provider presets on a real sandbox host (issue 27): the stand-in smart host plays each provider
// (smartHost given explicitly, so that no provider's name is ever resolved or contacted: the
// preset's decoding stays), and a real sendmail meets it. SES's derived password relays a message;
// every provider reply a real sendmail gets is read as its provider's cause, in the queue report
// too; a Workspace relay by IP is proven without mail, and a connector's refusal is decoded by the probe.
// plan --probe reads the sender domain's SPF and DMARC from a DNS server on loopback the test starts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendmailSmartHost } from '../../playbooks/sendmail-smarthost.ts';
import { diagnoseText, oneLine } from '../../playbooks/sendmail-smarthost/diagnose.ts';
import { transcriptEvidence } from '../../playbooks/sendmail-smarthost/host.ts';
import { presetOf, type ProviderSetting } from '../../playbooks/sendmail-smarthost/providers.ts';
import { runHosts } from '../../src/engine/index.ts';
import { rollbackHost } from '../../src/engine/rollback-host.ts';
import { resultsToJson } from '../../src/report/json.ts';
import {
  PROVIDER_REPLIES,
  type ProviderReplyMode,
  readSmartHostEvents,
  relaySettings,
  setSmartHostMode,
  type SmartHostEvent,
} from '../../src/sandbox/index.ts';
import { secret } from '../../src/secrets/index.ts';
import { deriveSesSmtpPassword } from '../../src/secrets/ses.ts';
import type { SendmailSettingsInput } from '../../playbooks/sendmail-smarthost/settings.ts';
import { type DnsTestServer, startDnsServer } from '../dns-server.ts';
import { MODE_DECODES } from '../provider-modes.ts';
import { remote, sandboxInventory, useSandbox } from './helpers.ts';

const sandbox = useSandbox(1);
const KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const KEY_VAR = 'MAILPROV_IT_AWS_SECRET_ACCESS_KEY';
const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const REGION = 'eu-west-1';
const SES: ProviderSetting = { name: 'ses', region: REGION };
const RECIPIENT = 'ops@example.com';

beforeAll(() => {
  process.env[KEY_VAR] = KEY;
});
afterAll(() => {
  delete process.env[KEY_VAR];
});

const state = () => sandbox.state;
/** The stand-in plays the provider: its name, never the provider's, is what the host connects to. */
const settings = (over: Partial<SendmailSettingsInput>) => relaySettings(state(), { smartHost: state().smartHost.name, ...over });
const sesSettings = () =>
  settings({ provider: SES, auth: { user: ACCESS_KEY_ID, password: secret.sesSmtpPassword(secret.env(KEY_VAR), REGION) } });
async function run(s: SendmailSettingsInput, opts: { dryRun?: boolean; probe?: boolean } = {}) {
  const inventory = sandboxInventory(state(), [{ on: 'relays', use: sendmailSmartHost(s) }]);
  const [r] = await runHosts(inventory.hosts, { dryRun: opts.dryRun ?? false, probe: opts.probe, forks: 1, emit: () => {} });
  return r;
}
async function eventsDuring(f: () => Promise<unknown>): Promise<SmartHostEvent[]> {
  const since = (await readSmartHostEvents(state())).length;
  await f();
  return (await readSmartHostEvents(state())).slice(since);
}
const diagnoseContext = (provider: ProviderSetting) => ({
  smartHost: state().smartHost.name,
  port: 587,
  user: ACCESS_KEY_ID,
  caFile: '/etc/ssl/certs/ca-certificates.crt',
  provider,
});
/** What sendmailSmartHost's test message runs: the whole SMTP dialogue of a real sendmail. */
const sendmailV = (subject: string) =>
  remote(state(), 0, `/usr/sbin/sendmail -Am -v -odi -oi -O QueueLA=100000 -f root -- ${RECIPIENT}`, `Subject: ${subject}\n\nhello\n`);
const clearQueue = () => remote(state(), 0, 'rm -f /var/spool/mqueue/* /var/spool/mqueue-client/* /var/spool/clientmqueue/*; true');

describe('provider presets with a real sendmail', () => {
  it('SES: the password derived from the IAM key authenticates a real message, and neither shows anywhere', async () => {
    const derived = deriveSesSmtpPassword(KEY, REGION);
    await setSmartHostMode(state(), { mode: 'normal', user: ACCESS_KEY_ID, password: derived });
    let r: Awaited<ReturnType<typeof run>> | undefined;
    const events = await eventsDuring(async () => {
      r = await run(sesSettings());
    });
    expect([r!.status, r!.error]).toEqual(['changed', undefined]);
    expect(r!.findings.map((f) => f.message)).toContainEqual(
      expect.stringMatching(
        /^smart host smtp\.sandbox\.test:587 reached from this host over TLS .*, AUTH PLAIN accepted for AKIAIOSFODNN7EXAMPLE$/,
      ),
    );
    // the probe's AUTH and the test message's, both over TLS, as the access key id
    expect(events.filter((e) => e.kind === 'auth').map((e) => e.kind === 'auth' && [e.user, e.code, e.tls])).toEqual([
      [ACCESS_KEY_ID, 235, true],
      [ACCESS_KEY_ID, 235, true],
    ]);
    expect(events.filter((e) => e.kind === 'message').map((e) => e.kind === 'message' && [e.user, e.tls, e.rcptTo])).toEqual([
      [ACCESS_KEY_ID, true, [RECIPIENT]],
    ]);
    // what leaves the process: the run's JSON document (its findings, errors, diffs and commands)
    const text = resultsToJson('apply', [r!]);
    expect(text).toContain('P:********');
    for (const value of [derived, KEY, Buffer.from(derived).toString('base64')]) expect(text).not.toContain(value);
  });

  it("every provider's reply, met by sendmail, reads as its provider's cause; a deferral in the queue report too", async () => {
    const seen: Record<string, string> = {};
    for (const [mode, [provider, id]] of Object.entries(MODE_DECODES) as [ProviderReplyMode, [ProviderSetting, string]][]) {
      await setSmartHostMode(state(), { mode });
      const r = await sendmailV(`provider mode ${mode}`);
      const d = diagnoseText(transcriptEvidence(`${r.stdout}\n${r.stderr}`).join('\n'), diagnoseContext(provider));
      seen[mode] = `${d?.code}: ${d ? oneLine(d) : `${r.stdout}${r.stderr}`}`;
      expect(d?.code, `${mode}:\n${r.stdout}${r.stderr}`).toBe(id);
      // the decoded line quotes the reply the provider sent
      expect(oneLine(d!)).toContain(PROVIDER_REPLIES[mode].reply.slice(0, 40));
      expect(oneLine(d!)).toMatch(new RegExp(`^${presetOf(provider).title.replace(/[()]/g, '\\$&')} at smtp\\.sandbox\\.test:587 `));
    }
    await clearQueue();

    // a throttled message waits; plan's queue report reads its deferral as SES's
    await setSmartHostMode(state(), { mode: 'ses-throttled' });
    await sendmailV('throttled');
    const plan = await run(sesSettings(), { dryRun: true });
    const queued = plan.findings.find((f) => f.code === 'mail-queued');
    expect(queued?.message).toMatch(
      /^1 message waits in the mail queue, the oldest for \d+ s: 1 x Amazon SES \(eu-west-1\) at smtp\.sandbox\.test:587 throttled the relay: .*\(Deferred: 454 Throttling failure: Maximum sending rate exceeded\.\); the mail waits in the queue and is retried/,
    );
    await clearQueue();
  });

  it('google-workspace-relay by IP: the probe proves the relay with MAIL FROM, RCPT TO and RSET over verified TLS, no AUTH, no message; then the test message goes', async () => {
    await setSmartHostMode(state(), { mode: 'ip-relay' });
    let r: Awaited<ReturnType<typeof run>> | undefined;
    const events = await eventsDuring(async () => {
      r = await run(settings({ provider: 'google-workspace-relay', auth: undefined }));
    });
    expect([r!.status, r!.error]).toEqual(['changed', undefined]);
    const fqdn = state().hosts[0].fqdn;
    expect(r!.findings.map((f) => f.message)).toContainEqual(
      `smart host smtp.sandbox.test:587 reached from this host over TLS (certificate smtp.sandbox.test, issued by mailprov sandbox CA), relay accepted without AUTH for root@${fqdn} to ${RECIPIENT} (RSET, no message sent)`,
    );
    expect(events.filter((e) => e.kind === 'auth')).toEqual([]);
    // by connection: the probe's ends with RSET and holds no message; sendmail's test message comes after
    const byConnection = new Map<string, string[]>();
    for (const e of events) {
      if (e.kind === 'connection') continue;
      const line =
        e.kind === 'envelope'
          ? `${e.command} ${e.code} tls=${e.tls}`
          : e.kind === 'message'
            ? `message tls=${e.tls} user=${e.user}`
            : e.kind;
      byConnection.set(e.connection, [...(byConnection.get(e.connection) ?? []), line]);
    }
    const sessions = [...byConnection.values()];
    expect(sessions[0]).toEqual(['starttls', 'MAIL 250 tls=true', 'RCPT 250 tls=true', 'RSET 250 tls=true']);
    expect(sessions.slice(1)).toContainEqual(['starttls', 'MAIL 250 tls=true', 'RCPT 250 tls=true', 'message tls=true user=null']);
  });

  it("microsoft-365-connector: plan --probe decodes the connector's refusal of the relay, and sends no message", async () => {
    await setSmartHostMode(state(), { mode: 'm365-connector-not-attributed' });
    let r: Awaited<ReturnType<typeof run>> | undefined;
    const connector = settings({
      provider: { name: 'microsoft-365-connector', tenant: 'contoso-com' },
      smartHostPort: 587,
      auth: undefined,
    });
    const events = await eventsDuring(async () => {
      r = await run(connector, { dryRun: true, probe: true });
    });
    await setSmartHostMode(state(), { mode: 'normal' });
    expect(r!.status).toBe('failed');
    expect(r!.error).toMatch(
      /smart host check failed: Microsoft 365 inbound connector at smtp\.sandbox\.test:587 refused the relay \(TenantAttribution\): .* \(550 5\.7\.64 TenantAttribution; Relay Access Denied\); in the Exchange admin center add an inbound connector/,
    );
    expect(events.filter((e) => e.kind === 'envelope').map((e) => e.kind === 'envelope' && `${e.command} ${e.code}`)).toEqual([
      'MAIL 250',
      'RCPT 550',
    ]);
    expect(events.filter((e) => e.kind === 'message' || e.kind === 'auth')).toEqual([]);
  });
});

// 127.0.0.3 is loopback on the host, where nothing listens on 587 (the stand-in is on 127.0.0.2): a
// smart host that is down, refusing connections; no name is resolved for it.
const DOWN = '127.0.0.3';

describe('failover', () => {
  it('with the first smart host down, the probe warns and the mail arrives through the second, over TLS with AUTH', async () => {
    await setSmartHostMode(state(), { mode: 'normal' });
    const password = secret.file(state().smartHost.passwordFile);
    let r: Awaited<ReturnType<typeof run>> | undefined;
    const events = await eventsDuring(async () => {
      r = await run(
        relaySettings(state(), {
          smartHost: DOWN,
          auth: { user: 'first@sandbox.test', password: secret.value('the first host is down') },
          fallbackSmartHosts: [{ smartHost: state().smartHost.name, auth: { user: state().smartHost.user, password } }],
        }),
      );
    });
    expect([r!.status, r!.error]).toEqual(['changed', undefined]);
    const warnings = r!.findings.filter((f) => f.level === 'warning').map((f) => f.message);
    expect(warnings).toContainEqual(
      expect.stringMatching(
        /^smart host check failed: nothing accepts connections on 127\.0\.0\.3:587 .*\(smart host 1 of 2: sendmail tries the next of the list\)$/,
      ),
    );
    // sendmail's host list, in order, each with its AuthInfo and TLS requirement
    const files = await remote(
      state(),
      0,
      "grep -h '^DS' /etc/mail/sendmail.cf; cut -d' ' -f1 /etc/mail/authinfo; grep '^TLS_Srv' /etc/mail/access",
    );
    expect(files.stdout.split('\n').map((l) => l.replace(/\s+/g, ' ').trim())).toEqual([
      `DSrelay:[${DOWN}]:[smtp.sandbox.test]`,
      `AuthInfo:${DOWN}`,
      'AuthInfo:smtp.sandbox.test',
      `TLS_Srv:${DOWN} VERIFY:128+CN:${DOWN}`,
      'TLS_Srv:smtp.sandbox.test VERIFY:128+CN:smtp.sandbox.test',
      '',
    ]);
    // the probe and the test message reached the second; nothing in the clear, the test message arrived
    expect(events.filter((e) => e.kind === 'auth').map((e) => e.kind === 'auth' && [e.user, e.code, e.tls])).toEqual([
      [state().smartHost.user, 235, true],
      [state().smartHost.user, 235, true],
    ]);
    expect(events.filter((e) => e.kind === 'message').map((e) => e.kind === 'message' && [e.user, e.tls, e.rcptTo])).toEqual([
      [state().smartHost.user, true, [RECIPIENT]],
    ]);
    expect(events.filter((e) => (e.kind === 'envelope' || e.kind === 'message') && !e.tls)).toEqual([]);
  });
});

describe('routes', () => {
  // the route's smart host is the stand-in by its address: a host of its own for AuthInfo and
  // TLS_Srv (its certificate is for smtp.sandbox.test, so TLS is required but not verified here)
  const ROUTE_HOST = '127.0.0.2';
  const routed = () =>
    relaySettings(state(), {
      smartHost: state().smartHost.name,
      routes: {
        'corp.example': {
          smartHost: ROUTE_HOST,
          smartHostTls: 'encrypt',
          auth: { user: state().smartHost.second.user, password: secret.file(state().smartHost.second.passwordFile) },
        },
      },
    });

  it('mail for the routed domain leaves through its own smart host with its own AUTH, the rest through smartHost; a rollback takes the route back', async () => {
    await setSmartHostMode(state(), { mode: 'normal' });
    let r: Awaited<ReturnType<typeof run>> | undefined;
    const events = await eventsDuring(async () => {
      r = await run(routed());
    });
    expect([r!.status, r!.error]).toEqual(['changed', undefined]);
    expect(r!.changes.map((c) => c.resourceId)).toEqual(
      expect.arrayContaining(['file:/etc/mail/mailertable', 'command:makemap mailertable']),
    );
    // the probe of each: smartHost as relay@, the route's host as relay2@, both over TLS
    expect(events.filter((e) => e.kind === 'auth').map((e) => e.kind === 'auth' && [e.user, e.code, e.tls])).toEqual(
      expect.arrayContaining([
        [state().smartHost.user, 235, true],
        [state().smartHost.second.user, 235, true],
      ]),
    );
    const sent = await eventsDuring(async () => {
      for (const to of ['ops@corp.example', 'ops@eu.corp.example', RECIPIENT]) {
        const out = await remote(state(), 0, `/usr/sbin/sendmail -Am -odi -oi -f root -- ${to}`, `Subject: route to ${to}\n\nhello\n`);
        expect(out.code, out.stderr).toBe(0);
      }
    });
    expect(sent.filter((e) => e.kind === 'message').map((e) => e.kind === 'message' && [e.rcptTo[0], e.user, e.tls])).toEqual([
      ['ops@corp.example', state().smartHost.second.user, true],
      ['ops@eu.corp.example', state().smartHost.second.user, true],
      [RECIPIENT, state().smartHost.user, true],
    ]);

    // the route goes with a rollback of its apply: the table, its .db and the mc's FEATURE
    const host = sandboxInventory(state(), []).hosts[0];
    const log: string[] = [];
    const rb = await rollbackHost(host, { dryRun: false, packages: false, inventoryFile: 'inv.ts', log: (l) => log.push(l) });
    expect(rb.error, log.join('\n')).toBeUndefined();
    expect(rb.restored).toEqual(expect.arrayContaining(['/etc/mail/mailertable', '/etc/mail/mailertable.db', '/etc/mail/sendmail.mc']));
    const left = await remote(
      state(),
      0,
      'ls /etc/mail/mailertable /etc/mail/mailertable.db 2>&1; grep -c mailertable /etc/mail/sendmail.mc; true',
    );
    expect(left.stdout).not.toMatch(/^\/etc\/mail\/mailertable(\.db)?$/m);
    expect(left.stdout.trim().split('\n').at(-1)).toBe('0');
  });
});

describe('the sender domain can pass SPF and DMARC (plan --probe)', () => {
  let dns: DnsTestServer;
  beforeAll(async () => {
    dns = await startDnsServer({
      // SPF names Google but not SES, and there is no DMARC record
      'lacks.example': ['v=spf1 include:_spf.google.com ~all'],
      '_spf.google.com': ['v=spf1 ip4:35.190.247.0/24 ~all'],
      // SPF names SES, through an include of the domain's own; DMARC is there
      'has.example': ['google-site-verification=abc', 'v=spf1 include:_spf.has.example -all'],
      '_spf.has.example': ['v=spf1 ip4:192.0.2.0/24 include:amazonses.com -all'],
      'amazonses.com': ['v=spf1 ip4:199.255.192.0/22 -all'],
      '_dmarc.has.example': ['v=DMARC1; p=reject; rua=mailto:postmaster@has.example'],
    });
  });
  afterAll(() => dns?.close());

  /** SES through the stand-in, the host's mail leaving as root@<domain>, DNS asked on loopback. */
  const sending = (domain: string, check: 'warn' | 'require') =>
    settings({
      provider: SES,
      auth: { user: ACCESS_KEY_ID, password: secret.sesSmtpPassword(secret.env(KEY_VAR), REGION) },
      masquerade: { as: domain },
      senderAuthentication: { check, dnsServers: [dns.address] },
    });
  const plan = (s: SendmailSettingsInput) => run(s, { dryRun: true, probe: true });
  const senderFindings = (r: Awaited<ReturnType<typeof run>>) => r.findings.filter((f) => f.code.startsWith('sender-'));

  it('warns with the records to add when SPF lacks the provider and DMARC is missing; quiet when both are there', async () => {
    await setSmartHostMode(state(), { mode: 'normal', user: ACCESS_KEY_ID, password: deriveSesSmtpPassword(KEY, REGION) });
    const lacking = await plan(sending('lacks.example', 'warn'));
    expect([lacking.status, lacking.error]).not.toContain('failed');
    expect(lacking.error).toBeUndefined();
    expect(senderFindings(lacking).map((f) => [f.level, f.code])).toEqual([
      ['warning', 'sender-spf-provider-missing'],
      ['warning', 'sender-dmarc-missing'],
    ]);
    const [spf, dmarc] = senderFindings(lacking).map((f) => f.message);
    expect(spf).toMatch(
      /^the SPF record of lacks\.example does not authorise Amazon SES \(eu-west-1\) \(no include:amazonses\.com\): .*; replace the TXT record at lacks\.example \("v=spf1 include:_spf\.google\.com ~all"\) with: v=spf1 include:_spf\.google\.com include:amazonses\.com ~all$/,
    );
    expect(dmarc).toMatch(/add a TXT record at _dmarc\.lacks\.example: v=DMARC1; p=none; rua=mailto:postmaster@lacks\.example$/);
    // the smart host was probed all the same, and the lookups went to the test's server
    expect(lacking.findings.map((f) => f.message)).toContainEqual(expect.stringMatching(/^smart host smtp\.sandbox\.test:587 reached/));
    expect(dns.queries).toEqual(expect.arrayContaining(['lacks.example TXT', '_spf.google.com TXT', '_dmarc.lacks.example TXT']));

    const passing = await plan(sending('has.example', 'warn'));
    expect(passing.error).toBeUndefined();
    expect(senderFindings(passing).map((f) => [f.level, f.message])).toEqual([
      [
        'info',
        'SPF of has.example authorises Amazon SES (eu-west-1) (include:amazonses.com): "v=spf1 include:_spf.has.example -all", 2 of 10 DNS lookups',
      ],
      ['info', 'DMARC of has.example: p=reject ("v=DMARC1; p=reject; rua=mailto:postmaster@has.example")'],
    ]);
  });

  it("senderAuthentication.check 'require' fails the host on the same records, after the smart host's probe", async () => {
    const r = await plan(sending('lacks.example', 'require'));
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      /^sender domain check failed \(senderAuthentication\.check is 'require'\): sender-spf-provider-missing, sender-dmarc-missing\n {2}the SPF record of lacks\.example .* with: v=spf1 include:_spf\.google\.com include:amazonses\.com ~all\n {2}no DMARC record for lacks\.example/,
    );
    expect(r.findings.map((f) => f.message)).toContainEqual(expect.stringMatching(/^smart host smtp\.sandbox\.test:587 reached/));
    // and passes where the records are right
    const ok = await plan(sending('has.example', 'require'));
    expect([ok.status, ok.error]).not.toContain('failed');
    expect(ok.error).toBeUndefined();
  });
});
