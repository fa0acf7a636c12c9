// The journal's interface: read a host's generations, begin one before the first change, back up
// files before each change, finish it. The engine calls these; the shell lives in scripts.ts.
import { hostname, userInfo } from 'node:os';
import { CommandError, MailprovError, OperationError } from '../errors.ts';
import { defineFact } from '../facts/fact.ts';
import type { HostFacts } from '../facts/types.ts';
import type { Runner } from '../transport/runner.ts';
import { parseScriptFailure, script } from '../transport/script.ts';
import {
  parseJournal,
  type Generation,
  type GenerationStatus,
  type JournalRecords,
  type PrunedRecord,
  type UndoRecord,
  type UnreadableRecord,
} from './records.ts';
import { choosePrune, type ForgetEntry, withForgotten } from './retention.ts';
import {
  backupCommand,
  copiesScript,
  forgetCommand,
  genDir,
  JOURNAL_DIR,
  journalFactScript,
  parseCopies,
  parseForgetOutput,
  parsePruneOutput,
  pruneCommand,
  restoreFilesCommand,
  writeMetaCommand,
  parseRestored,
} from './scripts.ts';

/** Every generation recorded on the host, read with the other facts in one round trip. */
export const journalFact = defineFact<JournalRecords>({
  name: 'journal',
  script: () => journalFactScript(),
  parse: (text) => parseJournal(text),
});

export interface GenerationStart {
  kind: Generation['kind'];
  inventory: string;
  summary: string[];
  files?: string[];
  kept?: string[];
  sensitive?: string[];
  undo?: UndoRecord[];
  undid?: number[];
  reapplies?: boolean;
  /** The id of the saved plan this apply carries out (`apply PLANFILE`). */
  plan?: string;
}

/** What a prune did: the generations deleted, and the ones it could not delete (they stay). */
export interface PruneOutcome {
  pruned: number[];
  failed: number[];
}

