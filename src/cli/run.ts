// `mailprov apply` and `mailprov plan`: inventory -> hosts -> (engine) -> report.
import { readFileSync } from 'node:fs';
import { limitHosts } from '../inventory/load.ts';
import { shardHosts, shardLabel, shardOption } from '../inventory/shard.ts';
import { defaultRunDir, type HostResult, runHosts } from '../engine/index.ts';
import type { StopRequest } from '../engine/host.ts';
import { ConsoleReporter, resultsToJson, runExitCode } from '../report/index.ts';
import { selectionRecord } from '../report/merge.ts';
import { type InventoryCommandOptions, loadCommandInventory } from './inventory.ts';
import { prepareHosts } from './ask-passwords.ts';
import { looksLikePlan, newSalt } from '../plans/format.ts';

/** The options of `apply` and `plan` (see main.ts). */
export interface RunCommandOptions extends InventoryCommandOptions {
  limit?: string;
  forks: number;
  json?: boolean;
  dryRun?: boolean;
  verify?: boolean;
  probe?: boolean;
  serial?: string;
  maxFail?: number;
  askSudoPass?: boolean;
  askKeyPass?: boolean;
  /** "i/n" or "auto/n" (see inventory/shard.ts). */
  shard?: string;
  /** `plan --out FILE`: write the plan to FILE for `apply FILE` (see cli/plan-file.ts). */
  out?: string;
  /** `apply PLANFILE --all-or-nothing`: apply no host unless every host's plan still holds. */
  allOrNothing?: boolean;
}

export async function runCommand(inventoryFile: string, opts: RunCommandOptions, mode: 'apply' | 'plan'): Promise<number> {
  // `apply` (and `apply --dry-run`, which comes here as a plan) takes a plan file as well, told from an inventory by its content
  if ((mode === 'apply' || opts.dryRun) && isPlanFile(inventoryFile)) {
    const { applyPlanCommand } = await import('./plan-file.ts');
    return applyPlanCommand(inventoryFile, opts);
  }
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

/** Whether `apply`'s argument is a plan file rather than an inventory (a missing file is the inventory loader's to report). */
function isPlanFile(file: string): boolean {
  try {
    return looksLikePlan(readFileSync(file, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Runs the hosts with Ctrl-C as a request (apply only): the first stops what has not started, the
 * second leaves at once. `interrupted`: the first came.
 */
export async function runInterruptibly(
  again: string,
  dryRun: boolean,
  run: (stop: StopRequest) => Promise<HostResult[]>,
): Promise<{ results: HostResult[]; interrupted: boolean }> {
  const stop: StopRequest = { requested: false };
  const onInterrupt = () => {
    if (!stop.requested) {
      stop.requested = true;
      process.stderr.write(
        '\ninterrupted: no new host or step starts; each running step finishes on its host, then each host that changed is rolled back. ' +
          'Press Ctrl-C again to leave at once.\n',
      );
      return;
    }
    process.stderr.write(
      '\nleaving at once: the steps already started keep running on the hosts (detached from this connection); ' +
        `the next \`mailprov apply ${again}\` waits for them and takes over.\n`,
    );
    process.exit(EXIT_INTERRUPTED);
  };
  if (!dryRun) process.on('SIGINT', onInterrupt);
  try {
    const results = await run(stop);
    return { results, interrupted: stop.requested };
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** 128 + SIGINT, as a shell reports a command Ctrl-C ended. */
export const EXIT_INTERRUPTED = 130;

/** After a first Ctrl-C: per host, where it stopped and what to run next. */
export function interruptedReport(results: HostResult[], inventoryFile: string): string {
  const again = `mailprov apply ${inventoryFile}`;
  const lines = results.map((r) => {
    const where = r.stopped ? `stopped ${r.stopped}` : 'failed on its own';
    switch (r.status) {
      case 'rolled-back':
        return `  ${r.host}: ${where}; generation ${r.rolledBack?.generation} was rolled back, the host is as it was before this run (packages installed stay). Next: ${again}`;
      case 'skipped':
        return `  ${r.host}: ${r.stopped === 'not started' ? 'not started' : `stopped ${r.stopped}`}; nothing was changed. Next: ${again}`;
      case 'failed':
        return `  ${r.host}: ${where}, and it failed (see its error above). Next: ${again}`;
      default:
        return `  ${r.host}: finished (${r.status}); nothing more to do`;
    }
  });
  return `\ninterrupted (Ctrl-C): every host is consistent, where each stopped:\n${lines.join('\n')}\n`;
}
