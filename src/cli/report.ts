// `mailprov report merge`: the --json results of the shards of one run as one summary and exit code.
import { readFileSync } from 'node:fs';
import { MergeError } from '../errors.ts';
import { ConsoleReporter } from '../report/index.ts';
import {
  entryToResult,
  isStatusText,
  mergeRunDocs,
  mergeStatusDocs,
  parseRunDoc,
  parseStatusDoc,
  type StatusDoc,
} from '../report/merge.ts';
import type { HostStatus } from '../status/host.ts';
import { statusExitCode, statusTable } from '../status/render.ts';
import { redact } from '../secrets/index.ts';

export interface MergeCommandOptions {
  json?: boolean;
}

/**
 * Exit code as one run over all the hosts: 1 a host failed, 2 a plan with changes pending, else 0.
 * Files that are not the shards of one run throw a MergeError, which main.ts ends with 3 (EXIT_NOT_ONE_RUN).
 */
export async function reportMergeCommand(files: string[], opts: MergeCommandOptions): Promise<number> {
  const texts = files.map((f) => ({ file: f, text: readInput(f) }));
  const status = texts.filter((t) => isStatusText(t.text));
  if (status.length && status.length < texts.length)
    throw new MergeError(
      files,
      `the results are of different commands: status in ${status.map((t) => t.file).join(', ')}, plan or apply in the others: merge the shards of one command`,
    );
  if (status.length)
    return mergeStatus(
      texts.map((t) => parseStatusDoc(t.file, t.text)),
      opts,
    );
  const docs = texts.map((t) => parseRunDoc(t.file, t.text));
  const merged = mergeRunDocs(docs);
  if (opts.json) {
    // the inputs were redacted when written; this process holds no secrets, but every output passes the redactor
    process.stdout.write(redact(JSON.stringify(merged.doc, null, 2)) + '\n');
    return merged.exitCode;
  }
  const results = merged.hosts.map(entryToResult);
  const reporter = new ConsoleReporter({ hosts: results.length });
  const inputs = docs.map((d) => `${d.file}${d.shard ? ` (shard ${d.shard.index}/${d.shard.count})` : ''}: ${d.hosts.length} hosts`);
  reporter.write(reporter.c.dim(`${merged.command}, merged from ${inputs.join(', ')}\n`));
  if (merged.command === 'plan') reporter.printPlan(results);
  reporter.printErrors(results);
  reporter.printSummary(results, undefined, merged.command === 'plan');
  return merged.exitCode;
}

/** Shards of `status --json`: one table (or document) and the exit code status gives over all the hosts. */
function mergeStatus(docs: StatusDoc[], opts: MergeCommandOptions): number {
  const { doc, hosts } = mergeStatusDocs(docs);
  const statuses = hosts as unknown as HostStatus[];
  const exitCode = statusExitCode(statuses);
  if (opts.json) process.stdout.write(redact(JSON.stringify({ ...doc, exitCode }, null, 2)) + '\n');
  else process.stdout.write(redact(statusTable(statuses)));
  return exitCode;
}

function readInput(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new MergeError([file], `${file}: cannot read it (${e.code ?? e.message})`);
  }
}
