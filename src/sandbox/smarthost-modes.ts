// How tests make the stand-in smart host misbehave, and what it tells them back. A mode file in the
// sandbox folder, read at each new connection, chooses the behaviour; an events file (one JSON line
// per event) records what each client did, so a test can prove, say, that no AUTH went out in the clear.
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import type { SandboxState } from './state.ts';

/**
 * normal: Gmail-like. no-starttls: no STARTTLS, AUTH in the clear. untrusted-cert, wrong-name-cert:
 * a certificate clients must refuse. tempfail: 421 at the greeting. starttls-injection: a man in
 * the middle (CVE-2011-0411 class): an EHLO reply offering AUTH PLAIN and a 235 pipelined in plaintext right behind
 * the 220 to STARTTLS, then real TLS with the good certificate, where every AUTH gets 535.
 */
export const SMART_HOST_MODES = ['normal', 'no-starttls', 'untrusted-cert', 'wrong-name-cert', 'tempfail', 'starttls-injection'] as const;
export type SmartHostModeName = (typeof SMART_HOST_MODES)[number];

export interface SmartHostMode {
  mode: SmartHostModeName;
  /** Accept only this password for the smart host's account (a password rotated at the provider). */
  password?: string;
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

/** Checks a mode from a caller or a file; unknown keys are refused so a misspelt `password` is not ignored. */
export function parseSmartHostMode(value: unknown): SmartHostMode {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SandboxError(`smart host mode must be an object like {"mode": "normal"}, not ${JSON.stringify(value)}`);
  }
  const { mode, password, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length) throw new SandboxError(`smart host mode has unknown field(s): ${extra.join(', ')}`);
  if (!SMART_HOST_MODES.includes(mode as SmartHostModeName)) {
    throw new SandboxError(`smart host mode must be one of ${SMART_HOST_MODES.join(', ')}, not ${JSON.stringify(mode)}`);
  }
  if (password !== undefined && (typeof password !== 'string' || password === '')) {
    throw new SandboxError('smart host mode: password must be a non-empty string');
  }
  return password === undefined ? { mode: mode as SmartHostModeName } : { mode: mode as SmartHostModeName, password };
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
