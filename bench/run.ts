// `npm run bench [-- --hosts 1,10,30 --reps 3 --keep --live]`: mailprov against Ansible on the same
// kind of sandbox hosts, and against the bare cost of SSH. `npm run bench -- --render-only` measures
// nothing: it writes the reports again from bench/results.json.
//
// For every N it brings up fresh sandboxes of N hosts (one per tool, one for the by-hand replay, so
// every "first apply" meets hosts that never saw a tool), and times whole processes, as a user
// would see them:
//   dry run, fresh hosts      mailprov plan            ansible-playbook --check --diff
//   first apply               mailprov apply           ansible-playbook
//   no-op re-apply            mailprov apply           ansible-playbook
//   dry run, converged hosts  mailprov plan            ansible-playbook --check --diff
//   floor                     N parallel `ssh host true`
//   by hand                   mailprov's planned commands over one ssh connection per host
// mailprov runs installed (`npm pack`, then `npm install -g` of the tarball into a prefix of the work
// folder: the bin on PATH, as a user who runs it often has it), and as `npx mailprov` in the clone.
// The fast scenarios run --reps times, the tools taking turns (and the floor after each turn). A
// first apply runs --reps times too, each time on fresh hosts: the first repetition on the sandboxes
// the converged scenarios then use, each later one on sandboxes brought up for it and taken down
// after (a new sandbox is a few seconds; rolling hosts back would not make them fresh). Figures are
// medians.
//
// `npm run bench -- --scale 100,400,1000 [--scale-forks 200] [--converge-at 100] [--ansible-at 100]`
// measures only the scale benchmark (bench/scale.ts) and puts it into bench/results.json beside the
// figures already there; a run without --scale keeps the scale figures of the file.
//
// It also times the CLI's start, and profiles a plan on 1 host and a no-op apply on the largest N
// (phase timeline and CPU profile). Results: every sample in bench/results.json, from which
// bench/latest.md, the speed tables of docs/benchmark.md and bench/latest.svg are written (bench/render.ts); CPU
// profiles in results/ (git-ignored). Everything it starts (sandboxes, SSH masters, work files under
// /tmp) is gone when it ends.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { sandboxDown, sandboxUp, type SandboxState } from '../src/sandbox/index.ts';
import { localSync } from '../src/sandbox/local.ts';
import { median, sshRun, sshRunAll, timed } from './lib.ts';
import { parseTraceLines, summarizeProfiles, traceCli, type TraceLine, type TraceSummary } from './profile.ts';
import { readResults, writeReports, writeResults } from './render.ts';
import { cliTable, handTable, mainTable } from './report.ts';
import { scaleNotes, scaleTable } from './scale-report.ts';
import type {
  BenchResults,
  CliStart,
  Equivalence,
  PhaseBreakdown,
  Profile,
  Sample,
  ScaleResults,
  Scenario,
  ScenarioName,
  Tool,
} from './results.ts';
import { benchScale, type ScaleOptions } from './scale.ts';
import {
  ansible,
  ansibleSetup,
  cli,
  cliRunsFrom,
  floor,
  installed,
  installMailprov,
  mailprov,
  mailprovCommand,
  prepareHand,
  python3AptCommand,
  renderFiles,
  ROOT,
  snapshotMailprov,
  type AnsibleSetup,
  type Outcome,
  type Snapshot,
} from './tools.ts';

// ---------------------------------------------------------------------------------------------
// options

interface Opts {
  hosts: number[];
  reps: number;
  keep: boolean;
  live: boolean;
  renderOnly: boolean;
  scale?: ScaleOptions;
}

