// Stand-in for smtp.gmail.com:587 in the sandbox: STARTTLS, then AUTH PLAIN/LOGIN, then
// mail, which is stored as JSON files instead of being delivered. A mode file, read at each new
// connection, makes it misbehave on demand, and an events file records what each client did
// (see smarthost-modes.ts).
//
// One listener takes every connection, reads the mode, and hands the socket to the SMTP server of
// that mode (they differ in certificate and STARTTLS), or answers it itself (tempfail).
import { randomBytes, randomUUID } from 'node:crypto';
import { lstat, mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { SMTPServer } from 'smtp-server';
import type {
  SMTPServerAuthentication,
  SMTPServerAuthenticationResponse,
  SMTPServerDataStream,
  SMTPServerOptions,
  SMTPServerSession,
} from 'smtp-server';
import type { StoredMessage } from './messages.ts';
import {
  appendEvent,
  isProviderReplyMode,
  NORMAL_MODE,
  PROVIDER_REPLIES,
  readModeFile,
  SMART_HOST_MODES,
  type NewSmartHostEvent,
  type ProviderReply,
  type SmartHostMode,
  type SmartHostModeName,
} from './smarthost-modes.ts';

export type SmartHostListen = { path: string } | { host: '127.0.0.1'; port: number };

/** PEM text, not paths */
export interface Pem {
  key: string;
  cert: string;
}

/** The modes that present a certificate the clients must refuse. */
export type BadCertMode = 'untrusted-cert' | 'wrong-name-cert';

export interface SmartHostOptions {
  listen: SmartHostListen;
  /** The certificate the clients trust */
  tls: Pem;
  /** The certificates of the bad-certificate modes; a connection in such a mode without one gets a 421 */
  badTls?: Partial<Record<BadCertMode, Pem>>;
  /** username -> password */
  users: Record<string, string>;
  /** Accounts that always get Gmail's 534 "Application-specific password required" */
  appPasswordUsers?: string[];
  /** Read at each new connection; without it (or without the file) the mode is normal */
  modeFile?: string;
  /** One JSON line per event is appended here; without it nothing is recorded */
  eventsFile?: string;
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
const APP_PASSWORD_REQUIRED = [
  'Application-specific password required. Learn more at',
  'https://support.google.com/mail/?p=InvalidSecondFactor',
];
// Gmail's greeting when it rate-limits; sendmail defers the message and keeps it queued.
const TEMPFAIL_REPLY = '421 4.7.0 Try again later, closing connection.';
// The starttls-injection mode's answer to STARTTLS, in one write: the 220, then what a man in the
// middle pipelines behind it in plaintext, for a client that keeps its buffer across the upgrade to
// read as the first replies inside TLS (an EHLO reply offering AUTH, and AUTH accepted).
export const INJECTED_AFTER_STARTTLS = '250-smtp.sandbox.test\r\n250 AUTH PLAIN\r\n235 2.7.0 Accepted\r\n';
const STARTTLS_READY = '220 2.0.0 Ready to start TLS\r\n';
// Gmail's enhanced codes where smtp-server has none of its own (it would say 5.0.0).
const GMAIL_ENHANCED_CODES: Record<number, string> = { 534: '5.7.9' };
// How long a refused or shut-down client may keep its side open.
const CLOSE_GRACE_MS = 1000;

type Connection = SMTPServer['connections'] extends Set<infer C> ? C : never;
type ServedMode = Exclude<SmartHostModeName, 'tempfail'>;
const SERVED_MODES = SMART_HOST_MODES.filter((m): m is ServedMode => m !== 'tempfail');
type Recorder = (event: NewSmartHostEvent) => void;

/** What one connection needs beyond its SMTP server: fixed when it is accepted. */
interface ConnectionState {
  /** The accounts for this connection (a mode may override the password) */
  users: Record<string, string>;
  /** The AUTH exchange under way, recorded when its final reply goes out */
  auth: { mechanism: string; user: string | null } | null;
  /** The next reply is a provider's, sent as it wrote it (its own enhanced code, none added) */
  rawReply?: boolean;
}

/** What the listener and the mode servers share. */
interface Shared {
  options: SmartHostOptions;
  onError: (err: Error) => void;
  /** By connection id, from accepted to closed */
  connections: Map<string, ConnectionState>;
  record: Recorder;
}

interface Hooks extends Shared {
  /** Refuse AUTH before STARTTLS with 530, as Gmail does (not in no-starttls, which takes AUTH in the clear) */
  requireTls: boolean;
  /** Pipeline INJECTED_AFTER_STARTTLS behind the 220 to STARTTLS (the starttls-injection mode) */
  injectAfterStartTls: boolean;
}

/** Where the text of a provider's reply begins, after its code. */
const replyParts = (r: ProviderReply) => ({ code: Number(r.reply.slice(0, 3)), text: r.reply.slice(4) });

class GmailLikeServer extends SMTPServer {
  readonly hooks: Hooks;

  constructor(options: SMTPServerOptions, hooks: Hooks) {
    super(options);
    this.hooks = hooks;
  }

  override connect(...args: Parameters<SMTPServer['connect']>): void {
    super.connect(...args);
    const id = args[1]?.id;
    const connection = [...this.connections].find((c) => c.id === id);
    if (connection) instrument(connection, this.hooks);
  }
}

// Per-connection handlers are replaced because no option changes these replies.
function instrument(connection: Connection, hooks: Hooks): void {
  if (hooks.requireTls) requireStartTlsForAuth(connection);
  if (hooks.injectAfterStartTls) injectAfterStartTls(connection);
  recordAuthReplies(connection, hooks);
  useGmailEnhancedCodes(connection, hooks);
  recordFailedHandshake(connection, hooks);
  recordRset(connection, hooks);
}

// The probe of an IP-authorised relay ends its envelope with RSET: recorded, so a test can tell
// that no DATA followed.
function recordRset(connection: Connection, hooks: Hooks): void {
  const original = connection.handler_RSET;
  connection.handler_RSET = function (this: Connection, command, callback) {
    hooks.record({
      kind: 'envelope',
      connection: this.id,
      command: 'RSET',
      address: null,
      code: 250,
      user: typeof this.session.user === 'string' ? this.session.user : null,
      tls: this.secure,
    });
    return original.call(this, command, callback);
  };
}

// A client that refuses the certificate aborts the handshake (an OpenSSL client with an alert such as
// "unknown ca"); smtp-server reports that, sometimes twice, with OpenSSL's text moved to meta.message.
function recordFailedHandshake(connection: Connection, hooks: Hooks): void {
  let recorded = false;
  connection.on('error', (err: Error & { meta?: { message?: string } }) => {
    if (!connection._upgrading || recorded) return;
    recorded = true;
    hooks.record({ kind: 'tls-failed', connection: connection.id, error: err.meta?.message ?? err.message });
  });
}

// smtp-server's own handler sends the 220 through send(), one line per write; the injected lines
// must leave in the same write as the 220, as an attacker's would, so that the client has them in
// its buffer when it reads the 220. The upgrade itself is smtp-server's, which discards whatever
// the client pipelined in plaintext.
function injectAfterStartTls(connection: Connection): void {
  const original = connection.handler_STARTTLS;
  connection.handler_STARTTLS = function (this: Connection, command, callback) {
    if (this.secure || command.toString().trim().toUpperCase() !== 'STARTTLS') return original.call(this, command, callback);
    this._socket.write(STARTTLS_READY + INJECTED_AFTER_STARTTLS);
    this.upgrade(callback);
  };
}

// smtp-server answers AUTH before STARTTLS with a non-standard 538; Gmail says 530 5.7.0.
function requireStartTlsForAuth(connection: Connection): void {
  const original = connection.handler_AUTH;
  connection.handler_AUTH = function (this: Connection, command, callback) {
    if (this.secure) return original.call(this, command, callback);
    this.send(530, STARTTLS_FIRST);
    callback();
  };
}

// An AUTH exchange ends with its first reply other than 334, whoever sends it (530 before STARTTLS,
// 504, 501 for an abort, or onAuth's 235/534/535): send() sees them all, with the code that went out.
function recordAuthReplies(connection: Connection, hooks: Hooks): void {
  const handleAuth = connection.handler_AUTH;
  connection.handler_AUTH = function (this: Connection, command, callback) {
    const state = hooks.connections.get(this.id);
    // Only the mechanism: an initial response after it holds the password.
    if (state) state.auth = { mechanism: (command.toString().trim().split(/\s+/)[1] ?? '').toUpperCase(), user: null };
    return handleAuth.call(this, command, callback);
  };
  const send = connection.send;
  connection.send = function (this: Connection, code, data, context) {
    const state = hooks.connections.get(this.id);
    if (state?.auth && code !== 334) {
      const { mechanism, user } = state.auth;
      state.auth = null;
      hooks.record({ kind: 'auth', connection: this.id, user, mechanism, tls: this.secure, code, client: this.hostNameAppearsAs || null });
    }
    send.call(this, code, data, context);
  };
}

// A provider's reply carries its own enhanced code, or none (SES's 554 has none): sent as written.
function useGmailEnhancedCodes(connection: Connection, hooks: Hooks): void {
  const enhancedCode = connection._getEnhancedStatusCode;
  connection._getEnhancedStatusCode = function (this: Connection, code, context) {
    if (hooks.connections.get(this.id)?.rawReply) return '';
    if (context !== false && GMAIL_ENHANCED_CODES[code]) return GMAIL_ENHANCED_CODES[code];
    return enhancedCode.call(this, code, context);
  };
  const send = connection.send;
  connection.send = function (this: Connection, code, data, context) {
    send.call(this, code, data, context);
    const state = hooks.connections.get(this.id);
    if (state) state.rawReply = false;
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
  const shared: Shared = { options, onError, connections: new Map(), record: eventRecorder(options.eventsFile, onError) };
  const servers = modeServers(shared);

  const listener = net.createServer((socket) => {
    accept(socket, servers, shared).catch((err: Error) => {
      onError(err);
      socket.destroy();
    });
  });
  const address = await listenOn(listener, listen);
  listener.on('error', onError);
  return { address, close: () => closeAll(listener, Object.values(servers)) };
}

/** Reads the mode for a new connection and hands it to that mode's server, or refuses it. */
async function accept(socket: net.Socket, servers: ModeServers, { options, onError, connections, record }: Shared): Promise<void> {
  const id = randomBytes(8).toString('hex');
  const remote = socket.remoteAddress ?? 'unix';
  // Until an SMTP server owns the socket, a client's reset is no error of ours.
  const ignore = () => {};
  socket.on('error', ignore);
  let mode: SmartHostMode;
  try {
    mode = options.modeFile ? await readModeFile(options.modeFile) : NORMAL_MODE;
  } catch (err) {
    const message = (err as Error).message.replace(/\s+/g, ' ');
    onError(err as Error);
    record({ kind: 'connection', connection: id, mode: null, remote, error: message });
    return refuse(socket, `421 4.3.0 Smart host mode unreadable: ${message}`);
  }
  record({ kind: 'connection', connection: id, mode: mode.mode, remote });
  if (mode.mode === 'tempfail') return refuse(socket, TEMPFAIL_REPLY);
  const server = servers[mode.mode];
  if (!server) {
    onError(new Error(`smart host has no certificate for mode ${mode.mode}`));
    return refuse(socket, `421 4.3.0 Smart host has no certificate for mode ${mode.mode}`);
  }
  if (socket.destroyed) return;
  socket.off('error', ignore);
  // the account's password is never right in the injection mode: AUTH over TLS gets 535
  connections.set(id, { users: mode.mode === 'starttls-injection' ? {} : usersFor(options.users, mode), auth: null });
  server.connect(socket, { id });
}

// The reply, then the connection goes; a client that keeps its side open is cut after a grace period.
function refuse(socket: net.Socket, reply: string): void {
  socket.end(`${reply}\r\n`);
  setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
}

/**
 * A password override (a password rotated at the provider) replaces every account's password; with
 * a user too, that account is the only one (a provider's own user shape).
 */
function usersFor(users: Record<string, string>, mode: SmartHostMode): Record<string, string> {
  const { password, user } = mode;
  if (password === undefined) return users;
  if (user !== undefined) return { [user]: password };
  return Object.fromEntries(Object.keys(users).map((user) => [user, password]));
}

function eventRecorder(eventsFile: string | undefined, onError: (err: Error) => void): Recorder {
  if (!eventsFile) return () => {};
  return (event) => {
    // A lost event must not take the SMTP session down with it.
    try {
      appendEvent(eventsFile, event);
    } catch (err) {
      onError(err as Error);
    }
  };
}

type ModeServers = Partial<Record<ServedMode, GmailLikeServer>>;

function modeServers(shared: Shared): ModeServers {
  const { options } = shared;
  // every mode but the bad-certificate ones presents the certificate clients trust
  const certs: Partial<Record<ServedMode, Pem | undefined>> = {
    'untrusted-cert': options.badTls?.['untrusted-cert'],
    'wrong-name-cert': options.badTls?.['wrong-name-cert'],
  };
  const servers: ModeServers = {};
  for (const mode of SERVED_MODES) {
    const pem = mode in certs ? certs[mode] : options.tls;
    if (pem) servers[mode] = smtpServer(pem, mode, shared);
  }
  return servers;
}

function smtpServer(pem: Pem, mode: ServedMode, shared: Shared): GmailLikeServer {
  const noStartTls = mode === 'no-starttls';
  const { options, connections, record, onError } = shared;
  const appPasswordUsers = options.appPasswordUsers ?? [];
  const provider: ProviderReply | undefined = isProviderReplyMode(mode) ? PROVIDER_REPLIES[mode] : undefined;
  // an IP-authorised relay: no AUTH in EHLO, mail taken without it
  const noAuth = mode === 'ip-relay' || provider?.noAuth === true;
  /** The provider's reply at this stage, as an error for smtp-server to send as written. */
  const played = (stage: ProviderReply['stage'], session: SMTPServerSession): Error | undefined => {
    if (provider?.stage !== stage) return undefined;
    const state = connections.get(session.id);
    if (state) state.rawReply = true;
    const { code, text } = replyParts(provider);
    return smtpError(code, text);
  };
  const envelope = (command: 'MAIL' | 'RCPT', address: string, code: number, session: SMTPServerSession) =>
    record({
      kind: 'envelope',
      connection: session.id,
      command,
      address,
      code,
      user: typeof session.user === 'string' ? session.user : null,
      tls: session.secure,
    });
  const server = new GmailLikeServer(
    {
      secure: false,
      key: pem.key,
      cert: pem.cert,
      // A legacy or downgraded server: no STARTTLS in EHLO, AUTH taken in the clear.
      ...(noStartTls ? { disabledCommands: ['STARTTLS'], allowInsecureAuth: true } : {}),
      ...(noAuth ? { disabledCommands: ['AUTH'] } : {}),
      name: options.hostname ?? 'smtp.sandbox.test',
      authMethods: ['PLAIN', 'LOGIN'],
      authRequiredMessage: AUTH_REQUIRED,
      // Off by default in smtp-server; without it 535 goes out without 5.7.8.
      hideENHANCEDSTATUSCODES: false,
      size: MAX_SIZE,
      rejectOversized: true,
      disableReverseLookup: true,
      closeTimeout: CLOSE_GRACE_MS,
      logger: false,
      onSecure: (socket, session, callback) => {
        const protocol = 'getProtocol' in socket ? (socket as TLSSocket).getProtocol() : null;
        record({ kind: 'starttls', connection: session.id, protocol });
        callback();
      },
      onAuth: (auth, session, callback) => {
        const state = connections.get(session.id);
        if (state?.auth) state.auth.user = auth.username ?? null;
        if (provider) {
          // the provider's reply to any AUTH; in a later stage, any credentials are taken
          const err = played('auth', session);
          if (err) return callback(null, { message: err.message, responseCode: (err as Error & { responseCode: number }).responseCode });
          return callback(null, { user: auth.username ?? '' });
        }
        callback(null, checkCredentials(state?.users ?? {}, appPasswordUsers, auth));
      },
      onMailFrom: (address, session, callback) => {
        const err = played('mail', session);
        envelope('MAIL', address.address, err ? replyParts(provider!).code : 250, session);
        callback(err ?? null);
      },
      onRcptTo: (address, session, callback) => {
        const err = played('rcpt', session);
        envelope('RCPT', address.address, err ? replyParts(provider!).code : 250, session);
        callback(err ?? null);
      },
      onData: (stream, session, callback) => {
        readAll(stream)
          .then(async (raw) => {
            // smtp-server answers 552 itself (rejectOversized); just do not store it.
            if (stream.sizeExceeded) return 'oversized';
            const err = played('data', session);
            if (err) throw err;
            const message = await storeMessage(options.storeDir, raw, session);
            record(messageEvent(message, session));
            return message.id;
          })
          .then(
            (id) => callback(null, `OK ${id} - gsmtp`),
            (err: Error & { responseCode?: number }) => {
              // a provider's refusal of the message is the reply it plays, not a fault
              if (err.responseCode) return callback(err);
              onError(err);
              callback(smtpError(451, 'Temporary local problem, try again later'));
            },
          );
      },
      onClose: (session) => {
        connections.delete(session.id);
      },
    },
    { ...shared, requireTls: !noStartTls, injectAfterStartTls: mode === 'starttls-injection' },
  );
  server.on('error', onError);
  return server;
}

function messageEvent(message: StoredMessage, session: SMTPServerSession): NewSmartHostEvent {
  const { id, authUser: user, tls, mailFrom, rcptTo } = message;
  return { kind: 'message', connection: session.id, id, user, tls, mailFrom, rcptTo, client: session.hostNameAppearsAs || null };
}

function checkCredentials(
  users: Record<string, string>,
  appPasswordUsers: string[],
  auth: SMTPServerAuthentication,
): SMTPServerAuthenticationResponse {
  const username = auth.username ?? '';
  // Whatever the password: the account has 2-step verification on and wants an app password.
  if (appPasswordUsers.includes(username)) {
    // send() writes an array as a multi-line reply, each line with the code; the type only says string.
    return { message: APP_PASSWORD_REQUIRED as unknown as string, responseCode: 534 };
  }
  // hasOwn so names like "constructor" do not match Object.prototype.
  if (Object.hasOwn(users, username) && users[username] === auth.password) return { user: username };
  return { message: AUTH_FAILED, responseCode: 535 };
}

// The listener waits for every socket it accepted; what is still open after the grace period gets
// smtp-server's own 421 and is closed (the mode servers never listen, so their close() would not).
function closeAll(listener: net.Server, servers: SMTPServer[]): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      for (const server of servers) {
        for (const connection of server.connections) {
          connection.send(421, 'Server shutting down');
          connection.close();
        }
      }
    }, CLOSE_GRACE_MS);
    listener.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function listenOn(server: net.Server, listen: SmartHostListen): Promise<string | number> {
  if ('path' in listen) {
    await removeStaleSocket(listen.path);
    await bind(server, (done) => server.listen(listen.path, done));
    return listen.path;
  }
  await bind(server, (done) => server.listen(listen.port, listen.host, done));
  const bound = server.address();
  if (!bound || typeof bound === 'string') throw new Error('smart host has no TCP address after listening');
  return bound.port;
}

function bind(server: net.Server, start: (done: () => void) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    start(() => {
      server.off('error', reject);
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

async function storeMessage(storeDir: string, raw: string, session: SMTPServerSession): Promise<StoredMessage> {
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
  return message;
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
