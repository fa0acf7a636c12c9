// What the engine reports, as plain data tagged by `kind`. Renderers (report/) turn these into
// terminal lines, a summary table or JSON; the engine never prints.
import type { Finding } from '../playbook/index.ts';
import type { FactDigest, SavedChange } from '../plans/digest.ts';
import type { Change } from '../resources/types.ts';

export type Phase = 'connecting' | 'facts' | 'planning' | 'applying' | 'verifying' | 'probing' | 'rolling back';

export type HostStatus = 'unchanged' | 'changed' | 'failed' | 'rolled-back' | 'pending' | 'skipped';

export interface HostResult {
  host: string;
  address: string;
  os?: string;
  status: HostStatus;
  /** Changes planned (dry run) or applied (apply). */
  changes: Change[];
  /** Changes that were applied before a failure (apply only). */
  applied: number;
  error?: string;
  /** Set when the host failed and was rolled back by itself. */
  rolledBack?: { generation: number; restored: string[] };
  /** Where a Ctrl-C stopped this host ("after change 2 of 6 (...)", "before any change"). */
  stopped?: string;
  /** Older generations deleted from the host's journal after the run (keepGenerations). */
  pruned?: number[];
  findings: Finding[];
  durationMs: number;
  logFile?: string;
  /** `plan --out`: the digests of the facts the plan was computed from, and its changes as the plan file keeps them. */
  saved?: { facts: FactDigest[]; changes: SavedChange[] };
  /** `apply PLANFILE`: why this host's saved plan was refused (stale, already applied); status 'skipped'. */
  refused?: string[];
  /**
   * `apply PLANFILE`: refused only because this plan was applied here before, complete: the
   * generation that did it. The host is where the plan leaves it, so --all-or-nothing goes on.
   */
  alreadyApplied?: number;
}

export type EngineEvent =
  | { kind: 'host-phase'; host: string; phase: Phase; step?: number; total?: number; detail?: string }
  | { kind: 'host-finding'; host: string; finding: Finding }
  | { kind: 'host-done'; result: HostResult };

export type EventSink = (event: EngineEvent) => void;
