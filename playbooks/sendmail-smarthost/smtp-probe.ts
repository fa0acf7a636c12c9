// The smart-host probe's SMTP client: greeting, EHLO, STARTTLS with the certificate checked
// against the relay host's own CA bundle, EHLO again, AUTH with the configured credentials, QUIT.
// No mail is sent. It speaks over any duplex stream (a TCP connection the relay host made, in
// production), so the network path checked is the relay's own.
//
// It takes the steps sendmail takes with the mc and access map mailprov renders: STARTTLS whenever
// the server offers it (sendmail's default, whatever the policy), and the policy only decides what
// happens next: 'verify' and 'encrypt' (TLS_Srv VERIFY / ENCR) need TLS, 'none' goes on without it.
//
// Written here rather than taken from nodemailer: its client wants a net.Socket and reports one
// error per failure, while the probe must say which step failed and keep every server reply.
import type { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import { createSecureContext, connect as tlsConnect, type SecureContext, type TLSSocket } from 'node:tls';

export type TlsPolicy = 'verify' | 'encrypt' | 'none';

export interface SmtpProbeOptions {
  /** The smart host's name: TLS SNI and the name its certificate must carry. */
  serverName: string;
  tls: TlsPolicy;
  /** PEM bundle the certificate must chain to (the relay host's). */
  ca?: string;
  ehloName: string;
  auth?: { user: string; password: string; mechanisms: string[] };
  /** Send AUTH without TLS (policy 'none' and a server without STARTTLS): only when the settings say so by name. */
  allowPlaintextAuth?: boolean;
  /**
   * After AUTH (or without it): MAIL FROM this sender, RCPT TO this recipient, then RSET, never
   * DATA. Proves that a smart host authorising the relay by its IP takes this relay for this sender.
   */
  envelope?: { from: string; to: string };
  /** Per reply. */
  timeoutMs?: number;
}

export type ProbeStep = 'greeting' | 'ehlo' | 'starttls' | 'tls' | 'auth' | 'mail' | 'rcpt' | 'rset';

export interface ProbeFailure {
  step: ProbeStep;
  /** The server's reply (all lines), when it gave one. */
  reply?: string;
  /** What went wrong otherwise: a TLS error code, a timeout, a missing capability. */
  code?: string;
  detail: string;
}

export interface SmtpProbeResult {
  ok: boolean;
  failure?: ProbeFailure;
  /** Server replies ("S: 250-...") and our commands ("C: EHLO ..."), the AUTH data masked. */
  transcript: string[];
  /** The certificate's subject CN and issuer CN, when TLS was set up. */
  certificate?: { subject: string; issuer: string; names: string; expiresAt: number | null };
  /** The mechanism AUTH used, when it succeeded. */
  mechanism?: string;
  /** Set when the server offered AUTH before STARTTLS: a password there would go in the clear. */
  authOfferedInClear?: boolean;
  /** Whether the session went on over TLS (AUTH, if any, inside it). */
  tls?: boolean;
  /** Set when the smart host took MAIL FROM and RCPT TO (then RSET; no DATA was sent). */
  envelopeAccepted?: boolean;
}

interface Reply {
  code: number;
  lines: string[];
  text: string;
}

class ProbeError extends Error {
  constructor(readonly failure: ProbeFailure) {
    super(failure.detail);
  }
}

/** Reads SMTP replies (multi-line ones whole) from whichever stream is current. */
class ReplyReader {
  private buffer = '';
  private waiting?: { resolve(r: Reply): void; reject(e: Error): void };
  private ended?: Error;
  private stream?: Duplex;
  private readonly onData = (d: Buffer) => {
    this.buffer += d.toString('latin1');
    this.deliver();
  };
  private readonly onEnd = () => this.fail(new Error('the server closed the connection'));
  private readonly onError = (e: Error) => this.fail(e);

  attach(stream: Duplex): void {
    this.detach();
    this.stream = stream;
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('error', this.onError);
  }

  detach(): void {
    this.stream?.off('data', this.onData);
    this.stream?.off('end', this.onEnd);
    this.stream?.off('error', this.onError);
    this.stream = undefined;
  }

  /**
   * Drops and returns what arrived that no reply was asked for yet (a server talking out of turn).
   * After the reply to STARTTLS that is plaintext someone slipped in ahead of TLS: never to be read.
   */
  takeUnread(): string {
    const unread = this.buffer;
    this.buffer = '';
    return unread;
  }

  next(timeoutMs: number): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        reject(Object.assign(new Error(`no reply within ${timeoutMs / 1000} s`), { code: 'TIMEOUT' }));
      }, timeoutMs);
      this.waiting = {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.deliver();
    });
  }

  private deliver(): void {
    if (!this.waiting) return;
    const lines = this.buffer.split('\r\n');
    const done = lines.findIndex((l, i) => i < lines.length - 1 && /^\d{3}(?!-)/.test(l));
    if (done === -1) {
      if (this.ended) this.settle(undefined, this.ended);
      return;
    }
    const reply = lines.slice(0, done + 1);
    this.buffer = lines.slice(done + 1).join('\r\n');
    this.settle({ code: Number(reply[done].slice(0, 3)), lines: reply, text: reply.join('\n') });
  }

  private fail(e: Error): void {
    this.ended ??= e;
    this.deliver();
  }

  private settle(reply?: Reply, err?: Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (reply) w?.resolve(reply);
    else if (err) w?.reject(err);
  }
}

