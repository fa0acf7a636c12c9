// Undoing generations on a host: the journal puts back the files each one backed up (or removes
// the ones it created), each resource kind undoes its own records (firewall rules, packages with
// --packages), then what depends on the restored files is rebuilt by the playbooks' own
// resources (makemap, make, restart of what runs). Used by `mailprov rollback`, by the automatic
// rollback of a failed host, and to repair a host whose previous run was cut off mid-apply.
import { describeError, GenerationPrunedError, OperationError } from '../errors.ts';
import { fileFact } from '../facts/builtin.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { HostFacts, OsFacts } from '../facts/types.ts';
import type { BoundPlaybook } from '../inventory/load.ts';
import {
  forgottenPaths,
  genDir,
  isLive,
  remainingUndo,
  type Generation,
  type GenerationStart,
  type HostJournal,
  type PrunedRecord,
  type UndoRecord,
} from '../journal/index.ts';
import { fileId } from '../resources/ids.ts';
import { undoHandlerFor } from '../resources/undo.ts';
import type { Change, FileDiff, Resource } from '../resources/types.ts';
import { redact } from '../secrets/index.ts';
import { runDetached, stepName } from '../transport/detached.ts';
import type { Runner } from '../transport/runner.ts';
import { settleWatchersCommand } from './revert-watcher.ts';
import { factQueries, planHost } from './plan.ts';

export interface UndoOptions {
  /** Opt-ins for records undone only when asked (`rollback --packages`). */
  optIn: ReadonlySet<string>;
  /** A rollback generation: the current files are backed up into it first, and the inverse records kept in it. */
  recordInto?: Generation;
  /** The host's OS, as the run read it (undo steps depend on its service and package managers). */
  os: OsFacts;
  /** Why the generations are undone: recorded in each as its undo completes ("undone by generation 7"). */
  reason: string;
  /** Says which undo this is, when one stops halfway ("the automatic rollback", "rollback generation 7"). */
  by: string;
  /** Generations whose saved files are put back too, records left as they are (see UndoChoice.files). */
  files?: Generation[];
  /** Rollbacks recorded as undone with nothing of theirs undone (see UndoChoice.closed). */
  closes?: Generation[];
}

export interface UndoResult {
  restored: string[];
  /** Files left as they are because a saved copy they needed was removed by forget-secrets. */
  notRestored: ForgottenFile[];
  rebuilt: Change[];
  /** The facts the rebuild was planned from, for the verification that follows. */
  facts: HostFacts;
}

/** A file a rollback leaves as it is: the generations whose saved copy of it was forgotten. */
export interface ForgottenFile {
  path: string;
  generations: number[];
}

/**
 * Files whose saved copy one of the undone generations no longer holds. Such a file is not put
 * back from any generation of the rollback: a newer copy would give a password that is neither the
 * one being returned to nor the current one. The current file holds the newest credentials, so it
 * stays, and the rollback says so.
 */
export function forgottenFiles(gens: Generation[]): ForgottenFile[] {
  return [...forgottenPaths(gens)].map(([path, generations]) => ({ path, generations }));
}

/**
 * Undoes generations, newest first, then rebuilds and restarts what depends on the restored files.
 * Each generation is recorded 'rolled-back' as soon as its own undo is done. One whose undo stops
 * halfway is recorded 'rollback-failed' with the records it did undo: the others stay its own, and
 * the next rollback undoes them (every undo step is idempotent; files are put back again).
 */
