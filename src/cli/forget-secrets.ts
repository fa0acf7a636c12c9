// `mailprov forget-secrets`: remove the saved copies of sensitive files from every generation of
// the selected hosts, one host after the other.
import { forgetSecretsHost } from '../engine/index.ts';
import { limitHosts } from '../inventory/load.ts';
import { shardHosts, shardOption } from '../inventory/shard.ts';
import { forgetToJson, renderForget } from '../report/index.ts';
import { type InventoryCommandOptions, loadCommandInventory } from './inventory.ts';
import { prepareHosts } from './ask-passwords.ts';

export interface ForgetCommandOptions extends InventoryCommandOptions {
  host?: string;
  dryRun?: boolean;
  json?: boolean;
  askSudoPass?: boolean;
  askKeyPass?: boolean;
  shard?: string;
}

/** Exit 0 done (or nothing to remove), 2 a dry run that would remove copies, 1 a host failed. */
export async function forgetSecretsCommand(inventoryFile: string, opts: ForgetCommandOptions): Promise<number> {
  const shard = shardOption(opts.shard);
  const inv = await loadCommandInventory(inventoryFile, opts);
  const hosts = await prepareHosts(shardHosts(limitHosts(inv, opts.host), shard), opts);
  const dryRun = Boolean(opts.dryRun);
  const results = [];
  for (const h of hosts) {
    // the per-host lines say what was done; the journal listing behind them is not for the terminal
    const r = await forgetSecretsHost(h, { dryRun, log: () => {} });
    results.push(r);
    if (!opts.json) process.stdout.write(renderForget(r, dryRun));
  }
  if (opts.json) process.stdout.write(forgetToJson(results, dryRun) + '\n');
  if (results.some((r) => !r.ok)) return 1;
  return dryRun && results.some((r) => r.removed.length) ? 2 : 0;
}
