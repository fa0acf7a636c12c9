// `mailprov history` and `mailprov rollback`.
import chalk from 'chalk';
import { OperationError } from '../errors.ts';
import { readHistory, rollbackHost } from '../engine/rollback-host.ts';
import { limitHosts, loadInventory } from '../inventory/load.ts';
import { unifiedDiff } from '../report/diff.ts';
import { redact } from '../secrets/index.ts';
import { askSudoPasswordFor } from './prompt.ts';

const out = (s: string) => process.stdout.write(redact(s));

export async function historyCommand(inventoryFile: string, opts: { host?: string; json?: boolean }): Promise<number> {
  const inv = await loadInventory(inventoryFile);
  const hosts = limitHosts(inv, opts.host);
  const all: Record<string, unknown> = {};
  let code = 0;
  for (const h of hosts) {
    try {
      const gens = await readHistory(h);
      all[h.name] = gens;
      if (opts.json) continue;
      out(`${chalk.bold(h.name)}\n`);
      if (!gens.length) out('  no generations\n');
      for (const g of gens) {
        out(`  ${String(g.id).padStart(3)}  ${g.kind.padEnd(8)} ${g.status.padEnd(11)} ${g.startedAt}  ${g.by}\n`);
        for (const s of g.summary) out(`         ${s}\n`);
        if (g.reason) out(`         reason: ${g.reason.split('\n')[0]}\n`);
      }
    } catch (err) {
      code = 1;
      all[h.name] = { error: (err as Error).message };
      if (!opts.json) out(`${chalk.bold(h.name)}\n  ${chalk.red((err as Error).message)}\n`);
    }
  }
  if (opts.json) out(JSON.stringify(all, null, 2) + '\n');
  return code;
}

export async function rollbackCommand(
  inventoryFile: string,
  opts: { host: string; to?: number; dryRun?: boolean; packages?: boolean; json?: boolean; askSudoPass?: boolean },
): Promise<number> {
  const inv = await loadInventory(inventoryFile);
  let hosts = limitHosts(inv, opts.host);
  if (opts.askSudoPass) hosts = await askSudoPasswordFor(hosts);
  if (hosts.length !== 1) throw new OperationError(`--host must name exactly one host (it matched ${hosts.map((h) => h.name).join(', ') || 'none'})`);
  const log = (l: string) => {
    if (!opts.json) process.stderr.write(redact(`${hosts[0].name}: ${l}\n`));
  };
  const r = await rollbackHost(hosts[0], { to: opts.to, dryRun: Boolean(opts.dryRun), packages: Boolean(opts.packages), inventoryFile: inv.file, log });
  if (opts.json) {
    out(JSON.stringify({ ...r, plan: r.plan && { ...r.plan, undo: r.plan.undo.map((g) => g.id), diffs: r.plan.diffs.map((d) => ({ ...d, unified: unifiedDiff(d) })) } }, null, 2) + '\n');
  } else if (r.plan) {
    const p = r.plan;
    out(`${chalk.bold(r.host)}: ${opts.dryRun ? 'would roll back' : 'rolled back'} to generation ${p.target} (undo ${p.undo.map((g) => g.id).join(', ')})\n`);
    for (const d of p.diffs) {
      out(`  ${chalk.yellow('~')} ${d.path}${d.meta.length ? ` (${d.meta.join(', ')})` : ''}${d.secretChanged ? ' (a secret value changed)' : ''}\n`);
      if (d.before !== d.after) out(unifiedDiff(d).split('\n').map((l) => `      ${l}`).join('\n') + '\n');
    }
    for (const rule of p.rulesRemoved) out(`  ${chalk.yellow('-')} iptables rule -A ${rule.chain} ${rule.rule}\n`);
    for (const rule of p.rulesAdded) out(`  ${chalk.yellow('+')} iptables rule -A ${rule.chain} ${rule.rule}\n`);
    for (const pkg of p.packages) out(`  ${chalk.yellow('-')} package ${pkg}\n`);
    if (!opts.dryRun) out(`recorded as generation ${r.generation}; restored ${r.restored?.join(', ') || 'no file'}; rebuilt and verified\n`);
  }
  if (!r.ok) process.stderr.write(redact(`mailprov: ${r.host}: rollback failed: ${r.error}\n`));
  return r.ok ? (opts.dryRun && r.plan && (r.plan.diffs.length || r.plan.rulesRemoved.length) ? 2 : 0) : 1;
}
