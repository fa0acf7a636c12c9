// How tests make the stand-in smart host misbehave, and what it tells them back. A mode file in the
// sandbox folder, read at each new connection, chooses the behaviour; an events file (one JSON line
// per event) records what each client did, so a test can prove, say, that no AUTH went out in the clear.
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import type { SandboxState } from './state.ts';

/** Where in the session a provider's reply comes: to AUTH, MAIL FROM, RCPT TO, or the end of DATA. */
export type ProviderReplyStage = 'auth' | 'mail' | 'rcpt' | 'data';

export interface ProviderReply {
  stage: ProviderReplyStage;
  /** The reply as the provider sends it, enhanced code included ("535 5.7.139 Authentication unsuccessful, ..."). */
  reply: string;
  /** An IP-authorised relay (Workspace relay, Microsoft 365's connector): no AUTH offered. */
  noAuth?: boolean;
}

/**
 * The providers' replies (issue 27), one mode each, with the texts the providers send. In a stage
 * after AUTH any credentials are taken: the reply is what is played. ip-relay is an IP-authorised
 * relay that takes the mail (Workspace relay by IP, Microsoft 365's connector, an internal hub).
 */
export const PROVIDER_REPLIES = {
  'gmail-app-password': {
    stage: 'auth',
    reply: '534 5.7.9 Application-specific password required. Learn more at https://support.google.com/mail/?p=InvalidSecondFactor',
  },
  'gmail-bad-credentials': { stage: 'auth', reply: '535 5.7.8 Username and Password not accepted.' },
  'gmail-daily-quota': { stage: 'mail', reply: '550 5.4.5 Daily user sending limit exceeded.' },
  'workspace-relay-denied': { stage: 'mail', reply: '550 5.7.1 Invalid credentials for relay [192.0.2.25].', noAuth: true },
  'm365-auth-disabled': {
    stage: 'auth',
    reply: '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.',
  },
  'm365-auth-unsuccessful': { stage: 'auth', reply: '535 5.7.3 Authentication unsuccessful' },
  'm365-tls12-required': {
    stage: 'mail',
    reply: '421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support TLS 1.2.',
  },
  'm365-send-as-denied': {
    stage: 'data',
    reply: '554 5.2.252 SendAsDenied; relay@sandbox.test not allowed to send as root@relay1.sandbox.test',
  },
  'm365-connector-not-attributed': { stage: 'rcpt', reply: '550 5.7.64 TenantAttribution; Relay Access Denied', noAuth: true },
  'm365-connector-unable-to-relay': { stage: 'rcpt', reply: '550 5.7.1 Unable to relay', noAuth: true },
  'ses-not-verified': {
    stage: 'data',
    reply:
      '554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: root@relay1.sandbox.test',
  },
  'ses-throttled': { stage: 'mail', reply: '454 Throttling failure: Maximum sending rate exceeded.' },
  'ses-bad-credentials': { stage: 'auth', reply: '535 Authentication Credentials Invalid' },
  'sendgrid-bad-credentials': { stage: 'auth', reply: '535 Authentication failed: Bad username / password' },
  'sendgrid-sender-identity': { stage: 'data', reply: '550 The from address does not match a verified Sender Identity.' },
  'sendgrid-credits': { stage: 'auth', reply: '451 Authentication failed: Maximum credits exceeded' },
  'mailgun-bad-credentials': { stage: 'auth', reply: '535 5.7.0 Mailgun is not loving your login or password' },
  'mailgun-sandbox-recipient': {
    stage: 'rcpt',
    reply:
      '550 5.7.1 Sandbox subdomains are for test purposes only. Please add your own domain or add the address to authorized recipients in Account Settings.',
  },
  'postmark-bad-credentials': { stage: 'auth', reply: '535 5.7.8 Authentication failed' },
  'postmark-sender-signature': {
    stage: 'mail',
    reply: "550 The 'From' address you supplied (root@relay1.sandbox.test) is not a Sender Signature on your account.",
  },
} as const satisfies Record<string, ProviderReply>;
export type ProviderReplyMode = keyof typeof PROVIDER_REPLIES;

/**
 * normal: Gmail-like. no-starttls: no STARTTLS, AUTH in the clear. untrusted-cert, wrong-name-cert:
 * a certificate clients must refuse. tempfail: 421 at the greeting. starttls-injection: a man in
 * the middle (CVE-2011-0411 class): an EHLO reply offering AUTH PLAIN and a 235 pipelined in plaintext right behind
 * the 220 to STARTTLS, then real TLS with the good certificate, where every AUTH gets 535.
 * ip-relay: no AUTH offered, mail taken from anyone (an IP-authorised relay). Then one mode per
 * provider reply (PROVIDER_REPLIES).
 */
export const SMART_HOST_MODES = [
  'normal',
  'no-starttls',
  'untrusted-cert',
  'wrong-name-cert',
  'tempfail',
  'starttls-injection',
  'ip-relay',
  ...(Object.keys(PROVIDER_REPLIES) as ProviderReplyMode[]),
] as const;
export type SmartHostModeName = (typeof SMART_HOST_MODES)[number];

export const isProviderReplyMode = (mode: string): mode is ProviderReplyMode => Object.hasOwn(PROVIDER_REPLIES, mode);

