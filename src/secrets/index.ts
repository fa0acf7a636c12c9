// Secrets (the authinfo password) are read at apply time from an environment variable or a file,
// never written in an inventory. Every value read is registered with the redactor, so that any text
// that leaves the process (output, logs, JSON, errors) can be scrubbed of it, even on error paths
// nobody foresaw. That registry is deliberately process-wide: a secret must be masked everywhere.
import { readFileSync } from 'node:fs';
import { SecretError } from '../errors.ts';
import { AWS_REGION, deriveSesSmtpPassword } from './ses.ts';

export const MASK = '********';

const knownSecrets = new Set<string>();

/**
 * The shortest base64 run (see base64Runs) masked on its own: 8 characters are 48 bits of the value,
 * so ordinary text never matches by chance; shorter values are masked through the exact payloads
 * that carry them (registerSaslSecret).
 */
const MIN_BASE64_RUN = 8;

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

/** Registers a value (and its base64 forms, as authinfo and SMTP AUTH carry them) for redaction. */
export function registerSecret(value: string): void {
  // any length: a short password garbles the output where it is masked, but never shows
  if (!value) return;
  knownSecrets.add(value);
  knownSecrets.add(b64(value));
  // as it reads inside a JSON string (quotes, backslashes, control characters escaped)
  knownSecrets.add(JSON.stringify(value).slice(1, -1));
  // inside a longer base64 text whose other bytes are not known here
  for (const run of base64Runs(value)) if (run.length >= MIN_BASE64_RUN) knownSecrets.add(run);
}

/**
 * The characters of base64 that depend on the value's bytes alone, for each of the three offsets
 * (mod 3) it can sit at inside a longer encoded string. base64 encodes 3 bytes as 4 characters, so
 * the characters of a value embedded after other bytes change with the alignment: `\0user\0password`
 * contains the base64 of the password only when the user name is 1 character long (mod 3). The
 * characters at either end that mix in a neighbouring byte are left out.
 */
export function base64Runs(value: string): string[] {
  const bytes = Buffer.from(value);
  const runs: string[] = [];
  for (const offset of [0, 1, 2]) {
    const encoded = b64(Buffer.concat([Buffer.alloc(offset), bytes]));
    // the first group holds `offset` foreign bytes: 0, 2 or 3 of its characters depend on them
    const head = [0, 2, 3][offset];
    // a last group of 1 or 2 bytes ends in a character mixing in the next byte, then padding
    const tail = [0, 3, 2][(offset + bytes.length) % 3];
    const run = encoded.slice(head, encoded.length - tail);
    if (run) runs.push(run);
  }
  return runs;
}

/**
 * What SMTP AUTH puts on the wire for these credentials, each a whole base64 string: PLAIN's
 * `authzid NUL user NUL password` with an empty authorization id (the probe), with the user as
 * authorization id (sendmail, whose authinfo has I: equal to U:, through Cyrus SASL's PLAIN) and
 * with any other authorization id given, and LOGIN's password line. `sendmail -v` prints these lines.
 */
export function saslForms(user: string, password: string, authzids: string[] = []): string[] {
  const plain = [...new Set(['', user, ...authzids])].map((authzid) => b64(`${authzid}\0${user}\0${password}`));
  return [b64(password), ...plain];
}

/** Registers a password and every SMTP AUTH payload that carries it for this user. */
export function registerSaslSecret(user: string, password: string, authzids: string[] = []): void {
  if (!password) return;
  registerSecret(password);
  for (const form of saslForms(user, password, authzids)) knownSecrets.add(form);
}

/** Redacts every string inside a value (objects, arrays), before it is serialized. */
export function redactValue<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactValue) as T;
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [redact(k), redactValue(v)])) as T;
  }
  return value;
}

/**
 * Forgets every registered value. For the unit tests alone (test/unit/setup.ts): they run many files
 * in one process, and one file's short test passwords would otherwise mask words in the next's output.
 */
export function forgetRegisteredSecrets(): void {
  knownSecrets.clear();
}

