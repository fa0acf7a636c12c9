// The journal's interface: read a host's generations, begin one before the first change, back up
// files before each change, finish it. The engine calls these; the shell lives in scripts.ts.
import { hostname, userInfo } from 'node:os';
import { MailprovError } from '../errors.ts';
import { defineFact } from '../facts/fact.ts';
import type { HostFacts } from '../facts/types.ts';
import type { Runner } from '../transport/runner.ts';
import { parseJournal, type Generation, type GenerationStatus, type UndoRecord, type UnreadableRecord } from './records.ts';
import { backupCommand, genDir, JOURNAL_DIR, journalFactScript, restoreFilesCommand, writeMetaCommand, parseRestored } from './scripts.ts';

/** Every generation recorded on the host, read with the other facts in one round trip. */
export const journalFact = defineFact<{ generations: Generation[]; unreadable: UnreadableRecord[] }>({
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
  ) {
    for (const u of unreadable) runner.log(`journal: skipping generation folder ${u.dir}: ${u.problem}`);
  }

  /**
   * `checkUndo` checks each undo record with the kind that owns it (the engine knows the kinds): a
   * generation holding one that does not pass is set aside as unreadable, never acted on.
   */
  static fromFacts(runner: Runner, facts: HostFacts, checkUndo: (record: UndoRecord) => void = () => {}): HostJournal {
    const { generations, unreadable } = facts.get(journalFact, undefined);
    const usable: Generation[] = [];
    for (const g of generations) {
      try {
        g.undo.forEach(checkUndo);
        usable.push(g);
      } catch (err) {
        unreadable.push({ dir: String(g.id), problem: (err as Error).message });
      }
    }
    return new HostJournal(runner, usable, unreadable);
  }

  /** Generations a controller left in progress (it died mid-apply), newest first. */
  get incomplete(): Generation[] {
    return this.generations.filter((g) => g.status === 'in-progress').reverse();
  }

  /** The next id: after every folder, readable or not, so nothing is overwritten. */
  nextId(): number {
    const taken = [
      ...this.generations.map((g) => g.id),
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
      ...(start.undid ? { undid: start.undid } : {}),
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
   */
  async restoreFiles(gen: Generation, before = ''): Promise<string[]> {
    if (!gen.files.length && !before) return [];
    const script = [before, gen.files.length ? restoreFilesCommand(genDir(gen.id), gen.files) : ''].filter(Boolean).join('\n');
    return parseRestored(await this.runner.run(script, `restore the files of generation ${gen.id}`, { what: 'rollback' }));
  }
}
