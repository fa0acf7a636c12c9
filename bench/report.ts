// The text a reader sees of a benchmark run, from bench/results.json alone: bench/latest.md and the
// speed tables of docs/benchmark.md (between its bench markers). Pure functions of the results; bench/render.ts
// writes them, with the picture (bench/plot.ts).
import { fmt, median, ratio, table } from './lib.ts';
import type { TraceSummary } from './profile.ts';
import { scaleSection } from './scale-report.ts';
import { SCENARIOS, type BenchResults, type Profile, type Sample, type Scenario, type Tool } from './results.ts';

export const BENCH_START = '<!-- bench:start -->';
export const BENCH_END = '<!-- bench:end -->';
// the sections the side benchmarks write into latest.md (bench/probe-cost.ts, bench/jump-cost.ts)
const SIDE_SECTIONS = /<!-- ([a-z]+-cost):start -->[\s\S]*?<!-- \1:end -->/g;

/** How each tool is named in tables and the plot. */
export const TOOL_LABEL: Record<Tool, string> = {
  mailprov: 'npx mailprov',
  mailprovNode: 'node bin/mailprov.mjs',
  ansible: 'ansible',
  floor: 'floor',
  byHand: 'by hand',
};

// ---------------------------------------------------------------------------------------------
// figures

/** One scenario at one N, reduced to medians. */
export interface Row {
  name: Scenario['name'];
  hosts: number;
  medians: Partial<Record<Tool, number>>;
  /** false when a run of that tool did not do what the scenario expects (its median is marked "(!)"). */
  ok: Partial<Record<Tool, boolean>>;
  /** The floor of this N: the median of every floor sample taken at this N. */
  floor: number;
  /** mailprov's peak RSS over the scenario's runs (node runs: under npx the largest process may be npm's). */
  rssMb?: number;
  loadBefore: number;
  /** The highest 1-minute load average at the end of any run of the scenario. */
  loadDuring: number;
}

const seconds = (xs: Sample[] | undefined) => (xs?.length ? median(xs.map((x) => x.seconds)) : undefined);

export function rows(r: BenchResults): Row[] {
  const floorOf = (n: number) =>
    median(r.scenarios.filter((s) => s.hosts === n).flatMap((s) => (s.samples.floor ?? []).map((x) => x.seconds)));
  return [...r.scenarios]
    .sort((a, b) => a.hosts - b.hosts || SCENARIOS.indexOf(a.name) - SCENARIOS.indexOf(b.name))
    .map((s) => {
      const medians: Row['medians'] = {};
      const ok: Row['ok'] = {};
      for (const [tool, xs] of Object.entries(s.samples) as [Tool, Sample[]][]) {
        medians[tool] = seconds(xs);
        ok[tool] = xs.every((x) => x.ok);
      }
      const kb = [...(s.samples.mailprov ?? []), ...(s.samples.mailprovNode ?? [])].map((x) => x.maxRssKb ?? 0);
      const all = Object.values(s.samples).flat();
      return {
        name: s.name,
        hosts: s.hosts,
        medians,
        ok,
        floor: floorOf(s.hosts),
        rssMb: kb.some((k) => k > 0) ? Math.max(...kb) / 1024 : undefined,
        loadBefore: s.loadBefore,
        loadDuring: Math.max(...all.map((x) => x.load[1])),
      };
    });
}

/** The sample whose time is the median (the lower one of an even count): its trace or phases stand for the scenario. */
export function medianSample(xs: Sample[] | undefined): Sample | undefined {
  if (!xs?.length) return undefined;
  return [...xs].sort((a, b) => a.seconds - b.seconds)[Math.floor((xs.length - 1) / 2)];
}

// ---------------------------------------------------------------------------------------------
// tables
const cell = (row: Row, tool: Tool) =>
  row.medians[tool] === undefined ? '-' : fmt(row.medians[tool]) + (row.ok[tool] === false ? ' (!)' : '');
