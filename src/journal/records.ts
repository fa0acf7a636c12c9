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
  /**
   * 'rollback-failed': an undo of this generation stopped halfway; the records in `undone` are
   * undone, the others are still live and still this generation's, for the next rollback to undo.
   * 'failed': a rollback generation that did not finish (what it undid is recorded in the
   * generations it undid).
   */
  status: z.enum(['in-progress', 'complete', 'failed', 'rolled-back', 'rollback-failed']),
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
  /**
   * Saved copies of sensitive files removed by `mailprov forget-secrets`: a rollback cannot put
   * them back, so it keeps the current file (the newest credentials) and says so.
   */
  forgotten: z.array(z.object({ path: absolutePath, at: z.string() })).default([]),
  /**
   * The indices in `undo` of the records an undo of this generation did undo ('rollback-failed':
   * the others are still live; 'rolled-back': the others waited for an opt-in). None when absent.
   */
  undone: z.array(z.number().int().nonnegative()).optional(),
  /** For rollbacks: the generations undone. */
  undid: z.array(z.number().int().positive()).optional(),
  /**
   * For rollbacks: true when it undid a rollback (its records are the changes it put back), false
   * when it undid applies (its records put back what it took out). Absent in records of older
   * versions: read from the generations in `undid`.
   */
  reapplies: z.boolean().optional(),
  reason: z.string().optional(),
  /** `apply PLANFILE`: the saved plan's id, so that the same plan is refused a second time. */
  plan: z.string().optional(),
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
 * A generation pruned by the retention (`keepGenerations`): its folder is gone, this line stays in
 * the journal's `pruned` file so that history can count it and a rollback to it fails clearly.
 */
export interface PrunedRecord {
  id: number;
  /** Its status when pruned: a complete one was live state that can no longer be undone. */
  status: GenerationStatus;
  /** The keepGenerations that pruned it. */
  keep: number;
  at: string;
}

/** The journal fact marks lines of the `pruned` file with this: a folder name never holds a "/". */
export const PRUNED_MARK = '/pruned';

/**
 * Records written before undo records existed kept per-kind arrays; they become undo records of
 * the kinds that now own them, so hosts provisioned by an older mailprov can still be rolled back.
 */
function fromLegacy(raw: Record<string, unknown>): Record<string, unknown> {
  // an apply was recorded 'failed' only when its automatic rollback failed: what it did may be live
  if (raw.kind === 'apply' && raw.status === 'failed') raw = { ...raw, status: 'rollback-failed', undone: [] };
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

/**
 * Generations whose changes are (at least partly) live: complete ones, and those an undo left
 * halfway. A rollback to before them undoes them; nothing else owns their records.
 */
export function isLive(g: Generation): boolean {
  return g.status === 'complete' || g.status === 'rollback-failed';
}

/** The undo records of a generation not undone yet, with their indices in `undo`, in the order they were recorded. */
export function remainingUndo(g: Generation): { index: number; record: UndoRecord }[] {
  const done = new Set(g.undone);
  return g.undo.flatMap((record, index) => (done.has(index) ? [] : [{ index, record }]));
}

export interface JournalRecords {
  generations: Generation[];
  unreadable: UnreadableRecord[];
  pruned: PrunedRecord[];
}

/**
 * The journal fact's lines ("<dir>\t<meta.json on one line>", and "/pruned\t<pruned line>") ->
 * generations by id, the unreadable ones, and the pruned ones.
 */
export function parseJournal(text: string): JournalRecords {
  const generations: Generation[] = [];
  const unreadable: UnreadableRecord[] = [];
  const prunedLines: string[] = [];
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const dir = line.slice(0, tab);
    if (dir === PRUNED_MARK) {
      prunedLines.push(line.slice(tab + 1));
      continue;
    }
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
  const folders = new Set([...generations.map((g) => String(g.id)), ...unreadable.map((u) => u.dir)]);
  const pruned = parsePruned(prunedLines, unreadable).filter((p) => !folders.has(String(p.id)));
  return { generations: generations.sort((a, b) => a.id - b.id), unreadable, pruned };
}

const PRUNED_LINE = /^([1-9][0-9]*)\t(in-progress|complete|failed|rolled-back|rollback-failed)\t([1-9][0-9]*)\t([^\t]*)$/;

/**
 * Lines of the `pruned` file ("<id>\t<status>\t<keep>\t<time>"), one per id. A folder still there
 * is not pruned (the line is written before the folder goes): the caller drops those.
 */
export function parsePruned(lines: string[], unreadable: UnreadableRecord[]): PrunedRecord[] {
  const byId = new Map<number, PrunedRecord>();
  for (const line of lines) {
    const m = PRUNED_LINE.exec(line);
    if (!m) {
      unreadable.push({
        dir: 'pruned',
        problem: `a line of the pruned list is not "<id> <status> <keep> <time>": ${JSON.stringify(line.slice(0, 80))}`,
      });
      continue;
    }
    const id = Number(m[1]);
    byId.set(id, { id, status: m[2] as GenerationStatus, keep: Number(m[3]), at: m[4] });
  }
  return [...byId.values()].sort((a, b) => a.id - b.id);
}
