// `npm run bench [-- --hosts 1,10,30 --reps 3 --keep]`: mailprov against Ansible on the same kind of
// sandbox hosts, and against the bare cost of SSH.
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
// The fast scenarios run --reps times, the tools taking turns (and the floor after each turn);
// figures are medians. A first apply runs once per tool (it needs fresh hosts).
//
// It also times the CLI's start, and profiles a no-op apply on the largest N (phase timeline and
// CPU profile). Results: a table on stdout, results/bench-<date>.json, bench/latest.md.
// Everything it starts (sandboxes, SSH masters, work files under /tmp) is gone when it ends.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { sandboxDown, sandboxUp, type SandboxState } from '../src/sandbox/index.ts';
import { fmt, median, ratio, sshRun, sshRunAll, timed } from './lib.ts';
import { summarizeProfiles, traceCli, type ThreadSummary, type TraceSummary } from './profile.ts';
import {
  ansible,
  ansibleSetup,
  cli,
  cliRunsFrom,
  floor,
  mailprov,
  prepareHand,
  python3AptCommand,
  renderFiles,
  ROOT,
  snapshotMailprov,
  type Outcome,
  type Snapshot,
} from './tools.ts';

// ---------------------------------------------------------------------------------------------
// options

function parseArgs(argv: string[]): { hosts: number[]; reps: number; keep: boolean; live: boolean } {
  const opts = { hosts: [1, 10, 30], reps: 3, keep: false, live: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--hosts') opts.hosts = value().split(',').map(Number);
    else if (flag === '--reps') opts.reps = Number(value());
    else if (flag === '--keep') opts.keep = true;
    else if (flag === '--live') opts.live = true;
    else throw new Error(`unknown option ${argv[i]} (expected --hosts 1,10,30 --reps 3 --keep --live)`);
  }
  if (!opts.hosts.length || opts.hosts.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error('--hosts: expected whole numbers, e.g. 1,10,30');
  if (!Number.isInteger(opts.reps) || opts.reps < 1) throw new Error('--reps: expected a whole number of at least 1');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const started = Date.now();
const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

/** The tools this needs, from Debian's packages, as the sandbox's preflight installs its own. */
function ensureTools(): void {
  const missing = [
    ['ansible-playbook', 'ansible-core'],
    ['/usr/bin/time', 'time'],
    ['ssh', 'openssh-client'],
  ].filter(([tool]) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0);
  if (!missing.length) return;
  const pkgs = missing.map(([, pkg]) => pkg);
  log(`installing ${pkgs.join(', ')} with apt`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'ignore', env });
}

// ---------------------------------------------------------------------------------------------
// what we collect

interface Sample {
  seconds: number;
  ok: boolean;
  detail: string;
  maxRssKb?: number;
  /** mailprov only: the bundle in dist/ or src/ through tsx. */
  from?: 'dist' | 'src';
}

interface Row {
  scenario: string;
  hosts: number;
  mailprov: { median: number; samples: Sample[]; maxRssMb?: number };
  ansible: { median: number; samples: Sample[]; maxRssMb?: number };
  floor: number;
  ansibleOverMailprov?: number;
  mailprovOverFloor?: number;
}

interface HandRow {
  hosts: number;
  mailprov: number;
  byHand: number;
  /** By-hand time per change (from markers in the script), median over the hosts. */
  byHandPhases: { phase: string; medianMs: number; maxMs: number }[];
  ratio?: number;
  withinTarget: boolean;
}

interface Equivalence {
  hosts: number;
  tool: string;
  filesAsRendered: boolean;
  report: string;
}

interface ProfileResult {
  label: string;
  hosts: number;
  trace: TraceSummary;
  cpu: ThreadSummary[];
  profileDir?: string;
}

const rows: Row[] = [];
const hand: HandRow[] = [];
const equivalence: Equivalence[] = [];
const profiles: ProfileResult[] = [];
const firstApplyTraces: { hosts: number; trace: TraceSummary }[] = [];
/** The 1-minute load average as each N's first applies began. */
const firstApplyLoad = new Map<number, number>();
const failures: string[] = [];
const cliStart: { what: string; medianSeconds: number; samples: number[] }[] = [];
const floors = new Map<number, number[]>();

const sample = (o: Outcome & { from?: 'dist' | 'src' }): Sample => ({
  seconds: o.seconds,
  ok: o.ok,
  detail: o.detail,
  maxRssKb: o.maxRssKb,
  from: o.from,
});
const check = <T extends Outcome & { from?: 'dist' | 'src' }>(what: string, o: T): T => {
  if (stopping) throw new Error('stopped');
  if (!o.ok) failures.push(`${what}: ${o.detail}`);
  log(`${what}: ${o.seconds.toFixed(2)} s${o.from ? ` (from ${o.from})` : ''}${o.ok ? '' : `  FAILED: ${o.detail}`}`);
  return o;
};

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

/** The tools take turns (which goes first alternates), then the floor; `reps` rounds. */
async function alternate(
  scenario: string,
  n: number,
  runMailprov: () => Promise<Outcome>,
  runAnsible: () => Promise<Outcome>,
  floorOf: () => Promise<Outcome>,
): Promise<void> {
  const m: Sample[] = [];
  const a: Sample[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const turns: [string, () => Promise<Outcome>, Sample[]][] = [
      ['mailprov', runMailprov, m],
      ['ansible', runAnsible, a],
    ];
    if (rep % 2) turns.reverse();
    for (const [tool, run, into] of turns) into.push(sample(check(`N=${n} ${scenario}, ${tool} #${rep + 1}`, await run())));
    floors.get(n)!.push(check(`N=${n} floor`, await floorOf()).seconds);
  }
  addRow(scenario, n, m, a);
}

function addRow(scenario: string, n: number, m: Sample[], a: Sample[]): void {
  const rss = (xs: Sample[]) => {
    const kb = xs.map((x) => x.maxRssKb ?? 0);
    return kb.some((k) => k > 0) ? Math.max(...kb) / 1024 : undefined;
  };
  rows.push({
    scenario,
    hosts: n,
    mailprov: { median: median(m.map((x) => x.seconds)), samples: m, maxRssMb: rss(m) },
    ansible: { median: median(a.map((x) => x.seconds)), samples: a, maxRssMb: rss(a) },
    floor: Number.NaN, // filled in once every floor sample of this N is in
  });
}

/** Warms the page cache with the local apt repository, so no tool pays for the first disk read. */
function warmRepo(state: SandboxState): void {
  const repo = join(state.base, 'srv/mailprov-repo');
  for (const f of readdirSync(repo)) readFileSync(join(repo, f));
}

/** Are the files on relay1 what mailprov renders, with its owners and modes; is the relay up? */
function checkHost(tool: string, state: SandboxState): void {
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
  const sha = (text: string) => execFileSync('sha256sum', { input: text }).toString().split(' ')[0];
  const same = paths.every((p) => out.includes(`${sha(files[p as keyof typeof files])}  ${p}`));
  const modes = ['/etc/mail/sendmail.mc root:smmsp 644', '/etc/mail/authinfo root:root 600', '/etc/mail/access root:root 644'].every((l) =>
    out.includes(l),
  );
  const report = out
    .replace(/^[0-9a-f]{64}\s+\S+\n/gm, '')
    .trim()
    .replace(/\n/g, '; ');
  equivalence.push({ hosts: state.hosts.length, tool, filesAsRendered: same && modes, report });
  if (!(same && modes && out.includes('sendmail running') && out.includes('port 25 rules: 1'))) {
    failures.push(
      `N=${state.hosts.length} ${tool}: relay1 is not in the expected state: ${report}${same ? '' : ' (file content differs from the rendering)'}`,
    );
  }
}

async function benchHosts(n: number, profileHere: { plan: boolean; apply: boolean }): Promise<void> {
  log(`=== ${n} host(s)`);
  floors.set(n, []);
  const M = await up(`mailprov-${n}`, n);
  const A = await up(`ansible-${n}`, n);
  const H = await up(`hand-${n}`, n);

  // untimed preparation
  const setup = ansibleSetup(work, A, String(n));
  // python3-apt: pre-installed here, outside the timed section (see bench/ansible/sendmail-smarthost.yml)
  await sshRunAll(A, python3AptCommand(), join(work, 'out', `python3-apt-${n}`));
  warmRepo(M);
  const handPlan = await mailprov(work, H, 'plan', 'changes');
  if (!handPlan.ok || !handPlan.json) throw new Error(`the dry run for the by-hand replay failed: ${handPlan.detail}`);
  const replay = prepareHand(work, H, handPlan.json);
  const floorOf = () => floor(work, M);

  await alternate(
    'dry run, fresh hosts',
    n,
    () => mailprov(work, M, 'plan', 'changes'),
    () => ansible(work, setup, A, 'check', 'changes'),
    floorOf,
  );

  // first apply: once each, on hosts no tool has touched
  firstApplyLoad.set(n, loadavg()[0]);
  const m = check(`N=${n} first apply, mailprov`, await mailprovFirstApply(M));
  const a = check(`N=${n} first apply, ansible`, await ansible(work, setup, A, 'apply', 'changes'));
  const h = check(`N=${n} first apply, by hand`, await replay());
  addRow('first apply', n, [sample(m)], [sample(a)]);
  // A failed first apply leaves hosts rolled back (mailprov) or half done: converge them, untimed,
  // so that the no-op and converged dry-run figures below are still about converged hosts.
  if (!m.ok) await converge(`N=${n} mailprov`, () => mailprov(work, M, 'apply', 'changes'));
  if (!a.ok) await converge(`N=${n} ansible`, () => ansible(work, setup, A, 'apply', 'changes'));
  const r = ratio(m.seconds, h.seconds);
  hand.push({
    hosts: n,
    mailprov: m.seconds,
    byHand: h.seconds,
    byHandPhases: h.phases,
    ratio: r,
    withinTarget: r !== undefined && r <= 1.2,
  });
  checkHost('mailprov', M);
  checkHost('ansible', A);
  checkHost('by hand', H);
  await down(H);

  await alternate(
    'no-op re-apply',
    n,
    () => mailprov(work, M, 'apply', 'none'),
    () => ansible(work, setup, A, 'apply', 'none'),
    floorOf,
  );
  await alternate(
    'dry run, converged hosts',
    n,
    () => mailprov(work, M, 'plan', 'none'),
    () => ansible(work, setup, A, 'check', 'none'),
    floorOf,
  );

  if (profileHere.plan) await profile(M, 'plan');
  if (profileHere.apply) await profile(M, 'apply');
  await down(M);
  await down(A);

  const fl = median(floors.get(n)!);
  for (const row of rows.filter((x) => x.hosts === n)) {
    row.floor = fl;
    row.ansibleOverMailprov = ratio(row.ansible.median, row.mailprov.median);
    row.mailprovOverFloor = ratio(row.mailprov.median, fl);
  }
}

/**
 * Applies again, untimed, once the machine's load has settled: every sandbox host shares this
 * machine's load average, and sendmail stops accepting connections above its RefuseLA (12), which
 * a first apply on 30 hosts over 2 cores reaches. Real hosts each have their own load.
 */
async function converge(what: string, run: () => Promise<Outcome>): Promise<void> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const limit = availableParallelism() * 2;
    const deadline = Date.now() + 180_000;
    while (loadavg()[0] > limit && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5000));
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
 * mailprov's first apply, timed like the others but with its plain output (no --json) stamped line
 * by line, to see where the time goes: each step, the verification, and what is around them.
 */
