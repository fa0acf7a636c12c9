// The smart-host probe's SMTP client against a real SMTP server (smtp-server, in this process) on a
// local TCP port, with real TLS: certificates from a test CA, verified or refused as a relay would.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseProbe, oneLine } from '../../../../playbooks/sendmail-smarthost/diagnose.ts';
import { tlsRequirement } from '../../../../playbooks/sendmail-smarthost/render.ts';
import { smtpProbe, type SmtpProbeOptions } from '../../../../playbooks/sendmail-smarthost/smtp-probe.ts';
import { ensureCa, issueServerCert } from '../../../../src/sandbox/ca.ts';
import { readEventsFile, smartHostEventsFile, smartHostModeFile, writeModeFile } from '../../../../src/sandbox/smarthost-modes.ts';
import { startSmartHost, type SmartHost } from '../../../../src/sandbox/smarthost.ts';

const NAME = 'smtp.probe.test';
const USER = 'relay@probe.test';
const PASSWORD = 'pa55-w0rd:with "odd" chars';

let dir: string;
let ca: string;
let otherCa: string;
let tls: { key: string; cert: string };
let wrongName: { key: string; cert: string };
const servers: SMTPServer[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailprov-probe-'));
  const read = async (p: { cert: string; key: string }) => ({ cert: await readFile(p.cert, 'utf8'), key: await readFile(p.key, 'utf8') });
  ca = await readFile((await ensureCa(join(dir, 'ca'))).caCert, 'utf8');
  tls = await read(await issueServerCert(join(dir, 'ca'), NAME));
  wrongName = await read(await issueServerCert(join(dir, 'ca'), 'other.probe.test'));
  otherCa = await readFile((await ensureCa(join(dir, 'other-ca'))).caCert, 'utf8');
});

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(() => r(undefined)))));
  await rm(dir, { recursive: true, force: true });
});

/** A server on a free loopback port; AUTH succeeds for USER/PASSWORD unless onAuth says otherwise. */
async function server(over: Partial<SMTPServerOptions> = {}): Promise<number> {
  const s = new SMTPServer({
    ...tls,
    name: NAME,
    authMethods: ['PLAIN', 'LOGIN'],
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    logger: false,
    onAuth: (auth, _session, cb) =>
      auth.username === USER && auth.password === PASSWORD
        ? cb(null, { user: USER })
        : cb(null, { message: 'Username and Password not accepted', responseCode: 535 } as never),
    ...over,
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.server.address() as net.AddressInfo).port;
}

const connect = (port: number) =>
  new Promise<net.Socket>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.once('connect', () => resolve(sock));
    sock.once('error', reject);
  });

const probe = async (port: number, over: Partial<SmtpProbeOptions> = {}) =>
  smtpProbe(await connect(port), {
    serverName: NAME,
    tls: 'verify',
    ca,
    ehloName: 'relay1.probe.test',
    auth: { user: USER, password: PASSWORD, mechanisms: ['PLAIN', 'LOGIN'] },
    timeoutMs: 3000,
    ...over,
  });

const ctx = { smartHost: NAME, port: 587, user: USER, caFile: '/etc/ssl/certs/ca-certificates.crt' };

