// OpenSSH known_hosts support for ssh2's hostVerifier, which hands us the raw host key blob.
// Semantics follow OpenSSH (hostfile.c, sshconnect.c): a line applies to a host when one of its
// patterns matches the lookup name and no negated pattern does; a recorded key of the same type
// that differs is a changed key; @revoked wins over everything.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { open, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { ConnectError } from '../errors.ts';
import { expandHome, type SshTarget } from './target.ts';

export interface KnownHostEntry {
  /** 1-based line number in the file, for messages. */
  line: number;
  /** '@revoked' lines are kept so that checkHostKey can refuse their key. */
  revoked: boolean;
  /** Plain host patterns (may hold *, ? and a leading !); empty for a hashed entry. */
  patterns: string[];
  /** A hashed entry (|1|salt|hash): HMAC-SHA1 of the lookup name keyed with the salt. */
  hashed?: { salt: Buffer; hash: Buffer };
  /** The key type read from the key blob itself, e.g. ssh-ed25519. */
  keyType: string;
  key: Buffer;
  comment: string;
}

export type HostKeyCheck = { status: 'match' } | { status: 'unknown' } | { status: 'mismatch'; expected: string[] } | { status: 'revoked' };

/** The name OpenSSH records and looks up: host for port 22, else [host]:port. */
export function hostKeyName(host: string, port: number): string {
  // ssh lowercases the host name before lookup and before hashing, so hashed lines only match that way
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** SHA256:<base64, no padding>, as `ssh-keygen -l` prints it. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** The type name at the start of an SSH wire-format key blob (uint32 length, then the name). */
export function keyType(key: Buffer): string {
  if (key.length < 4) throw new Error('not an SSH public key blob: too short');
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > key.length) {
    throw new Error('not an SSH public key blob: bad type length');
  }
  const name = key.subarray(4, 4 + length).toString('latin1');
  if (!/^[\x21-\x7e]+$/.test(name)) throw new Error('not an SSH public key blob: bad type name');
  return name;
}

/**
 * Parses known_hosts text. Like OpenSSH, lines it cannot understand are skipped rather than fatal,
 * since the file is shared with ssh itself. @cert-authority lines are dropped: ssh2 does not do host
 * certificates, so they can never vouch for a key here.
 */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const entry = parseLine(raw, i + 1);
    if (entry) entries.push(entry);
  });
  return entries;
}

function parseLine(raw: string, line: number): KnownHostEntry | undefined {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const fields = text.split(/[ \t]+/);
  let revoked = false;
  if (fields[0].startsWith('@')) {
    const marker = fields.shift();
    if (marker !== '@revoked') return undefined; // @cert-authority, or a marker we do not know
    revoked = true;
  }
  if (fields.length < 3) return undefined;
  const [hostField, typeField, base64, ...rest] = fields;
  const key = decodeKey(base64);
  if (!key) return undefined;
  let type: string;
  try {
    type = keyType(key);
  } catch {
    return undefined;
  }
  if (type !== typeField) return undefined; // OpenSSH rejects a line whose blob contradicts its type
  const entry: KnownHostEntry = { line, revoked, patterns: [], keyType: type, key, comment: rest.join(' ') };
  if (hostField.startsWith('|')) {
    const hashed = parseHashed(hostField);
    if (!hashed) return undefined;
    entry.hashed = hashed;
  } else {
    entry.patterns = hostField.split(',').filter((p) => p !== '');
    if (entry.patterns.length === 0) return undefined;
  }
  return entry;
}

function decodeKey(base64: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) return undefined;
  const key = Buffer.from(base64, 'base64');
  return key.length > 0 ? key : undefined;
}

function parseHashed(field: string): { salt: Buffer; hash: Buffer } | undefined {
  const parts = field.split('|'); // '', '1', salt, hash
  if (parts.length !== 4 || parts[1] !== '1') return undefined;
  const salt = Buffer.from(parts[2], 'base64');
  const hash = Buffer.from(parts[3], 'base64');
  // SHA-1 sized, as ssh-keygen -H writes them
  return salt.length === 20 && hash.length === 20 ? { salt, hash } : undefined;
}

function globToRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 'is');
}

// Every host of a run looks itself up in the same known_hosts: at 1,000 hosts that is a million
// pattern tests, so a pattern is compiled once, and one without wildcards is a plain comparison.
const compiled = new Map<string, (name: string) => boolean>();