const times = (x: number | undefined, digits = 1) => (x === undefined ? 'n/a' : `${fmt(x, digits)}x`);

/** Scenarios against N; ratios are of `npx mailprov`, the way the README runs it. */
export function mainTable(r: BenchResults, withLoad: boolean): string {
  const header = [
    'scenario',
    'N',
    'npx mailprov s',
    'node bin/mailprov.mjs s',
    'ansible s',
    'floor s',
    'ansible/mailprov',
    'mailprov/floor',
    'mailprov peak RSS MB',
  ];
  return table(
    withLoad ? [...header, 'load before, during'] : header,
    rows(r).map((row) => {
      const cells = [
        row.name,
        String(row.hosts),
        cell(row, 'mailprov'),
        cell(row, 'mailprovNode'),
        cell(row, 'ansible'),
        fmt(row.floor),
        times(ratio(row.medians.ansible, row.medians.mailprov)),
        times(ratio(row.medians.mailprov, row.floor)),
        row.rssMb === undefined ? '-' : fmt(row.rssMb, 0),
      ];
      return withLoad ? [...cells, `${fmt(row.loadBefore, 1)}, ${fmt(row.loadDuring, 1)}`] : cells;
    }),
  );
}

/** mailprov's first apply against the same commands replayed by hand. */
export function handTable(r: BenchResults): string {
  const body = rows(r)
    .filter((row) => row.name === 'first apply' && row.medians.byHand !== undefined)
    .map((row) => {
      const x = ratio(row.medians.mailprov, row.medians.byHand);
      return [
        'vs. by hand',
        String(row.hosts),
        cell(row, 'mailprov'),
        cell(row, 'byHand'),
        x === undefined ? 'n/a' : `${fmt(x)}x`,
        x === undefined ? 'n/a' : x <= 1.2 ? 'yes' : 'no',
      ];
    });
  return table(['first apply', 'N', 'npx mailprov s', 'by hand s', 'mailprov/by hand', 'within 1.2x'], body);
}

/** Every sample, in the order of the repetitions. */
export function samplesTable(r: BenchResults): string {
  const tools: Tool[] = ['mailprov', 'mailprovNode', 'ansible', 'byHand', 'floor'];
  return table(
    ['scenario', 'N', ...tools.map((t) => `${TOOL_LABEL[t]} s`)],
    rows(r).map((row) => {
      const s = r.scenarios.find((x) => x.name === row.name && x.hosts === row.hosts)!;
      const list = (t: Tool) =>
        s.samples[t]
          ?.slice()
          .sort((a, b) => a.rep - b.rep)
          .map((x) => fmt(x.seconds) + (x.ok ? '' : '!'))
          .join(' ') ?? '-';
      return [row.name, String(row.hosts), ...tools.map(list)];
    }),
  );
}

/** The CLI's start alone, and a whole dry run on one converged host (the start-time target: under 0.5 s). */
export function cliTable(r: BenchResults): string {
  const yes = (s: number | undefined) => (s === undefined ? 'n/a (run with --hosts 1)' : s < 0.5 ? 'yes' : 'no');
  const body = r.cliStart.filter((c) => !c.what.startsWith('mailprov plan')).map((c) => [c.what, fmt(median(c.samples), 3), '']);
  const plan1 = r.scenarios.find((s) => s.hosts === 1 && s.name === 'dry run, converged hosts');
  for (const tool of ['mailprov', 'mailprovNode'] as const) {
    const froms = [...new Set(plan1?.samples[tool]?.map((x) => x.from))].join('+') || '?';
    const m = seconds(plan1?.samples[tool]);
    body.push([`${TOOL_LABEL[tool]} plan, 1 converged host (from ${froms})`, fmt(m, 3), yes(m)]);
  }
  for (const c of r.cliStart.filter((x) => x.what.startsWith('mailprov plan')))
    body.push([c.what, fmt(median(c.samples), 3), yes(median(c.samples))]);
  return table(['CLI start (whole process)', 'median s', 'under 0.5 s'], body);
}