export async function undoGenerations(
  runner: Runner,
  journal: HostJournal,
  gens: Generation[],
  playbooks: BoundPlaybook[],
  opts: UndoOptions,
): Promise<UndoResult> {
  const into = opts.recordInto;
  if (into) {
    await journal.backup(into, [...into.files, ...into.kept]);
  }
  const undoing = new Set(gens);
  // newest first, so that the oldest saved copy of each file is the one that stays
  const sources = [...gens, ...(opts.files ?? [])].sort((a, b) => b.id - a.id);
  const restored = new Set<string>();
  const notRestored = forgottenFiles(sources);
  const skip = new Set(notRestored.map((f) => f.path));
  for (const f of notRestored)
    runner.log(
      `${f.path}: not restored, its saved copy was removed by forget-secrets (generation ${f.generations.join(', ')}); the current file stays`,
    );
  for (const gen of sources) {
    if (!undoing.has(gen)) {
      runner.log(`put back the files saved by generation ${gen.id} (${gen.kind}, ${gen.status})`);
      for (const f of await journal.restoreFiles(gen, '', skip)) restored.add(f);
      continue;
    }
    runner.log(`undo generation ${gen.id} (${gen.kind}, ${gen.startedAt})`);
    const done = new Set(gen.undone);
    try {
      // a firewall watcher of this generation must not act after (or during) its rollback
      const settle = gen.undo.length ? settleWatchersCommand(gen.id) : '';
      for (const f of await journal.restoreFiles(gen, settle, skip)) restored.add(f);
      for (const { index, handler, record } of pendingRecords(gen, opts.optIn)) {
        for (const step of handler.steps(record, opts.os)) await runStep(runner, (into ?? gen).id, step);
        done.add(index);
        if (into) into.undo.push(handler.inverse(record));
      }
    } catch (err) {
      throw await stoppedHalfway(journal, gen, done, opts.by, err);
    }
    // records left for an opt-in that was not given (packages without --packages) stay listed as not undone
    gen.undone = [...done].sort((a, b) => a - b);
    // a rollback that failed was never a state to return to: it stays recorded as failed
    if (gen.status === 'failed') await journal.write(gen);
    else await journal.finish(gen, 'rolled-back', opts.reason);
  }
  for (const gen of opts.closes ?? [])
    await journal.finish(
      gen,
      'rolled-back',
      `${opts.reason}, with what it had undone${gen.undid?.length ? ` (generation ${gen.undid.join(', ')})` : ''}`,
    );
  if (into) await journal.write(into);
  // what the journal saved it puts back byte for byte, generator outputs included: a generator
  // whose every output was saved is not run again (its source may never have built)
  const saved = new Set(sources.flatMap((g) => g.files).filter((f) => !skip.has(f)));
  try {
    const { rebuilt, facts } = await rebuild(runner, playbooks, restored, saved, (into ?? gens[0]).id);
    return { restored: [...restored], notRestored, rebuilt, facts };
  } catch (err) {
    // the files are back; what runs on them did not come back: say both
    const put = restored.size ? [...restored].join(', ') : 'none (they were as saved)';
    throw new OperationError(
      `${opts.by} of generation ${gens.map((g) => g.id).join(', ')}: the files were put back (${put}), but what depends on them failed to rebuild or restart`,
      [`  ${redact(describeError(err))}`],
    );
  }
}

/**
 * The read-only checks of the records a rollback would undo (what a package removal would take
 * with it), before it records or changes anything: a failing one refuses the rollback.
 */
export async function checkUndo(runner: Runner, gens: Generation[], optIn: ReadonlySet<string>, os: OsFacts): Promise<void> {
  for (const gen of gens)
    for (const { handler, record } of pendingRecords(gen, optIn))
      for (const step of handler.preflight?.(record, os) ?? [])
        await runner.run(step.command, step.label, { stdin: step.stdin, what: 'rollback check' });
}

/** The records of a generation still to undo, last done first, with their handlers and the opt-ins applied. */
function pendingRecords(gen: Generation, optIn: ReadonlySet<string>) {
  return remainingUndo(gen)
    .reverse() // the last thing done is undone first
    .map(({ index, record: raw }) => ({ index, ...undoHandlerFor(raw) }))
    .filter(({ handler }) => !handler.optIn || optIn.has(handler.optIn));
}

/** What an undo of this generation did and did not undo yet, one line per record. */
export function undoProgress(gen: Generation): { undone: string[]; remaining: string[] } {
  const lines = (raw: UndoRecord) => {
    const { handler, record } = undoHandlerFor(raw);
    return handler.describe(record).split('\n');
  };
  const done = new Set(gen.undone);
  return {
    undone: gen.undo.flatMap((r, i) => (done.has(i) ? lines(r) : [])),
    remaining: remainingUndo(gen).flatMap(({ record }) => lines(record)),
  };
}

