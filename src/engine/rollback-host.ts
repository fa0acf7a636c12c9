// `mailprov rollback` for one host: lock, repair an incomplete generation, choose what to undo,
// then either show it (dry run) or do it as a new generation of its own, so it can be undone too.
import type { ResolvedHost } from '../inventory/load.ts';
import { acquireLock, controllerIdentity, parseJournal, writeMeta, type Generation } from '../journal/index.ts';
import { MailprovError } from '../errors.ts';
import { redact } from '../secrets/index.ts';
import { connect } from '../transport/ssh.ts';
import { gatherFacts } from './facts.ts';
import { newGeneration } from './host.ts';
import { planRollback, undoGenerations, type RollbackPlan } from './rollback.ts';

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
  error?: string;
}

export async function rollbackHost(host: ResolvedHost, opts: RollbackOptions): Promise<RollbackResult> {
  const { log } = opts;
  const conn = await connect(host.target);
  let lock: { release(): void } | undefined;
  try {
    if (!opts.dryRun) lock = await acquireLock(conn, `${controllerIdentity()} rollback since ${new Date().toISOString()}`);
    let journal = parseJournal((await gatherFacts(conn, [])).journal);
    const incomplete = journal.filter((g) => g.status === 'in-progress').reverse();
    if (incomplete.length && !opts.dryRun) {
      log(`generation ${incomplete.map((g) => g.id).join(', ')} was left incomplete: rolling it back first`);
      await undoGenerations(conn, incomplete, host.playbooks, { packages: false, log });
      for (const g of incomplete) await writeMeta(conn, { ...g, status: 'rolled-back', finishedAt: new Date().toISOString(), reason: 'left incomplete; rolled back by the next run' });
      journal = parseJournal((await gatherFacts(conn, [])).journal);
    }
    const plan = await planRollback(conn, journal, host.playbooks, opts.to, opts.packages);
    if (opts.dryRun) return { host: host.name, ok: true, plan };

    const gen: Generation = newGeneration(Math.max(...journal.map((g) => g.id)) + 1, 'rollback', opts.inventoryFile, [
      `roll back to generation ${plan.target}: undo ${plan.undo.map((g) => g.id).join(', ')}`,
    ]);
    gen.undid = plan.undo.map((g) => g.id);
    gen.files = [...new Set(plan.undo.flatMap((g) => g.files))];
    gen.sensitive = [...new Set(plan.undo.flatMap((g) => g.sensitive ?? []))];
    gen.packageManager = plan.undo[0].packageManager;
    await writeMeta(conn, gen);
    const undone = await undoGenerations(conn, plan.undo, host.playbooks, { packages: opts.packages, log, recordInto: gen });
    const facts = await gatherFacts(conn, []);
    for (const p of host.playbooks) {
      await p.parts.verify?.({ hostName: host.name, mode: 'rollback', exec: (c, s) => conn.exec(c, s), facts, log: (l) => log(`verify: ${l}`), warn: (m) => log(`verify, warning: ${m}`) });
    }
    for (const g of plan.undo) await writeMeta(conn, { ...g, status: 'rolled-back', finishedAt: new Date().toISOString(), reason: `undone by generation ${gen.id}` });
    await writeMeta(conn, { ...gen, status: 'complete', finishedAt: new Date().toISOString() });
    return { host: host.name, ok: true, plan, generation: gen.id, restored: undone.restored };
  } catch (err) {
    return { host: host.name, ok: false, error: redact(err instanceof MailprovError ? err.message : String((err as Error).stack ?? err)) };
  } finally {
    lock?.release();
    conn.close();
  }
}

export async function readHistory(host: ResolvedHost): Promise<Generation[]> {
  const conn = await connect(host.target);
  try {
    return parseJournal((await gatherFacts(conn, [])).journal);
  } finally {
    conn.close();
  }
}