// ---------------------------------------------------------------------------------------------
// where the time goes

function profileText(p: Profile): string {
  const lines = [`Timeline of a ${p.label}, ms since spawn (from its plain output lines):`, ''];
  for (const [label, t] of p.trace.marks) lines.push(`- ${String(t).padStart(6)} ms  ${label}`);
  for (const ph of p.trace.phases) lines.push(`- per host, ${ph.phase}: median ${ph.medianMs} ms, max ${ph.maxMs} ms`);
  lines.push('', `CPU profile of a second such run (node --cpu-prof), ms per bucket:`, '');
  for (const th of p.cpu) {
    const busy = th.buckets.filter(([b]) => !b.startsWith('idle')).reduce((s, [, v]) => s + v, 0);
    lines.push(
      `- ${th.thread}, ${th.spanMs} ms profiled, ${Math.round(busy)} ms busy: ` +
        th.buckets
          .slice(0, 9)
          .map(([b, v]) => `${b} ${Math.round(v)}`)
          .join(', '),
    );
    if (th.spans.length)
      lines.push(`  - spans (ms since profiling began): ${th.spans.map((x) => `${x.fn} ${x.fromMs}-${x.toMs}`).join(', ')}`);
  }
  return lines.join('\n');
}

function firstApplyText(s: Scenario): string | undefined {
  const m = medianSample(s.samples.mailprov?.filter((x) => x.trace));
  if (!m?.trace) return undefined;
  const trace: TraceSummary = m.trace;
  const byHand = medianSample(s.samples.byHand)?.phases ?? [];
  const handOf = (phase: string) =>
    byHand.find((h) => h.phase === phase || (phase.startsWith('connecting') && h.phase.startsWith('connecting')));
  const lines = [
    `Where the first apply on ${s.hosts} host(s) spends its time (the median run, repetition ${m.rep}; ms; mailprov from its plain output lines, by hand from markers in the script):`,
    '',
  ];
  for (const [label, t] of trace.marks) lines.push(`- mailprov, ${String(t).padStart(6)} ms after spawn: ${label}`);
  lines.push(
    '',
    table(
      ['per host, median (max)', '', 'mailprov ms', 'by hand ms'],
      trace.phases.map((p) => {
        const h = handOf(p.phase);
        return [
          p.phase.length > 90 ? `${p.phase.slice(0, 87)}...` : p.phase,
          '',
          `${p.medianMs} (${p.maxMs})`,
          h ? `${h.medianMs} (${h.maxMs})` : '-',
        ];
      }),
    ),
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// the documents

const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');
const loads = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');

/** The commit measured, and whether uncommitted changes were measured with it. */
export const version = (r: BenchResults) =>
  `${r.mailprov.commit.slice(0, 10)}${r.mailprov.uncommitted.length ? ' (with uncommitted changes)' : ''}`;

function measured(r: BenchResults): string {
  const m = r.mailprov;
  const extra = m.uncommitted.length ? ` plus ${m.uncommitted.length} uncommitted file(s)` : '';
  const from = m.bundleBuilt === undefined ? '' : m.bundleBuilt ? ', run from its bundle (dist/)' : ', run from src/ through tsx';
  return `${m.measured}: ${m.commit.slice(0, 10)}${extra}${from}`;
}

export function latestMarkdown(r: BenchResults, probeCost?: string): string {
  const m = r.machine;
  const firstApplies = r.scenarios.filter((s) => s.name === 'first apply').sort((a, b) => a.hosts - b.hosts);
  const sections = [...firstApplies.map(firstApplyText), ...r.profiles.map(profileText)].filter((x): x is string => x !== undefined);
  return [
    '# Benchmark: mailprov vs. Ansible',
    '',
    `Measured by \`${r.command}\` (ended ${day(r.date)} UTC). Every sample is in \`bench/results.json\`; this file,`,
    'the speed tables of `docs/benchmark.md` and `bench/latest.svg` are rendered from it (`npm run bench -- --render-only`).',
    `Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB memory, Linux ${m.kernel}; Node ${m.node}; npm ${m.npm}; ${m.ansible}; ${m.openssh}.`,
    `mailprov measured: ${measured(r)}.`,
    `Load average (1, 5, 15 min) as the run began: ${loads(r.load.before)}; as it ended: ${loads(r.load.after)}. The sandbox hosts run on the same ${m.cores} cores as the tools.`,
    '',
    `Seconds of wall time for the whole process, spawn to exit, median of ${r.options.reps} repetition(s). mailprov runs as the`,
    "README tells users, `npx mailprov` in the clone (npm starts, finds the package's own bin, runs it), and as",
    '`node bin/mailprov.mjs` (the same bin, without npm); ratios are of `npx mailprov`. A first apply runs once per tool',
    'in each repetition, each on hosts of a sandbox brought up for it, as `npx mailprov` only. Ansible:',
    '`bench/ansible/sendmail-smarthost.yml`, forks = N, pipelining on, no fact gathering, python3-apt pre-installed',
    "outside the timing. Floor: N parallel `ssh host true`. By hand: the commands of mailprov's own plan, replayed in",
    'one shell over one SSH connection per host. Load: the 1-minute load average as the scenario began, and the',
    'highest as any of its runs ended. "(!)": a run did not do what the scenario expects (see Failures).',
    '',
    '![Wall time against the number of hosts](latest.svg)',
    '',
    mainTable(r, true),
    '',
    handTable(r),
    '',
    cliTable(r),
    '',
    'Every sample, in the order of the repetitions ("!": that run failed):',
    '',
    samplesTable(r),
    '',
    ...sections.flatMap((s) => [s, '']),
    ...(r.failures.length ? ['Failures:', '', ...r.failures.map((f) => `- ${f}`), ''] : []),
    ...(r.scale ? [scaleSection(r.scale), ''] : []),
    ...(probeCost ? [probeCost, ''] : []),
  ].join('\n');
}

/** What goes between the bench markers of docs/benchmark.md (links relative to docs/). */
export function docsSection(r: BenchResults): string {
  const m = r.machine;
  return [
    `Latest, on this machine (${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}), ${r.date.slice(0, 10)}, mailprov ${version(r)},`,
    `median of ${r.options.reps} run(s) (every sample: [\`bench/results.json\`](../bench/results.json); the full report: [\`bench/latest.md\`](../bench/latest.md)):`,
    '',
    '![Wall time against the number of hosts, dry run and no-op re-apply: npx mailprov, node bin/mailprov.mjs, Ansible and the SSH floor](../bench/latest.svg)',
    '',
    mainTable(r, false),
    '',
    handTable(r),
    ...(r.failures.length ? ['', `${r.failures.length} failure(s) in this run: see [\`bench/latest.md\`](../bench/latest.md).`] : []),
  ].join('\n');
}

/**
 * Replaces what lies between two marker lines, the markers kept. A marker counts only alone on its
 * line: docs/benchmark.md names them in its prose too.
 */
export function replaceBetween(text: string, start: string, end: string, body: string): string {
  const lines = text.split('\n');
  const i = lines.indexOf(start);
  const j = lines.indexOf(end);
  if (i === -1 || j < i || lines.lastIndexOf(start) !== i || lines.lastIndexOf(end) !== j)
    throw new Error(`expected one line ${start} and, after it, one line ${end}`);
  return [...lines.slice(0, i + 1), body, ...lines.slice(j)].join('\n');
}

/** Every section a side benchmark wrote (probe-cost, jump-cost), kept when latest.md is rendered again. */
export const probeCostSection = (latest: string) => latest.match(SIDE_SECTIONS)?.join('\n\n') || undefined;
