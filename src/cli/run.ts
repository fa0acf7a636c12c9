// `mailprov apply` and `mailprov plan`: inventory -> hosts -> (engine) -> report.
import { limitHosts } from '../inventory/load.ts';
import { defaultRunDir, runHosts } from '../engine/index.ts';
import { ConsoleReporter, resultsToJson } from '../report/index.ts';
import { type InventoryCommandOptions, loadCommandInventory } from './inventory.ts';
import { askSudoPasswordFor } from './prompt.ts';

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
}

export async function runCommand(inventoryFile: string, opts: RunCommandOptions, mode: 'apply' | 'plan'): Promise<number> {
  const dryRun = mode === 'plan';
  const inventory = await loadCommandInventory(inventoryFile, opts);
  let hosts = limitHosts(inventory, opts.limit);
  if (opts.askSudoPass) hosts = await askSudoPasswordFor(hosts);
  const reporter = new ConsoleReporter({ live: opts.json ? false : undefined });
  // Plans write no logs: a dry run leaves no trace, on the hosts or here.
  const runDir = dryRun ? undefined : defaultRunDir();
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
  if (opts.json) {
    process.stdout.write(resultsToJson(mode, results, { inventory: inventory.file, logs: runDir ?? null }) + '\n');
  } else {
    if (dryRun) reporter.printPlan(results);
    reporter.printErrors(results);
    reporter.printSummary(results, runDir, dryRun);
  }
  if (results.some((r) => r.status === 'failed' || r.status === 'rolled-back')) return 1;
  if (dryRun && results.some((r) => r.status === 'pending')) return 2;
  return 0;
}
