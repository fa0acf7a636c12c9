// `mailprov forget-secrets` for one host: under the host's lock (as apply), remove the saved copies
// of sensitive files (old authinfo passwords) from every generation, each generation's record
// noting it, so a later rollback of it keeps the current file and says so (see undo.ts).
import { describeError, OperationError } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { BoundPlaybook, ResolvedHost } from '../inventory/load.ts';
import { acquireLock, controllerIdentity, HostJournal, journalFact, planForget } from '../journal/index.ts';
import { undoHandlerFor } from '../resources/undo.ts';
import { redact } from '../secrets/index.ts';
import { commandRunner } from '../transport/runner.ts';
import { connect } from '../transport/ssh.ts';

export interface ForgetOptions {
  /** Count the copies, remove nothing (and take no lock: it writes nothing). */
  dryRun: boolean;
  log(line: string): void;
}

export interface ForgetResult {
  host: string;
  ok: boolean;
  /** The saved copies removed (with dryRun: that would be removed). */
  removed: { generation: number; path: string }[];
  /** Generation folders whose record could not be read: not looked into, they may hold copies. */
  unreadable: string[];
  error?: string;
}

/** The files the host's playbooks mark as secret (they mask them), for records older than `sensitive`. */
export function secretFilesOf(playbooks: BoundPlaybook[]): string[] {
  // a file masked only in case (an access map that may hold AuthInfo lines) counts by its records
  return playbooks.flatMap((p) => p.parts.resources).flatMap((r) => (r.file?.mask && r.file.secret !== 'when-masked' ? [r.file.path] : []));
}

export async function forgetSecretsHost(host: ResolvedHost, opts: ForgetOptions): Promise<ForgetResult> {
  const result: ForgetResult = { host: host.name, ok: false, removed: [], unreadable: [] };
  let conn: Awaited<ReturnType<typeof connect>> | undefined;
  let lock: { release(): void } | undefined;
  try {
    conn = await connect(host.target);
    const runner = commandRunner(conn, (l) => opts.log(redact(l)));
    if (!opts.dryRun) lock = await acquireLock(conn, `${controllerIdentity()} forget-secrets since ${new Date().toISOString()}`);
    const journal = HostJournal.fromFacts(runner, await gatherFacts(conn, [journalFact.query()]), undoHandlerFor);
    result.unreadable = journal.unreadable.map((u) => u.dir);
    // the next apply or rollback repairs it from its copies: they must still be there
    const incomplete = journal.incomplete.map((g) => g.id);
    if (incomplete.length)
      throw new OperationError(
        `generation ${incomplete.join(', ')} was left incomplete (its run lost its connection or stopped mid-apply); run apply or rollback first ` +
          'to repair the host from its copies, then forget-secrets',
      );
    const entries = planForget(journal.generations, await journal.copies(), secretFilesOf(host.playbooks));
    const planned = entries.flatMap((e) => e.paths.map((path) => ({ generation: e.generation.id, path })));
    if (opts.dryRun) return { ...result, ok: true, removed: planned };
    const { forgot, failed } = await journal.forget(entries);
    result.removed = forgot.map((f) => ({ generation: f.id, path: f.path }));
    if (failed.length)
      throw new OperationError(
        `could not remove ${failed.length === 1 ? '1 saved copy' : `${failed.length} saved copies`}`,
        failed.map((f) => `  generation ${f.id}: ${f.path}`),
      );
    return { ...result, ok: true };
  } catch (err) {
    return { ...result, ok: false, error: redact(describeError(err)) };
  } finally {
    lock?.release();
    conn?.close();
  }
}
