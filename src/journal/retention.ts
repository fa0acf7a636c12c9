// Retention, as pure functions of the journal's records: which generations to prune (the host keeps
// its newest `keepGenerations`), and which saved copies of sensitive files `forget-secrets` removes.
// Old generations hold old copies of /etc/mail/authinfo, so keeping them forever keeps old passwords.
import type { Generation, PrunedRecord } from './records.ts';

export const DEFAULT_KEEP_GENERATIONS = 10;

/**
 * The generations beyond the newest `keep`, oldest first, as the records the pruned list keeps. A
 * generation still in progress is never pruned: the next run needs it to repair the host.
 */
export function choosePrune(generations: Generation[], keep: number, at: string): PrunedRecord[] {
  if (!Number.isInteger(keep) || keep < 1) throw new TypeError(`keepGenerations must be a whole number of at least 1, not ${keep}`);
  const sorted = [...generations].sort((a, b) => a.id - b.id);
  return sorted
    .slice(0, Math.max(0, sorted.length - keep))
    .filter((g) => g.status !== 'in-progress')
    .map((g) => ({ id: g.id, status: g.status, keep, at }));
}

/**
 * The files these generations would put back but no longer can (forget-secrets removed the saved
 * copy), each with the generations concerned.
 */
export function forgottenPaths(generations: Generation[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const g of generations)
    for (const f of g.forgotten) if (g.files.includes(f.path)) out.set(f.path, [...(out.get(f.path) ?? []), g.id]);
  return out;
}

export interface ForgetEntry {
  generation: Generation;
  /** Sensitive paths whose copy (or a leftover ".tmp" of it) is in this generation's folder. */
  paths: string[];
}

/**
 * Which copies forget-secrets removes: per generation, the sensitive paths it holds a copy of.
 * `alsoSensitive` (the playbooks' own secret files) covers records written before generations
 * listed their sensitive files; it counts only for files the generation itself backed up.
 */
export function planForget(generations: Generation[], copies: Map<number, Set<string>>, alsoSensitive: string[] = []): ForgetEntry[] {
  const entries: ForgetEntry[] = [];
  for (const g of generations) {
    const held = copies.get(g.id);
    if (!held) continue;
    const backedUp = new Set([...g.files, ...g.kept]);
    const candidates = new Set([...g.sensitive, ...alsoSensitive.filter((p) => backedUp.has(p))]);
    const paths = [...candidates].filter((p) => held.has(p) || held.has(`${p}.tmp`)).sort();
    if (paths.length) entries.push({ generation: g, paths });
  }
  return entries;
}

/** The generation's record once these copies are gone: each path noted once, with when. */
export function withForgotten(gen: Generation, paths: string[], at: string): Generation {
  const known = new Set(gen.forgotten.map((f) => f.path));
  return { ...gen, forgotten: [...gen.forgotten, ...paths.filter((p) => !known.has(p)).map((path) => ({ path, at }))] };
}
