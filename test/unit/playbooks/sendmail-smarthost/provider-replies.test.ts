// The stand-in smart host playing each provider's replies (one mode each), met by the probe's
// SMTP client on a loopback port with real TLS: the reply goes out as the provider writes it, and
// the probe reads it as that provider's cause. An IP-authorised relay is proven with MAIL FROM,
// RCPT TO and RSET, never DATA. (A real sendmail meets the same modes in test/integration/providers.test.ts.)
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseProbe } from '../../../../playbooks/sendmail-smarthost/diagnose.ts';
import { probeSmartHosts } from '../../../../playbooks/sendmail-smarthost/probe.ts';
import { sendmailSettingsSchema } from '../../../../playbooks/sendmail-smarthost/settings.ts';
import { smtpProbe } from '../../../../playbooks/sendmail-smarthost/smtp-probe.ts';
import { ensureCa, issueServerCert } from '../../../../src/sandbox/ca.ts';
import {
  PROVIDER_REPLIES,
  type ProviderReplyMode,
  readEventsFile,
  type SmartHostMode,
  smartHostEventsFile,
  smartHostModeFile,
  writeModeFile,
} from '../../../../src/sandbox/smarthost-modes.ts';
import { type SmartHost, startSmartHost } from '../../../../src/sandbox/smarthost.ts';
import { MODE_DECODES } from '../../../provider-modes.ts';
import { debianOs, hostFacts } from '../../fixtures.ts';

const NAME = 'smtp.probe.test';
const USER = 'relay@probe.test';
const PASSWORD = 'the-password';
let dir: string;
let ca: string;
let host: SmartHost;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailprov-providers-'));
  const read = async (p: { cert: string; key: string }) => ({ cert: await readFile(p.cert, 'utf8'), key: await readFile(p.key, 'utf8') });
  ca = await readFile((await ensureCa(join(dir, 'ca'))).caCert, 'utf8');
  host = await startSmartHost({
    listen: { host: '127.0.0.1', port: 0 },
    tls: await read(await issueServerCert(join(dir, 'ca'), NAME)),
    users: { [USER]: PASSWORD },
    modeFile: smartHostModeFile(dir),
    eventsFile: smartHostEventsFile(dir),
    storeDir: join(dir, 'store'),
    hostname: NAME,
  });
});

afterAll(async () => {
  await host?.close();
  await rm(dir, { recursive: true, force: true });
});

const connect = () =>
  new Promise<net.Socket>((resolve, reject) => {
    const sock = net.connect(host.address as number, '127.0.0.1');
    sock.once('connect', () => resolve(sock));
    sock.once('error', reject);
  });

async function probeIn(mode: SmartHostMode, withAuth: boolean) {
  await writeModeFile(smartHostModeFile(dir), mode);
  const before = (await readEventsFile(smartHostEventsFile(dir))).length;
  const r = await smtpProbe(await connect(), {
    serverName: NAME,
    tls: 'verify',
    ca,
    ehloName: 'relay1.probe.test',
    auth: withAuth ? { user: USER, password: PASSWORD, mechanisms: ['PLAIN'] } : undefined,
    envelope: { from: 'root@example.org', to: 'ops@example.com' },
    timeoutMs: 3000,
  });
  return { r, events: (await readEventsFile(smartHostEventsFile(dir))).slice(before) };
}