describe('smtpProbe', () => {
  it('proves TLS and credentials, and keeps neither the password nor its base64 in the transcript', async () => {
    const port = await server();
    const r = await probe(port);
    expect(r.ok).toBe(true);
    expect(r.mechanism).toBe('PLAIN');
    expect(r.certificate).toMatchObject({ subject: NAME, issuer: 'mailprov sandbox CA' });
    const text = r.transcript.join('\n');
    expect(text).toContain('C: STARTTLS');
    expect(text).toContain('S: 235');
    expect(text).toContain('C: AUTH PLAIN ********');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'));
  });

  it('speaks AUTH LOGIN when that is the mechanism both sides have', async () => {
    const port = await server({ authMethods: ['LOGIN'] });
    const r = await probe(port);
    expect(r).toMatchObject({ ok: true, mechanism: 'LOGIN' });
    expect(r.transcript.join('\n')).not.toContain(Buffer.from(PASSWORD).toString('base64'));
  });

  it('reports refused credentials as 535 5.7.8', async () => {
    const r = await probe(await server(), { auth: { user: USER, password: 'wrong', mechanisms: ['PLAIN'] } });
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ step: 'auth' });
    expect(diagnoseProbe(r.failure!, ctx).code).toBe('credentials-refused');
  });

  it("tells Gmail's application-specific password refusal (534 5.7.9) apart", async () => {
    // the enhanced code written by hand: smtp-server would say 5.0.0 for a 534
    const port = await server({
      hideENHANCEDSTATUSCODES: true,
      onAuth: (_a, _s, cb) => cb(null, { message: '5.7.9 Application-specific password required.', responseCode: 534 } as never),
    });
    const r = await probe(port);
    expect(r.failure?.reply).toMatch(/^534[- ]5\.7\.9/m);
    expect(diagnoseProbe(r.failure!, ctx).code).toBe('app-password-required');
  });

  it('refuses a certificate from a CA the bundle does not hold, before AUTH', async () => {
    const r = await probe(await server(), { ca: otherCa });
    expect(r.failure).toMatchObject({ step: 'tls' });
    expect(diagnoseProbe(r.failure!, ctx).code).toBe('certificate-untrusted');
    expect(r.transcript.join('\n')).not.toContain('C: AUTH');
  });

  it('refuses a certificate for another name', async () => {
    const r = await probe(await server(wrongName));
    expect(r.failure?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(diagnoseProbe(r.failure!, ctx)).toMatchObject({ code: 'certificate-name-mismatch' });
  });

  it("'encrypt' takes any certificate, but still needs STARTTLS", async () => {
    expect((await probe(await server(wrongName), { tls: 'encrypt', ca: otherCa })).ok).toBe(true);
    const plain = await server({ hideSTARTTLS: true, allowInsecureAuth: true });
    const r = await probe(plain, { tls: 'encrypt' });
    expect(diagnoseProbe(r.failure!, ctx).code).toBe('no-starttls');
  });

  it('never sends the password to a server without STARTTLS, even one that offers AUTH in the clear', async () => {
    let authTried = false;
    const port = await server({
      hideSTARTTLS: true,
      allowInsecureAuth: true,
      onAuth: (_a, _s, cb) => {
        authTried = true;
        cb(null, { user: USER });
      },
    });
    const r = await probe(port);
    expect(r).toMatchObject({ ok: false, authOfferedInClear: true, failure: { code: 'NO_STARTTLS' } });
    expect(authTried).toBe(false);
  });

  it("'none' authenticates without TLS where the server allows it, when allowPlaintextAuth says so", async () => {
    const port = await server({ hideSTARTTLS: true, allowInsecureAuth: true });
    expect(await probe(port, { tls: 'none', allowPlaintextAuth: true })).toMatchObject({ ok: true, mechanism: 'PLAIN', tls: false });
  });

  it("'none' never sends the password in the clear without allowPlaintextAuth, and says why", async () => {
    let authTried = false;
    const port = await server({
      hideSTARTTLS: true,
      allowInsecureAuth: true,
      onAuth: (_a, _s, cb) => {
        authTried = true;
        cb(null, { user: USER });
      },
    });
    const r = await probe(port, { tls: 'none' });
    expect(r).toMatchObject({ ok: false, tls: false, failure: { step: 'auth', code: 'PLAINTEXT_AUTH' } });
    expect(authTried).toBe(false);
    expect(r.transcript.join('\n')).not.toContain('C: AUTH');
    expect(oneLine(diagnoseProbe(r.failure!, ctx))).toMatch(
      /does not offer STARTTLS, so AUTH would send the password .* in the clear.*allowPlaintextAuth/,
    );
  });

  it("'none' starts TLS when the server offers STARTTLS, as sendmail does, and sends AUTH only inside it", async () => {
    const sessions: boolean[] = [];
    // a certificate for another name from another CA: 'none' sets no TLS_Srv requirement, so sendmail takes it
    const port = await server({
      ...wrongName,
      onAuth: (auth, session, cb) => {
        sessions.push(session.secure);
        cb(null, { user: auth.username });
      },
    });
    const r = await probe(port, { tls: 'none', ca: otherCa });
    expect(r).toMatchObject({ ok: true, tls: true, mechanism: 'PLAIN', certificate: { subject: 'other.probe.test' } });
    expect(r.transcript).toContain('C: STARTTLS');
    expect(sessions).toEqual([true]);
  });

  // What the rendered access map makes sendmail demand (TLS_Srv, render.ts) is what the probe demands:
  // TLS when a requirement is written, a verified certificate for smartHost when it says VERIFY.
  it.each(['verify', 'encrypt', 'none'] as const)("speaks as sendmail does with smartHostTls '%s'", async (policy) => {
    const requirement = tlsRequirement(policy, NAME);
    const noTls = await probe(await server({ hideSTARTTLS: true, allowInsecureAuth: true }), { tls: policy, allowPlaintextAuth: true });
    expect(noTls.ok).toBe(requirement === undefined);
    const good = await probe(await server(), { tls: policy });
    expect(good).toMatchObject({ ok: true, tls: true });
    const wrong = await probe(await server(wrongName), { tls: policy });
    expect(wrong.ok).toBe(!requirement?.startsWith('VERIFY'));
    expect(wrong.tls ?? false).toBe(!requirement?.startsWith('VERIFY'));
  });

  it('reports a server that says nothing as timed out at its greeting', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const r = await probe((silent.address() as net.AddressInfo).port, { timeoutMs: 300 });
      expect(r.failure).toMatchObject({ step: 'greeting', code: 'TIMEOUT' });
      expect(diagnoseProbe(r.failure!, ctx).code).toBe('connection-timed-out');
    } finally {
      silent.close();
    }
  });

  it('reports a refusal at the greeting (421) with what the server said', async () => {
    const port = await server({
      onConnect: (_s, cb) => cb(Object.assign(new Error('4.7.0 Try again later, closing connection.'), { responseCode: 421 })),
    });
    const r = await probe(port);
    expect(r.failure).toMatchObject({ step: 'greeting' });
    expect(diagnoseProbe(r.failure!, ctx)).toMatchObject({ code: 'refused-at-greeting' });
  });
});

