// The plan file `mailprov plan --out FILE` writes and `apply FILE` / `show FILE` read: plain JSON,
// sealed by a digest over its canonical text. Without a key the seal is a sha256, which catches a
// hand edit, a truncated copy or a merge gone wrong, but not someone who recomputes it; with
// MAILPROV_PLAN_KEY set (a secret the CI keeps) it is an HMAC, which only the key's holders can make.
// A file sealed with a key is refused without it, and a key at apply time refuses an unkeyed file.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { PlanFileError } from '../errors.ts';
import { DIFF_FIELDS } from '../report/diff-schema.ts';
import { CHANGE_ACTIONS } from '../resources/types.ts';
import { redactValue } from '../secrets/index.ts';
import { canonicalJson, sha256 } from './digest.ts';
import type { FactDigest, SavedChange } from './digest.ts';

export const PLAN_FORMAT = 'mailprov-plan';
export const PLAN_FORMAT_VERSION = 1;
/** The environment variable holding the key that seals plan files (HMAC-SHA256); optional. */
export const PLAN_KEY_ENV = 'MAILPROV_PLAN_KEY';

const digestString = z.string().regex(/^(sha256|scrypt):[0-9a-f]{64}$/, 'a sha256: or scrypt: digest');

const savedChange = z.strictObject({
  resourceId: z.string(),
  action: z.enum(CHANGE_ACTIONS),
  summary: z.string(),
  reason: z.string(),
  details: z.array(z.string()),
  diff: z.object(DIFF_FIELDS).nullable(),
  steps: z.array(z.strictObject({ label: z.string(), command: z.string(), notes: z.string().optional(), stdin: digestString.nullable() })),
  files: z.array(z.strictObject({ path: z.string(), sensitive: z.boolean(), keepOnUndo: z.boolean() })),
  undo: digestString,
  confirm: z.boolean(),
});

const finding = z.strictObject({ level: z.enum(['error', 'warning', 'info']), code: z.string(), message: z.string() });

const savedHost = z.strictObject({
  host: z.string().min(1),
  address: z.string(),
  os: z.string().nullable(),
  /** 'failed': the host could not be planned; `apply` refuses it. */
  status: z.enum(['pending', 'unchanged', 'failed']),
  error: z.string().nullable(),
  durationMs: z.number(),
  findings: z.array(finding),
  facts: z.array(z.strictObject({ key: z.string(), digest: digestString, sha256: z.string().nullable().optional() })),
  changes: z.array(savedChange),
});

const body = z.strictObject({
  format: z.literal(PLAN_FORMAT),
  formatVersion: z.literal(PLAN_FORMAT_VERSION),
  /** Random: the hosts' journals record it, so that the plan is applied once. */
  id: z.string().regex(/^[0-9a-f]{32}$/),
  createdAt: z.string(),
  mailprov: z.string(),
  /** Salt of every scrypt digest in the file (random per file). */
  salt: z.string().regex(/^[0-9a-f]{32}$/),
  inventory: z.strictObject({ file: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  selection: z.strictObject({
    limit: z.string().nullable(),
    shard: z.strictObject({ index: z.number().int().min(1), count: z.number().int().min(1) }).nullable(),
    /** The hosts the inventory and --limit selected, before --shard. */
    selected: z.array(z.string()),
    /** As `report merge` checks shards: a digest of the inventory and its host names. */
    record: z.strictObject({ inventory: z.string(), limit: z.string().nullable(), selection: z.array(z.string()) }),
  }),
  hosts: z.array(savedHost),
});

const sealed = body.extend({
  integrity: z.strictObject({ alg: z.enum(['sha256', 'hmac-sha256']), digest: z.string().regex(/^[0-9a-f]{64}$/) }),
});

export type PlanBody = z.infer<typeof body>;
export type PlanFile = z.infer<typeof sealed>;
export type SavedHost = z.infer<typeof savedHost>;
export type { FactDigest, SavedChange };

export const newPlanId = () => randomBytes(16).toString('hex');
export const newSalt = () => randomBytes(16).toString('hex');

function seal(b: PlanBody, key: string | undefined): PlanFile['integrity'] {
  const text = canonicalJson(b);
  return key
    ? { alg: 'hmac-sha256', digest: createHmac('sha256', key).update(text).digest('hex') }
    : { alg: 'sha256', digest: sha256(text) };
}

/**
 * The plan file's text. Refused when any string in it holds a secret this process read (the
 * redactor would change it): the plan is meant to be passed around, as an artifact or a comment.
 */
export function serializePlan(b: PlanBody, key: string | undefined = process.env[PLAN_KEY_ENV] || undefined): string {
  const checked = body.parse(b);
  if (canonicalJson(redactValue(checked)) !== canonicalJson(checked))
    throw new PlanFileError('the plan would hold a secret (in a command, a finding or a diff): it was not written');
  return `${JSON.stringify({ ...checked, integrity: seal(checked, key) }, null, 1)}\n`;
}

/** Whether a file's text is a plan file (rather than an inventory): `apply` takes either. */
export function looksLikePlan(text: string): boolean {
  if (!text.trimStart().startsWith('{')) return false;
  try {
    return (JSON.parse(text) as { format?: unknown })?.format === PLAN_FORMAT;
  } catch {
    return false;
  }
}

/** Reads and checks a plan file: its shape, then its seal. Any doubt refuses the whole file. */
export function parsePlan(file: string, text: string, key: string | undefined = process.env[PLAN_KEY_ENV] || undefined): PlanFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new PlanFileError(`${file}: not a plan file (not JSON: ${(err as Error).message})`);
  }
  if ((raw as { format?: unknown })?.format !== PLAN_FORMAT)
    throw new PlanFileError(`${file}: not a mailprov plan file (no "format": "${PLAN_FORMAT}")`);
  const version = (raw as { formatVersion?: unknown }).formatVersion;
  if (version !== PLAN_FORMAT_VERSION)
    throw new PlanFileError(
      `${file}: plan file format ${String(version)}, this mailprov reads format ${PLAN_FORMAT_VERSION}: make the plan again`,
    );
  const parsed = sealed.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PlanFileError(`${file}: not a valid plan file (${issue.path.join('.') || 'file'}: ${issue.message}): was it edited?`);
  }
  const { integrity, ...rest } = parsed.data;
  if (integrity.alg === 'hmac-sha256' && !key)
    throw new PlanFileError(`${file}: the plan is sealed with a key (HMAC): set ${PLAN_KEY_ENV} to the key it was made with`);
  if (integrity.alg === 'sha256' && key)
    throw new PlanFileError(
      `${file}: the plan is sealed without a key, but ${PLAN_KEY_ENV} is set: a plan made with the key is expected (refusing an unkeyed file, which anyone can reseal)`,
    );
  const expected = seal(rest, integrity.alg === 'hmac-sha256' ? key : undefined).digest;
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(integrity.digest)))
    throw new PlanFileError(
      `${file}: the plan file was changed after it was written (its ${integrity.alg === 'sha256' ? 'digest' : 'HMAC'} does not match): make the plan again`,
    );
  return parsed.data;
}
