// The smart-host probe's SMTP client against a real SMTP server (smtp-server, in this process) on a
// local TCP port, with real TLS: certificates from a test CA, verified or refused as a relay would.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnoseProbe } from '../../../../playbooks/sendmail-smarthost/diagnose.ts';
import { smtpProbe, type SmtpProbeOptions } from '../../../../playbooks/sendmail-smarthost/smtp-probe.ts';
import { ensureCa, issueServerCert } from '../../../../src/sandbox/ca.ts';

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

  it("'none' authenticates without TLS where the server allows it", async () => {
    const port = await server({ hideSTARTTLS: true, allowInsecureAuth: true });
    expect(await probe(port, { tls: 'none' })).toMatchObject({ ok: true, mechanism: 'PLAIN' });
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
