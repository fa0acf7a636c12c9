// The shape of bench/results.json: what one `npm run bench` measured, every sample kept. bench/latest.md,
// the README's speed tables and bench/latest.svg are rendered from it alone (bench/report.ts), so
// `npm run bench -- --render-only` can write them again and anyone can check them against the samples.
import type { ThreadSummary, TraceSummary } from './profile.ts';

export const SCENARIOS = ['dry run, fresh hosts', 'first apply', 'no-op re-apply', 'dry run, converged hosts'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * Who ran. mailprov: `npx mailprov` in the clone, as the README tells users; mailprovNode: `node
 * bin/mailprov.mjs`, the same bin without npm; floor: N parallel `ssh host true`; byHand: mailprov's
 * planned commands replayed over one SSH connection per host (first apply only).
 */
export const TOOLS = ['mailprov', 'mailprovNode', 'ansible', 'floor', 'byHand'] as const;
export type Tool = (typeof TOOLS)[number];

export interface Phase {
  phase: string;
  medianMs: number;
  maxMs: number;
}

export interface Sample {
  /** 1, 2, ...: the repetition; each repetition of a first apply ran on fresh hosts. */
  rep: number;
  seconds: number;
  ok: boolean;
  detail: string;
  /** The 1-minute load average as the run began and as it ended (which mostly reflects the run). */
  load: [number, number];
  /** Peak RSS of mailprov's or ansible-playbook's process tree, in KiB (GNU time); not taken under npx. */
  maxRssKb?: number;
  /** mailprov: which code its bin ran, the bundle in dist/ or src/ through tsx. */
  from?: 'dist' | 'src';
  /** A mailprov first apply: its phase timeline, from its plain output lines. */
  trace?: TraceSummary;
  /** A by-hand replay: per change, median and max over the hosts. */
  phases?: Phase[];
}

export interface Scenario {
  name: ScenarioName;
  hosts: number;
  /** The 1-minute load average as the scenario began. */
  loadBefore: number;
  samples: Partial<Record<Tool, Sample[]>>;
}

export interface CliStart {
  what: string;
  samples: number[];
}

/** A converged run looked at closely: its phase timeline, and a CPU profile of a second such run. */
export interface Profile {
  label: string;
  hosts: number;
  trace: TraceSummary;
  cpu: ThreadSummary[];
}

/** Whether relay1 ended as mailprov renders it, after each tool's first apply. */
export interface Equivalence {
  hosts: number;
  rep: number;
  tool: string;
  filesAsRendered: boolean;
  report: string;
}

export interface BenchResults {
  format: 1;
  /** ISO 8601, when the run ended. */
  date: string;
  command: string;
  options: { hosts: number[]; reps: number; live: boolean };
  mailprov: { measured: string; commit: string; uncommitted: string[]; bundleBuilt?: boolean };
  machine: { cores: number; memoryGiB: number; cpu: string; kernel: string; node: string; npm: string; ansible: string; openssh: string };
  /** 1, 5 and 15-minute load averages as the run began and ended. */
  load: { before: number[]; after: number[] };
  /** How each tool was run, in words. */
  method: Record<string, string>;
  scenarios: Scenario[];
  cliStart: CliStart[];
  profiles: Profile[];
  equivalence: Equivalence[];
  failures: string[];
}
