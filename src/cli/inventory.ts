// How every command loads its inventory: with the ssh_config the command line chose, its warnings
// said once on stderr (never on stdout, which may be JSON), before the command's own work.
import { z } from 'zod';
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
  // zod compiles a parser for each object schema the first time it parses with it (generated code,
  // then V8 compiles that): for a command that parses the inventory and each playbook's settings
  // once, that is twice the cost of parsing without (the sendmail settings: 6 ms against 3), and
  // later parses cost the same either way. Same results; 6 ms of CPU before the first connection.
  z.config({ jitless: true });
  const inventory = await loadInventory(file, { withPlaybooks: opts.with, sshConfig });
  process.stderr.write(redact(renderInventoryWarnings(inventory.warnings)));
  return inventory;
}