// The sandbox's stand-in smart host, on a loopback port, in the mode that plays a man in the middle:
// its 220 to STARTTLS comes with "250 AUTH PLAIN" and "235" pipelined behind it in plaintext, then
// real TLS with a certificate the probe trusts, where every AUTH gets 535.
describe('smtpProbe against STARTTLS response injection (CVE-2011-0411 class)', () => {
  let host: SmartHost;
  let modes: string;

  beforeAll(async () => {
    modes = join(dir, 'modes');
    host = await startSmartHost({
      listen: { host: '127.0.0.1', port: 0 },
      tls,
      users: { [USER]: PASSWORD },
      modeFile: smartHostModeFile(modes),
      eventsFile: smartHostEventsFile(modes),
      storeDir: join(modes, 'store'),
      hostname: NAME,
    });
  });

  afterAll(async () => {
    await host?.close();
  });

  const probeIn = async (mode: 'normal' | 'starttls-injection', tlsPolicy: SmtpProbeOptions['tls'] = 'verify') => {
    await writeModeFile(smartHostModeFile(modes), { mode });
    const before = (await readEventsFile(smartHostEventsFile(modes))).length;
    const r = await probe(host.address as number, { tls: tlsPolicy });
    return { r, events: (await readEventsFile(smartHostEventsFile(modes))).slice(before) };
  };

  it('is accepted in the normal mode (the control: same server, same credentials)', async () => {
    const { r, events } = await probeIn('normal');
    expect(r).toMatchObject({ ok: true, mechanism: 'PLAIN', tls: true });
    expect(events.filter((e) => e.kind === 'auth').map((e) => e.kind === 'auth' && [e.code, e.tls])).toEqual([[235, true]]);
  });

  it.each(['verify', 'encrypt', 'none'] as const)(
    "refuses bytes buffered after the 220 to STARTTLS (smartHostTls '%s'), says so, and sends no password",
    async (policy) => {
      const { r, events } = await probeIn('starttls-injection', policy);
      expect(r.ok).toBe(false);
      expect(r.mechanism).toBeUndefined();
      expect(r.failure).toMatchObject({ step: 'starttls', code: 'STARTTLS_INJECTION' });
      expect(r.failure!.detail).toContain('250 AUTH PLAIN');
      const line = oneLine(diagnoseProbe(r.failure!, ctx));
      expect(line).toMatch(
        /sent more than its reply to STARTTLS before TLS began.*CVE-2011-0411.*; the probe stopped before TLS and sent no password/,
      );
      expect(line).not.toContain('\n');
      expect(r.transcript.filter((l) => l.startsWith('C: '))).toEqual(['C: EHLO relay1.probe.test', 'C: STARTTLS']);
      // the server saw no AUTH at all, in the clear or inside TLS
      expect(events.filter((e) => e.kind === 'auth')).toEqual([]);
    },
  );
});