/** One line for a generation an undo left halfway: what was undone, what is left, and what to do. */
export function describeHalfUndone(gen: Generation): string {
  const { undone, remaining } = undoProgress(gen);
  const list = (xs: string[]) => (xs.length ? xs.join('; ') : 'none');
  return (
    `generation ${gen.id} was not fully undone (${gen.reason ?? 'no reason recorded'}); ` +
    `its files are put back again and its records undone by the next rollback to before it. ` +
    `Records undone: ${list(undone)}. Records still live and still its own: ${list(remaining)}`
  );
}

/** Records the undo of `gen` as stopped halfway, and returns the error that says exactly that. */
async function stoppedHalfway(journal: HostJournal, gen: Generation, done: Set<number>, by: string, err: unknown): Promise<Error> {
  const why = redact(describeError(err));
  try {
    await journal.undoFailed(gen, done, `${by} stopped halfway: ${why}`);
  } catch (writeErr) {
    return new OperationError(
      `${by} of generation ${gen.id} stopped halfway (${why}), and recording that failed too: ${describeError(writeErr)}`,
    );
  }
  const { undone, remaining } = undoProgress(gen);
  return new OperationError(`${by} of generation ${gen.id} stopped halfway: ${why}`, [
    `  records undone: ${undone.length ? undone.join('; ') : 'none'}`,
    `  records still live, kept in generation ${gen.id} for the next rollback: ${remaining.length ? remaining.join('; ') : 'none'}`,
  ]);
}

/**
 * Re-runs the resources that derive state from the restored files, with the playbooks' own
 * watchers. A resource whose outputs (`writes`: sendmail.cf, a map) the journal saved and put back
 * is not run again; when one of them changed, what it notifies (the restart) still happens.
 */
async function rebuild(
  runner: Runner,
  playbooks: BoundPlaybook[],
  restored: Set<string>,
  saved: ReadonlySet<string>,
  genId: number,
): Promise<{ rebuilt: Change[]; facts: HostFacts }> {
  const covered = (r: Resource) => !!r.writes?.length && r.writes.every((w) => saved.has(w));
  const all = playbooks.flatMap((p) => p.parts.resources);
  const already = new Set([...restored].map(fileId));
  for (const r of all) if (covered(r) && r.writes!.some((w) => restored.has(w))) already.add(r.id);
  const resources = all.filter((r) => !covered(r) || already.has(r.id));
  const involved = resources.filter((r) => already.has(r.id) || r.rebuildsFromFiles || r.handler);
  const facts = await gatherFacts(runner.conn, factQueries(involved.filter((r) => !already.has(r.id))));
  const plan = planHost(involved, facts, already, 'rollback');
  for (const change of plan.changes) {
    runner.log(`rebuild: ${change.summary} (${change.reason})`);
    for (const step of change.steps) await runStep(runner, genId, step);
  }
  return { rebuilt: plan.changes, facts };
}

/** An undo or rebuild step, detached on the host like an apply's (a cut never stops make or a restart halfway). */
function runStep(runner: Runner, genId: number, step: { command: string; stdin?: string; label: string }): Promise<string> {
  return runDetached(runner, {
    dir: `${genDir(genId)}/steps/${stepName()}`,
    command: step.command,
    stdin: step.stdin,
    label: step.label,
    what: 'rollback',
  });
}

/**
 * Generations a controller left in progress are dealt with before anything else, by apply and
 * rollback alike. An apply that a dead controller left is rolled back. A rollback it left is not
 * undone (that would re-apply what the operator rolled back from): it is recorded as failed, and
 * the generations it was undoing keep what they still own, for the next rollback to finish.
 */