function parseArgs(argv: string[]): Opts {
  const opts: Opts = { hosts: [1, 10, 30], reps: 3, keep: false, live: false, renderOnly: false };
  const scale: ScaleOptions = { ns: [], forksCap: 200, convergeAt: [100], ansibleAt: [100] };
  // 'none': no N (--ansible-at none: the scale run without Ansible's runs, minutes at 100 hosts)
  const numbers = (v: string) => (v === 'none' ? [] : v.split(',').map(Number));
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--hosts') opts.hosts = value().split(',').map(Number);
    else if (flag === '--reps') opts.reps = Number(value());
    else if (flag === '--keep') opts.keep = true;
    else if (flag === '--live') opts.live = true;
    else if (flag === '--render-only') opts.renderOnly = true;
    else if (flag === '--scale') scale.ns = numbers(value());
    else if (flag === '--scale-forks') scale.forksCap = Number(value());
    else if (flag === '--converge-at') scale.convergeAt = numbers(value());
    else if (flag === '--ansible-at') scale.ansibleAt = numbers(value());
    else
      throw new Error(
        `unknown option ${argv[i]} (expected --hosts 1,10,30 --reps 3 --keep --live, --scale 100,400,1000 [--scale-forks 200 --converge-at 100 --ansible-at 100|none], or --render-only)`,
      );
  }
  if (scale.ns.length) {
    if ([...scale.ns, ...scale.convergeAt, ...scale.ansibleAt].some((n) => !Number.isInteger(n) || n < 1))
      throw new Error('--scale, --converge-at, --ansible-at: expected whole numbers, e.g. 100,400,1000');
    if (!Number.isInteger(scale.forksCap) || scale.forksCap < 1) throw new Error('--scale-forks: expected a whole number of at least 1');
    opts.scale = scale;
  }
  if (!opts.hosts.length || opts.hosts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error('--hosts: expected whole numbers, e.g. 1,10,30');
  if (!Number.isInteger(opts.reps) || opts.reps < 1) throw new Error('--reps: expected a whole number of at least 1');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const started = Date.now();
const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

if (opts.renderOnly) {
  // nothing measured, no sandbox, no work folder: the committed results, rendered again
  for (const file of await writeReports(readResults(ROOT), ROOT)) log(`wrote ${file}`);
  process.exit(0);
}

/** The tools this needs, from Debian's packages, as the sandbox's preflight installs its own. */
function ensureTools(): void {
  const missing = [
    ['ansible-playbook', 'ansible-core'],
    ['/usr/bin/time', 'time'],
    ['ssh', 'openssh-client'],
  ].filter(([tool]) => !localSync({ nothrow: true })`command -v ${tool}`.ok);
  if (!missing.length) return;
  const pkgs = missing.map(([, pkg]) => pkg);
  log(`installing ${pkgs.join(', ')} with apt`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  localSync({ env, what: 'bench' })`apt-get update -q`;
  localSync({ env, what: 'bench' })`apt-get install -y -q ${pkgs}`;
}

// ---------------------------------------------------------------------------------------------
// what we collect (bench/results.ts)

const scenarios: Scenario[] = [];
const equivalence: Equivalence[] = [];
const profiles: (Profile & { profileDir?: string })[] = [];
const failures: string[] = [];
const cliStart: CliStart[] = [];
const phaseBreakdowns: PhaseBreakdown[] = [];

const load1 = () => Math.round(loadavg()[0] * 100) / 100;
/** Seconds to the millisecond: finer is noise, and results.json is read by people. */
const ms = (s: number) => Math.round(s * 1000) / 1000;

/** A run, timed, with the load average at its start and end; failures are collected, not thrown. */
async function measure<T extends Outcome & { from?: 'dist' | 'src' }>(
  what: string,
  rep: number,
  run: () => Promise<T>,
): Promise<{ outcome: T; sample: Sample }> {
  if (stopping) throw new Error('stopped');
  const before = load1();
  const o = await run();
  if (!o.ok) failures.push(`${what}: ${o.detail}`);
  log(`${what}: ${o.seconds.toFixed(2)} s${o.from ? ` (from ${o.from})` : ''}${o.ok ? '' : `  FAILED: ${o.detail}`}`);
  const sample: Sample = { rep, seconds: ms(o.seconds), ok: o.ok, detail: o.detail, load: [before, load1()] };
  if (o.maxRssKb !== undefined) sample.maxRssKb = o.maxRssKb;
  if (o.cpuSeconds !== undefined) sample.cpuSeconds = o.cpuSeconds;
  if (o.from) sample.from = o.from;
  return { outcome: o, sample };
}

function scenario(name: ScenarioName, hosts: number): Scenario {
  const s: Scenario = { name, hosts, loadBefore: load1(), samples: {} };
  scenarios.push(s);
  return s;
}

const add = (s: Scenario, tool: Tool, sample: Sample) => (s.samples[tool] ??= []).push(sample);

// ---------------------------------------------------------------------------------------------
// sandboxes: all under our work folder, all taken down at the end (also on Ctrl-C)

const work = mkdtempSync('/tmp/mailprov-bench-');
for (const d of ['out', 'cwd', 'sandboxes']) mkdirSync(join(work, d));
const running = new Set<string>();

async function up(label: string, count: number): Promise<SandboxState> {
  const dir = join(work, 'sandboxes', label);
  running.add(dir);
  const t0 = Date.now();
  const state = await sandboxUp({ dir, count });
  log(`sandbox ${label}: ${count} host(s) up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return state;
}

async function down(state: SandboxState): Promise<void> {
  await sandboxDown({ dir: state.dir });
  running.delete(state.dir);
}

let cleaning: Promise<void> | undefined;
function takeAllDown(): Promise<void> {
  cleaning ??= (async () => {
    for (const dir of running) await sandboxDown({ dir }).catch((err) => log(`could not take down ${dir}: ${err}`));
    running.clear();
  })();
  return cleaning;
}
/** The work folder (outputs of every run) goes too, unless --keep or something failed. */
function removeWork(): void {
  if (opts.keep || failures.length) log(`outputs of every run kept in ${work} (the sandboxes are down)`);
  else rmSync(work, { recursive: true, force: true });
}
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    stopping = true;
    log(`${sig}: taking the sandboxes down`);
    void takeAllDown().finally(() => {
      removeWork();
      process.exit(130);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// the scenarios

type Runner = [Tool, () => Promise<Outcome>];

/** The tools take turns (the order rotates with each repetition), then the floor; `reps` rounds. */
async function alternate(name: ScenarioName, n: number, runners: Runner[], floorOf: () => Promise<Outcome>): Promise<void> {
  const s = scenario(name, n);
  for (let rep = 1; rep <= opts.reps; rep++) {
    for (const [tool, run] of rotate(runners, rep - 1)) add(s, tool, (await measure(`N=${n} ${name}, ${tool} #${rep}`, rep, run)).sample);
    add(s, 'floor', (await measure(`N=${n} floor`, rep, floorOf)).sample);
  }
}

const rotate = <T>(xs: T[], k: number) => xs.map((_, i) => xs[(i + k) % xs.length]);

/** Warms the page cache with the local apt repository, so no tool pays for the first disk read. */
function warmRepo(state: SandboxState): void {
  const repo = join(state.base, 'srv/mailprov-repo');
  for (const f of readdirSync(repo)) readFileSync(join(repo, f));
}

/** Are the files on relay1 what mailprov renders, with its owners and modes; is the relay up? */
function checkHost(tool: string, rep: number, state: SandboxState): void {
  const files = renderFiles(state);
  const paths = Object.keys(files);
  const out = sshRun(
    state,
    state.hosts[0],
    `sha256sum ${paths.join(' ')}; stat -c '%n %U:%G %a' ${paths.join(' ')}; ` +
      `echo "port 25 rules: $(iptables -S INPUT | grep -c -- '--dport 25')"; /etc/init.d/sendmail status >/dev/null 2>&1 && echo 'sendmail running'; ` +
      // informational: sendmail closes its sockets above RefuseLA, and its process title says so
      `echo "listening on 25: $(ss -ltnH | grep -c ':25 ')"; ps -eo args | grep '^sendmail: MTA' | head -n 1; true`,
  );
  const sha = (text: string) => createHash('sha256').update(text).digest('hex');
  const same = paths.every((p) => out.includes(`${sha(files[p as keyof typeof files])}  ${p}`));
  const modes = ['/etc/mail/sendmail.mc root:smmsp 644', '/etc/mail/authinfo root:root 600', '/etc/mail/access root:root 644'].every((l) =>
    out.includes(l),
  );
  const report = out
    .replace(/^[0-9a-f]{64}\s+\S+\n/gm, '')
    .trim()
    .replace(/\n/g, '; ');
  const n = state.hosts.length;
  equivalence.push({ hosts: n, rep, tool, filesAsRendered: same && modes, report });
  if (!(same && modes && out.includes('sendmail running') && out.includes('port 25 rules: 1'))) {
    failures.push(
      `N=${n} ${tool} #${rep}: relay1 is not in the expected state: ${report}${same ? '' : ' (file content differs from the rendering)'}`,
    );
  }
}

/** Three sandboxes of N hosts no tool has touched, and what each tool needs there (untimed). */
interface Fresh {
  M: SandboxState;
  A: SandboxState;
  H: SandboxState;
  setup: AnsibleSetup;
  replay: ReturnType<typeof prepareHand>;
}

async function fresh(n: number, rep: number): Promise<Fresh> {
  const label = rep === 1 ? `${n}` : `${n}-rep${rep}`;
  const M = await up(`mailprov-${label}`, n);
  const A = await up(`ansible-${label}`, n);
  const H = await up(`hand-${label}`, n);
  const setup = ansibleSetup(work, A, label);
  // python3-apt: pre-installed here, outside the timed section (see bench/ansible/sendmail-smarthost.yml)
  await sshRunAll(A, python3AptCommand(), join(work, 'out', `python3-apt-${label}`));
  warmRepo(M);
  const plan = await mailprov(work, H, 'plan', 'changes');
  if (!plan.ok || !plan.json) throw new Error(`the dry run for the by-hand replay failed: ${plan.detail}`);
  return { M, A, H, setup, replay: prepareHand(work, H, plan.json) };
}

/**
 * One repetition of the first apply: each tool on its own fresh sandbox, in an order that rotates
 * with the repetition. Before it the machine's load settles (bounded), so that every repetition
 * starts alike: what ran before is still in the 1-minute average, and sendmail refuses connections
 * above its RefuseLA.
 */
async function firstApply(s: Scenario, f: Fresh, rep: number): Promise<{ mailprovOk: boolean; ansibleOk: boolean }> {
  const n = f.M.hosts.length;
  await settle(`N=${n} first apply #${rep}`);
  let mailprovOk = false;
  let ansibleOk = false;
  const runners: [Tool, () => Promise<void>][] = [
    [
      'mailprov',
      async () => {
        const { outcome, sample } = await measure(`N=${n} first apply, mailprov #${rep}`, rep, () => mailprovFirstApply(f.M));
        sample.trace = outcome.trace;
        mailprovOk = sample.ok;
        add(s, 'mailprov', sample);
      },
    ],
    [
      'ansible',
      async () => {
        const { sample } = await measure(`N=${n} first apply, ansible #${rep}`, rep, () => ansible(work, f.setup, f.A, 'apply', 'changes'));
        ansibleOk = sample.ok;
        add(s, 'ansible', sample);
      },
    ],
    [
      'byHand',
      async () => {
        const { outcome, sample } = await measure(`N=${n} first apply, by hand #${rep}`, rep, f.replay);
        sample.phases = outcome.phases;
        add(s, 'byHand', sample);
      },
    ],
  ];
  for (const [, run] of rotate(runners, rep - 1)) await run();
  checkHost('mailprov', rep, f.M);
  checkHost('ansible', rep, f.A);
  checkHost('by hand', rep, f.H);
  return { mailprovOk, ansibleOk };
}

async function benchHosts(n: number, profileHere: { plan: boolean; apply: boolean }): Promise<void> {
  log(`=== ${n} host(s)`);
  // the sandboxes of the first repetition stay for the scenarios on converged hosts
  const first = await fresh(n, 1);
  const { M, A, setup } = first;
  const floorOf = () => floor(work, M);

  await alternate(
    'dry run, fresh hosts',
    n,
    [
      ['mailprov', () => mailprov(work, M, 'plan', 'changes')],
      ['mailprovNpx', () => mailprov(work, M, 'plan', 'changes', { via: 'npx' })],
      ['ansible', () => ansible(work, setup, A, 'check', 'changes')],
    ],
    floorOf,
  );

  const s = scenario('first apply', n);
  const r1 = await firstApply(s, first, 1);
  // A failed first apply leaves hosts rolled back (mailprov) or half done: converge them, untimed,
  // so that the no-op and converged dry-run figures below are still about converged hosts.
  if (!r1.mailprovOk) await converge(`N=${n} mailprov`, () => mailprov(work, M, 'apply', 'changes'));
  if (!r1.ansibleOk) await converge(`N=${n} ansible`, () => ansible(work, setup, A, 'apply', 'changes'));
  await down(first.H);
  for (let rep = 2; rep <= opts.reps; rep++) {
    const f = await fresh(n, rep);
    await firstApply(s, f, rep);
    for (const state of [f.M, f.A, f.H]) await down(state);
  }

  await alternate(
    'no-op re-apply',
    n,
    [
      ['mailprov', () => mailprov(work, M, 'apply', 'none')],
      ['mailprovNpx', () => mailprov(work, M, 'apply', 'none', { via: 'npx' })],
      ['ansible', () => ansible(work, setup, A, 'apply', 'none')],
    ],
    floorOf,
  );
  await alternate(
    'dry run, converged hosts',
    n,
    [
      ['mailprov', () => mailprov(work, M, 'plan', 'none')],
      ['mailprovNpx', () => mailprov(work, M, 'plan', 'none', { via: 'npx' })],
      ['ansible', () => ansible(work, setup, A, 'check', 'none')],
    ],
    floorOf,
  );

  if (profileHere.plan) await profile(M, 'plan');
  if (profileHere.apply) await profile(M, 'apply');
  await down(M);
  await down(A);
}

/** Waits (untimed, at most 3 minutes) until the 1-minute load average is at most twice the cores. */
async function settle(what: string): Promise<void> {
  const limit = availableParallelism() * 2;
  const deadline = Date.now() + 180_000;
  if (loadavg()[0] > limit) log(`${what}: waiting for the load average (${loadavg()[0].toFixed(1)}) to fall to ${limit}`);
  while (loadavg()[0] > limit && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5000));
}

/**
 * Applies again, untimed, once the machine's load has settled: every sandbox host shares this
 * machine's load average, and sendmail stops accepting connections above its RefuseLA (12), which
 * a first apply on 30 hosts over 2 cores reaches. Real hosts each have their own load.
 */
async function converge(what: string, run: () => Promise<Outcome>): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    await settle(what);
    log(`${what}: converging again (untimed), load average ${loadavg()[0].toFixed(1)}`);
    const r = await run();
    if (r.ok) return;
    log(`${what}: converging failed: ${r.detail}`);
  }
  failures.push(
    `${what}: could not converge the hosts after a failed first apply; later figures of this tool are not about converged hosts`,
  );
}

