// `mailprov apply` and `mailprov plan`: inventory -> hosts -> (engine) -> report.
import { readFileSync } from 'node:fs';
import { limitHosts } from '../inventory/load.ts';
import { shardHosts, shardLabel, shardOption } from '../inventory/shard.ts';
import { defaultRunDir, runHosts } from '../engine/index.ts';
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
  const results = await runHosts(hosts, {
    dryRun,
    forks: opts.forks,
    runDir,
    alwaysVerify: opts.verify,
    probe: opts.probe,
    inventoryFile: inventory.file,
    serial: opts.serial,
    maxFail: opts.maxFail,
    emit: opts.json ? () => {} : reporter.onEvent,
  });
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
  return runExitCode(mode, results);
}