export async function repairIncomplete(runner: Runner, journal: HostJournal, playbooks: BoundPlaybook[], os: OsFacts): Promise<boolean> {
  const incomplete = journal.incomplete;
  if (!incomplete.length) return false;
  for (const g of incomplete.filter((x) => x.kind === 'rollback')) {
    runner.log(`generation ${g.id} (a rollback) was left incomplete: recorded as failed, not undone`);
    await journal.finish(
      g,
      'failed',
      'left incomplete: its run lost its connection or stopped mid-rollback; run the rollback again to finish it',
    );
  }
  const applies = incomplete.filter((x) => x.kind === 'apply');
  if (!applies.length) return true;
  runner.log(`generation ${applies.map((g) => g.id).join(', ')} was left incomplete: rolling it back first`);
  await undoGenerations(runner, journal, applies, playbooks, {
    optIn: new Set(),
    os,
    reason: 'left incomplete: its run lost its connection or stopped; rolled back by the next run',
    by: 'the repair of a generation left incomplete',
  });
  return true;
}

/**
 * What a rollback does. Every generation past the target is one of three things. One that made
 * changes still in effect (an apply, or a rollback that put back what another had undone) is undone:
 * its files put back, its records undone. A rollback that undid generations past the target is
 * *closed*: what it undid is already gone, and undoing its records would put it back with nothing
 * left to take it out again, so they stay as they are and it is only recorded as undone. One undone
 * before (a failed apply rolled back by itself, an apply a closed rollback undid) gives its saved
 * copies: the oldest saved copy of each file is what the file was at the target.
 */
export interface UndoChoice {
  target: number;
  /** Generations whose changes are undone, newest first. */
  undo: Generation[];
  /** Generations already undone whose saved copies are put back too, newest first. */
  files: Generation[];
  /** Live rollbacks past the target whose records stay: what they undid goes with them. */
  closed: Generation[];
  /** Whether the rollback puts back what the generation it undoes took out (it undoes a rollback); unknown for records of older versions. */
  reapplies?: boolean;
}

export interface RollbackPlan extends UndoChoice {
  /** Per file: what it is now and what the rollback makes it (masked where it holds secrets). */
  diffs: FileDiff[];
  /** What the resources' undo does besides files, one line each ("- iptables rule ..."). */
  actions: string[];
  /** Files it leaves as they are: their saved copy was removed by forget-secrets. */
  notRestored: ForgottenFile[];
}

/**
 * Whether a generation's records are changes it made (an apply, or a rollback that undid a
 * rollback), rather than changes it took out (a rollback of applies). Records of older versions do
 * not say: the generations they undid do, when those agree and were not pruned.
 */
function makesChanges(g: Generation, byId: ReadonlyMap<number, Generation>): boolean | undefined {
  if (g.kind === 'apply') return true;
  if (g.reapplies !== undefined) return g.reapplies;
  // a rollback that names nothing it undid is read as most are: a rollback of applies
  if (!g.undid?.length) return false;
  const undid = (g.undid ?? []).map((id) => byId.get(id));
  const senses = new Set(undid.map((u) => (u ? makesChanges(u, byId) : undefined)));
  return senses.size === 1 && !senses.has(undefined) ? !senses.has(true) : undefined;
}

/**
 * What a rollback undoes. `rollback --to N` returns the host to what it was after generation N
 * (0: before the first), whatever applies and rollbacks came since (see UndoChoice). Without --to
 * it undoes the latest live generation: an apply by returning to the complete generation before
 * it, a rollback by undoing exactly it (putting back what it undid). A pruned generation cannot be
 * the target, nor can a target be reached past a live generation that was pruned (its backups, the
 * way back, are gone).
 */
