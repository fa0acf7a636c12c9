// What a saved plan remembers of a host, and how `apply PLANFILE` tells whether it still holds:
// a digest of every fact the resources read (each file's sha256, packages, services, rules) and, per
// change, its steps with the content they send as a digest. Anything that could hold a secret (a
// file a resource masks, content sent to a sensitive file) gets a salted scrypt digest instead of a
// sha256: a sha256 of an authinfo whose every other byte is known is a cheap password oracle.
import { createHash, scryptSync, timingSafeEqual } from 'node:crypto';
import { fileFact } from '../facts/builtin.ts';
import type { FileFact, HostFacts } from '../facts/types.ts';
import { uniqueQueries } from '../facts/gather.ts';
import type { Change, FileDiff, Resource } from '../resources/types.ts';
import { redact } from '../secrets/index.ts';

/** One fact as the plan saw it. `sha256`: a file's content digest, only when it cannot hold a secret. */
export interface FactDigest {
  key: string;
  /** "sha256:<hex>" of the fact's value, or "scrypt:<hex>" when it may hold a secret. */
  digest: string;
  /** For a file fact whose content is no secret: its content's sha256, null when there is no regular file. */
  sha256?: string | null;
}

/** A step as planned: the command itself, and what it sends on stdin as a digest only. */
export interface SavedStep {
  label: string;
  command: string;
  notes?: string;
  /** "sha256:<hex>" (or "scrypt:<hex>" for content holding secrets) of the step's stdin; null when it sends none. */
  stdin: string | null;
}

/** A change as planned: what `show` prints (masked diff) and what `apply PLANFILE` checks again. */
export interface SavedChange {
  resourceId: string;
  action: Change['action'];
  summary: string;
  reason: string;
  details: string[];
  diff: FileDiff | null;
  steps: SavedStep[];
  files: { path: string; sensitive: boolean; keepOnUndo: boolean }[];
  /** A digest of the undo records (they are the journal's business, not the reviewer's). */
  undo: string;
  confirm: boolean;
}

