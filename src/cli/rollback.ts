// `mailprov history` and `mailprov rollback`.
import { OperationError } from '../errors.ts';
import { readHistory, rollbackHost } from '../engine/index.ts';
import { limitHosts } from '../inventory/load.ts';
import { shardHosts, shardOption } from '../inventory/shard.ts';
import { historyToJson, renderHistory, renderHistoryError, renderRollback, rollbackToJson } from '../report/index.ts';
import { redact } from '../secrets/index.ts';
import { type InventoryCommandOptions, loadCommandInventory } from './inventory.ts';
import { prepareHosts } from './ask-passwords.ts';

export interface HistoryCommandOptions extends InventoryCommandOptions {
  host?: string;
  json?: boolean;
  askKeyPass?: boolean;
  shard?: string;
}

export interface RollbackCommandOptions extends InventoryCommandOptions {
  host: string;
  to?: number;
  dryRun?: boolean;
  packages?: boolean;
  json?: boolean;
  askSudoPass?: boolean;
  askKeyPass?: boolean;
}

const out = (s: string) => process.stdout.write(redact(s));

export async function historyCommand(inventoryFile: string, opts: HistoryCommandOptions): Promise<number> {
  const shard = shardOption(opts.shard);
  const inv = await loadCommandInventory(inventoryFile, opts);
  const all: Record<string, unknown> = {};
  let code = 0;
  for (const h of await prepareHosts(shardHosts(limitHosts(inv, opts.host), shard), opts)) {
    try {
      const history = await readHistory(h);
      all[h.name] = history;
      if (!opts.json) out(renderHistory(h.name, history));
    } catch (err) {
      code = 1;
      all[h.name] = { error: (err as Error).message };
      if (!opts.json) out(renderHistoryError(h.name, (err as Error).message));
    }
  }
  if (opts.json) out(historyToJson(all) + '\n');
  return code;
}

export async function rollbackCommand(inventoryFile: string, opts: RollbackCommandOptions): Promise<number> {
  const inv = await loadCommandInventory(inventoryFile, opts);
  const hosts = await prepareHosts(limitHosts(inv, opts.host), opts);
  if (hosts.length !== 1)
    throw new OperationError(`--host must name exactly one host (it matched ${hosts.map((h) => h.name).join(', ') || 'none'})`);
  const log = (l: string) => {
    if (!opts.json) process.stderr.write(redact(`${hosts[0].name}: ${l}\n`));
  };
  const dryRun = Boolean(opts.dryRun);
  const r = await rollbackHost(hosts[0], { to: opts.to, dryRun, packages: Boolean(opts.packages), inventoryFile: inv.file, log });
  out(opts.json ? rollbackToJson(r) + '\n' : renderRollback(r, dryRun));
  if (!r.ok) process.stderr.write(redact(`mailprov: ${r.host}: rollback failed: ${r.error}\n`));
  if (!r.ok) return 1;
  return dryRun && r.plan && (r.plan.diffs.length || r.plan.actions.length) ? 2 : 0;
}
