// The shape of bench/results.json: what one `npm run bench` measured, every sample kept. bench/latest.md,
// the speed tables of docs/benchmark.md and bench/latest.svg are rendered from it alone (bench/report.ts), so
// `npm run bench -- --render-only` can write them again and anyone can check them against the samples.
import type { ThreadSummary, TraceLine, TraceSummary } from './profile.ts';

export const SCENARIOS = ['dry run, fresh hosts', 'first apply', 'no-op re-apply', 'dry run, converged hosts'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * Who ran. mailprov: the installed CLI (the packed tarball, `npm install -g`), the bin on PATH, as a
 * user who runs it often has it; mailprovNpx: `npx mailprov` in the clone; mailprovNode: `node
 * bin/mailprov.mjs` in the clone (results of earlier runs only); floor: N parallel `ssh host true`;
 * byHand: mailprov's planned commands replayed over one SSH connection per host (first apply only).
 */
export const TOOLS = ['mailprov', 'mailprovNpx', 'mailprovNode', 'ansible', 'floor', 'byHand'] as const;
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
  /** CPU seconds (user + system) of that process and the children it waited for (GNU time); not taken under npx. */
  cpuSeconds?: number;
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

/** mailprov's own phase breakdown (MAILPROV_TRACE=1) of several identical runs. */
export interface PhaseBreakdown {
  label: string;
  hosts: number;
  runs: TraceLine[][];
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
  /** Absent in results of runs before the breakdown existed. */
  phaseBreakdowns?: PhaseBreakdown[];
  equivalence: Equivalence[];
  failures: string[];
  /** The last `npm run bench -- --scale ...` (kept when a run without --scale writes the file). */
  scale?: ScaleResults;
}

/** One timed run of the scale benchmark. */
export interface ScaleRun {
  scenario: 'dry run, fresh hosts' | 'first apply' | 'no-op re-apply' | 'dry run, converged hosts' | 'dry run, fresh hosts, 2 shards';
  tool: 'mailprov' | 'floor' | 'ansible';
  seconds: number;
  /** mailprov, ansible: user + system CPU seconds of the controller process (2 shards: both added up) */
  cpuSeconds?: number;
  /** mailprov, ansible: peak RSS of the controller process in KiB (2 shards: the larger) */
  maxRssKb?: number;
  ok: boolean;
  detail: string;
  /** 1-minute load average as the run began and ended */
  load: [number, number];
}

/** The sandbox of one N: how long `up` took and what its processes hold in memory. */
export interface ScaleSandbox {
  upSeconds: number;
  downSeconds?: number;
  processes: number;
  /** Proportional set size of every sandbox process (shared pages split among their users), per host, in MB */
  pssMbPerHost: number;
  rssMbPerHost: number;
  /** The one forwarder's PSS, in MB (all hosts together) */
  forwarderPssMb: number;
}

export interface ScaleN {
  hosts: number;
  /** mailprov's --forks */
  forks: number;
  sandbox: ScaleSandbox;
  runs: ScaleRun[];
  /** Whether two shards (two processes at once) planned exactly the changes one run planned, host by host */
  shards?: { same: boolean; detail: string };
}

export interface ScaleResults {
  date: string;
  command: string;
  mailprovCommit: string;
  load: { before: number[]; after: number[] };
  ns: ScaleN[];
  notes: string[];
  failures: string[];
}
