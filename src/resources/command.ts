// command: runs only when a guard says so, so that a second apply runs nothing:
//   onChangeOf - a resource it watches has a change in this plan
//   creates    - the path does not exist yet
//   unless     - this read-only check exits non-zero
// A command with no guard is refused (it would run on every apply).
import { OperationError } from '../errors.ts';
import { fileFact, testFact } from '../facts/builtin.ts';
import type { HostFacts } from '../facts/types.ts';
import { commandId, shortName } from './ids.ts';
import type { Change, NoChange, Resource } from './types.ts';

export interface CommandOptions {
  /** Unique name, e.g. "makemap authinfo". */
  name: string;
  run: string;
  onChangeOf?: string[];
  creates?: string;
  unless?: string;
  /** What the plan says when `unless` fails (default: the check itself). */
  unlessSays?: string;
  notify?: string[];
  /** Only on hosts whose facts say so (e.g. SELinux enabled); the reason shows in the plan otherwise. */
  when?: { test: (facts: HostFacts) => boolean; otherwise: string };
  /** What undoing this change means, if anything (commands are re-run by the resources they watch). */
  describe?: string;
  /**
   * Files the command writes (a map built from a text file): the journal copies them aside before
   * it runs and a rollback puts them back, or removes them if they did not exist, with no playbook
   * needed to rebuild them. `sensitive`: it holds secrets (authinfo.db).
   */
  files?: { path: string; sensitive?: boolean }[];
}

export function command(opts: CommandOptions): Resource {
  if (!opts.onChangeOf?.length && !opts.creates && !opts.unless) {
    throw new OperationError(`command "${opts.name}" needs a guard: onChangeOf, creates or unless`);
  }
  const id = commandId(opts.name);
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    rebuildsFromFiles: true,
    ...(opts.files?.length ? { writes: opts.files.map((f) => f.path) } : {}),
    facts: () => [...(opts.creates ? [fileFact.query(opts.creates)] : []), ...(opts.unless ? [testFact.query(opts.unless)] : [])],
    plan(facts, ctx): Change | NoChange {
      if (opts.when && !opts.when.test(facts)) return { resourceId: id, reason: opts.when.otherwise };
      const reasons: string[] = [];
      const watched = (opts.onChangeOf ?? []).filter((w) => ctx.changed.has(w));
      if (watched.length) reasons.push(`because ${watched.map(shortName).join(', ')} change${watched.length > 1 ? '' : 's'}`);
      if (opts.creates && !facts.get(fileFact, opts.creates).exists) reasons.push(`${opts.creates} does not exist`);
      if (opts.unless && facts.get(testFact, opts.unless) !== 0) reasons.push(opts.unlessSays ?? `check failed: ${opts.unless}`);
      if (!reasons.length) return { resourceId: id, reason: 'nothing it watches changed' };
      return {
        resourceId: id,
        action: 'run',
        summary: `run ${opts.name}`,
        reason: reasons.join('; '),
        steps: [{ label: opts.name, command: opts.run }],
        ...(opts.files?.length ? { files: opts.files.map((f) => ({ path: f.path, sensitive: f.sensitive ?? false })) } : {}),
        undo: [],
      };
    },
  };
}