export interface SmartHostMode {
  mode: SmartHostModeName;
  /** Accept only this password for the smart host's account (a password rotated at the provider). */
  password?: string;
  /** With password: the account is this user instead (a provider's own user shape, SES's access key id). */
  user?: string;
}

export const NORMAL_MODE: SmartHostMode = { mode: 'normal' };

interface EventBase {
  /** ISO 8601 */
  at: string;
  /** One id per connection, shared by all its events */
  connection: string;
}

/** One line of the events file. Never holds a password. */
export type SmartHostEvent = EventBase &
  (
    | { kind: 'connection'; mode: SmartHostModeName | null; remote: string; error?: string }
    | { kind: 'starttls'; protocol: string | null }
    | { kind: 'tls-failed'; error: string }
    | { kind: 'auth'; user: string | null; mechanism: string; tls: boolean; code: number; client: string | null }
    | { kind: 'message'; id: string; user: string | null; tls: boolean; mailFrom: string; rcptTo: string[]; client: string | null }
    // the envelope commands, with the reply they got (a probe's MAIL FROM, RCPT TO and RSET without DATA)
    | { kind: 'envelope'; command: 'MAIL' | 'RCPT' | 'RSET'; address: string | null; code: number; user: string | null; tls: boolean }
  );

/** An event as the smart host hands it over: `at` is filled in when it is written. */
export type NewSmartHostEvent = WithoutAt<SmartHostEvent>;
// Distributes over the union, so each kind keeps its own fields.
type WithoutAt<E> = E extends unknown ? Omit<E, 'at'> : never;

export const smartHostModeFile = (dir: string) => join(dir, 'smarthost-mode.json');
export const smartHostEventsFile = (dir: string) => join(dir, 'smarthost-events.jsonl');

/** Switches the running sandbox's smart host; the next connection gets the new mode. */
export async function setSmartHostMode(state: Pick<SandboxState, 'dir'>, mode: SmartHostMode): Promise<void> {
  await writeModeFile(smartHostModeFile(state.dir), parseSmartHostMode(mode));
}

/** Everything the sandbox's smart host recorded, oldest first. */
export async function readSmartHostEvents(state: Pick<SandboxState, 'dir'>): Promise<SmartHostEvent[]> {
  return readEventsFile(smartHostEventsFile(state.dir));
}

/**
 * The smart host's events once `done(events)` holds. The server writes an event when its side of
 * the connection ends, which can be after the client has already gone (a client that refuses the
 * certificate exits before the server sees the alert), so a test reads what it waits for.
 */
export async function waitForSmartHostEvents(
  state: Pick<SandboxState, 'dir'>,
  done: (events: SmartHostEvent[]) => boolean,
  timeoutMs = 10_000,
): Promise<SmartHostEvent[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const events = await readSmartHostEvents(state);
    if (done(events)) return events;
    if (Date.now() >= deadline) {
      const kinds = events.map((e) => e.kind).join(', ') || 'none';
      throw new SandboxError(`the smart host's events did not come within ${timeoutMs} ms; recorded: ${kinds}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Checks a mode from a caller or a file; unknown keys are refused so a misspelt `password` is not ignored. */
export function parseSmartHostMode(value: unknown): SmartHostMode {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SandboxError(`smart host mode must be an object like {"mode": "normal"}, not ${JSON.stringify(value)}`);
  }
  const { mode, password, user, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) throw new SandboxError(`smart host mode has unknown field(s): ${extra.join(', ')}`);
  if (!SMART_HOST_MODES.includes(mode as SmartHostModeName)) {
    throw new SandboxError(`smart host mode must be one of ${SMART_HOST_MODES.join(', ')}, not ${JSON.stringify(mode)}`);
  }
  if (password !== undefined && (typeof password !== 'string' || password === '')) {
    throw new SandboxError('smart host mode: password must be a non-empty string');
  }
  if (user !== undefined && (typeof user !== 'string' || user === '' || password === undefined)) {
    throw new SandboxError('smart host mode: user must be a non-empty string, with a password');
  }
  return {
    mode: mode as SmartHostModeName,
    ...(password === undefined ? {} : { password: password as string }),
    ...(user === undefined ? {} : { user: user as string }),
  };
}

/** No file means the normal mode; a file that cannot be parsed is an error, never silently normal. */
export async function readModeFile(path: string): Promise<SmartHostMode> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return NORMAL_MODE;
    throw err;
  }
  try {
    return parseSmartHostMode(JSON.parse(text));
  } catch (err) {
    throw new SandboxError(`${path}: ${(err as Error).message}`);
  }
}

// Temp name, then rename: a connection opened meanwhile reads the old mode or the new one, never half a file.
// 0600: the file may hold a password.
export async function writeModeFile(path: string, mode: SmartHostMode): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, JSON.stringify(mode) + '\n', { mode: 0o600 });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

// Synchronous on purpose: the line is on disk before the smart host sends its reply, so a test that
// saw the reply finds the event. One write(2) per line, appended, so lines of concurrent connections never mix.
export function appendEvent(path: string, event: NewSmartHostEvent): void {
  appendFileSync(path, JSON.stringify({ at: new Date().toISOString(), ...event }) + '\n');
}

export async function readEventsFile(path: string): Promise<SmartHostEvent[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  // A last line without its newline is still being written: left for the next read.
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as SmartHostEvent);
}