export function controllerIdentity(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()} pid ${process.pid}`;
}

export class HostJournal {
  constructor(
    private readonly runner: Runner,
    readonly generations: Generation[],
    readonly unreadable: UnreadableRecord[],
    readonly pruned: PrunedRecord[] = [],
  ) {
    for (const u of unreadable) runner.log(`journal: skipping generation folder ${u.dir}: ${u.problem}`);
  }

  /**
   * `checkUndo` checks each undo record with the kind that owns it (the engine knows the kinds): a
   * generation holding one that does not pass is set aside as unreadable, never acted on.
   */
  static fromFacts(runner: Runner, facts: HostFacts, checkUndo: (record: UndoRecord) => void = () => {}): HostJournal {
    const { generations, unreadable, pruned } = facts.get(journalFact, undefined);
    const usable: Generation[] = [];
    for (const g of generations) {
      try {
        g.undo.forEach(checkUndo);
        usable.push(g);
      } catch (err) {
        unreadable.push({ dir: String(g.id), problem: (err as Error).message });
      }
    }
    return new HostJournal(runner, usable, unreadable, pruned);
  }

  /** Generations a controller left in progress (it died mid-apply or mid-rollback), newest first. */
  get incomplete(): Generation[] {
    return this.generations.filter((g) => g.status === 'in-progress').reverse();
  }

  /** Generations an undo left halfway: part of what they did is still live, and still theirs. */
  get halfUndone(): Generation[] {
    return this.generations.filter((g) => g.status === 'rollback-failed');
  }

  /** The next id: after every folder, readable or not, and every pruned one, so no id means two things. */
  nextId(): number {
    const taken = [
      ...this.generations.map((g) => g.id),
      ...this.pruned.map((p) => p.id),
      ...this.unreadable.map((u) => Number.parseInt(u.dir, 10)).filter(Number.isInteger),
    ];
    return Math.max(0, ...taken) + 1;
  }

  /** Records a new generation on the host, before the first change it covers. */
  async begin(start: GenerationStart): Promise<Generation> {
    const gen: Generation = {
      id: this.nextId(),
      kind: start.kind,
      status: 'in-progress',
      startedAt: new Date().toISOString(),
      by: controllerIdentity(),
      inventory: start.inventory,
      summary: start.summary,
      files: start.files ?? [],
      kept: start.kept ?? [],
      sensitive: start.sensitive ?? [],
      undo: start.undo ?? [],
      forgotten: [],
      undone: [],
      ...(start.undid ? { undid: start.undid } : {}),
      ...(start.reapplies === undefined ? {} : { reapplies: start.reapplies }),
      ...(start.plan ? { plan: start.plan } : {}),
    };
    await this.write(gen);
    this.generations.push(gen);
    this.runner.log(`recorded generation ${gen.id} in ${JOURNAL_DIR}`);
    return gen;
  }

  /** Writes the record again (e.g. with undo records added as the generation went). */
  async write(gen: Generation): Promise<void> {
    try {
      await this.runner.run(writeMetaCommand(genDir(gen.id)), `record generation ${gen.id}`, {
        stdin: JSON.stringify(gen, null, 1) + '\n',
        what: 'journal write',
      });
    } catch (err) {
      throw new MailprovError(
        `${this.runner.host}: cannot record generation ${gen.id} in ${JOURNAL_DIR}: nothing was changed (${(err as Error).message})`,
      );
    }
  }

  async finish(gen: Generation, status: GenerationStatus, reason?: string): Promise<void> {
    Object.assign(gen, { status, finishedAt: new Date().toISOString() }, reason === undefined ? {} : { reason });
    await this.write(gen);
  }

  /**
   * Records that an undo of this generation stopped halfway: the records it undid (indices in
   * `undo`), and why. The rest stay this generation's, for the next rollback to undo.
   */
  async undoFailed(gen: Generation, undone: Iterable<number>, reason: string): Promise<void> {
    gen.undone = [...new Set(undone)].sort((a, b) => a - b);
    await this.finish(gen, 'rollback-failed', reason);
  }

  /**
   * Marks a generation complete and prunes the generations beyond the newest `keep`, in one remote
   * command. A prune that fails leaves those generations in place and is reported, never fatal.
   */
  async completeAndPrune(gen: Generation, keep: number): Promise<PruneOutcome> {
    Object.assign(gen, { status: 'complete', finishedAt: new Date().toISOString() });
    const doomed = choosePrune(this.generations, keep, gen.finishedAt!);
    const command = `${writeMetaCommand(genDir(gen.id))} || exit 1\n${pruneCommand(doomed)}`;
    let out: string;
    try {
      out = await this.runner.run(command, `record generation ${gen.id} complete${doomed.length ? `, prune ${doomed.length} older` : ''}`, {
        stdin: JSON.stringify(gen, null, 1) + '\n',
        what: 'journal write',
      });
    } catch (err) {
      throw new MailprovError(
        `${this.runner.host}: cannot record generation ${gen.id} as complete in ${JOURNAL_DIR} (${(err as Error).message})`,
      );
    }
    return this.pruneDone(doomed, out);
  }

  /** Prunes the generations beyond the newest `keep` (a run that recorded none: a lowered setting applies at once). */
  async prune(keep: number): Promise<PruneOutcome> {
    const doomed = choosePrune(this.generations, keep, new Date().toISOString());
    if (!doomed.length) return { pruned: [], failed: [] };
    const out = await this.runner.run(pruneCommand(doomed), `prune ${doomed.length} older generation(s)`, { what: 'journal prune' });
    return this.pruneDone(doomed, out);
  }

  private pruneDone(doomed: PrunedRecord[], output: string): PruneOutcome {
    const outcome = parsePruneOutput(output);
    const gone = new Set(outcome.pruned);
    this.pruned.push(...doomed.filter((p) => gone.has(p.id)));
    this.generations.splice(0, this.generations.length, ...this.generations.filter((g) => !gone.has(g.id)));
    if (outcome.pruned.length) this.runner.log(`pruned generation(s) ${outcome.pruned.join(', ')} (keepGenerations=${doomed[0].keep})`);
    return outcome;
  }

  /** Per generation id, the paths it holds a saved copy of (read-only). */
  async copies(): Promise<Map<number, Set<string>>> {
    return parseCopies(await this.runner.run(copiesScript(), 'list the saved copies', { what: 'journal read' }));
  }

  /**
   * Removes saved copies of sensitive files, each generation's record noting it first; one remote
   * command for every generation. Returns what was removed and what could not be.
   */
  async forget(entries: ForgetEntry[]): Promise<ReturnType<typeof parseForgetOutput>> {
    if (!entries.length) return { forgot: [], failed: [] };
    const at = new Date().toISOString();
    const updated = entries.map((e) => withForgotten(e.generation, e.paths, at));
    const out = await this.runner.run(
      forgetCommand(entries.map((e) => ({ id: e.generation.id, paths: e.paths }))),
      `remove the saved copies of sensitive files from ${entries.length} generation(s)`,
      { stdin: updated.map((g) => JSON.stringify(g) + '\n').join(''), what: 'forget-secrets' },
    );
    for (const g of updated) {
      const known = this.generations.find((x) => x.id === g.id);
      if (known) known.forgotten = g.forgotten;
    }
    return parseForgetOutput(out);
  }

  /** Shell to run right before a change that writes these files (fail-stop: see backupCommand). */
  backupScript(gen: Generation, paths: string[]): string {
    return paths.length ? backupCommand(genDir(gen.id), paths) : '';
  }

  /** Backs up files now, in their own command. */
  async backup(gen: Generation, paths: string[]): Promise<void> {
    if (paths.length)
      await this.runner.run(this.backupScript(gen, paths), `back up ${paths.length} file(s) into generation ${gen.id}`, {
        what: 'journal backup',
      });
  }

  /**
   * Puts back the files a generation backed up; returns the ones it restored or removed. `before`
   * is shell run first in the same command (the engine settles the generation's firewall watchers).
   * Files in `skip` stay as they are (their copy was forgotten: see engine/undo.ts).
   */
  async restoreFiles(gen: Generation, before = '', skip: ReadonlySet<string> = new Set()): Promise<string[]> {
    const files = gen.files.filter((f) => !skip.has(f));
    if (!files.length && !before) return [];
    const command = script([before, files.length ? restoreFilesCommand(genDir(gen.id), files) : '']);
    try {
      return parseRestored(await this.runner.run(command, `restore the files of generation ${gen.id}`, { what: 'rollback' }));
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      // the restore stops at the first file it cannot put back: say which were, and which were not
      const done = parseRestored(err.stdout);
      const failed = parseScriptFailure(err.stderr);
      const rest = failed ? files.slice(failed.step - 1) : files.filter((f) => !done.includes(f));
      const list = (xs: string[]) => (xs.length ? xs.join(', ') : 'none');
      throw new OperationError(err.message, [
        `  files put back: ${list(done)}`,
        `  files not put back (as the failed apply left them): ${list(rest)}`,
      ]);
    }
  }
}