function patternMatcher(pattern: string): (name: string) => boolean {
  let m = compiled.get(pattern);
  if (!m) {
    if (/[*?]/.test(pattern)) {
      const re = globToRegExp(pattern);
      m = (name) => re.test(name);
    } else {
      const literal = pattern.toLowerCase();
      m = (name) => name.toLowerCase() === literal;
    }
    compiled.set(pattern, m);
  }
  return m;
}

/** Does this entry apply to the lookup name (as built by hostKeyName)? */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hashed) {
    const digest = createHmac('sha1', entry.hashed.salt).update(name).digest();
    return timingSafeEqual(digest, entry.hashed.hash);
  }
  let positive = false;
  for (const pattern of entry.patterns) {
    const negated = pattern.startsWith('!');
    if (!patternMatcher(negated ? pattern.slice(1) : pattern)(name)) continue;
    if (negated) return false; // a matching negation vetoes the whole line
    positive = true;
  }
  return positive;
}

/** Verifies a presented host key against parsed known_hosts entries. */
export function checkHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): HostKeyCheck {
  const name = hostKeyName(host, port);
  const type = keyType(key);
  const forHost = entries.filter((e) => entryMatches(e, name));
  if (forHost.some((e) => e.revoked && e.key.equals(key))) return { status: 'revoked' };
  const recorded = forHost.filter((e) => !e.revoked && e.keyType === type);
  if (recorded.length === 0) return { status: 'unknown' };
  if (recorded.some((e) => e.key.equals(key))) return { status: 'match' };
  return { status: 'mismatch', expected: [...new Set(recorded.map((e) => fingerprint(e.key)))] };
}

/** The key types recorded for a host (not @revoked lines), in file order. */
export function recordedKeyTypes(entries: readonly KnownHostEntry[], host: string, port: number): string[] {
  const name = hostKeyName(host, port);
  return [...new Set(entries.filter((e) => !e.revoked && entryMatches(e, name)).map((e) => e.keyType))];
}

/**
 * Host key algorithms (ssh2's names, in its order of preference) that present a key of one of these
 * types. An RSA key signs with three algorithms; ssh2 knows no others (no sk-*, no certificates).
 */
const ALGORITHMS_BY_KEY_TYPE: ReadonlyArray<readonly [algorithm: string, keyType: string]> = [
  ['ssh-ed25519', 'ssh-ed25519'],
  ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp256'],
  ['ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp384'],
  ['ecdsa-sha2-nistp521', 'ecdsa-sha2-nistp521'],
  ['rsa-sha2-512', 'ssh-rsa'],
  ['rsa-sha2-256', 'ssh-rsa'],
  ['ssh-rsa', 'ssh-rsa'],
  ['ssh-dss', 'ssh-dss'],
];

/**
 * The algorithms to offer a host whose keys of these types are recorded. Restricting the handshake
 * to them means a host that now offers only another type fails to agree, instead of presenting a key
 * that would look merely unknown (and be recorded under accept-new). A host key type that changed
 * is treated as a changed key.
 */
export function hostKeyAlgorithms(types: readonly string[]): string[] {
  return ALGORITHMS_BY_KEY_TYPE.filter(([, type]) => types.includes(type)).map(([algorithm]) => algorithm);
}

/** A plain (unhashed) known_hosts line: `[127.0.0.1]:2201 ssh-ed25519 AAAA...`. */
export function formatKnownHostsLine(host: string, port: number, key: Buffer): string {
  return `${hostKeyName(host, port)} ${keyType(key)} ${key.toString('base64')}`;
}

/**
 * Appends one line, creating the file (0600) and its directory (0700) as ssh would. A single
 * O_APPEND write keeps concurrent appenders from interleaving within a line.
 */
export async function appendKnownHost(file: string, line: string): Promise<void> {
  const text = line.replace(/\r?\n$/, '');
  // a line break inside would let one value smuggle in a second, unrelated entry
  if (/[\r\n]/.test(text)) throw new Error('appendKnownHost: the line must not contain a line break');
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const handle = await open(file, 'a+', 0o600);
  try {
    const { size } = await handle.stat();
    let prefix = '';
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n'; // the file lacks a trailing newline: do not glue onto its last line
    }
    await handle.appendFile(prefix + text + '\n');
  } finally {
    await handle.close();
  }
}

// A target's known_hosts as its handshake checks it: read before anything connects, parsed once per
// distinct content, judged under the target's policy, and a key accepted new remembered.