/** EHLO keywords ("250-AUTH PLAIN LOGIN" -> AUTH: [PLAIN, LOGIN]). */
export function capabilities(reply: { lines: string[] }): Map<string, string[]> {
  const caps = new Map<string, string[]>();
  for (const line of reply.lines.slice(1)) {
    const [keyword, ...params] = line.slice(4).trim().split(/\s+/);
    if (keyword)
      caps.set(
        keyword.toUpperCase(),
        params.map((p) => p.toUpperCase()),
      );
  }
  return caps;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

export async function smtpProbe(stream: Duplex, opts: SmtpProbeOptions): Promise<SmtpProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const result: SmtpProbeResult = { ok: false, transcript: [] };
  const reader = new ReplyReader();
  let current: Duplex = stream;
  reader.attach(current);

  const read = async (step: ProbeStep): Promise<Reply> => {
    try {
      const r = await reader.next(timeoutMs);
      for (const l of r.lines) result.transcript.push(`S: ${l}`);
      return r;
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new ProbeError({ step, code: e.code === 'TIMEOUT' ? 'TIMEOUT' : 'CLOSED', detail: e.message });
    }
  };
  // `shown` is what the transcript keeps of the command: never the AUTH data
  const send = (line: string, shown = line) => {
    result.transcript.push(`C: ${shown}`);
    current.write(`${line}\r\n`);
  };
  const expect = async (step: ProbeStep, want: number): Promise<Reply> => {
    const r = await read(step);
    if (r.code !== want) throw new ProbeError({ step, reply: r.text, detail: `${step}: the server answered ${r.lines.at(-1)}` });
    return r;
  };

  try {
    await expect('greeting', 220);
    let caps = capabilities(await expectEhlo());
    result.authOfferedInClear = caps.has('AUTH');
    // sendmail starts TLS whenever it is offered, under every policy ('none' included)
    if (caps.has('STARTTLS')) {
      send('STARTTLS');
      await expect('starttls', 220);
      refuseInjected(reader.takeUnread());
      const secure = await startTls(stream, reader, opts);
      current = secure;
      result.tls = true;
      result.certificate = describeCertificate(secure);
      caps = capabilities(await expectEhlo());
    } else if (opts.tls !== 'none') {
      throw new ProbeError({ step: 'starttls', code: 'NO_STARTTLS', detail: 'the server does not offer STARTTLS' });
    } else {
      result.tls = false;
      if (opts.auth && !opts.allowPlaintextAuth)
        throw new ProbeError({
          step: 'auth',
          code: 'PLAINTEXT_AUTH',
          detail: 'the server does not offer STARTTLS, and the password is sent in the clear only with allowPlaintextAuth',
        });
    }
    if (opts.auth) await authenticate(caps, opts.auth);
    if (opts.envelope) await tryEnvelope(opts.envelope);
    send('QUIT');
    await read('auth').catch(() => undefined); // a server may close without its 221
    result.ok = true;
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    result.failure = err.failure;
  } finally {
    reader.detach();
    // errors of a stream being torn down are of no interest now, but must not go unhandled
    for (const s of [current, stream]) s.on('error', () => {});
    current.destroy();
    stream.destroy();
  }
  return result;

  async function expectEhlo(): Promise<Reply> {
    send(`EHLO ${opts.ehloName}`);
    return expect('ehlo', 250);
  }

  // 251 ("will forward") takes the recipient as well as 250 does
  async function tryEnvelope(envelope: { from: string; to: string }): Promise<void> {
    send(`MAIL FROM:<${envelope.from}>`);
    await expect('mail', 250);
    send(`RCPT TO:<${envelope.to}>`);
    const r = await read('rcpt');
    if (r.code !== 250 && r.code !== 251)
      throw new ProbeError({ step: 'rcpt', reply: r.text, detail: `rcpt: the server answered ${r.lines.at(-1)}` });
    send('RSET');
    await expect('rset', 250);
    result.envelopeAccepted = true;
  }

  async function authenticate(caps: Map<string, string[]>, auth: NonNullable<SmtpProbeOptions['auth']>): Promise<void> {
    const offered = caps.get('AUTH') ?? [];
    const mechanism = auth.mechanisms.map((m) => m.toUpperCase()).find((m) => (m === 'PLAIN' || m === 'LOGIN') && offered.includes(m));
    if (!mechanism) {
      const why = offered.length
        ? `the server offers AUTH ${offered.join(' ')}; the probe speaks PLAIN and LOGIN of the configured ${auth.mechanisms.join(' ')}`
        : 'the server offers no AUTH';
      throw new ProbeError({ step: 'auth', code: 'NO_MECHANISM', detail: why });
    }
    let r: Reply;
    if (mechanism === 'PLAIN') {
      send(`AUTH PLAIN ${b64(`\0${auth.user}\0${auth.password}`)}`, 'AUTH PLAIN ********');
      r = await read('auth');
    } else {
      send('AUTH LOGIN');
      r = await read('auth');
      if (r.code === 334) {
        send(b64(auth.user), '********');
        r = await read('auth');
      }
      if (r.code === 334) {
        send(b64(auth.password), '********');
        r = await read('auth');
      }
    }
    if (r.code !== 235)
      throw new ProbeError({ step: 'auth', reply: r.text, detail: `AUTH ${mechanism}: the server answered ${r.lines.at(-1)}` });
    result.mechanism = mechanism;
  }
}