/**
 * mailprov's first apply as users run it (installed), timed like the others but with its plain
 * output (no --json) stamped line by line, to see where the time goes: each step, the verification,
 * and what is around them.
 */
async function mailprovFirstApply(state: SandboxState): Promise<Outcome & { from: 'dist' | 'src'; trace: TraceSummary }> {
  const n = state.hosts.length;
  const run = mailprovCommand(work, 'installed', ['apply', cli.inventory, '--forks', String(n)]);
  const env = { ...process.env, ...run.env, MAILPROV_SANDBOX_DIR: state.dir, FORCE_COLOR: '0' };
  const out = join(work, 'out', `first-apply-mailprov-${n}-${state.dir.split('/').pop()}.txt`);
  const t = await traceCli(run.cmd, run.args, env, run.cwd);
  writeFileSync(out, t.output);
  const changed = [...t.statuses.values()].filter((x) => x === 'changed').length;
  const ok = t.code === 0 && changed === n;
  return {
    seconds: t.seconds,
    code: t.code,
    ok,
    detail: `exit ${t.code}, ${changed}/${n} host(s) changed${ok ? '' : `; output in ${out}`}`,
    from: cliRunsFrom(env, 'installed'),
    trace: t.trace,
  };
}

/**
 * Where the time of a converged run goes: the installed CLI's per-host phase timeline (its plain
 * output lines, stamped as they arrive), then a CPU profile of a second, identical run (node
 * --cpu-prof and the installed bin: a CPU profile of the `mailprov` shim would be the same process).
 * On one host, also its own phase breakdown (MAILPROV_TRACE=1), --reps runs.
 */