export function chooseUndo(
  generations: Generation[],
  to?: number,
  pruned: PrunedRecord[] = [],
  optIn: ReadonlySet<string> = new Set(),
): UndoChoice {
  const complete = generations.filter((g) => g.status === 'complete');
  const oldest =
    complete.length >= 2 ? `the oldest generation to return to is ${complete[0].id}` : 'no older generation is left to return to';
  const gone = pruned.find((p) => p.id === to);
  if (gone) {
    throw new GenerationPrunedError(
      [gone.id],
      gone.keep,
      `generation ${gone.id} was pruned (keepGenerations=${gone.keep}): the host keeps only its newest generations, ` +
        `and a pruned one cannot be rolled back to; ${oldest} (see \`mailprov history\`)`,
    );
  }
  const live = generations.filter(isLive);
  if (!live.length) throw new OperationError('nothing to roll back: the host has no complete generation');
  const byId = new Map(generations.map((g) => [g.id, g]));
  const latest = live[live.length - 1];
  if (to === undefined && latest.kind === 'rollback') {
    // the state before it is the one of the generation just before it, whatever its status
    const before = [...generations, ...pruned].filter((g) => g.id < latest.id).map((g) => g.id);
    const sense = makesChanges(latest, byId);
    return { target: Math.max(0, ...before), undo: [latest], files: [], closed: [], reapplies: sense === undefined ? undefined : !sense };
  }
  const target = to ?? Math.max(0, ...complete.filter((g) => g.id < latest.id).map((g) => g.id));
  if (to !== undefined && to !== 0 && !complete.some((g) => g.id === to)) {
    throw new OperationError(`--to ${to}: no complete generation ${to} on this host (complete: ${complete.map((g) => g.id).join(', ')})`);
  }
  const lost = pruned.filter((p) => p.id > target && (p.status === 'complete' || p.status === 'rollback-failed'));
  if (lost.length) {
    const ids = lost.map((p) => p.id);
    const keep = lost[lost.length - 1].keep;
    throw new GenerationPrunedError(
      ids,
      keep,
      `rolling back to ${target ? `generation ${target}` : 'before the first generation'} would undo generation(s) ${ids.join(', ')}, ` +
        `which were pruned (keepGenerations=${keep}); ${oldest}`,
    );
  }
  // A complete target was never undone, so every rollback after it undid generations after it:
  // each change made since, and each one taken out since, lies in the range.
  const undo: Generation[] = [];
  const files: Generation[] = [];
  const closed: Generation[] = [];
  for (const g of generations.filter((x) => x.id > target && x.status !== 'in-progress').reverse()) {
    const pending = pendingRecords(g, optIn).length > 0;
    const makes = makesChanges(g, byId);
    if (makes === undefined) {
      if (isLive(g) || remainingUndo(g).length)
        throw new OperationError(
          `generation ${g.id} is a rollback recorded by an older mailprov whose undone generations (${(g.undid ?? []).join(', ')}) ` +
            `are pruned or mix applies and rollbacks: whether its records take changes out or put them back cannot be told; ` +
            `roll back one generation at a time (\`mailprov rollback\` without --to)`,
        );
    } else if (makes) (isLive(g) || pending ? undo : files).push(g);
    else if (isLive(g)) closed.push(g);
  }
  if (!undo.length) {
    if (!closed.length && !live.some((g) => g.id > target))
      throw new OperationError(`nothing to roll back: generation ${target} is the latest`);
    throw new OperationError(
      `nothing to roll back: the host is as it was after generation ${target}` +
        (closed.length ? ` (generation ${closed.map((g) => g.id).join(', ')} undid every change since)` : ''),
    );
  }
  return { target, undo, files, closed, reapplies: false };
}

/** The new rollback generation's record, before its first change. */
export function rollbackStart(plan: UndoChoice, inventory: string): GenerationStart {
  const unique = (xs: string[]) => [...new Set(xs)];
  const sources = [...plan.undo, ...plan.files];
  const closed = plan.closed.length ? `; ${plan.closed.map((g) => g.id).join(', ')} undone with what it undid` : '';
  return {
    kind: 'rollback',
    inventory,
    summary: [`roll back to generation ${plan.target}: undo ${plan.undo.map((g) => g.id).join(', ')}${closed}`],
    undid: plan.undo.map((g) => g.id),
    ...(plan.reapplies === undefined ? {} : { reapplies: plan.reapplies }),
    files: unique(sources.flatMap((g) => g.files)),
    kept: unique(plan.undo.flatMap((g) => g.kept)),
    sensitive: unique(sources.flatMap((g) => g.sensitive)),
  };
}