async function mailprovFirstApply(state: SandboxState): Promise<Outcome & { from: 'dist' | 'src' }> {
  const n = state.hosts.length;
  const env = { ...process.env, MAILPROV_SANDBOX_DIR: state.dir, FORCE_COLOR: '0' };
  const out = join(work, 'out', `first-apply-mailprov-${n}.txt`);
  const t = await traceCli([cli.bin, 'apply', cli.inventory, '--forks', String(n)], env, join(work, 'cwd'), `${out}.rss`);
  writeFileSync(out, t.output);
  const changed = [...t.statuses.values()].filter((x) => x === 'changed').length;
  const ok = t.code === 0 && changed === n;
  firstApplyTraces.push({ hosts: n, trace: t.trace });
  return {
    seconds: t.seconds,
    code: t.code,
    maxRssKb: t.maxRssKb,
    ok,
    detail: `exit ${t.code}, ${changed}/${n} host(s) changed${ok ? '' : `; output in ${out}`}`,
    from: cliRunsFrom(env),
  };
}

/**
 * Where the time of a converged run goes: the real CLI's per-host phase timeline (its plain output
 * lines, stamped as they arrive), then a CPU profile of a second, identical run.
 */
async function profile(state: SandboxState, mode: 'plan' | 'apply'): Promise<void> {
  const n = state.hosts.length;
  const label = `${mode === 'apply' ? 'no-op apply' : 'plan'}, ${n} converged host(s)`;
  const env = { ...process.env, MAILPROV_SANDBOX_DIR: state.dir, FORCE_COLOR: '0' };
  const from = cliRunsFrom(env);
  const t = await traceCli([cli.bin, mode, cli.inventory, '--forks', String(n)], env, join(work, 'cwd'));
  writeFileSync(join(work, 'out', `trace-${mode}-${n}.txt`), t.output);
  if (t.code !== 0) failures.push(`timeline of ${label}: exit ${t.code} (see ${join(work, 'out', `trace-${mode}-${n}.txt`)})`);

  const profDir = join(work, 'out', `cpuprof-${mode}-${n}`);
  check(
    `N=${n} ${label} under --cpu-prof`,
    await mailprov(work, state, mode, 'none', { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir] }),
  );
  profiles.push({
    label: `${label} (CLI from ${from})`,
    hosts: n,
    trace: t.trace,
    cpu: existsSync(profDir) ? summarizeProfiles(profDir) : [],
    profileDir: profDir,
  });
  log(`profiled ${label}`);

  if (mode === 'plan' && n === 1) {
    // the start-time target, from src/ through tsx too (what runs while dist/ is stale)
    const samples: number[] = [];
    for (let i = 0; i < opts.reps; i++)
      samples.push(
        check(
          `N=1 plan from src/ (MAILPROV_FROM_SOURCE=1)`,
          await mailprov(work, state, 'plan', 'none', { env: { MAILPROV_FROM_SOURCE: '1' } }),
        ).seconds,
      );
    cliStart.push({ what: 'mailprov plan, 1 converged host, from src/ (tsx)', medianSeconds: median(samples), samples });
  }
}

