import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError } from '../../../src/errors.ts';
import { ensureCa, issueServerCert } from '../../../src/sandbox/ca.ts';
import { readMessages, waitForMessage, type StoredMessage } from '../../../src/sandbox/messages.ts';
import {
  readSmartHostEvents,
  setSmartHostMode,
  smartHostEventsFile,
  smartHostModeFile,
  type SmartHostEvent,
  type SmartHostMode,
} from '../../../src/sandbox/smarthost-modes.ts';
import { startSmartHost, type SmartHost } from '../../../src/sandbox/smarthost.ts';
import { b64, plainToken, RawSmtp } from './raw-smtp.ts';

const HOSTNAME = 'smtp.sandbox.test';
const USER = 'relay@sandbox.test';
const PASSWORD = 'app-password-1234';

let dir: string;
let caPem: string;
let tlsPem: { key: string; cert: string };
let socketPath: string;
let storeDir: string;
let host: SmartHost;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailprov-smarthost-'));
  const { caCert } = await ensureCa(join(dir, 'ca'));
  const { cert, key } = await issueServerCert(join(dir, 'ca'), HOSTNAME);
  caPem = await readFile(caCert, 'utf8');
  tlsPem = { cert: await readFile(cert, 'utf8'), key: await readFile(key, 'utf8') };
  socketPath = join(dir, 'smarthost.sock');
  storeDir = join(dir, 'store');
  host = await startSmartHost({
    listen: { path: socketPath },
    tls: tlsPem,
    users: { [USER]: PASSWORD },
    storeDir,
    hostname: HOSTNAME,
  });
});

afterAll(async () => {
  await host?.close();
  await rm(dir, { recursive: true, force: true });
});

// nodemailer dials host:port only; getSocket hands it a connected unix socket instead.
function unixTransport(auth: { user: string; pass: string }, authMethod?: 'PLAIN' | 'LOGIN', path = socketPath) {
  return nodemailer.createTransport({
    host: HOSTNAME,
    port: 587,
    secure: false,
    requireTLS: true,
    tls: { ca: caPem },
    auth,
    authMethod,
    getSocket: (_options: unknown, callback: (err: Error | null, socketOptions: unknown) => void) => {
      const socket = net.connect(path);
      socket.once('connect', () => callback(null, { connection: socket }));
      socket.once('error', (err) => callback(err, null));
    },
  });
}

function bySubject(subject: string) {
  return (m: StoredMessage) => m.subject === subject;
}

/** EHLO, STARTTLS, EHLO: the state sendmail is in before AUTH. */
async function secureSession(path = socketPath): Promise<RawSmtp> {
  const { client } = await RawSmtp.connect(path);
  await client.command('EHLO h1.sandbox.test');
  expect(await client.startTls(caPem, HOSTNAME)).toMatch(/^220 /);
  expect(await client.command('EHLO h1.sandbox.test')).toMatch(/^250/);
  return client;
}