/** Replaces every registered secret in the text with the mask. */
export function redact(text: string): string {
  let out = text;
  // longest first, so a value that contains another is masked whole
  for (const secret of [...knownSecrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

type SecretSource =
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'value'; value: string }
  // derived from another secret when revealed (sesSmtpPassword): the source names the other's source, never a value
  | { kind: 'ses-smtp-password'; region: string; from: SecretSource };

/**
 * A value that must never be printed. `toString`, `toJSON` and `util.inspect` all give the mask;
 * only `reveal()` returns the value, and it is called where the value goes to the host (file content
 * sent over SFTP/stdin), nowhere else.
 */
export class Secret {
  #cached: string | undefined;
  readonly #saslUsers = new Set<string>();
  constructor(readonly source: SecretSource) {}

  /**
   * Says that this secret is the SMTP AUTH password of `user`: when it is revealed, the AUTH
   * payloads that carry it are registered too (registerSaslSecret). Their base64 cannot be derived
   * from the password alone, the user name shifts it.
   */
  usedForSaslBy(user: string): this {
    this.#saslUsers.add(user);
    if (this.#cached !== undefined) registerSaslSecret(user, this.#cached);
    return this;
  }

  describe(): string {
    switch (this.source.kind) {
      case 'env':
        return `environment variable ${this.source.name}`;
      case 'file':
        return `file ${this.source.path}`;
      case 'value':
        return 'inline value';
      case 'ses-smtp-password':
        return `the SES SMTP password for ${this.source.region} derived from ${new Secret(this.source.from).describe()}`;
    }
  }

  /** An inline value somewhere in its source (tests): nothing identifies it but the value itself. */
  get isInline(): boolean {
    return this.source.kind === 'value' || (this.source.kind === 'ses-smtp-password' && new Secret(this.source.from).isInline);
  }

  reveal(): string {
    if (this.#cached !== undefined) return this.#cached;
    let value: string | undefined;
    if (this.source.kind === 'env') {
      value = process.env[this.source.name];
      if (value === undefined || value === '') {
        throw new SecretError(`secret not set: environment variable ${this.source.name} is empty or missing`);
      }
    } else if (this.source.kind === 'file') {
      try {
        value = readFileSync(this.source.path, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new SecretError(`secret file ${this.source.path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`);
      }
    } else if (this.source.kind === 'ses-smtp-password') {
      // the key it comes from is revealed (and so masked) too: it is as secret as the password
      value = deriveSesSmtpPassword(new Secret(this.source.from).reveal(), this.source.region);
    } else {
      value = this.source.value;
    }
    registerSecret(value);
    for (const user of this.#saslUsers) registerSaslSecret(user, value);
    this.#cached = value;
    return value;
  }

  toString(): string {
    return MASK;
  }
  toJSON(): string {
    return MASK;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${this.describe()})`;
  }
}

// Checked when the inventory loads: `secret.env(host.vars.passwordEnv)` with the var missing fails
// there, naming the host, rather than at apply time as "environment variable undefined".
function sourceName(value: unknown, call: string, expected: string): string {
  if (typeof value === 'string' && value !== '') return value;
  const got = value === '' ? 'an empty string' : typeof value === 'object' && value !== null ? 'an object' : String(value);
  throw new SecretError(`${call}() needs ${expected}, not ${got}`);
}

export const secret = {
  /** Read from an environment variable of the controller at apply time. */
  env: (name: string) => new Secret({ kind: 'env', name: sourceName(name, 'secret.env', 'the name of an environment variable') }),
  /** Read from a file on the controller at apply time (a trailing newline is dropped). */
  file: (path: string) => new Secret({ kind: 'file', path: sourceName(path, 'secret.file', 'the path of a file') }),
  /** For tests only: an inline value. Inventories should use env or file. */
  value: (value: string) => new Secret({ kind: 'value', value }),
  /**
   * Amazon SES's SMTP password for `region`, derived from an IAM user's secret access key (itself a
   * secret: `secret.env('AWS_SECRET_ACCESS_KEY')`) when it is revealed; the user is the key's access key id.
   */
  sesSmtpPassword: (secretAccessKey: Secret, region: string) => {
    if (!(secretAccessKey instanceof Secret))
      throw new SecretError(
        `secret.sesSmtpPassword() needs the IAM secret access key as a secret (secret.env('AWS_SECRET_ACCESS_KEY') or secret.file(...)), never the key itself`,
      );
    if (typeof region !== 'string' || !AWS_REGION.test(region))
      throw new SecretError(`secret.sesSmtpPassword() needs an AWS region such as eu-west-1, not ${JSON.stringify(region)}`);
    return new Secret({ kind: 'ses-smtp-password', region, from: secretAccessKey.source });
  },
};

export function isSecret(value: unknown): value is Secret {
  return value instanceof Secret;
}
