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
}

export async function runCommand(inventoryFile: string, opts: RunCommandOptions, mode: 'apply' | 'plan'): Promise<number> {
  const dryRun = mode === 'plan';
  // a wrong --shard fails before the inventory loads
  const shard = shardOption(opts.shard);
  const inventory = await loadCommandInventory(inventoryFile, opts);
  const selected = limitHosts(inventory, opts.limit);
  const hosts = await prepareHosts(shardHosts(selected, shard), opts);
  const reporter = new ConsoleReporter({ live: opts.json ? false : undefined, hosts: hosts.length });
  // Plans write no logs: a dry run leaves no trace, on the hosts or here.
  const runDir = dryRun ? undefined : defaultRunDir();
  if (shard && !opts.json) reporter.write(reporter.c.dim(`shard ${shardLabel(shard)}: ${hosts.length} of ${selected.length} hosts\n`));
  // Ctrl-C is a request: the first stops what has not started, the second leaves at once
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
        `the next \`mailprov apply ${inventoryFile}\` waits for them and takes over.\n`,
    );
    process.exit(EXIT_INTERRUPTED);
  };
  if (!dryRun) process.on('SIGINT', onInterrupt);
  let results: HostResult[];
  try {
    results = await runHosts(hosts, {
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
    });
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  reporter.finish();
  if (opts.json) {
    // `selected` and the selection record let `report merge` check that the shards are of one
    // selection (one inventory, one --limit) and together covered all of it, each host in its shard
    const selection = () =>
      selectionRecord(
        readFileSync(inventory.file),
        inventory.hosts.map((h) => h.name),
        opts.limit,
        selected.map((h) => h.name),
      );
    const sharding = shard ? { shard: { ...shard, selected: selected.length, ...selection() } } : {};
    process.stdout.write(resultsToJson(mode, results, { inventory: inventory.file, logs: runDir ?? null, ...sharding }) + '\n');
  } else {
    if (dryRun) reporter.printPlan(results);
    reporter.printFindings(results);
    reporter.printErrors(results);
    reporter.printSummary(results, runDir, dryRun);
  }
  if (stop.requested) {
    process.stderr.write(interruptedReport(results, inventoryFile));
    return EXIT_INTERRUPTED;
  }
  return runExitCode(mode, results);
}

/** 128 + SIGINT, as a shell reports a command Ctrl-C ended. */
const EXIT_INTERRUPTED = 130;

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
