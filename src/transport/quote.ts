// Quoting for remote commands. Every value is single-quoted, the only quoting that means the same
// thing in dash (Debian's /bin/sh), bash and busybox sh: nothing inside '...' is special, so the one
// character to handle is ' itself, written as '\'' (close, escaped quote, reopen). $'...' is a
// bash-ism that dash prints literally, so it is never used.

export type ShellValue = string | number | readonly (string | number)[];

/** Quotes one value so the shell reads it back as exactly one word, byte for byte. */
export function shellQuote(value: string): string {
  if (typeof value !== 'string') throw new TypeError(`shellQuote: expected a string, got ${typeof value}`);
  // argv strings are NUL-terminated: no quoting can carry a NUL, so refuse rather than truncate
  if (value.includes('\0')) throw new TypeError('shellQuote: a shell word cannot contain a NUL byte');
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Quotes each argument and joins them with spaces, e.g. for an argv run through sh -c. */
export function shellJoin(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

function quoteValue(value: unknown): string {
  if (typeof value === 'string') return shellQuote(value);
  if (typeof value === 'number' && Number.isFinite(value)) return shellQuote(String(value));
  if (Array.isArray(value)) return value.map(quoteValue).join(' ');
  // undefined, null and objects are almost always a bug in the caller: fail loudly, not with 'undefined'
  throw new TypeError(`sh: cannot interpolate ${value === null ? 'null' : typeof value} into a shell command`);
}

/**
 * Builds a command where the literal text is shell code and every interpolated value is quoted:
 * sh`chown ${owner}:${group} ${path}` -> chown 'root':'mail' '/etc/mail'. Arrays become several words.
 */
export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): string {
  let out = strings[0];
  values.forEach((value, i) => {
    out += quoteValue(value) + strings[i + 1];
  });
  return out;
}