// ---------------------------------------------------------------------------------------------
// the CLI's own start: bare node, and `mailprov --help` (tsx, hooks, commander; no command run)

async function cliStartTimes(): Promise<void> {
  const runs: [string, string[], NodeJS.ProcessEnv][] = [
    ['node -e 0 (bare Node start)', ['-e', '0'], process.env],
    [`node bin/mailprov.mjs --help (from ${cliRunsFrom()})`, [cli.bin, '--help'], process.env],
    ['node bin/mailprov.mjs --help, from src/ (tsx)', [cli.bin, '--help'], { ...process.env, MAILPROV_FROM_SOURCE: '1' }],
  ];
  for (const [what, args, env] of runs) {
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await timed(process.execPath, args, { cwd: join(work, 'cwd'), env, stdoutFile: join(work, 'out', 'cli-start') });
      if (r.code !== 0) failures.push(`${what}: exit ${r.code}`);
      samples.push(r.seconds);
    }
    cliStart.push({ what, medianSeconds: median(samples), samples });
    log(`${what}: ${median(samples).toFixed(3)} s`);
  }
}

// ---------------------------------------------------------------------------------------------
// reporting

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i < 2 ? ':' : '-') + '-'.repeat(w) + (i < 2 ? '-' : ':')).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

function mainTable(): string {
  const order = ['dry run, fresh hosts', 'first apply', 'no-op re-apply', 'dry run, converged hosts'];
  const sorted = [...rows].sort((a, b) => a.hosts - b.hosts || order.indexOf(a.scenario) - order.indexOf(b.scenario));
  return table(
    ['scenario', 'N', 'mailprov s', 'ansible s', 'floor s', 'ansible/mailprov', 'mailprov/floor', 'mailprov peak RSS MB'],
    sorted.map((r) => [
      r.scenario,
      String(r.hosts),
      fmt(r.mailprov.median) + (r.mailprov.samples.every((s) => s.ok) ? '' : ' (!)'),
      fmt(r.ansible.median) + (r.ansible.samples.every((s) => s.ok) ? '' : ' (!)'),
      fmt(r.floor),
      r.ansibleOverMailprov === undefined ? 'n/a' : `${fmt(r.ansibleOverMailprov, 1)}x`,
      r.mailprovOverFloor === undefined ? 'n/a' : `${fmt(r.mailprovOverFloor, 1)}x`,
      fmt(r.mailprov.maxRssMb, 0),
    ]),
  );
}

