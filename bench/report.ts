// The text a reader sees of a benchmark run, from bench/results.json alone: bench/latest.md and the
// speed tables of docs/benchmark.md (between its bench markers). Pure functions of the results; bench/render.ts
// writes them, with the picture (bench/plot.ts).
import { fmt, median, ratio, table } from './lib.ts';
import type { TraceLine, TraceSummary } from './profile.ts';
import { scaleSection } from './scale-report.ts';
import { SCENARIOS, type BenchResults, type Profile, type Sample, type Scenario, type Tool } from './results.ts';

export const BENCH_START = '<!-- bench:start -->';
export const BENCH_END = '<!-- bench:end -->';
// the sections the side benchmarks write into latest.md (bench/probe-cost.ts, bench/jump-cost.ts)
const SIDE_SECTIONS = /<!-- ([a-z]+-cost):start -->[\s\S]*?<!-- \1:end -->/g;

/** How each tool is named in tables and the plot. */
export const TOOL_LABEL: Record<Tool, string> = {
  mailprov: 'mailprov',
  mailprovNpx: 'npx mailprov',
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
  /** mailprov's peak RSS over the scenario's runs (installed runs: under npx the largest process may be npm's). */
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
      const kb = (s.samples.mailprov ?? []).map((x) => x.maxRssKb ?? 0);
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

/** Scenarios against N; ratios are of the installed `mailprov`, as a user who runs it often has it. */
export function mainTable(r: BenchResults, withLoad: boolean): string {
  const header = [
    'scenario',
    'N',
    'mailprov s',
    'npx mailprov s',
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
        cell(row, 'mailprovNpx'),
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
  return table(['first apply', 'N', 'mailprov s', 'by hand s', 'mailprov/by hand', 'within 1.2x'], body);
}

/** Every sample, in the order of the repetitions. */
export function samplesTable(r: BenchResults): string {
  const tools: Tool[] = ['mailprov', 'mailprovNpx', 'ansible', 'byHand', 'floor'];
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
  for (const tool of ['mailprov', 'mailprovNpx'] as const) {
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

/** The medians of mailprov's own phase breakdowns (MAILPROV_TRACE=1), phase by phase. */
function breakdowns(r: BenchResults): string[] {
  return (r.phaseBreakdowns ?? [])
    .filter((b) => b.runs.length)
    .map((b) => {
      const phases = [...new Set(b.runs.flatMap((run) => run.map((l) => l.phase)))];
      const of = (phase: string, pick: (l: TraceLine) => number) =>
        median(b.runs.flatMap((run) => run.filter((l) => l.phase === phase).map(pick)));
      const total = of('total', (l) => l.to);
      return [
        `Where the time of a ${b.label} goes, phase by phase (median of ${b.runs.length} runs; ms since the process started;`,
        "total: the phase's spans added up, which for one host is its wall time; the rest of the wall time is glue between phases):",
        '',
        table(
          ['phase', '', 'from ms', 'to ms', 'total ms', 'share of the run'],
          phases.map((phase) => {
            const t = of(phase, (l) => l.totalMs);
            return [
              phase,
              '',
              fmt(
                of(phase, (l) => l.from),
                0,
              ),
              fmt(
                of(phase, (l) => l.to),
                0,
              ),
              fmt(t, 0),
              phase === 'total' ? '' : `${fmt((100 * t) / total, 0)}%`,
            ];
          }),
        ),
      ].join('\n');
    });
}

interface Target {
  what: string;
  goal: number;
  unit: 's' | 'x';
  value?: number;
  /** Why there is no value. */
  missing?: string;
}

/** mailprov/floor at N from the scale run kept in the results, if it measured that scenario there. */
function scaleRatio(r: BenchResults, name: Scenario['name'], n: number): { value: number; source: string } | undefined {
  const at = r.scale?.ns.find((x) => x.hosts === n);
  const run = (tool: 'mailprov' | 'floor') => at?.runs.find((x) => x.scenario === name && x.tool === tool && x.ok);
  const [mine, floor] = [
    run('mailprov'),
    run('floor') ?? at?.runs.find((x) => x.scenario === 'dry run, converged hosts' && x.tool === 'floor' && x.ok),
  ];
  if (!r.scale || !mine || !floor) return undefined;
  return {
    value: mine.seconds / floor.seconds,
    source: `scale run of ${r.scale.date.slice(0, 10)}, mailprov ${r.scale.mailprovCommit.slice(0, 10)}, one run`,
  };
}

/** The targets of issue 30, each met or missed (and by how much), from this run's figures. */
export function targets(r: BenchResults): Target[] {
  const rowOf = (name: Scenario['name'], n: number) => rows(r).find((x) => x.name === name && x.hosts === n);
  const notRun = (n: number) => `not measured: this run had no N=${n} (--hosts ${r.options.hosts.join(',')})`;
  const vsFloor = (name: Scenario['name'], n: number, goal: number): Target => {
    const what = `${name === 'no-op re-apply' ? 'no-op apply' : 'plan'} on ${n} converged hosts, mailprov/floor`;
    const row = rowOf(name, n);
    if (row) return { what, goal, unit: 'x', value: ratio(row.medians.mailprov, row.floor) };
    // hundreds of hosts are the scale run's (--scale N --converge-at N): one run each, said so
    const scaled = scaleRatio(r, name, n);
    if (scaled) return { what: `${what} (${scaled.source})`, goal, unit: 'x', value: scaled.value };
    return { what, goal, unit: 'x', missing: notRun(n) };
  };
  const vsHand = (n: number, goal: number): Target => {
    const row = rowOf('first apply', n);
    return {
      what: `first apply on ${n} host(s), mailprov/by hand`,
      goal,
      unit: 'x',
      value: row && ratio(row.medians.mailprov, row.medians.byHand),
      missing: row ? undefined : notRun(n),
    };
  };
  const plan1 = rowOf('dry run, converged hosts', 1);
  const breakdown = r.phaseBreakdowns?.find((b) => b.hosts === 1 && b.runs.length);
  const connect = breakdown?.runs.map((run) => run.find((l) => l.phase === 'handshake')?.from).filter((x) => x !== undefined);
  return [
    {
      what: 'installed `mailprov plan`, 1 converged host, wall',
      goal: 0.5,
      unit: 's',
      value: plan1?.medians.mailprov,
      missing: plan1 ? undefined : notRun(1),
    },
    {
      what: 'start to first connect (same plan: spawn to the TCP connect, MAILPROV_TRACE)',
      goal: 0.25,
      unit: 's',
      value: connect?.length ? median(connect) / 1000 : undefined,
      missing: connect?.length ? undefined : 'not measured: no phase breakdown in this run',
    },
    vsFloor('dry run, converged hosts', 10, 1.3),
    vsFloor('no-op re-apply', 10, 1.3),
    vsFloor('dry run, converged hosts', 100, 1.2),
    vsFloor('no-op re-apply', 100, 1.2),
    vsHand(1, 1.2),
    vsHand(10, 1.1),
  ];
}

function targetsText(r: BenchResults): string {
  const show = (t: Target, x: number) => (t.unit === 's' ? `${fmt(x, 2)} s` : `${fmt(x, 2)}x`);
  return [
    'Targets (issue 30), from the figures below:',
    '',
    table(
      ['target', 'goal', 'measured', 'met'],
      targets(r).map((t) => {
        if (t.value === undefined) return [t.what, `<= ${show(t, t.goal)}`, '-', t.missing ?? 'n/a'];
        const over = t.value - t.goal;
        return [
          t.what,
          `<= ${show(t, t.goal)}`,
          show(t, t.value),
          over <= 0 ? 'met' : `missed by ${t.unit === 's' ? `${fmt(over, 2)} s` : fmt(over, 2)} (${fmt((100 * over) / t.goal, 0)}%)`,
        ];
      }),
    ),
  ].join('\n');
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

export function latestMarkdown(r: BenchResults, probeCost?: string, notes?: string): string {
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
    `Seconds of wall time for the whole process, spawn to exit, median of ${r.options.reps} repetition(s). mailprov runs as`,
    'a user who runs it often has it: installed (`npm pack`, then `npm install -g` of the tarball into a prefix of',
    "its own, the `mailprov` on PATH); and as `npx mailprov` in the clone (npm starts, finds the package's own bin,",
    'runs it). Ratios are of the installed `mailprov`. A first apply runs once per tool in each repetition, each on',
    'hosts of a sandbox brought up for it, as the installed `mailprov` only. Ansible:',
    '`bench/ansible/sendmail-smarthost.yml`, forks = N, pipelining on, no fact gathering, python3-apt pre-installed',
    "outside the timing. Floor: N parallel `ssh host true`. By hand: the commands of mailprov's own plan, replayed in",
    'one shell over one SSH connection per host. Load: the 1-minute load average as the scenario began, and the',
    'highest as any of its runs ended. "(!)": a run did not do what the scenario expects (see Failures).',
    '',
    '![Wall time against the number of hosts](latest.svg)',
    '',
    targetsText(r),
    '',
    ...(notes ? [notes, ''] : []),
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
    ...breakdowns(r).flatMap((s) => [s, '']),
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
    '![Wall time against the number of hosts, dry run and no-op re-apply: mailprov installed, npx mailprov, Ansible and the SSH floor](../bench/latest.svg)',
    '',
    mainTable(r, false),
    '',
    handTable(r),
    ...(r.failures.length ? ['', `${r.failures.length} failure(s) in this run: see [\`bench/latest.md\`](../bench/latest.md).`] : []),
  ].join('\n');
}

export const SPEED_START = '<!-- speed:start -->';
export const SPEED_END = '<!-- speed:end -->';

/**
 * The README's speed section: the run's headline figures at one host and at its largest N, and how
 * many of the targets it met. Short on purpose: docs/benchmark.md and bench/latest.md hold the rest.
 */
export function readmeSection(r: BenchResults): string {
  const all = rows(r);
  const ns = [...new Set(all.map((row) => row.hosts))].sort((a, b) => a - b);
  const shown = [...new Set([ns[0], ns[ns.length - 1]])].filter((n) => n !== undefined);
  const s = (x: number | undefined) => (x === undefined ? '-' : `${fmt(x)} s`);
  const lines: string[][] = [];
  for (const n of shown) {
    for (const name of ['dry run, converged hosts', 'no-op re-apply', 'first apply'] as const) {
      const row = all.find((x) => x.name === name && x.hosts === n);
      if (!row) continue;
      const label = {
        'dry run, converged hosts': '`plan`, converged',
        'no-op re-apply': '`apply`, nothing to change',
        'first apply': '`apply`, fresh hosts',
      }[name];
      const peer = name === 'first apply' ? `by hand ${s(row.medians.byHand)}` : `SSH floor ${s(row.floor)}`;
      lines.push([String(n), label, s(row.medians.mailprov), s(row.medians.ansible), peer]);
    }
  }
  const t = targets(r);
  const met = t.filter((x) => x.value !== undefined && x.value <= x.goal).length;
  const measuredCount = t.filter((x) => x.value !== undefined).length;
  return [
    `Measured by \`npm run bench\` on a ${r.machine.cores}-core machine (${day(r.date).slice(0, 10)}, mailprov ${version(r)}, median of ${r.options.reps}; wall time of the whole command, the installed \`mailprov\`):`,
    '',
    table(['hosts', 'command', 'mailprov', 'Ansible', 'the least it could take'], lines),
    '',
    `The SSH floor is N parallel \`ssh host true\`; "by hand" is mailprov's own plan typed into one shell per host. Speed goals met: ${met} of ${measuredCount} measured (${t.length} in all). How it is measured and where the time goes: [docs/benchmark.md](docs/benchmark.md), every figure in [bench/latest.md](bench/latest.md).`,
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

const NOTES = /<!-- targets-notes:start -->[\s\S]*?<!-- targets-notes:end -->/;

/** What was written by hand about the targets (why each is met or missed), kept when latest.md is rendered again. */
export const targetsNotes = (latest: string) => latest.match(NOTES)?.[0];

/** Every section a side benchmark wrote (probe-cost, jump-cost), kept when latest.md is rendered again. */
export const probeCostSection = (latest: string) => latest.match(SIDE_SECTIONS)?.join('\n\n') || undefined;