/** What a handshake checks a host key against, read before any connection. */
export interface KnownHostsCheck {
  path: string;
  /** known_hosts is /dev/null: keys accepted are remembered for this run only (see runOnlyKnownHosts). */
  runOnly: boolean;
  entries: KnownHostEntry[];
  recordedTypes: string[];
  /** The host key algorithms to offer, when keys are recorded for the host (see recordedAlgorithms). */
  serverHostKey?: ServerHostKeyAlgorithm[];
}

export async function knownHostsFor(target: SshTarget): Promise<KnownHostsCheck> {
  const path = expandHome(target.knownHosts);
  // /dev/null keeps nothing: keys accepted there are remembered for this run only (see runOnlyKnownHosts)
  const runOnly = path === '/dev/null';
  const text = runOnly ? runOnlyKnownHosts.join('\n') : await readKnownHosts(target, path);
  const entries = parsedKnownHosts(text);
  const recordedTypes = recordedKeyTypes(entries, target.address, target.port);
  const serverHostKey = recordedAlgorithms(recordedTypes, target, path);
  return { path, runOnly, entries, recordedTypes, serverHostKey };
}

/** A key the host offered, judged under the target's policy: accepted (a new one with its line to record) or refused, saying why. */
export type HostKeyVerdict = { accept: true; record?: string } | { accept: false; refusal: string };

export function judgeHostKey(target: SshTarget, known: KnownHostsCheck, key: Buffer): HostKeyVerdict {
  const result = checkHostKey(known.entries, target.address, target.port, key);
  switch (result.status) {
    case 'match':
      return { accept: true };
    case 'unknown':
      if (target.hostKeyPolicy === 'accept-new') return { accept: true, record: formatKnownHostsLine(target.address, target.port, key) };
      return { accept: false, refusal: `host key ${fingerprint(key)} is not in ${known.path} (strict host key checking)` };
    case 'mismatch':
      return {
        accept: false,
        refusal:
          `HOST KEY CHANGED for ${target.address}:${target.port}: it offered ${fingerprint(key)}, ` +
          `${known.path} has ${result.expected.join(', ')}. Refusing to connect: this may be a man-in-the-middle; ` +
          `if the host was rebuilt, remove its old line from ${known.path}`,
      };
    case 'revoked':
      return { accept: false, refusal: `host key ${fingerprint(key)} is marked @revoked in ${known.path}` };
  }
}

/** Records a key accepted new (accept-new): in the file, or for this run only when it is /dev/null. */
export async function rememberHostKey(known: KnownHostsCheck, line: string): Promise<void> {
  if (known.runOnly) runOnlyKnownHosts.push(line);
  else await appendKnownHost(known.path, line);
}

// Every host of a run reads the same known_hosts: it is parsed once per distinct content (entries are
// never changed after parsing), not once per host; a few contents are kept (tests use several files).
const parsedTexts = new Map<string, KnownHostEntry[]>();
function parsedKnownHosts(text: string): KnownHostEntry[] {
  let entries = parsedTexts.get(text);
  if (!entries) {
    entries = parseKnownHosts(text);
    if (parsedTexts.size >= 8) parsedTexts.delete(parsedTexts.keys().next().value!);
    parsedTexts.set(text, entries);
  }
  return entries;
}

async function readKnownHosts(target: SshTarget, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConnectError(target.name, `cannot read known_hosts ${path}: ${err}`);
    if (target.hostKeyPolicy === 'strict') {
      throw new ConnectError(
        target.name,
        `known_hosts file ${path} does not exist (use hostKeyPolicy: 'accept-new' to record keys on first contact)`,
      );
    }
    return '';
  }
}

/**
 * Host keys accepted this run for targets whose known_hosts is /dev/null (Ansible's
 * `UserKnownHostsFile=/dev/null`): written nowhere, but a host whose key changes within the run (a
 * second connection, such as the firewall confirmation) is still refused.
 */
const runOnlyKnownHosts: string[] = [];

/**
 * With keys recorded for the host, only their types may be negotiated (see hostKeyAlgorithms), so
 * that a key of another type is never taken for an unknown one.
 */
function recordedAlgorithms(types: string[], target: SshTarget, knownHostsPath: string): ServerHostKeyAlgorithm[] | undefined {
  if (types.length === 0) return undefined;
  const algorithms = hostKeyAlgorithms(types);
  if (algorithms.length === 0) {
    throw new ConnectError(
      target.name,
      `${knownHostsPath} records for ${target.address}:${target.port} only host key types mailprov cannot check (${types.join(', ')})`,
    );
  }
  return algorithms as ServerHostKeyAlgorithm[];
}