async function profile(state: SandboxState, mode: 'plan' | 'apply'): Promise<void> {
  const n = state.hosts.length;
  const label = `${mode === 'apply' ? 'no-op apply' : 'plan'}, ${n} converged host(s)`;
  const run = mailprovCommand(work, 'installed', [mode, cli.inventory, '--forks', String(n)]);
  const env = { ...process.env, ...run.env, MAILPROV_SANDBOX_DIR: state.dir, FORCE_COLOR: '0' };
  const t = await traceCli(run.cmd, run.args, env, run.cwd);
  writeFileSync(join(work, 'out', `trace-${mode}-${n}.txt`), t.output);
  if (t.code !== 0) failures.push(`timeline of ${label}: exit ${t.code} (see ${join(work, 'out', `trace-${mode}-${n}.txt`)})`);

  const profDir = join(work, 'out', `cpuprof-${mode}-${n}`);
  await measure(`N=${n} ${label} under --cpu-prof`, 1, () =>
    mailprov(work, state, mode, 'none', { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] }),
  );
  profiles.push({
    label: `${label} (mailprov installed)`,
    hosts: n,
    trace: t.trace,
    cpu: existsSync(profDir) ? summarizeProfiles(profDir) : [],
    profileDir: profDir,
  });
  log(`profiled ${label}`);

  if (mode === 'plan' && n === 1) {
    const runs: TraceLine[][] = [];
    for (let rep = 1; rep <= Math.max(opts.reps, 5); rep++) {
      const { outcome } = await measure(`N=1 plan, MAILPROV_TRACE=1`, rep, () =>
        mailprov(work, state, 'plan', 'none', { env: { MAILPROV_TRACE: '1' } }),
      );
      if (outcome.ok) runs.push(parseTraceLines(outcome.stderr ?? ''));
    }
    phaseBreakdowns.push({ label: 'plan, 1 converged host (mailprov installed, MAILPROV_TRACE=1)', hosts: 1, runs });
    // the start-time target, from src/ through tsx too (what runs while dist/ is stale)
    const samples: number[] = [];
    for (let rep = 1; rep <= opts.reps; rep++) {
      const { sample } = await measure(`N=1 plan from src/ (MAILPROV_FROM_SOURCE=1)`, rep, () =>
        mailprov(work, state, 'plan', 'none', { via: 'node', env: { MAILPROV_FROM_SOURCE: '1' } }),
      );
      samples.push(sample.seconds);
    }
    cliStart.push({ what: 'mailprov plan, 1 converged host, node bin/mailprov.mjs from src/ (tsx)', samples });
  }
}

