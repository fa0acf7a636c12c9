// What a LAN client does, run inside the client's network namespace by lan.ts (nsenter): reads one
// request as JSON on stdin, writes its outcome as JSON on stdout. A real SMTP client (nodemailer)
// submits, as a machine of the office would: port 25, no AUTH, no STARTTLS.
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import nodemailer from 'nodemailer';
import type { LanConnectResult, LanSubmitResult } from './lan.ts';

interface Request {
  kind: 'connect' | 'submit' | 'ehlo';
  address: string;
  port: number;
  timeoutMs: number;
  from?: string;
  to?: string;
  subject?: string;
  text?: string;
  /** ehlo: the reply after STARTTLS rather than in the clear. */
  starttls?: boolean;
  /** Submission: STARTTLS required (any certificate), then AUTH as this user. */
  auth?: { user: string; pass: string };
}

const outcomeOf = (code: string | undefined): LanConnectResult['outcome'] =>
  code === 'ECONNREFUSED' ? 'refused' : code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EACCES' ? 'unreachable' : 'timeout';

function tcp(req: Request): Promise<LanConnectResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: req.address, port: req.port });
    const done = (r: LanConnectResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ outcome: 'timeout', detail: `no answer within ${req.timeoutMs} ms` }), req.timeoutMs);
    let greeting = '';
    socket.on('data', (d) => {
      greeting += d.toString('latin1');
      if (greeting.includes('\n')) done({ outcome: 'open', detail: greeting.split(/\r?\n/)[0] });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done({ outcome: outcomeOf(err.code), detail: err.code ?? err.message }));
  });
}

async function submit(req: Request): Promise<LanSubmitResult> {
  const transport = nodemailer.createTransport({
    host: req.address,
    port: req.port,
    secure: false,
    // submission (issue 32): STARTTLS first, then AUTH; the relay's certificate is not what is tested
    ...(req.auth ? { requireTLS: true, tls: { rejectUnauthorized: false }, auth: req.auth } : { ignoreTLS: true }),
    name: 'client.lan.sandbox.test',
    connectionTimeout: req.timeoutMs,
    greetingTimeout: req.timeoutMs,
    socketTimeout: req.timeoutMs,
  });
  try {
    const info = await transport.sendMail({
      from: req.from,
      to: req.to,
      subject: req.subject,
      text: req.text ?? 'sent from the sandbox LAN\n',
    });
    return { accepted: info.accepted.length > 0, response: info.response };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { response?: string };
    // a failed connection: nodemailer says ESOCKET or ETIMEDOUT, the socket's own code is in the message
    const code = e.response ? undefined : (/\b(E[A-Z]{4,})\b/.exec(e.message)?.[1] ?? e.code);
    return { accepted: false, response: e.response ?? e.message, ...(code ? { code } : {}) };
  } finally {
    transport.close();
  }
}

/**
 * The EHLO reply in the clear: the extensions the server offers before TLS; with `starttls`, the
 * EHLO reply after STARTTLS instead (any certificate: what is offered is what is tested).
 */
function ehlo(req: Request): Promise<LanConnectResult> {
  return new Promise((resolve) => {
    const plain = connect({ host: req.address, port: req.port });
    let socket: Socket = plain;
    let text = '';
    let step: 'greeting' | 'ehlo' | 'starttls' | 'ehlo-tls' = 'greeting';
    const done = (r: LanConnectResult) => {
      clearTimeout(timer);
      socket.destroy();
      plain.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ outcome: 'timeout', detail: text }), req.timeoutMs);
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      if (step === 'greeting' && /^220 .*\r?\n/m.test(text)) {
        step = 'ehlo';
        text = '';
        socket.write('EHLO client.lan.sandbox.test\r\n');
      } else if ((step === 'ehlo' || step === 'ehlo-tls') && /^250 .*\r?\n/m.test(text)) {
        if (step === 'ehlo' && req.starttls) {
          step = 'starttls';
          text = '';
          socket.write('STARTTLS\r\n');
          return;
        }
        socket.write('QUIT\r\n');
        done({ outcome: 'open', detail: text.trim() });
      } else if (step === 'starttls' && /^\d{3} .*\r?\n/m.test(text)) {
        if (!/^220 /m.test(text)) return done({ outcome: 'open', detail: `STARTTLS refused: ${text.trim()}` });
        plain.removeAllListeners('data');
        step = 'ehlo-tls';
        text = '';
        socket = tlsConnect({ socket: plain, rejectUnauthorized: false }, () => socket.write('EHLO client.lan.sandbox.test\r\n'));
        socket.on('data', onData);
        socket.on('error', (err: NodeJS.ErrnoException) => done({ outcome: outcomeOf(err.code), detail: err.code ?? err.message }));
      }
    };
    plain.on('data', onData);
    plain.on('error', (err: NodeJS.ErrnoException) => done({ outcome: outcomeOf(err.code), detail: err.code ?? err.message }));
  });
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  input += d;
});
process.stdin.on('end', async () => {
  const req = JSON.parse(input) as Request;
  const result = req.kind === 'connect' ? await tcp(req) : req.kind === 'ehlo' ? await ehlo(req) : await submit(req);
  process.stdout.write(`${JSON.stringify(result)}\n`);
});