describe('sandbox CA', () => {
  it('issues a server cert for the hostname, signed by the CA, with private keys', async () => {
    const caDir = join(dir, 'ca');
    const ca = new X509Certificate(await readFile(join(caDir, 'ca.crt')));
    const cert = new X509Certificate(tlsPem.cert);
    expect(ca.subject).toContain('CN=mailprov sandbox CA');
    expect(ca.ca).toBe(true);
    const years = (Date.parse(ca.validTo) - Date.now()) / (365 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(9.9);
    expect(cert.subjectAltName).toBe(`DNS:${HOSTNAME}`);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect((await stat(join(caDir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(caDir, `${HOSTNAME}.key`))).mode & 0o777).toBe(0o600);
  });

  it('reuses the CA and the server cert when they are already there', async () => {
    const caDir = join(dir, 'ca');
    const before = await readFile(join(caDir, `${HOSTNAME}.crt`), 'utf8');
    const again = await issueServerCert(caDir, HOSTNAME);
    expect(await readFile(again.cert, 'utf8')).toBe(before);
    expect(await readFile(join(caDir, 'ca.crt'), 'utf8')).toBe(caPem);
  });

  it('refuses a hostname that is not a DNS name', async () => {
    await expect(issueServerCert(join(dir, 'ca'), 'bad/name,DNS:evil')).rejects.toThrow(/invalid hostname/);
  });
});

describe('smart host over a unix socket', () => {
  it('accepts mail sent with AUTH PLAIN over STARTTLS and stores it', async () => {
    const info = await unixTransport({ user: USER, pass: PASSWORD }, 'PLAIN').sendMail({
      from: 'root@h1.sandbox.test',
      to: ['alice@example.com', 'bob@example.com'],
      subject: 'plain über STARTTLS',
      text: 'hello from h1',
    });
    expect(info.response).toMatch(/^250 2\.6\.0 OK /);

    const message = await waitForMessage(storeDir, bySubject('plain über STARTTLS'), 5000);
    expect(message).toMatchObject({
      authUser: USER,
      mailFrom: 'root@h1.sandbox.test',
      rcptTo: ['alice@example.com', 'bob@example.com'],
      tls: true,
      remoteAddress: 'unix',
    });
    expect(message.raw).toContain('hello from h1');
    expect(Number.isNaN(Date.parse(message.receivedAt))).toBe(false);
  });

  it('accepts AUTH LOGIN', async () => {
    await unixTransport({ user: USER, pass: PASSWORD }, 'LOGIN').sendMail({
      from: 'root@h2.sandbox.test',
      to: 'alice@example.com',
      subject: 'via login',
      text: 'x',
    });
    const message = await waitForMessage(storeDir, bySubject('via login'), 5000);
    expect(message.authUser).toBe(USER);
  });

  it('answers a wrong password with 535 5.7.8', async () => {
    const send = unixTransport({ user: USER, pass: 'wrong' }, 'PLAIN').sendMail({
      from: 'root@h1.sandbox.test',
      to: 'alice@example.com',
      subject: 'never',
      text: 'x',
    });
    await expect(send).rejects.toMatchObject({
      responseCode: 535,
      response: '535 5.7.8 Username and Password not accepted',
    });
  });

  it('answers an unknown user (and a prototype key) with 535 5.7.8 over the wire', async () => {
    for (const user of ['nobody@sandbox.test', 'constructor']) {
      const client = await secureSession();
      expect(await client.command(`AUTH PLAIN ${plainToken(user, PASSWORD)}`)).toBe('535 5.7.8 Username and Password not accepted');
      client.close();
    }
  });

  it('answers a wrong password with AUTH LOGIN with 535 5.7.8', async () => {
    const client = await secureSession();
    expect(await client.command('AUTH LOGIN')).toMatch(/^334 /);
    expect(await client.command(b64(USER))).toMatch(/^334 /);
    expect(await client.command(b64('wrong'))).toBe('535 5.7.8 Username and Password not accepted');
    client.close();
  });

  it('requires AUTH for MAIL FROM, with and without TLS', async () => {
    const client = await secureSession();
    expect(await client.command('MAIL FROM:<root@h1.sandbox.test>')).toBe('530 5.7.0 Authentication Required');
    client.close();

    const { client: plain } = await RawSmtp.connect(socketPath);
    await plain.command('EHLO h1.sandbox.test');
    expect(await plain.command('MAIL FROM:<root@h1.sandbox.test>')).toBe('530 5.7.0 Authentication Required');
    plain.close();
  });

  it('refuses AUTH before STARTTLS like Gmail, before any credentials are sent', async () => {
    const { client, greeting } = await RawSmtp.connect(socketPath);
    expect(greeting).toMatch(new RegExp(`^220 ${HOSTNAME} ESMTP`));
    const ehlo = await client.command('EHLO h1.sandbox.test');
    expect(ehlo).toContain('STARTTLS');
    expect(ehlo).toContain('ENHANCEDSTATUSCODES');
    expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toBe('530 5.7.0 Must issue a STARTTLS command first');
    expect(await client.command('AUTH LOGIN')).toBe('530 5.7.0 Must issue a STARTTLS command first');
    client.close();
  });

  it("accepts sendmail's MAIL FROM with SIZE= and AUTH= parameters", async () => {
    const client = await secureSession();
    expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toBe('235 2.7.0 Authentication successful');
    expect(await client.command('MAIL From:<root@h1.sandbox.test> SIZE=123 AUTH=root@h1.sandbox.test')).toMatch(/^250 /);
    expect(await client.command('RCPT To:<alice@example.com>')).toMatch(/^250 /);
    expect(await client.command('DATA')).toMatch(/^354 /);
    const body = 'From: root@h1.sandbox.test\r\nTo: alice@example.com\r\nSubject: raw auth param\r\n\r\nbody\r\n.';
    expect(await client.command(body)).toMatch(/^250 2\.6\.0 OK /);
    // sendmail sends AUTH=<> when it has no authenticated sender to pass on.
    expect(await client.command('MAIL From:<root@h1.sandbox.test> SIZE=10 AUTH=<>')).toMatch(/^250 /);
    expect(await client.command('QUIT')).toMatch(/^221 /);
    client.close();

    const message = await waitForMessage(storeDir, bySubject('raw auth param'), 5000);
    expect(message).toMatchObject({ authUser: USER, mailFrom: 'root@h1.sandbox.test', rcptTo: ['alice@example.com'] });
  });
});

describe('smart host modes', () => {
  const APP_USER = 'app-password@sandbox.test';
  const OTHER_NAME = 'other.sandbox.test';
  const APP_PASSWORD_REPLY = [
    '534-5.7.9 Application-specific password required. Learn more at',
    '534 5.7.9 https://support.google.com/mail/?p=InvalidSecondFactor',
  ].join('\r\n');
  let modesDir: string;
  let modeSocket: string;
  let modeStore: string;
  let rogueCaPem: string;
  let modes: SmartHost;
  const errors: Error[] = [];

  beforeAll(async () => {
    modesDir = await mkdtemp(join(dir, 'modes-'));
    modeSocket = join(modesDir, 'smarthost.sock');
    modeStore = join(modesDir, 'messages');
    const rogueDir = join(dir, 'ca', 'rogue');
    rogueCaPem = await readFile((await ensureCa(rogueDir, '/CN=mailprov test rogue CA')).caCert, 'utf8');
    const pem = async (files: { cert: string; key: string }) => ({
      cert: await readFile(files.cert, 'utf8'),
      key: await readFile(files.key, 'utf8'),
    });
    modes = await startSmartHost({
      listen: { path: modeSocket },
      tls: tlsPem,
      badTls: {
        'untrusted-cert': await pem(await issueServerCert(rogueDir, HOSTNAME)),
        'wrong-name-cert': await pem(await issueServerCert(join(dir, 'ca'), OTHER_NAME)),
      },
      users: { [USER]: PASSWORD },
      appPasswordUsers: [APP_USER],
      modeFile: smartHostModeFile(modesDir),
      eventsFile: smartHostEventsFile(modesDir),
      storeDir: modeStore,
      hostname: HOSTNAME,
      onError: (err) => errors.push(err),
    });
  });

  // Every test here leaves no server error but those it checked (and cleared). Checked once the
  // smart host is closed, which waits for the server's side of every connection, so that an error
  // reported late still counts; and checked whichever tests ran, one alone (-t) included.
  afterAll(async () => {
    await modes?.close();
    expect(errors.map((e) => e.message)).toEqual([]);
  });

  const setMode = (mode: SmartHostMode) => setSmartHostMode({ dir: modesDir }, mode);

  /** Runs `conversation` and returns the events recorded meanwhile. */
  async function eventsOf(conversation: () => Promise<void>): Promise<SmartHostEvent[]> {
    const before = (await readSmartHostEvents({ dir: modesDir })).length;
    await conversation();
    return (await readSmartHostEvents({ dir: modesDir })).slice(before);
  }

  const withoutTimes = (events: SmartHostEvent[]) => events.map(({ at: _at, connection: _connection, ...rest }) => rest);

  /** AUTH, MAIL, RCPT, DATA and QUIT on a session ready for AUTH. */
  async function sendOne(client: RawSmtp, subject: string): Promise<void> {
    expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toBe('235 2.7.0 Authentication successful');
    expect(await client.command('MAIL From:<root@h1.sandbox.test> SIZE=10 AUTH=<>')).toMatch(/^250 /);
    expect(await client.command('RCPT To:<alice@example.com>')).toMatch(/^250 /);
    expect(await client.command('DATA')).toMatch(/^354 /);
    expect(await client.command(`Subject: ${subject}\r\n\r\nbody\r\n.`)).toMatch(/^250 2\.6\.0 OK /);
    expect(await client.command('QUIT')).toMatch(/^221 /);
    client.close();
  }

  /** No mode file, as before the first setMode: the tests below that need it do not rely on running first. */
  const withoutModeFile = () => rm(smartHostModeFile(modesDir), { force: true });

  it('is normal without a mode file, and records connection, STARTTLS, AUTH and message, never the password', async () => {
    await withoutModeFile();
    const events = await eventsOf(async () => sendOne(await secureSession(modeSocket), 'normal mode'));
    expect(new Set(events.map((e) => e.connection)).size).toBe(1);
    expect(withoutTimes(events)).toEqual([
      { kind: 'connection', mode: 'normal', remote: 'unix' },
      { kind: 'starttls', protocol: 'TLSv1.3' },
      { kind: 'auth', user: USER, mechanism: 'PLAIN', tls: true, code: 235, client: 'h1.sandbox.test' },
      { kind: 'envelope', command: 'MAIL', address: 'root@h1.sandbox.test', code: 250, user: USER, tls: true },
      { kind: 'envelope', command: 'RCPT', address: 'alice@example.com', code: 250, user: USER, tls: true },
      {
        kind: 'message',
        id: expect.any(String),
        user: USER,
        tls: true,
        mailFrom: 'root@h1.sandbox.test',
        rcptTo: ['alice@example.com'],
        client: 'h1.sandbox.test',
      },
    ]);
    expect(Number.isNaN(Date.parse(events[0].at))).toBe(false);
    const text = await readFile(smartHostEventsFile(modesDir), 'utf8');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(plainToken(USER, PASSWORD));
  });

  it('records AUTH sent in the clear in the normal mode (530, no user read), without the credentials', async () => {
    await withoutModeFile();
    const events = await eventsOf(async () => {
      const { client } = await RawSmtp.connect(modeSocket);
      await client.command('EHLO h1.sandbox.test');
      expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toBe('530 5.7.0 Must issue a STARTTLS command first');
      client.close();
    });
    expect(withoutTimes(events)).toEqual([
      { kind: 'connection', mode: 'normal', remote: 'unix' },
      { kind: 'auth', user: null, mechanism: 'PLAIN', tls: false, code: 530, client: 'h1.sandbox.test' },
    ]);
    expect(await readFile(smartHostEventsFile(modesDir), 'utf8')).not.toContain(plainToken(USER, PASSWORD));
  });

  it('no-starttls: offers no STARTTLS but AUTH, and takes AUTH and mail in the clear', async () => {
    await setMode({ mode: 'no-starttls' });
    const events = await eventsOf(async () => {
      const { client } = await RawSmtp.connect(modeSocket);
      const ehlo = await client.command('EHLO h1.sandbox.test');
      expect(ehlo).not.toContain('STARTTLS');
      expect(ehlo).toContain('AUTH PLAIN LOGIN');
      expect(await client.command('STARTTLS')).toMatch(/^5\d\d /);
      await sendOne(client, 'in the clear');
    });
    expect(withoutTimes(events)).toEqual([
      { kind: 'connection', mode: 'no-starttls', remote: 'unix' },
      { kind: 'auth', user: USER, mechanism: 'PLAIN', tls: false, code: 235, client: 'h1.sandbox.test' },
      expect.objectContaining({ kind: 'envelope', command: 'MAIL', code: 250, tls: false }),
      expect.objectContaining({ kind: 'envelope', command: 'RCPT', code: 250, tls: false }),
      expect.objectContaining({ kind: 'message', user: USER, tls: false }),
    ]);
    expect(await waitForMessage(modeStore, bySubject('in the clear'), 2000)).toMatchObject({ authUser: USER, tls: false });

    // a client that requires TLS gives up before AUTH: what the events let a test prove
    const refused = await eventsOf(async () => {
      const send = unixTransport({ user: USER, pass: PASSWORD }, 'PLAIN', modeSocket).sendMail({
        from: 'root@h1.sandbox.test',
        to: 'alice@example.com',
        subject: 'never',
        text: 'x',
      });
      await expect(send).rejects.toThrow();
    });
    expect(refused.map((e) => e.kind)).toEqual(['connection']);
  });

  it('untrusted-cert: STARTTLS with a certificate for the right name from a CA the clients do not trust', async () => {
    await setMode({ mode: 'untrusted-cert' });
    const { client } = await RawSmtp.connect(modeSocket);
    expect(await client.command('EHLO h1.sandbox.test')).toContain('STARTTLS');
    await expect(client.startTls(caPem, HOSTNAME)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    client.close();
    // control: the same certificate verifies against the rogue CA, for the right name
    const { client: trusting } = await RawSmtp.connect(modeSocket);
    await trusting.command('EHLO h1.sandbox.test');
    expect(await trusting.startTls(rogueCaPem, HOSTNAME)).toMatch(/^220 /);
    trusting.close();
  });

  it('wrong-name-cert: STARTTLS with a certificate from the trusted CA for another name', async () => {
    await setMode({ mode: 'wrong-name-cert' });
    const { client } = await RawSmtp.connect(modeSocket);
    await client.command('EHLO h1.sandbox.test');
    await expect(client.startTls(caPem, HOSTNAME)).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    client.close();
    // control: the trusted CA signed it, for the other name (CN and SAN)
    const { client: other } = await RawSmtp.connect(modeSocket);
    await other.command('EHLO h1.sandbox.test');
    expect(await other.startTls(caPem, OTHER_NAME)).toMatch(/^220 /);
    other.close();
    const cert = new X509Certificate(await readFile(join(dir, 'ca', `${OTHER_NAME}.crt`)));
    expect(cert.subject).toBe(`CN=${OTHER_NAME}`);
    expect(cert.subjectAltName).toBe(`DNS:${OTHER_NAME}`);
  });

  it('a failed handshake with an OpenSSL client (as in sendmail) is recorded as tls-failed', async () => {
    await setMode({ mode: 'untrusted-cert' });
    const caFile = join(dir, 'ca', 'ca.crt');
    const events = await eventsOf(async () => {
      const r = await sClient([
        '-unix',
        modeSocket,
        '-starttls',
        'smtp',
        '-name',
        'h1.sandbox.test',
        '-CAfile',
        caFile,
        '-verify_return_error',
      ]);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(/unable to get local issuer certificate/);
    });
    expect(events.map((e) => e.kind)).toEqual(['connection', 'tls-failed']);
    expect(events[1]).toMatchObject({ error: expect.stringMatching(/alert unknown ca/) });
    // the daemon logs these; expected here
    expect(new Set(errors.map((e) => e.message))).toEqual(new Set(['Failed to establish TLS session']));
    errors.length = 0;
  });

  it('tempfail: 421 4.7.0 in the greeting, then the connection closes', async () => {
    await setMode({ mode: 'tempfail' });
    const events = await eventsOf(async () => {
      const { client, greeting } = await RawSmtp.connect(modeSocket);
      expect(greeting).toBe('421 4.7.0 Try again later, closing connection.');
      await expect(client.reply()).rejects.toThrow(/connection closed/);
      client.close();
      const send = unixTransport({ user: USER, pass: PASSWORD }, 'PLAIN', modeSocket).sendMail({
        from: 'root@h1.sandbox.test',
        to: 'alice@example.com',
        subject: 'deferred',
        text: 'x',
      });
      await expect(send).rejects.toMatchObject({ responseCode: 421 });
    });
    expect(withoutTimes(events)).toEqual([
      { kind: 'connection', mode: 'tempfail', remote: 'unix' },
      { kind: 'connection', mode: 'tempfail', remote: 'unix' },
    ]);
  });

  it('starttls-injection: pipelines an EHLO reply and a 235 behind its 220 to STARTTLS, then answers AUTH inside TLS with 535', async () => {
    await setMode({ mode: 'starttls-injection' });
    const events = await eventsOf(async () => {
      const { client } = await RawSmtp.connect(modeSocket);
      expect(await client.command('EHLO h1.sandbox.test')).toContain('STARTTLS');
      // RawSmtp keeps its buffer across the upgrade, as a vulnerable client does: the injected
      // plaintext comes out as the first "replies" once TLS is up
      expect(await client.startTls(caPem, HOSTNAME)).toBe('220 2.0.0 Ready to start TLS');
      expect(await client.reply()).toBe('250-smtp.sandbox.test\r\n250 AUTH PLAIN');
      expect(await client.reply()).toBe('235 2.7.0 Accepted');
      // what the server itself says inside TLS: the certificate was the good one, the credentials are refused
      expect(await client.command('EHLO h1.sandbox.test')).toMatch(/^250-/);
      expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toBe('535 5.7.8 Username and Password not accepted');
      client.close();
    });
    expect(withoutTimes(events)).toEqual([
      { kind: 'connection', mode: 'starttls-injection', remote: 'unix' },
      { kind: 'starttls', protocol: 'TLSv1.3' },
      { kind: 'auth', user: USER, mechanism: 'PLAIN', tls: true, code: 535, client: 'h1.sandbox.test' },
    ]);
    await setMode({ mode: 'normal' });
  });

  it('a switch applies to the next connection, not to open ones', async () => {
    await setMode({ mode: 'normal' });
    const { client: open, greeting } = await RawSmtp.connect(modeSocket);
    expect(greeting).toMatch(/^220 /);
    await setMode({ mode: 'tempfail' });
    const { client: next, greeting: refused } = await RawSmtp.connect(modeSocket);
    expect(refused).toMatch(/^421 /);
    next.close();
    expect(await open.command('EHLO h1.sandbox.test')).toMatch(/^250/);
    open.close();
    await setMode({ mode: 'normal' });
    const { client: after, greeting: again } = await RawSmtp.connect(modeSocket);
    expect(again).toMatch(/^220 /);
    after.close();
  });

  it('a password override refuses the old password with 535 5.7.8 and takes the new one', async () => {
    await setMode({ mode: 'normal', password: 'rotated-5678' });
    const events = await eventsOf(async () => {
      const client = await secureSession(modeSocket);
      expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toBe('535 5.7.8 Username and Password not accepted');
      expect(await client.command(`AUTH PLAIN ${plainToken(USER, 'rotated-5678')}`)).toBe('235 2.7.0 Authentication successful');
      client.close();
    });
    expect(events.filter((e) => e.kind === 'auth').map((e) => e.code)).toEqual([535, 235]);
    expect(await readFile(smartHostEventsFile(modesDir), 'utf8')).not.toContain('rotated-5678');
    await setMode({ mode: 'normal' });
    const client = await secureSession(modeSocket);
    expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toMatch(/^235 /);
    client.close();
  });

  it("answers the app-password account with Gmail's multi-line 534 5.7.9, for PLAIN and LOGIN", async () => {
    await setMode({ mode: 'normal' });
    const events = await eventsOf(async () => {
      const client = await secureSession(modeSocket);
      expect(await client.command(`AUTH PLAIN ${plainToken(APP_USER, 'any password')}`)).toBe(APP_PASSWORD_REPLY);
      expect(await client.command('AUTH LOGIN')).toMatch(/^334 /);
      expect(await client.command(b64(APP_USER))).toMatch(/^334 /);
      expect(await client.command(b64('any password'))).toBe(APP_PASSWORD_REPLY);
      client.close();
      const send = unixTransport({ user: APP_USER, pass: 'x' }, 'PLAIN', modeSocket).sendMail({
        from: 'root@h1.sandbox.test',
        to: 'alice@example.com',
        subject: 'never',
        text: 'x',
      });
      await expect(send).rejects.toMatchObject({ responseCode: 534 });
    });
    const auths = events.filter((e) => e.kind === 'auth');
    expect(auths.map((e) => [e.user, e.mechanism, e.tls, e.code])).toEqual([
      [APP_USER, 'PLAIN', true, 534],
      [APP_USER, 'LOGIN', true, 534],
      [APP_USER, 'PLAIN', true, 534],
    ]);
  });

  it('refuses a bad mode from the API; a bad mode file gets 421 4.3.0 and an error, not the normal mode', async () => {
    await expect(setMode({ mode: 'bogus' } as unknown as SmartHostMode)).rejects.toThrow(SandboxError);
    await expect(setMode({ mode: 'normal', pasword: 'x' } as unknown as SmartHostMode)).rejects.toThrow(/unknown field\(s\): pasword/);
    await expect(setMode({ mode: 'normal', password: '' })).rejects.toThrow(/non-empty/);
    await writeFile(smartHostModeFile(modesDir), '{"mode": "tempfai');
    const events = await eventsOf(async () => {
      const { client, greeting } = await RawSmtp.connect(modeSocket);
      expect(greeting).toMatch(/^421 4\.3\.0 Smart host mode unreadable: .*smarthost-mode\.json/);
      client.close();
    });
    expect(events).toEqual([expect.objectContaining({ kind: 'connection', mode: null, error: expect.stringContaining('JSON') })]);
    expect(errors.map((e) => e.message).join('\n')).toContain('smarthost-mode.json');
    errors.length = 0;
    await setMode({ mode: 'normal' });
  });
});

describe('readSmartHostEvents', () => {
  it('returns [] before any event, and leaves a line still being written for the next read', async () => {
    const own = await mkdtemp(join(dir, 'events-'));
    expect(await readSmartHostEvents({ dir: own })).toEqual([]);
    const line = JSON.stringify({ at: '2024-01-01T00:00:00.000Z', connection: 'c1', kind: 'starttls', protocol: 'TLSv1.3' });
    await writeFile(smartHostEventsFile(own), `${line}\n{"at":"2024-01-01T00:00:01`);
    expect(await readSmartHostEvents({ dir: own })).toEqual([JSON.parse(line)]);
  });
});

/** openssl s_client, as sendmail's OpenSSL would verify; stdin closed so it ends after the handshake. */
function sClient(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('close', (code) => resolve({ code, output }));
  });
}

// A smart host of its own per test, closed before the check: close() waits for the server's side of
// every connection, so an error reported late still lands in the list.
async function errorsOf(conversation: (socket: string, store: string) => Promise<void>): Promise<Error[]> {
  const own = await mkdtemp(join(dir, 'errors-'));
  const found: Error[] = [];
  const socket = join(own, 'smarthost.sock');
  const store = join(own, 'store');
  const server = await startSmartHost({
    listen: { path: socket },
    tls: tlsPem,
    users: { [USER]: PASSWORD },
    storeDir: store,
    hostname: HOSTNAME,
    onError: (err) => found.push(err),
  });
  try {
    await conversation(socket, store);
  } finally {
    await server.close();
  }
  return found;
}

describe('smart host error reporting', () => {
  it('reports no server error for well-behaved and refused conversations', async () => {
    const found = await errorsOf(async (socket, store) => {
      await unixTransport({ user: USER, pass: PASSWORD }, 'LOGIN', socket).sendMail({
        from: 'root@h1.sandbox.test',
        to: 'alice@example.com',
        subject: 'via nodemailer',
        text: 'x',
      });
      const { client } = await RawSmtp.connect(socket);
      await client.command('EHLO h1.sandbox.test');
      await client.startTls(caPem, HOSTNAME);
      await client.command('EHLO h1.sandbox.test');
      expect(await client.command(`AUTH PLAIN ${plainToken(USER, 'wrong')}`)).toMatch(/^535 /);
      expect(await client.command(`AUTH PLAIN ${plainToken(USER, PASSWORD)}`)).toMatch(/^235 /);
      expect(await client.command('MAIL From:<root@h1.sandbox.test> SIZE=10 AUTH=<>')).toMatch(/^250 /);
      expect(await client.command('RCPT To:<alice@example.com>')).toMatch(/^250 /);
      expect(await client.command('DATA')).toMatch(/^354 /);
      expect(await client.command('Subject: no errors\r\n\r\nbody\r\n.')).toMatch(/^250 2\.6\.0 OK /);
      expect(await client.command('QUIT')).toMatch(/^221 /);
      client.close();
      // a client that hangs up without QUIT, outside a transaction, is no server error either
      const { client: rude } = await RawSmtp.connect(socket);
      await rude.command('EHLO h1.sandbox.test');
      rude.close();
      expect((await readMessages(store)).map((m) => m.subject)).toEqual(['via nodemailer', 'no errors']);
    });
    expect(found).toEqual([]);
  });

  it('does report an error (control: the check above can fail)', async () => {
    // a failed TLS handshake after STARTTLS is a server-side error
    const found = await errorsOf(async (socket) => {
      const { client, greeting } = await RawSmtp.connect(socket);
      expect(greeting).toMatch(/^220 /);
      await client.command('EHLO h1.sandbox.test');
      expect(await client.command('STARTTLS')).toMatch(/^220 /);
      await client.command('this is no TLS ClientHello').catch(() => 'closed');
      client.close();
    });
    expect(found.map((e) => e.message).join('\n')).toMatch(/wrong version number/);
  });
});

describe('smart host listeners', () => {
  it('listens on a loopback TCP port and reports the bound port', async () => {
    const tcp = await startSmartHost({
      listen: { host: '127.0.0.1', port: 0 },
      tls: tlsPem,
      users: { [USER]: PASSWORD },
      storeDir,
    });
    try {
      expect(typeof tcp.address).toBe('number');
      const { client, greeting } = await RawSmtp.connect(tcp.address);
      expect(greeting).toMatch(/^220 /);
      client.close();
    } finally {
      await tcp.close();
    }
  });

  it('refuses a non-loopback host', async () => {
    const listen = { host: '0.0.0.0', port: 0 } as unknown as { host: '127.0.0.1'; port: number };
    await expect(startSmartHost({ listen, tls: tlsPem, users: {}, storeDir })).rejects.toThrow(/127\.0\.0\.1 only/);
  });

  it('replaces a stale socket file but not a live one, and removes its socket on close', async () => {
    const path = join(dir, 'stale.sock');
    const leftover = net.createServer();
    await new Promise<void>((resolve) => leftover.listen(path, resolve));
    // Refused while something still listens there.
    await expect(startSmartHost({ listen: { path }, tls: tlsPem, users: {}, storeDir })).rejects.toThrow(/in use/);
    // A crashed process leaves the socket file behind without a listener.
    leftover.close();
    const stale = await recreateStaleSocket(path);
    expect(stale).toBe(true);

    const second = await startSmartHost({ listen: { path }, tls: tlsPem, users: {}, storeDir });
    const { client, greeting } = await RawSmtp.connect(path);
    expect(greeting).toMatch(/^220 /);
    client.close();
    await second.close();
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to replace a regular file', async () => {
    const path = join(dir, 'not-a-socket');
    await writeFile(path, 'keep me');
    await expect(startSmartHost({ listen: { path }, tls: tlsPem, users: {}, storeDir })).rejects.toThrow(/not a socket/);
    expect(await readFile(path, 'utf8')).toBe('keep me');
  });
});

// Node removes the socket file on close(); a SIGKILLed process does not. Recreate that state
// by binding a socket in a child process and killing it.
async function recreateStaleSocket(path: string): Promise<boolean> {
  const script = `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`;
  await new Promise<void>((resolve) => spawn(process.execPath, ['-e', script]).once('exit', () => resolve()));
  return (await stat(path)).isSocket();
}

describe('readMessages / waitForMessage', () => {
  it('returns [] for a store that does not exist yet', async () => {
    expect(await readMessages(join(dir, 'nowhere'))).toEqual([]);
  });

  it('sorts by receivedAt and ignores unfinished temp files', async () => {
    const store = join(dir, 'sorted');
    await mkdir(store);
    await writeFile(join(store, 'b.json'), JSON.stringify(fakeMessage('b', '2024-01-01T00:00:02.000Z')));
    await writeFile(join(store, 'a.json'), JSON.stringify(fakeMessage('a', '2024-01-01T00:00:01.000Z')));
    await writeFile(join(store, '.c.tmp'), '{"half":');
    expect((await readMessages(store)).map((m) => m.id)).toEqual(['a', 'b']);
  });

  it('waits for a message that arrives later', async () => {
    const store = join(dir, 'later');
    setTimeout(() => {
      void mkdir(store).then(() => writeFile(join(store, 'x.json'), JSON.stringify(fakeMessage('x', new Date().toISOString()))));
    }, 250);
    expect((await waitForMessage(store, (m) => m.id === 'x', 3000)).id).toBe('x');
  });

  it('times out with a list of what did arrive', async () => {
    const store = join(dir, 'timeout');
    await mkdir(store);
    await writeFile(join(store, 'm1.json'), JSON.stringify(fakeMessage('m1', '2024-01-01T00:00:01.000Z')));
    const started = Date.now();
    const wait = waitForMessage(store, (m) => m.subject === 'missing', 300);
    await expect(wait).rejects.toThrow(
      /no matching message in .*timeout after 300 ms; 1 message\(s\) arrived:\n {2}- .*m1: from <root@h1\.sandbox\.test> to <a@example\.com> subject "hello m1"/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('says so when nothing arrived at all', async () => {
    await expect(waitForMessage(join(dir, 'empty'), () => true, 150)).rejects.toThrow(/no messages arrived at all/);
  });
});

describe('smarthost daemon', () => {
  it('starts from a config file, writes its pid file, and stops on SIGTERM', async () => {
    const daemonDir = join(dir, 'daemon');
    await mkdir(daemonDir);
    const otherName = await issueServerCert(join(dir, 'ca'), 'other.sandbox.test');
    const config = {
      socketPath: join(daemonDir, 'smarthost.sock'),
      certPath: join(dir, 'ca', `${HOSTNAME}.crt`),
      keyPath: join(dir, 'ca', `${HOSTNAME}.key`),
      badCerts: { 'wrong-name-cert': { certPath: otherName.cert, keyPath: otherName.key } },
      users: { [USER]: PASSWORD },
      modeFile: smartHostModeFile(daemonDir),
      eventsFile: smartHostEventsFile(daemonDir),
      storeDir: join(daemonDir, 'store'),
      pidFile: join(daemonDir, 'smarthost.pid'),
    };
    const configPath = join(daemonDir, 'config.json');
    await writeFile(configPath, JSON.stringify(config));

    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sandbox/smarthost-daemon.ts', configPath], {
      cwd: join(import.meta.dirname, '../../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const pid = await waitForFile(config.pidFile, 15_000, () => output);
      expect(Number(pid.trim())).toBe(child.pid);
      const { client, greeting } = await RawSmtp.connect(config.socketPath);
      expect(greeting).toMatch(/^220 /);
      client.close();
      // the modes reach the daemon through its folder, its bad certificates through its config
      await setSmartHostMode({ dir: daemonDir }, { mode: 'wrong-name-cert' });
      const { client: other } = await RawSmtp.connect(config.socketPath);
      await other.command('EHLO h1.sandbox.test');
      expect(await other.startTls(caPem, 'other.sandbox.test')).toMatch(/^220 /);
      other.close();
      await setSmartHostMode({ dir: daemonDir }, { mode: 'tempfail' });
      const { client: refused, greeting: tempfail } = await RawSmtp.connect(config.socketPath);
      expect(tempfail).toMatch(/^421 4\.7\.0 /);
      refused.close();
      const events = await readSmartHostEvents({ dir: daemonDir });
      expect(events.filter((e) => e.kind === 'connection').map((e) => e.mode)).toEqual(['normal', 'wrong-name-cert', 'tempfail']);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toBe('');
    await expect(stat(config.pidFile)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 30_000);
});

async function waitForFile(path: string, timeoutMs: number, output: () => string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await readFile(path, 'utf8');
    } catch {
      if (Date.now() > deadline) throw new Error(`${path} did not appear; daemon output: ${output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function fakeMessage(id: string, receivedAt: string): StoredMessage {
  return {
    id,
    receivedAt,
    authUser: USER,
    mailFrom: 'root@h1.sandbox.test',
    rcptTo: ['a@example.com'],
    tls: true,
    remoteAddress: 'unix',
    subject: `hello ${id}`,
    raw: `Subject: hello ${id}\r\n\r\nbody\r\n`,
  };
}