describe('the stand-in smart host as each provider', () => {
  it('has a decoder for every provider mode', () => {
    expect(Object.keys(MODE_DECODES).sort()).toEqual(Object.keys(PROVIDER_REPLIES).sort());
  });

  it.each(Object.entries(MODE_DECODES))(
    '%s: the reply goes out as written and is read as its provider says',
    async (mode, [provider, id]) => {
      const played = PROVIDER_REPLIES[mode as ProviderReplyMode];
      const { r, events } = await probeIn({ mode: mode as ProviderReplyMode }, !('noAuth' in played && played.noAuth));
      // no DATA ever: what the probe cannot reach (a reply to the message) it does not see
      expect(events.filter((e) => e.kind === 'message')).toEqual([]);
      if (played.stage === 'data') {
        expect(r).toMatchObject({ ok: true, envelopeAccepted: true });
        return;
      }
      expect(r.ok).toBe(false);
      expect(r.failure).toMatchObject({ step: played.stage, reply: played.reply });
      const ctx = { smartHost: NAME, port: 587, user: USER, caFile: '/etc/ssl/certs/ca-certificates.crt', provider };
      expect(diagnoseProbe(r.failure!, ctx).code).toBe(id);
    },
  );

  it('ip-relay: no AUTH offered; the probe proves the relay with MAIL FROM, RCPT TO and RSET, over verified TLS, and sends no message', async () => {
    const { r, events } = await probeIn({ mode: 'ip-relay' }, false);
    expect(r).toMatchObject({ ok: true, tls: true, envelopeAccepted: true, authOfferedInClear: false });
    expect(r.transcript.filter((l) => l.startsWith('C: '))).toEqual([
      'C: EHLO relay1.probe.test',
      'C: STARTTLS',
      'C: EHLO relay1.probe.test',
      'C: MAIL FROM:<root@example.org>',
      'C: RCPT TO:<ops@example.com>',
      'C: RSET',
      'C: QUIT',
    ]);
    expect(r.transcript.some((l) => /^S: 250[ -]AUTH/.test(l))).toBe(false);
    expect(
      events.filter((e) => e.kind !== 'connection').map((e) => (e.kind === 'envelope' ? `${e.command} ${e.code} tls=${e.tls}` : e.kind)),
    ).toEqual(['starttls', 'MAIL 250 tls=true', 'RCPT 250 tls=true', 'RSET 250 tls=true']);
  });

  it('a mode with a user and password takes that account only (a provider-shaped user, as SES has)', async () => {
    await writeModeFile(smartHostModeFile(dir), { mode: 'normal', user: 'AKIAIOSFODNN7EXAMPLE', password: 'derived' });
    const r = await smtpProbe(await connect(), {
      serverName: NAME,
      tls: 'verify',
      ca,
      ehloName: 'relay1.probe.test',
      auth: { user: 'AKIAIOSFODNN7EXAMPLE', password: 'derived', mechanisms: ['PLAIN'] },
      timeoutMs: 3000,
    });
    expect(r).toMatchObject({ ok: true, mechanism: 'PLAIN' });
    const { r: old } = await probeIn({ mode: 'normal', user: 'AKIAIOSFODNN7EXAMPLE', password: 'derived' }, true);
    expect(old.failure).toMatchObject({ step: 'auth' });
  });
});

// The playbook's probe of a route that takes the relay without AUTH: the route's own domain is
// asked for (its postmaster), never the verify recipient, which an internal hub has no reason to take.
describe('probeSmartHosts on a route authorised by IP', () => {
  it("asks the route's host for its own domain's postmaster, and sends no message", async () => {
    await writeModeFile(smartHostModeFile(dir), { mode: 'ip-relay' });
    const settings = sendmailSettingsSchema.parse({
      smartHost: NAME,
      trustedCa: '/etc/ssl/certs/ca-certificates.crt',
      verify: { recipient: 'ops@example.com' },
      routes: { 'corp.example': { smartHost: 'hub.corp.example', smartHostTls: 'encrypt' } },
    });
    const infos: string[] = [];
    const ctx = {
      hostName: 'relay1',
      facts: hostFacts({ os: { ...debianOs, fqdn: 'relay1.probe.test' } }),
      // no sendmail on this "host": the CA bundle is the test's, the sender what the settings say
      exec: async (cmd: string) => (cmd.startsWith('cat ') ? { code: 0, stdout: ca, stderr: '' } : { code: 1, stdout: '', stderr: '' }),
      // every smart host is the stand-in here
      connect: async () => connect(),
      log: () => {},
      warn: (m: string) => infos.push(`warning: ${m}`),
      info: (m: string) => infos.push(m),
    };
    const before = (await readEventsFile(smartHostEventsFile(dir))).length;
    await probeSmartHosts(ctx as never, settings);
    const events = (await readEventsFile(smartHostEventsFile(dir))).slice(before);
    expect(events.filter((e) => e.kind === 'envelope').map((e) => e.kind === 'envelope' && `${e.command} ${e.address} ${e.code}`)).toEqual([
      'MAIL root@relay1.probe.test 250',
      'RCPT ops@example.com 250',
      'RSET null 250',
      'MAIL root@relay1.probe.test 250',
      'RCPT postmaster@corp.example 250',
      'RSET null 250',
    ]);
    expect(events.filter((e) => e.kind === 'message' || e.kind === 'auth')).toEqual([]);
    expect(infos.at(-1)).toMatch(
      /^smart host hub\.corp\.example:587 reached from this host over TLS .*, relay accepted without AUTH for root@relay1\.probe\.test to postmaster@corp\.example \(RSET, no message sent\)$/,
    );
  });
});