/** scrypt's cost: 16 MiB and some tens of milliseconds per digest, so each guess costs as much. */
const SCRYPT = { N: 2 ** 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** The same value and salt are hashed once per process (a plan of many hosts repeats the same authinfo). */
const scryptCache = new Map<string, string>();

export function slowDigest(value: string, salt: string): string {
  const cacheKey = `${salt}\0${createHash('sha256').update(value).digest('hex')}`;
  let hex = scryptCache.get(cacheKey);
  if (!hex) {
    hex = scryptSync(value, Buffer.from(salt, 'hex'), 32, SCRYPT).toString('hex');
    scryptCache.set(cacheKey, hex);
  }
  return `scrypt:${hex}`;
}

export const sha256 = (value: string | Buffer): string => createHash('sha256').update(value).digest('hex');

/** Whether `value` has the digest `saved` (of either kind), compared in constant time. */
export function matchesDigest(saved: string, value: string, salt: string): boolean {
  const now = saved.startsWith('scrypt:') ? slowDigest(value, salt) : `sha256:${sha256(value)}`;
  return now.length === saved.length && timingSafeEqual(Buffer.from(now), Buffer.from(saved));
}

/** JSON with object keys sorted, so that the same value always has the same digest. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** Redaction changes it: the text holds a secret this process read (the current password, in some form). */
const holdsKnownSecret = (text: string) => redact(text) !== text;

/** The paths of the files whose resources mask secrets, e.g. /etc/mail/authinfo and /etc/mail/access. */
function maskedFiles(resources: Resource[]): Map<string, (text: string) => string> {
  const m = new Map<string, (text: string) => string>();
  for (const r of resources) if (r.file?.mask) m.set(r.file.path, r.file.mask);
  return m;
}

/**
 * Every fact the host's resources read (the os facts included), each as a digest. A file a resource
 * masks is a secret when masking changes its content (or the content was too big to read); any other
 * fact that names such a file (a check on its .db, say) or holds a known secret is hashed slowly too.
 */
export function factDigests(resources: Resource[], facts: HostFacts, salt: string): FactDigest[] {
  const masked = maskedFiles(resources);
  const queries = uniqueQueries(resources.flatMap((r) => r.facts()));
  return queries.map((q) => {
    const value = q.key === 'os' ? facts.os : facts.get(q.fact as never, q.arg as never);
    const text = canonicalJson(value);
    const filePath = q.fact === fileFact ? (q.arg as string) : undefined;
    let secret: boolean;
    if (filePath !== undefined && masked.has(filePath)) {
      const f = value as FileFact;
      const content = f.exists ? f.content : '';
      secret = content === undefined || masked.get(filePath)!(content) !== content;
    } else {
      secret = [...masked.keys()].some((p) => q.key.includes(p));
    }
    secret ||= holdsKnownSecret(text);
    const digest = secret ? slowDigest(text, salt) : `sha256:${sha256(text)}`;
    if (filePath === undefined || secret) return { key: q.key, digest };
    const f = value as FileFact;
    return { key: q.key, digest, sha256: f.exists && f.type === 'file' ? f.sha256 : null };
  });
}

/** "sha256 A -> B", or "absent -> sha256 B" for a file that appeared (digests shortened to 16 hex digits). */
function shaChange(before: string | null, after: string | null): string {
  if (before && after) return `sha256 ${before.slice(0, 16)} -> ${after.slice(0, 16)}`;
  const side = (h: string | null) => (h ? `sha256 ${h.slice(0, 16)}` : 'absent');
  return `${side(before)} -> ${side(after)}`;
}

/** What changed between the facts the plan saw and the facts now, one line each, for a person. */
export function staleFacts(saved: FactDigest[], now: FactDigest[], salt: string, nowValues: Map<string, string>): string[] {
  const problems: string[] = [];
  const current = new Map(now.map((f) => [f.key, f]));
  const before = new Map(saved.map((f) => [f.key, f]));
  for (const f of saved) {
    const n = current.get(f.key);
    if (!n) {
      problems.push(`${describeFact(f.key)} is no longer read by the playbooks (the inventory changed since the plan)`);
      continue;
    }
    if (matchesDigest(f.digest, nowValues.get(f.key)!, salt)) continue;
    if (f.key.startsWith('file:')) {
      const path = f.key.slice(5);
      // a digest is shown only when neither side may hold a secret
      if (f.sha256 === undefined || n.sha256 === undefined)
        problems.push(`${path} changed since the plan (it holds secrets: no digest shown)`);
      else if (f.sha256 === n.sha256) problems.push(`${path} changed since the plan: its owner, group or mode`);
      else problems.push(`${path} changed since the plan: ${shaChange(f.sha256, n.sha256)}`);
    } else {
      problems.push(`${describeFact(f.key)} changed since the plan`);
    }
  }
  for (const n of now)
    if (!before.has(n.key))
      problems.push(`${describeFact(n.key)} is read now but was not when planned (the inventory changed since the plan)`);
  return problems;
}

/** The canonical text of each fact now, by key, for comparing with a saved digest. */
export function factTexts(resources: Resource[], facts: HostFacts): Map<string, string> {
  return new Map(
    uniqueQueries(resources.flatMap((r) => r.facts())).map((q) => [
      q.key,
      canonicalJson(q.key === 'os' ? facts.os : facts.get(q.fact as never, q.arg as never)),
    ]),
  );
}

function describeFact(key: string): string {
  const colon = key.indexOf(':');
  if (key === 'os') return 'the operating system facts (release, fqdn, package manager)';
  if (colon < 0) return `the ${key} facts`;
  const name = key.slice(0, colon);
  const arg = key.slice(colon + 1);
  if (name === 'file') return arg;
  if (name === 'packages' || name === 'package-transaction') return `the packages ${packageNames(arg)}`;
  // by name, or { name, pidFiles } (a daemon's pid files)
  if (name === 'service') return `the service ${arg.startsWith('{') ? (JSON.parse(arg) as { name: string }).name : arg}`;
  // a check is a shell command: its first words say enough
  const words = arg.replace(/\s+/g, ' ');
  return name === 'test' ? `the check \`${words.length > 60 ? `${words.slice(0, 60)}...` : words}\`` : `${name} ${arg}`;
}

/**
 * The names in a packages fact's argument (a list, or the transaction's per-manager lists) for a
 * person: "sendmail, sendmail-cf (rpm: sendmail, cyrus-sasl-plain)"; the argument as it is otherwise.
 */
function packageNames(arg: string): string {
  const list = (v: unknown) => (Array.isArray(v) && v.every((n) => typeof n === 'string') ? v.join(', ') : undefined);
  try {
    const v = JSON.parse(arg) as unknown;
    const plain = list(v);
    if (plain !== undefined) return plain;
    const { apt, rpm } = (v ?? {}) as { apt?: unknown; rpm?: unknown };
    const a = list(apt);
    const r = list(rpm);
    if (a !== undefined && r !== undefined) return a === r ? a : `${a} (rpm: ${r})`;
  } catch {
    // not JSON: said as it is
  }
  return arg;
}

/** Whether what a change sends may hold a secret: it writes a sensitive file, masks its diff, or carries a known secret. */
function changeHoldsSecrets(c: Change): boolean {
  return (
    (c.files ?? []).some((f) => f.sensitive) ||
    Boolean(c.diff?.masked) ||
    c.steps.some((s) => s.stdin !== undefined && holdsKnownSecret(s.stdin))
  );
}

export function saveChange(c: Change, salt: string): SavedChange {
  const secret = changeHoldsSecrets(c);
  const digest = (text: string) => (secret ? slowDigest(text, salt) : `sha256:${sha256(text)}`);
  return {
    resourceId: c.resourceId,
    action: c.action,
    summary: c.summary,
    reason: c.reason,
    details: c.details ?? [],
    diff: c.diff ?? null,
    steps: c.steps.map((s) => ({
      label: s.label,
      command: s.command,
      ...(s.notes ? { notes: s.notes } : {}),
      stdin: s.stdin === undefined ? null : digest(s.stdin),
    })),
    files: (c.files ?? []).map((f) => ({ path: f.path, sensitive: Boolean(f.sensitive), keepOnUndo: Boolean(f.keepOnUndo) })),
    undo: digest(canonicalJson(c.undo)),
    confirm: Boolean(c.confirm),
  };
}

/**
 * How the changes planned now differ from the saved ones, one line each; none when they are the
 * same steps with the same content (compared by digest: the plan holds no content).
 */
export function changesDiffer(saved: SavedChange[], now: Change[], salt: string): string[] {
  const problems: string[] = [];
  const n = Math.max(saved.length, now.length);
  for (let i = 0; i < n; i++) {
    const s = saved[i];
    const c = now[i];
    if (!s) {
      problems.push(`${c.summary}: a change the plan does not have`);
      continue;
    }
    if (!c) {
      problems.push(`${s.summary}: planned, but no longer needed`);
      continue;
    }
    if (s.resourceId !== c.resourceId || s.action !== c.action) {
      problems.push(`change ${i + 1}: planned "${s.summary}", now "${c.summary}"`);
      continue;
    }
    const what = s.diff?.path ?? s.resourceId;
    if (s.steps.length !== c.steps.length || s.steps.some((st, j) => st.command !== c.steps[j].command || st.label !== c.steps[j].label))
      problems.push(`${what}: its commands differ from the plan's`);
    else if (
      s.steps.some(
        (st, j) =>
          (st.stdin === null) !== (c.steps[j].stdin === undefined) ||
          (st.stdin !== null && !matchesDigest(st.stdin, c.steps[j].stdin!, salt)),
      )
    )
      problems.push(`${what}: the content it would write differs from the plan's (the inventory or a secret changed)`);
    else if (!matchesDigest(s.undo, canonicalJson(c.undo), salt))
      problems.push(`${what}: what it would record for undo differs from the plan's`);
    else if (canonicalJson(s.details) !== canonicalJson(c.details ?? []) || s.confirm !== Boolean(c.confirm))
      problems.push(`${what}: its details differ from the plan's`);
  }
  return problems;
}