// ---------------------------------------------------------------------------------------------
// the CLI's own start: bare node, and `mailprov --help` each way (no command run)

async function cliStartTimes(): Promise<void> {
  const installedRun = mailprovCommand(work, 'installed', ['--help']);
  const npx = mailprovCommand(work, 'npx', ['--help']);
  // npx links the package into its cache on first use: not part of what is timed
  localSync({ cwd: npx.cwd, env: { ...process.env, ...npx.env }, what: 'npx mailprov' })`${npx.cmd} ${npx.args}`;
  const runs: [string, string, string[], string, NodeJS.ProcessEnv][] = [
    ['node -e 0 (bare Node start)', process.execPath, ['-e', '0'], join(work, 'cwd'), process.env],
    [`node bin/mailprov.mjs --help (from ${cliRunsFrom()})`, process.execPath, [cli.bin, '--help'], join(work, 'cwd'), process.env],
    [
      'mailprov --help, the bin on PATH as installed by npm install -g (from dist)',
      installedRun.cmd,
      installedRun.args,
      installedRun.cwd,
      { ...process.env, ...installedRun.env },
    ],
    [`npx mailprov --help, in the clone (from ${cliRunsFrom()})`, npx.cmd, npx.args, npx.cwd, { ...process.env, ...npx.env }],
    [
      'node bin/mailprov.mjs --help, from src/ (tsx)',
      process.execPath,
      [cli.bin, '--help'],
      join(work, 'cwd'),
      { ...process.env, MAILPROV_FROM_SOURCE: '1' },
    ],
  ];
  for (const [what, cmd, args, cwd, env] of runs) {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await timed(cmd, args, { cwd, env, stdoutFile: join(work, 'out', 'cli-start') });
      if (r.code !== 0) failures.push(`${what}: exit ${r.code}`);
      samples.push(ms(r.seconds));
    }
    cliStart.push({ what, samples });
    log(`${what}: ${median(samples).toFixed(3)} s`);
  }
}

