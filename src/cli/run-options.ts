// The options of `apply` and `plan`, shared by run.ts and plan-file.ts (apply PLANFILE).
import type { InventoryCommandOptions } from './inventory.ts';

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