function handTable(): string {
  return table(
    ['first apply', 'N', 'mailprov s', 'by hand s', 'mailprov/by hand', 'within 1.2x'],
    hand.map((h) => [
      'vs. by hand',
      String(h.hosts),
      fmt(h.mailprov),
      fmt(h.byHand),
      h.ratio === undefined ? 'n/a' : `${fmt(h.ratio)}x`,
      h.withinTarget ? 'yes' : 'no',
    ]),
  );
}

function cliTable(): string {
  const plan1 = rows.find((r) => r.hosts === 1 && r.scenario === 'dry run, converged hosts');
  const yes = (s: number) => (s < 0.5 ? 'yes' : 'no');
  const body = cliStart.filter((c) => !c.what.startsWith('mailprov plan')).map((c) => [c.what, fmt(c.medianSeconds, 3), '']);
  const froms = [...new Set(plan1?.mailprov.samples.map((x) => x.from))].join('+');
  body.push([
    `mailprov plan, 1 converged host (from ${froms || '?'})`,
    fmt(plan1?.mailprov.median, 3),
    plan1 ? yes(plan1.mailprov.median) : 'n/a (run with --hosts 1)',
  ]);
  for (const c of cliStart.filter((x) => x.what.startsWith('mailprov plan')))
    body.push([c.what, fmt(c.medianSeconds, 3), yes(c.medianSeconds)]);
  return table(['CLI start (whole process)', 'median s', 'under 0.5 s'], body);
}