// ---------------------------------------------------------------------------------------------

const firstLine = (o: { stdout: string; stderr: string }) => `${o.stdout}${o.stderr}`.trim().split('\n')[0];

function machine(): BenchResults['machine'] {
  return {
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpu: cpus()[0]?.model ?? 'unknown',
    kernel: release(),
    node: process.version,
    npm: firstLine(localSync({ nothrow: true })`npm --version`),
    ansible: firstLine(localSync({ nothrow: true })`ansible-playbook --version`),
    openssh: firstLine(localSync({ nothrow: true })`ssh -V`),
  };
}

if (opts.scale) await scaleOnly(opts.scale);

/** --scale: the scale benchmark alone, put into bench/results.json beside what is there; then exit. */
async function scaleOnly(scale: ScaleOptions): Promise<never> {
  const before = loadavg();
  let code = 0;
  let commit = '';
  let ns: ScaleResults['ns'] = [];
  try {
    ensureTools();
    const snap = opts.live ? undefined : snapshotMailprov(work);
    commit = snap?.commit ?? localSync({ nothrow: true })`git -C ${ROOT} rev-parse HEAD`.stdout.trim();
    log(`work folder ${work}; scale ${scale.ns.join(', ')}; mailprov --forks at most ${scale.forksCap}`);
    // the installed mailprov, as the main benchmark times it
    installMailprov(work);
    ns = await benchScale(scale, { work, log, up, down, failures });
  } catch (err) {
    failures.push(`bench stopped: ${(err as Error).stack ?? err}`);
    code = 1;
  } finally {
    await takeAllDown();
  }
  removeWork();
  if (code) {
    // a run that stopped measured nothing to keep: the last complete scale figures stay
    process.stdout.write(`\nFAILURES (bench/results.json left as it was):\n- ${failures.join('\n- ')}\n`);
    process.exit(code);
  }
  const results = readResults(ROOT);
  results.scale = {
    date: new Date().toISOString(),
    command: `npm run bench -- --scale ${scale.ns.join(',')} --scale-forks ${scale.forksCap} --converge-at ${scale.convergeAt.join(',') || 'none'} --ansible-at ${scale.ansibleAt.join(',') || 'none'}${opts.live ? ' --live' : ''}`,
    mailprovCommit: commit,
    load: { before, after: loadavg() },
    ns,
    notes: scaleNotes(scale, ns),
    failures,
  };
  log(`results: ${writeResults(ROOT, results)}`);
  for (const f of await writeReports(results, ROOT)) log(`wrote ${f}`);
  process.stdout.write(`\n${scaleTable(results.scale)}\n`);
  if (failures.length) process.stdout.write(`\nFAILURES:\n- ${failures.join('\n- ')}\n`);
  process.exit(code || (failures.length ? 1 : 0));
}

