// How every command loads its inventory: with the ssh_config the command line chose, its warnings
// said once on stderr (never on stdout, which may be JSON), before the command's own work.
import { type Inventory, loadInventory } from '../inventory/load.ts';
import { renderInventoryWarnings } from '../report/index.ts';
import { redact } from '../secrets/index.ts';

export interface InventoryCommandOptions {
  /** --ssh-config FILE, or false for --no-ssh-config; default ~/.ssh/config. */
  sshConfig?: string | false;
  with?: string;
}

export async function loadCommandInventory(file: string, opts: InventoryCommandOptions): Promise<Inventory> {
  // commander gives `true` when neither --ssh-config nor --no-ssh-config was said
  const sshConfig = typeof opts.sshConfig === 'string' || opts.sshConfig === false ? opts.sshConfig : undefined;
  const inventory = await loadInventory(file, { withPlaybooks: opts.with, sshConfig });
  process.stderr.write(redact(renderInventoryWarnings(inventory.warnings)));
  return inventory;
}