function profileText(p: ProfileResult): string {
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

function firstApplyText(f: { hosts: number; trace: TraceSummary }): string {
  const byHand = hand.find((h) => h.hosts === f.hosts)?.byHandPhases ?? [];
  const handOf = (phase: string) =>
    byHand.find((h) => h.phase === phase || (phase.startsWith('connecting') && h.phase.startsWith('connecting')));
  const lines = [
    `Where the first apply on ${f.hosts} host(s) spends its time (ms; mailprov from its plain output lines, by hand from markers in the script):`,
    '',
  ];
  for (const [label, t] of f.trace.marks) lines.push(`- mailprov, ${String(t).padStart(6)} ms after spawn: ${label}`);
  lines.push(
    '',
    table(
      ['per host, median (max)', '', 'mailprov ms', 'by hand ms'],
      f.trace.phases.map((p) => {
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

function sh(cmd: string): string {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0];
}

const machine = () => ({
  nproc: availableParallelism(),
  memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  cpu: cpus()[0]?.model ?? 'unknown',
  kernel: release(),
  node: process.version,
  ansible: sh('ansible-playbook --version'),
  openssh: sh('ssh -V'),
});

// ---------------------------------------------------------------------------------------------

let exitCode = 0;
let snapshot: Snapshot | undefined;
const loadBefore = loadavg();
try {
  ensureTools();
  log(`work folder ${work}; hosts ${opts.hosts.join(', ')}; ${opts.reps} repetition(s) of the fast scenarios`);
  // --live: time this checkout's bin/mailprov.mjs as it is, edits made during the run included
  if (!opts.live) {
    snapshot = snapshotMailprov(work);
    log(
      `measuring a snapshot of mailprov (${snapshot.commit.slice(0, 10)}${snapshot.uncommitted.length ? ` + ${snapshot.uncommitted.length} uncommitted file(s)` : ''}), ${snapshot.built ? 'bundle built' : `NOT bundled: ${snapshot.buildError ?? 'no bin/build.mjs'}`}`,
    );
  }
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
const resultsDir = join(ROOT, 'results');
mkdirSync(resultsDir, { recursive: true });
// the raw CPU profiles, for Chrome DevTools or speedscope (results/ is git-ignored)
for (const p of profiles) {
  if (!p.profileDir || !existsSync(p.profileDir)) continue;
  const dest = join(resultsDir, `bench-${stamp}-cpuprof-${p.label.startsWith('plan') ? 'plan' : 'apply'}-${p.hosts}`);
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(p.profileDir)) copyFileSync(join(p.profileDir, f), join(dest, f));
  p.profileDir = dest;
}
removeWork();

const m = machine();
const doc = {
  date: date.toISOString(),
  machine: { ...m, loadavgBefore: loadBefore, loadavgAfter: loadavg() },
  options: opts,
  mailprov: snapshot
    ? {
        measured: 'a snapshot of the checkout taken at the start',
        commit: snapshot.commit,
        uncommitted: snapshot.uncommitted,
        bundleBuilt: snapshot.built,
      }
    : {
        measured: 'the checkout itself (--live)',
        commit: spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
      },
  method: {
    timing: 'wall time of whole processes, spawn to exit; medians of the repetitions; first apply once per tool on fresh hosts',
    mailprov: 'node bin/mailprov.mjs apply|plan inventories/sandbox.ts --json --forks N (MAILPROV_SANDBOX_DIR set)',
    ansible:
      'ansible-playbook bench/ansible/sendmail-smarthost.yml, forks=N, pipelining, gather_facts off, python3-apt pre-installed untimed, SSH masters closed after each run',
    floor: 'N parallel ssh -i key -o UserKnownHostsFile=... -p PORT root@127.0.0.1 true',
    byHand: "mailprov's planned commands (plan --json) replayed in one shell over one ssh connection per host, hosts in parallel",
  },
  rows,
  firstApplyVsByHand: hand,
  firstApplyTraces,
  firstApplyLoadavg: Object.fromEntries(firstApplyLoad),
  cliStart,
  equivalence,
  profiles,
  failures,
};
const jsonPath = join(resultsDir, `bench-${stamp}.json`);
writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + '\n');

const text = [mainTable(), '', handTable(), '', cliTable()].join('\n');
const profileSection = [...firstApplyTraces.map(firstApplyText), ...profiles.map(profileText)].join('\n\n');
process.stdout.write(
  `\n${text}\n\n${profileSection}\n\n${failures.length ? `FAILURES:\n- ${failures.join('\n- ')}\n\n` : ''}results: ${jsonPath}\n`,
);

writeFileSync(
  join(ROOT, 'bench/latest.md'),
  [
    '# Benchmark: mailprov vs. Ansible',
    '',
    `Written by \`npm run bench -- --hosts ${opts.hosts.join(',')} --reps ${opts.reps}\` on ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    `Machine: ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB memory, Linux ${m.kernel}; Node ${m.node}; ${m.ansible}; ${m.openssh}.`,
    `mailprov measured: ${snapshot ? `snapshot of ${snapshot.commit.slice(0, 10)}${snapshot.uncommitted.length ? ` plus ${snapshot.uncommitted.length} uncommitted file(s)` : ''}, ${snapshot.built ? 'run from its bundle (dist/)' : 'run from src/ through tsx'}` : 'this checkout (--live)'}.`,
    `Load average before the run: ${loadBefore.map((x) => x.toFixed(2)).join(' ')}; as each N's first applies began: ${[...firstApplyLoad].map(([n, l]) => `N=${n} ${l.toFixed(1)}`).join(', ')}. The sandbox hosts run on the same 2 cores as the tools.`,
    '',
    'Seconds of wall time for the whole process (median of the repetitions; a first apply runs once per tool, on',
    'fresh hosts). Ansible: `bench/ansible/sendmail-smarthost.yml`, forks = N, pipelining on, no fact gathering,',
    'python3-apt pre-installed outside the timing. Floor: N parallel `ssh host true`. By hand: the commands of',
    "mailprov's own plan, replayed in one shell over one SSH connection per host.",
    '',
    text,
    '',
    profileSection,
    '',
    ...(failures.length ? ['Failures:', '', ...failures.map((f) => `- ${f}`), ''] : []),
  ].join('\n'),
);
process.exitCode = exitCode || (failures.length ? 1 : 0);