/**
 * The server's 220 to STARTTLS must be the last plaintext byte: anything after it in the same read
 * was sent before TLS began, and would otherwise be taken as the first replies inside TLS (a "250
 * AUTH", a "235" to AUTH) by a client that keeps its read buffer across the upgrade. That is how a
 * man in the middle answers for the server (CVE-2011-0411 and its kin). Discarding it would hide the
 * attack from the operator, so the probe stops there, before TLS and before any password, and says so.
 */
function refuseInjected(unread: string): void {
  if (unread === '') return;
  const shown = JSON.stringify(unread.length > 80 ? `${unread.slice(0, 77)}...` : unread);
  throw new ProbeError({
    step: 'starttls',
    code: 'STARTTLS_INJECTION',
    detail: `${Buffer.byteLength(unread, 'latin1')} bytes arrived after the 220 reply to STARTTLS, before TLS began: ${shown}`,
  });
}

function startTls(raw: Duplex, reader: ReplyReader, opts: SmtpProbeOptions): Promise<TLSSocket> {
  // the TLS layer reads the raw stream from here on: our reader must let go of it first
  reader.detach();
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      socket: raw,
      servername: opts.serverName,
      secureContext: opts.ca ? contextFor(opts.ca) : undefined,
      rejectUnauthorized: opts.tls === 'verify',
    });
    const fail = (err: Error & { code?: string }) =>
      reject(new ProbeError({ step: 'tls', code: err.code ?? 'TLS_ERROR', detail: `TLS with ${opts.serverName}: ${err.message}` }));
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      socket.off('error', fail);
      reader.attach(socket);
      resolve(socket);
    });
  });
}

// Parsing a system bundle (some 140 certificates) costs milliseconds of CPU per connection; a fleet
// shares one or two bundles, so each is parsed once per run.
const contexts = new Map<string, SecureContext>();
function contextFor(ca: string): SecureContext {
  const key = createHash('sha256').update(ca).digest('hex');
  let context = contexts.get(key);
  if (!context) {
    context = createSecureContext({ ca });
    contexts.set(key, context);
  }
  return context;
}

function describeCertificate(socket: TLSSocket): SmtpProbeResult['certificate'] {
  const cert = socket.getPeerCertificate();
  if (!cert?.subject) return undefined;
  const cn = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v ?? ''));
  // notAfter, in seconds since the epoch (what `status` reports as the certificate's expiry)
  const notAfter = Date.parse(cert.valid_to);
  return {
    subject: cn(cert.subject.CN),
    issuer: cn(cert.issuer?.CN),
    names: cert.subjectaltname ?? '',
    expiresAt: Number.isNaN(notAfter) ? null : Math.floor(notAfter / 1000),
  };
}