/** What undoing these records does, one line each, with the opt-ins applied. */
export function describeUndo(records: UndoRecord[], optIn: ReadonlySet<string>): string[] {
  return records.flatMap((raw) => {
    const { handler, record } = undoHandlerFor(raw);
    return handler.optIn && !optIn.has(handler.optIn) ? [] : handler.describe(record).split('\n');
  });
}

/** The dry run of a rollback: file diffs from the host's own backups, read-only. */
export async function planRollback(
  runner: Runner,
  generations: Generation[],
  playbooks: BoundPlaybook[],
  to: number | undefined,
  optIn: ReadonlySet<string>,
  pruned: PrunedRecord[] = [],
): Promise<RollbackPlan> {
  const choice = chooseUndo(generations, to, pruned, optIn);
  const { undo } = choice;
  const sources = [...undo, ...choice.files].sort((a, b) => a.id - b.id);
  const notRestored = forgottenFiles(sources);
  const skip = new Set(notRestored.map((f) => f.path));
  // Restoring newest first, the oldest copy of a file is what remains: per file, every generation
  // that may hold one, oldest first (the first that does is the one)
  const candidates = new Map<string, Generation[]>();
  for (const g of sources) for (const f of g.files) if (!skip.has(f)) candidates.set(f, [...(candidates.get(f) ?? []), g]);
  const queries = [...candidates.entries()].flatMap(([path, gs]) => [
    fileFact.query(path),
    ...gs.flatMap((g) => [`${genDir(g.id)}/files${path}`, `${genDir(g.id)}/absent`].map((p) => fileFact.query(p))),
  ]);
  const facts = await gatherFacts(runner.conn, queries);
  const isAbsent = (g: Generation, path: string) => {
    const list = facts.get(fileFact, `${genDir(g.id)}/absent`);
    return list.exists && (list.content ?? '').split('\n').includes(path);
  };
  const source = new Map<string, Generation>();
  for (const [path, gs] of candidates) {
    const g = gs.find((x) => facts.get(fileFact, `${genDir(x.id)}/files${path}`).exists || isAbsent(x, path));
    if (g) source.set(path, g); // else never written by any of them
  }
  const masks = new Map(
    playbooks.flatMap((p) => p.parts.resources).flatMap((r: Resource) => (r.file ? [[r.file.path, r.file.mask] as const] : [])),
  );
  const diffs: FileDiff[] = [];
  for (const [path, g] of source) {
    const now = facts.get(fileFact, path);
    const copy = facts.get(fileFact, `${genDir(g.id)}/files${path}`);
    const before = now.exists ? (now.content ?? null) : null;
    const after = copy.exists ? (copy.content ?? null) : null;
    const meta: string[] = [];
    if (now.exists && copy.exists && (now.mode !== copy.mode || now.owner !== copy.owner || now.group !== copy.group)) {
      meta.push(`${now.owner}:${now.group} ${now.mode} -> ${copy.owner}:${copy.group} ${copy.mode}`);
    }
    if (before === after && !meta.length) continue;
    const sensitive = sources.some((u) => u.sensitive.includes(path));
    // a generator's binary output (a .db map) is put back byte for byte: its digest tells the two apart
    const binary = [now, copy].some((f) => f.exists && f.content !== undefined && /[\0\uFFFD]/.test(f.content));
    const mask = binary
      ? (t: string) => {
          const f = t === before ? now : copy;
          return `(binary, ${f.exists ? f.size : 0} bytes, sha256 ${f.exists ? f.sha256.slice(0, 16) : 'none'})\n`;
        }
      : (masks.get(path) ?? (sensitive ? () => '(content hidden: it holds secrets)\n' : undefined));
    const m = (t: string | null) => (t === null || !mask ? t : mask(t));
    diffs.push({
      path,
      before: m(before),
      after: m(after),
      masked: !!mask,
      secretChanged: !!mask && before !== after && m(before) === m(after),
      meta: after === null ? ['file removed (it did not exist before)'] : meta,
    });
  }
  return {
    ...choice,
    diffs,
    actions: describeUndo(
      undo.flatMap((g) =>
        remainingUndo(g)
          .reverse()
          .map((r) => r.record),
      ),
      optIn,
    ),
    notRestored,
  };
}
