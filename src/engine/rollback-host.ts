// `mailprov rollback` for one host: lock, repair an incomplete generation, choose what to undo,
// then either show it (dry run) or do it as a new generation of its own, so it can be undone too.
import { describeError } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { OsFacts } from '../facts/types.ts';
import type { ResolvedHost } from '../inventory/load.ts';
import {
  acquireLock,
  controllerIdentity,
  HostJournal,
  journalFact,
  type Generation,
  type PrunedRecord,
  type UnreadableRecord,
} from '../journal/index.ts';
import { undoHandlerFor } from '../resources/undo.ts';
import { redact } from '../secrets/index.ts';
import { commandRunner, type Runner } from '../transport/runner.ts';
import { DEFAULT_RECONNECT, ReconnectingConnection } from '../transport/reconnect.ts';
import { connect } from '../transport/ssh.ts';
import { describeIncomplete, readLeftSteps, waitForLeftSteps } from './left-steps.ts';
import {
  checkUndo,
  describeHalfUndone,
  planRollback,
  repairIncomplete,
  rollbackStart,
  undoGenerations,
  type ForgottenFile,
  type RollbackPlan,
} from './undo.ts';
import { verifyPlaybooks } from './verify.ts';

export interface RollbackOptions {
  to?: number;
  dryRun: boolean;
  packages: boolean;
  inventoryFile: string;
  log(line: string): void;
}

export interface RollbackResult {
  host: string;
  ok: boolean;
  plan?: RollbackPlan;
  generation?: number;
  restored?: string[];
  /** Files left as they are: a saved copy they needed was removed by forget-secrets. */
  notRestored?: ForgottenFile[];
  /** Older generations pruned after the rollback (keepGenerations). */
  pruned?: number[];
  error?: string;
}

/** The journal, and the OS the undo steps are planned for, in one round trip. */
async function readJournal(runner: Runner): Promise<{ journal: HostJournal; os: OsFacts }> {
  const facts = await gatherFacts(runner.conn, [journalFact.query()]);
  return { journal: HostJournal.fromFacts(runner, facts, undoHandlerFor), os: facts.os };
}

export async function rollbackHost(host: ResolvedHost, opts: RollbackOptions): Promise<RollbackResult> {
  const info = `${controllerIdentity()} rollback since ${new Date().toISOString()}`;
  let lock: { release(): void } | undefined;
  // a dropped connection comes back (host key checked again), with the host's lock (see host.ts)
  const conn = new ReconnectingConnection(await connect(host.target), DEFAULT_RECONNECT, {
    log: (l) => opts.log(redact(l)),
    onReconnect: async (fresh) => {
      if (lock) lock = await acquireLock(fresh, info, { reclaim: true });
    },
  });
  const runner = commandRunner(conn, (l) => opts.log(redact(l)));
  const optIn = new Set(opts.packages ? ['packages'] : []);
  try {
    if (!opts.dryRun) lock = await acquireLock(conn, info);
    let { journal, os } = await readJournal(runner);
    const incomplete = journal.incomplete;
    if (incomplete.length) {
      // what each cut-off run's last step did, and a step still running is waited for first
      const left = await readLeftSteps(runner, incomplete);
      for (const g of incomplete) opts.log(describeIncomplete(g, left.get(g.id) ?? [], opts.dryRun));
      if (!opts.dryRun)
        for (const g of incomplete) for (const line of await waitForLeftSteps(runner, g, left.get(g.id) ?? [])) opts.log(line);
    }
    if (!opts.dryRun && (await repairIncomplete(runner, journal, host.playbooks, os))) ({ journal, os } = await readJournal(runner));
    for (const g of journal.halfUndone) opts.log(describeHalfUndone(g));
    const plan = await planRollback(runner, journal.generations, host.playbooks, opts.to, optIn, journal.pruned);
    // read-only checks: a refusal (a package removal that would take others along) shows in the
    // dry run, and comes before a rollback records or changes anything
    await checkUndo(runner, plan.undo, optIn, os);
    if (opts.dryRun) return { host: host.name, ok: true, plan };

    const gen: Generation = await journal.begin(rollbackStart(plan, opts.inventoryFile));
    let undone: Awaited<ReturnType<typeof undoGenerations>>;
    try {
      undone = await undoGenerations(runner, journal, plan.undo, host.playbooks, {
        optIn,
        recordInto: gen,
        os,
        reason: `undone by generation ${gen.id}`,
        by: `the rollback (generation ${gen.id})`,
        files: plan.files,
        closes: plan.closed,
      });
      await verifyPlaybooks(
        runner,
        host,
        undone.facts,
        'rollback',
        () => {},
        (f) => opts.log(`verify, ${f.level}: ${f.message}`),
      );
    } catch (err) {
      // recorded as what it is: never left in progress, which the next run would undo as a dead
      // controller's apply (re-applying what is being rolled back from)
      const why = redact(describeError(err));
      await journal
        .finish(gen, 'failed', `the rollback failed: ${why}`)
        .catch((e) => opts.log(`could not record generation ${gen.id} as failed: ${describeError(e)}`));
      throw err;
    }
    // a rollback is a generation like any other: the host keeps the newest keepGenerations
    const { pruned } = await journal.completeAndPrune(gen, host.keepGenerations);
    return { host: host.name, ok: true, plan, generation: gen.id, restored: undone.restored, notRestored: undone.notRestored, pruned };
  } catch (err) {
    return { host: host.name, ok: false, error: redact(describeError(err)) };
  } finally {
    lock?.release();
    conn.close();
  }
}

export interface HostHistory {
  generations: Generation[];
  unreadable: UnreadableRecord[];
  /** Generations deleted by the retention (keepGenerations): their records are gone, these lines stay. */
  pruned: PrunedRecord[];
}

export async function readHistory(host: ResolvedHost): Promise<HostHistory> {
  const conn = await connect(host.target);
  try {
    const { journal } = await readJournal(commandRunner(conn, () => {}));
    return { generations: journal.generations, unreadable: journal.unreadable, pruned: journal.pruned };
  } finally {
    conn.close();
  }
}