let exitCode = 0;
let snapshot: Snapshot | undefined;
const loadBefore = loadavg();
try {
  ensureTools();
  log(`work folder ${work}; hosts ${opts.hosts.join(', ')}; ${opts.reps} repetition(s)`);
  // --live: time this checkout's bin/mailprov.mjs as it is, edits made during the run included
  if (!opts.live) {
    snapshot = snapshotMailprov(work);
    log(
      `measuring a snapshot of mailprov (${snapshot.commit.slice(0, 10)}${snapshot.uncommitted.length ? ` + ${snapshot.uncommitted.length} uncommitted file(s)` : ''}), ${snapshot.built ? 'bundle built' : `NOT bundled: ${snapshot.buildError ?? 'no bin/build.mjs'}`}`,
    );
  }
  const t0 = Date.now();
  installMailprov(work);
  log(`installed mailprov (npm pack, npm install -g into ${installed.prefix}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await cliStartTimes();
  const largest = Math.max(...opts.hosts);
  for (const n of opts.hosts) await benchHosts(n, { plan: n === 1, apply: n === largest });
} catch (err) {
  failures.push(`bench stopped: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  await takeAllDown();
}

const date = new Date();
const stamp = date.toISOString().slice(0, 16).replace(/:/g, '');
// the raw CPU profiles, for Chrome DevTools or speedscope (results/ is git-ignored)
for (const p of profiles) {
  if (!p.profileDir || !existsSync(p.profileDir)) continue;
  const dest = join(ROOT, 'results', `bench-${stamp}-cpuprof-${p.label.startsWith('plan') ? 'plan' : 'apply'}-${p.hosts}`);
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(p.profileDir)) copyFileSync(join(p.profileDir, f), join(dest, f));
  log(`CPU profiles of the ${p.label} in ${dest}`);
}
removeWork();

