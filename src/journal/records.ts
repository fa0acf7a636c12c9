// A generation as recorded on the host (/var/lib/mailprov/generations/<id>/meta.json). Records
// come from the host, so they are input: each is checked against the schema, and one that does not
// pass is kept aside as unreadable (shown by `history`, skipped by plan, apply and rollback) instead
// of blocking the host.
import { z } from 'zod';

/** What a resource did besides writing files, kept so that its kind can undo it (see resources/undo.ts). */
export const undoRecordSchema = z.object({ kind: z.string().regex(/^[a-z][a-z0-9-]*$/) }).passthrough();
export type UndoRecord = z.infer<typeof undoRecordSchema>;

const absolutePath = z.string().regex(/^\/[^\0\n]*$/, 'an absolute path');

export const generationSchema = z.object({
  id: z.number().int().positive(),
  kind: z.enum(['apply', 'rollback']),
  status: z.enum(['in-progress', 'complete', 'failed', 'rolled-back']),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  by: z.string(),
  inventory: z.string(),
  summary: z.array(z.string()),
  /** Files this generation may touch, in order; each is backed up right before its first write. */
  files: z.array(absolutePath),
  /** Files copied aside before a change but not put back on undo (the resource's undo rewrites them). */
  kept: z.array(absolutePath).default([]),
  /** Files holding secrets: their diffs are masked whole unless a playbook knows how to mask them. */
  sensitive: z.array(absolutePath).default([]),
  /** The resources' own undo records, in the order their changes were made. */
  undo: z.array(undoRecordSchema).default([]),
  /** For rollbacks: the generations undone. */
  undid: z.array(z.number().int().positive()).optional(),
  reason: z.string().optional(),
});

export type Generation = z.infer<typeof generationSchema>;
export type GenerationStatus = Generation['status'];

/** A meta.json that could not be read as a generation: shown, never acted on. */
export interface UnreadableRecord {
  /** The generation folder's name (its id, unless someone else made it). */
  dir: string;
  problem: string;
}

/**
 * Records written before undo records existed kept per-kind arrays; they become undo records of
 * the kinds that now own them, so hosts provisioned by an older mailprov can still be rolled back.
 */
function fromLegacy(raw: Record<string, unknown>): Record<string, unknown> {
  if (raw.undo !== undefined || !Array.isArray(raw.rulesAdded)) return raw;
  const manager = raw.packageManager;
  const list = (k: string) => (Array.isArray(raw[k]) ? (raw[k] as unknown[]) : []);
  const undo = [
    ...(list('packagesInstalled').length ? [{ kind: 'packages', manager, installed: list('packagesInstalled') }] : []),
    ...(list('packagesRemoved').length ? [{ kind: 'packages', manager, removed: list('packagesRemoved') }] : []),
    ...list('rulesAdded').map((r) => ({ kind: 'iptables-rule', ...(r as object), added: true, marked: false })),
    ...list('rulesRemoved').map((r) => ({ kind: 'iptables-rule', ...(r as object), added: false, marked: false })),
    ...list('firewalldServicesAdded').map((service) => ({ kind: 'firewalld-service', service, added: true })),
  ];
  return { ...raw, undo };
}

/** The journal fact's lines ("<dir>\t<meta.json on one line>") -> generations by id, and the unreadable ones. */
export function parseJournal(text: string): { generations: Generation[]; unreadable: UnreadableRecord[] } {
  const generations: Generation[] = [];
  const unreadable: UnreadableRecord[] = [];
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const dir = line.slice(0, tab);
    let raw: unknown;
    try {
      raw = JSON.parse(line.slice(tab + 1));
    } catch {
      unreadable.push({ dir, problem: 'meta.json is not valid JSON (truncated or damaged)' });
      continue;
    }
    const parsed = generationSchema.safeParse(raw && typeof raw === 'object' ? fromLegacy(raw as Record<string, unknown>) : raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      unreadable.push({ dir, problem: `meta.json does not hold a generation (${first.path.join('.') || 'record'}: ${first.message})` });
    } else if (String(parsed.data.id) !== dir) {
      unreadable.push({ dir, problem: `meta.json claims generation ${parsed.data.id}, but lies in folder ${dir}` });
    } else {
      generations.push(parsed.data);
    }
  }
  return { generations: generations.sort((a, b) => a.id - b.id), unreadable };
}
