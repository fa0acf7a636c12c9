// Secrets (the authinfo password) are read at apply time from an environment variable or a file,
// never written in an inventory. Every value read is registered with the redactor, so that any text
// that leaves the process (output, logs, JSON, errors) can be scrubbed of it, even on error paths
// nobody foresaw. That registry is deliberately process-wide: a secret must be masked everywhere.
import { readFileSync } from 'node:fs';
import { SecretError } from '../errors.ts';

export const MASK = '********';

const knownSecrets = new Set<string>();

/** Registers a value (and its base64 forms, as authinfo and SMTP AUTH carry them) for redaction. */
export function registerSecret(value: string): void {
  // any length: a short password garbles the output where it is masked, but never shows
  if (!value) return;
  knownSecrets.add(value);
  knownSecrets.add(Buffer.from(value).toString('base64'));
  // as it reads inside a JSON string (quotes, backslashes, control characters escaped)
  knownSecrets.add(JSON.stringify(value).slice(1, -1));
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

/** Replaces every registered secret in the text with the mask. */
export function redact(text: string): string {
  let out = text;
  // longest first, so a value that contains another is masked whole
  for (const secret of [...knownSecrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

type SecretSource = { kind: 'env'; name: string } | { kind: 'file'; path: string } | { kind: 'value'; value: string };

/**
 * A value that must never be printed. `toString`, `toJSON` and `util.inspect` all give the mask;
 * only `reveal()` returns the value, and it is called where the value goes to the host (file content
 * sent over SFTP/stdin), nowhere else.
 */
export class Secret {
  #cached: string | undefined;
  constructor(readonly source: SecretSource) {}

  describe(): string {
    switch (this.source.kind) {
      case 'env':
        return `environment variable ${this.source.name}`;
      case 'file':
        return `file ${this.source.path}`;
      case 'value':
        return 'inline value';
    }
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
    } else {
      value = this.source.value;
    }
    registerSecret(value);
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
};

export function isSecret(value: unknown): value is Secret {
  return value instanceof Secret;
}
