// `mailprov apply` and `mailprov plan`: inventory -> hosts -> (engine) -> report.
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { limitHosts } from '../inventory/load.ts';
import { shardHosts, shardLabel, shardOption } from '../inventory/shard.ts';
import { defaultRunDir, runHosts } from '../engine/index.ts';
import { ConsoleReporter, resultsToJson, runExitCode } from '../report/index.ts';
import { selectionRecord } from '../report/merge.ts';
import { loadCommandInventory } from './inventory.ts';
import { EXIT_INTERRUPTED, interruptedReport, runInterruptibly } from './interrupt.ts';
import type { RunCommandOptions } from './run-options.ts';
import { prepareHosts } from './ask-passwords.ts';
import { looksLikePlan, newSalt } from '../plans/format.ts';
import { traceSpan } from '../trace.ts';

export type { RunCommandOptions } from './run-options.ts';

export async function runCommand(inventoryFile: string, opts: RunCommandOptions, mode: 'apply' | 'plan'): Promise<number> {
  // `apply` (and `apply --dry-run`, which comes here as a plan) takes a plan file as well, told from an inventory by its content
  if ((mode === 'apply' || opts.dryRun) && isPlanFile(inventoryFile)) {
    const { applyPlanCommand } = await import('./plan-file.ts');
    return applyPlanCommand(inventoryFile, opts);
  }
  // an inventory is planned afresh: there is nothing to check on every host before applying any
  if (opts.allOrNothing)
    throw new UsageError(
      `--all-or-nothing goes with a plan file (\`mailprov plan ${inventoryFile} --out plan.json\`, then \`mailprov apply plan.json --all-or-nothing\`), not with an inventory: nothing was applied`,
    );
  const dryRun = mode === 'plan';
  // a wrong --shard fails before the inventory loads
  const shard = shardOption(opts.shard);
  const inventory = await loadCommandInventory(inventoryFile, opts);
  const selected = limitHosts(inventory, opts.limit);
  const hosts = await prepareHosts(shardHosts(selected, shard), opts);
  // with --out, stdout is the plan as `show` prints it: progress goes to stderr
  const progress = opts.out ? process.stderr : process.stdout;
  const reporter = new ConsoleReporter({ out: progress, live: opts.json ? false : undefined, hosts: hosts.length });
  // Plans write no logs: a dry run leaves no trace, on the hosts or here.
  const runDir = dryRun ? undefined : defaultRunDir();
  if (shard && !opts.json) reporter.write(reporter.c.dim(`shard ${shardLabel(shard)}: ${hosts.length} of ${selected.length} hosts\n`));
  const salt = opts.out ? newSalt() : undefined;
  const { results, interrupted } = await runInterruptibly(inventoryFile, dryRun, (stop) =>
    runHosts(hosts, {
      dryRun,
      forks: opts.forks,
      runDir,
      alwaysVerify: opts.verify,
      probe: opts.probe,
      inventoryFile: inventory.file,
      serial: opts.serial,
      maxFail: opts.maxFail,
      stop,
      emit: opts.json ? () => {} : reporter.onEvent,
      ...(salt ? { save: { salt } } : {}),
    }),
  );
  reporter.finish();
  const rendered = traceSpan('render');
  try {
    return await report();
  } finally {
    rendered();
  }

  async function report(): Promise<number> {
    // `selected` and the selection record let `report merge` check that the shards are of one
    // selection (one inventory, one --limit) and together covered all of it, each host in its shard
    const record = () =>
      selectionRecord(
        readFileSync(inventory.file),
        inventory.hosts.map((h) => h.name),
        opts.limit,
        selected.map((h) => h.name),
      );
    if (opts.out && salt) {
      const { writePlanFile } = await import('./plan-file.ts');
      return writePlanFile(opts.out, { inventory, salt, shard, limit: opts.limit, selected, record: record(), results, json: opts.json });
    }
    if (opts.json) {
      const sharding = shard ? { shard: { ...shard, selected: selected.length, ...record() } } : {};
      process.stdout.write(resultsToJson(mode, results, { inventory: inventory.file, logs: runDir ?? null, ...sharding }) + '\n');
    } else {
      if (dryRun) reporter.printPlan(results);
      reporter.printFindings(results);
      reporter.printErrors(results);
      reporter.printSummary(results, runDir, dryRun);
    }
    if (interrupted) {
      process.stderr.write(interruptedReport(results, inventoryFile));
      return EXIT_INTERRUPTED;
    }
    return runExitCode(mode, results);
  }
}

/** Whether `apply`'s argument is a plan file rather than an inventory (a missing file is the inventory loader's to report). */
function isPlanFile(file: string): boolean {
  try {
    return looksLikePlan(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

// the unit tests of the report after a Ctrl-C import it from here
export { interruptedReport };