const results: BenchResults = {
  format: 1,
  date: date.toISOString(),
  command: `npm run bench -- --hosts ${opts.hosts.join(',')} --reps ${opts.reps}${opts.live ? ' --live' : ''}`,
  options: { hosts: opts.hosts, reps: opts.reps, live: opts.live },
  mailprov: snapshot
    ? {
        measured: 'a snapshot of the checkout taken at the start',
        commit: snapshot.commit,
        uncommitted: snapshot.uncommitted,
        bundleBuilt: snapshot.built,
      }
    : {
        measured: 'the checkout itself (--live)',
        commit: localSync({ nothrow: true })`git -C ${ROOT} rev-parse HEAD`.stdout.trim(),
        uncommitted: [],
      },
  machine: machine(),
  load: { before: loadBefore, after: loadavg() },
  method: {
    timing: 'wall time of whole processes, spawn to exit; medians of the repetitions; a first apply on fresh hosts each repetition',
    mailprov:
      'mailprov apply|plan inventories/sandbox.ts --json --forks N: the bin on PATH of the packed tarball, installed with npm install -g into a prefix of the work folder',
    mailprovNpx: 'npx --no --offline mailprov apply|plan inventories/sandbox.ts --json --forks N, in the clone',
    ansible:
      'ansible-playbook bench/ansible/sendmail-smarthost.yml, forks=N, pipelining, gather_facts off, python3-apt pre-installed untimed, SSH masters closed after each run',
    floor: 'N parallel ssh -i key -o UserKnownHostsFile=... -p PORT root@127.0.0.1 true',
    byHand: "mailprov's planned commands (plan --json) replayed in one shell over one ssh connection per host, hosts in parallel",
  },
  scenarios,
  cliStart,
  profiles: profiles.map(({ profileDir: _, ...p }) => p),
  phaseBreakdowns,
  equivalence,
  failures,
};
// the last --scale run's figures stay
const previousScale = existsSync(join(ROOT, 'bench/results.json')) ? readResults(ROOT).scale : undefined;
if (previousScale) results.scale = previousScale;
const file = writeResults(ROOT, results);
log(`results: ${file}`);
for (const f of await writeReports(results, ROOT)) log(`wrote ${f}`);
process.stdout.write(`\n${mainTable(results, true)}\n\n${handTable(results)}\n\n${cliTable(results)}\n`);
if (failures.length) process.stdout.write(`\nFAILURES:\n- ${failures.join('\n- ')}\n`);
process.exitCode = exitCode || (failures.length ? 1 : 0);
