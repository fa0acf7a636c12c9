// Stand-in for smtp.gmail.com:587 in the sandbox: STARTTLS, then AUTH PLAIN/LOGIN, then
// mail, which is stored as JSON files instead of being delivered.
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { StoredMessage } from './messages.ts';

export type SmartHostListen = { path: string } | { host: '127.0.0.1'; port: number };

export interface SmartHostOptions {
  listen: SmartHostListen;
  /** PEM text, not paths */
  tls: { key: string; cert: string };
  /** username -> password */
  users: Record<string, string>;
  storeDir: string;
  /** Name in the greeting and EHLO reply */
  hostname?: string;
  onError?: (err: Error) => void;
}

export interface SmartHost {
  close(): Promise<void>;
  /** The socket path, or the TCP port actually bound */
  address: string | number;
}

// Gmail's limit; advertising SIZE makes sendmail add SIZE= to MAIL FROM, as it does for Gmail.
const MAX_SIZE = 35_882_577;
// Gmail's reply texts. smtp-server adds the enhanced code (5.7.0 / 5.7.8) in front of them.
const AUTH_FAILED = 'Username and Password not accepted';
const AUTH_REQUIRED = 'Authentication Required';
const STARTTLS_FIRST = 'Must issue a STARTTLS command first';

type Connection = SMTPServer['connections'] extends Set<infer C> ? C : never;

// smtp-server answers AUTH before STARTTLS with a non-standard 538; Gmail says 530 5.7.0.
// The per-connection handler is replaced because no option changes that reply.
class GmailLikeServer extends SMTPServer {
  override connect(...args: Parameters<SMTPServer['connect']>): void {
    super.connect(...args);
    const connection = [...this.connections].at(-1);
    if (connection && !Object.hasOwn(connection, 'handler_AUTH')) requireStartTlsForAuth(connection);
  }
}

function requireStartTlsForAuth(connection: Connection): void {
  const original = connection.handler_AUTH;
  connection.handler_AUTH = function (this: Connection, command, callback) {
    if (this.secure) return original.call(this, command, callback);
    this.send(530, STARTTLS_FIRST);
    callback();
  };
}

export async function startSmartHost(options: SmartHostOptions): Promise<SmartHost> {
  const onError = options.onError ?? (() => {});
  // Loopback only (checked at run time, the daemon's config is plain JSON): the sandbox
  // passwords are no secret, so the relay must not be reachable from outside.
  const { listen } = options;
  if ('host' in listen && listen.host !== '127.0.0.1') {
    throw new Error(`smart host listens on 127.0.0.1 only, not ${String(listen.host)}`);
  }
  await mkdir(options.storeDir, { recursive: true });
  const server = new GmailLikeServer({
    secure: false,
    key: options.tls.key,
    cert: options.tls.cert,
    name: options.hostname ?? 'smtp.sandbox.test',
    authMethods: ['PLAIN', 'LOGIN'],
    authRequiredMessage: AUTH_REQUIRED,
    // Off by default in smtp-server; without it 535 goes out without 5.7.8.
    hideENHANCEDSTATUSCODES: false,
    size: MAX_SIZE,
    rejectOversized: true,
    disableReverseLookup: true,
    closeTimeout: 1000,
    logger: false,
    onAuth: (auth, _session, callback) => callback(null, checkCredentials(options.users, auth)),
    onData: (stream, session, callback) => {
      readAll(stream)
        .then((raw) => {
          // smtp-server answers 552 itself (rejectOversized); just do not store it.
          if (stream.sizeExceeded) return 'oversized';
          return storeMessage(options.storeDir, raw, session);
        })
        .then(
          (id) => callback(null, `OK ${id} - gsmtp`),
          (err: Error) => {
            onError(err);
            callback(smtpError(451, 'Temporary local problem, try again later'));
          },
        );
    },
  });
  server.on('error', onError);

  const address = await listenOn(server, listen);
  return {
    address,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function checkCredentials(users: Record<string, string>, auth: SMTPServerAuthentication): SMTPServerAuthenticationResponse {
  const username = auth.username ?? '';
  // hasOwn so names like "constructor" do not match Object.prototype.
  if (Object.hasOwn(users, username) && users[username] === auth.password) return { user: username };
  return { message: AUTH_FAILED, responseCode: 535 };
}

async function listenOn(server: SMTPServer, listen: SmartHostListen): Promise<string | number> {
  if ('path' in listen) {
    await removeStaleSocket(listen.path);
    await bind(server, (done) => server.listen(listen.path, done));
    return listen.path;
  }
  await bind(server, (done) => server.listen(listen.port, listen.host, done));
  const bound = server.server.address();
  if (!bound || typeof bound === 'string') throw new Error('smart host has no TCP address after listening');
  return bound.port;
}

function bind(server: SMTPServer, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    start(() => {
      server.server.off('error', reject);
      resolve();
    });
  });
}

// A socket file left by a crashed run blocks listen(); one with a live server behind it is not ours to take.
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch(() => null);
  if (!stat) return;
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  if (await acceptsConnections(path)) throw new Error(`${path} is in use by a running server`);
  await unlink(path);
}

function acceptsConnections(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function storeMessage(storeDir: string, raw: string, session: SMTPServerSession): Promise<string> {
  const receivedAt = new Date().toISOString();
  const id = `${receivedAt.replace(/[-:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  const message: StoredMessage = {
    id,
    receivedAt,
    authUser: typeof session.user === 'string' ? session.user : null,
    mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
    rcptTo: session.envelope.rcptTo.map((r) => r.address),
    tls: session.secure,
    // Unix socket peers have no address.
    remoteAddress: session.remoteAddress || 'unix',
    subject: subjectOf(raw),
    raw,
  };
  // Temp name, then rename: readers only list *.json and never see half a file.
  const tmp = join(storeDir, `.${id}.tmp`);
  await writeFile(tmp, JSON.stringify(message, null, 2) + '\n');
  await rename(tmp, join(storeDir, `${id}.json`));
  return id;
}

function readAll(stream: SMTPServerDataStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function smtpError(responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode });
}

function subjectOf(raw: string): string | null {
  const headerEnd = raw.search(/\r?\n\r?\n/);
  const headers = (headerEnd === -1 ? raw : raw.slice(0, headerEnd)).replace(/\r?\n[ \t]+/g, ' ');
  const match = /^subject:[ \t]*(.*)$/im.exec(headers);
  return match ? decodeEncodedWords(match[1].trim()) : null;
}

// RFC 2047 encoded words (=?utf-8?B?...?=), which nodemailer and mail(1) use for non-ASCII subjects.
function decodeEncodedWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BQ]\?[^?]*\?=)\s+(?==\?)/gi, '$1')
    .replace(/=\?([^?]+)\?([BQ])\?([^?]*)\?=/gi, (word, charset: string, encoding: string, text: string) => {
      if (!/^(utf-8|us-ascii|iso-8859-1)$/i.test(charset)) return word;
      const bytes =
        encoding.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
              'latin1',
            );
      return bytes.toString(/^iso-8859-1$/i.test(charset) ? 'latin1' : 'utf8');
    });
}
