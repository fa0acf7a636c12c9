// `mailprov check`: everything that can be checked without contacting a host. The inventory loads
// (with its warnings), every key file opens, the playbooks fit together and their lint passes.
import { checkResources } from '../engine/index.ts';
import { limitHosts, type ResolvedHost } from '../inventory/load.ts';
import type { Finding } from '../playbook/index.ts';
import { ConsoleReporter } from '../report/index.ts';
import { type InventoryCommandOptions, loadCommandInventory } from './inventory.ts';
import { prepareHosts } from './ask-passwords.ts';

export interface CheckCommandOptions extends InventoryCommandOptions {
  limit?: string;
  askKeyPass?: boolean;
}

/** Exit 0: the inventory is ready for plan and apply; 1: lint errors. */
export async function checkCommand(inventoryFile: string, opts: CheckCommandOptions): Promise<number> {
  const inventory = await loadCommandInventory(inventoryFile, opts);
  const hosts = await prepareHosts(limitHosts(inventory, opts.limit), opts);
  const reporter = new ConsoleReporter({ live: false });
  reporter.write(`${inventory.file}: ${hosts.length} host${hosts.length === 1 ? '' : 's'} (no host contacted)\n`);
  for (const h of hosts) {
    const t = h.target;
    const via = [t.sudo ? 'sudo' : '', t.jump?.length ? `jump ${t.jump.map((j) => j.name).join(', ')}` : ''].filter(Boolean).join(', ');
    const playbooks = h.playbooks.map((p) => p.name).join(', ') || 'no playbook';
    reporter.write(`  ${h.name}: ${t.user}@${t.address}:${t.port}${via ? ` (${via})` : ''}: ${playbooks}\n`);
  }
  const results = hosts.map((h) => ({ host: h.name, findings: lintHost(h) }));
  reporter.printFindings(results);
  const errors = results.filter((r) => r.findings.some((f) => f.level === 'error')).length;
  reporter.write(errors ? `\n${errors} host${errors === 1 ? '' : 's'} would fail before any change\n` : '\nready for plan and apply\n');
  return errors ? 1 : 0;
}

/** What a run checks before it connects: the playbooks' resources fit together, and their own lint. */
function lintHost(host: ResolvedHost): Finding[] {
  const conflicts = checkResources(host.playbooks.flatMap((p) => p.parts.resources));
  const findings: Finding[] = conflicts.map((message) => ({ level: 'error', code: 'conflicting-resources', message }));
  return [...findings, ...host.playbooks.flatMap((p) => p.parts.lint?.() ?? [])];
}
