// The scale benchmark's text (`npm run bench -- --scale ...`), from bench/results.json's `scale` alone:
// its section of bench/latest.md and the table the run prints.
import { table } from './lib.ts';
import type { ScaleN, ScaleResults, ScaleRun } from './results.ts';
import type { ScaleOptions } from './scale.ts';

const s2 = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2));
const mb = (kb: number | undefined) => (kb === undefined ? '-' : String(Math.round(kb / 1024)));

/** The floor of the same hosts in the same state (fresh or converged), when measured. */
function floorOf(n: ScaleN, run: ScaleRun): ScaleRun | undefined {
  const converged = run.scenario === 'no-op re-apply' || run.scenario === 'dry run, converged hosts';
  const want = converged ? 'dry run, converged hosts' : 'dry run, fresh hosts';
  return n.runs.find((r) => r.tool === 'floor' && r.scenario === want) ?? n.runs.find((r) => r.tool === 'floor');
}

/** Every run: wall time, the controller's CPU and peak memory, and the ratio to the floor. */
export function scaleTable(scale: ScaleResults): string {
  const body = scale.ns.flatMap((n) =>
    n.runs
      .filter((r) => r.tool !== 'floor')
      .map((r) => {
        const floor = floorOf(n, r);
        return [
          String(n.hosts),
          r.scenario,
          r.tool === 'mailprov' ? `mailprov --forks ${n.forks}` : 'ansible (forks = N)',
          s2(r.seconds) + (r.ok ? '' : ' (!)'),
          s2(r.cpuSeconds),
          mb(r.maxRssKb),
          floor ? s2(floor.seconds) + (floor.ok ? '' : ' (!)') : '-',
          floor ? `${(r.seconds / floor.seconds).toFixed(2)}x` : '-',
          `${r.load[0]}, ${r.load[1]}`,
        ];
      }),
  );
  return table(['N', 'scenario', 'controller', 'wall s', 'controller CPU s', 'peak RSS MB', 'floor s', 'vs floor', 'load'], body);
}

/** Each N's sandbox: how long up and down took, and its memory per host. */
export function scaleSandboxTable(scale: ScaleResults): string {
  return table(
    ['N', 'sandbox', 'up s', 'down s', 'processes', 'PSS MB per host', 'RSS MB per host', 'forwarder PSS MB (all hosts)'],
    scale.ns.map((n) => [
      String(n.hosts),
      'sandbox up/down',
      s2(n.sandbox.upSeconds),
      s2(n.sandbox.downSeconds),
      String(n.sandbox.processes),
      s2(n.sandbox.pssMbPerHost),
      s2(n.sandbox.rssMbPerHost),
      n.sandbox.forwarderPssMb.toFixed(1),
    ]),
  );
}

export function scaleSection(scale: ScaleResults): string {
  const shards = scale.ns.filter((n) => n.shards);
  return [
    '## At scale: hundreds of hosts at once',
    '',
    `Measured by \`${scale.command}\` (ended ${scale.date.slice(0, 16).replace('T', ' ')} UTC, mailprov ${scale.mailprovCommit.slice(0, 10)}).`,
    `Load average (1, 5, 15 min) as the run began: ${scale.load.before.map((x) => x.toFixed(2)).join(', ')}; as it ended: ${scale.load.after.map((x) => x.toFixed(2)).join(', ')}.`,
    'One run each. Wall time of the whole process; controller CPU is user + system time of the controller',
    "process and the children it waited for (GNU time; Ansible's include its forks and their ssh), peak RSS",
    "the largest process's. Floor: N parallel `ssh host true`, on the same hosts in the same state. The sandbox",
    "hosts run on the same cores as the controller, so every figure includes the hosts' own work (N sshd",
    'handshakes and the commands run on them).',
    '',
    scaleTable(scale),
    '',
    scaleSandboxTable(scale),
    '',
    ...(shards.length
      ? [
          'Two shards (`--shard 1/2` and `--shard 2/2`, two processes at once) against the one dry run:',
          '',
          ...shards.map((n) => `- N=${n.hosts}: ${n.shards!.same ? 'same' : 'DIFFERENT'}: ${n.shards!.detail}`),
          '',
        ]
      : []),
    ...(scale.notes.length ? [...scale.notes.map((x) => `- ${x}`), ''] : []),
    ...(scale.failures.length ? ['Failures:', '', ...scale.failures.map((f) => `- ${f}`), ''] : []),
  ]
    .join('\n')
    .trimEnd();
}

/** Issue 18's targets for a dry run over 1,000 hosts on this machine. */
export const SCALE_TARGETS = { hosts: 1000, seconds: 30, rssMb: 400 };

/** What a reader of the figures must know about how far they go, and how they compare with the targets. */
export function scaleNotes(scale: ScaleOptions, ns: ScaleN[]): string[] {
  const notes: string[] = [];
  const fresh = scale.ns.filter((n) => !scale.convergeAt.includes(n));
  const first = ns.flatMap((n) => n.runs.filter((r) => r.scenario === 'first apply').map((r) => ({ n: n.hosts, s: r.seconds })))[0];
  if (fresh.length) {
    const minutes = first ? ((first.s / first.n) * Math.max(...fresh)) / 60 : 0;
    notes.push(
      `N=${fresh.join(', ')}: the dry run on fresh hosts only, no converged figures: converging takes a first apply that installs sendmail from the local apt repository on every host${first ? ` (${first.s.toFixed(0)} s for ${first.n} hosts on these cores, about ${minutes < 1 ? '1' : minutes.toFixed(0)} min for ${Math.max(...fresh)})` : ''}.`,
    );
  }
  if (scale.ns.some((n) => n > scale.forksCap))
    notes.push(`mailprov ran with --forks ${scale.forksCap} where N is larger (--scale-forks): at most ${scale.forksCap} hosts at once.`);
  const target = targetNote(ns);
  if (target) notes.push(target);
  return notes;
}

/** The dry run over 1,000 hosts (converged if measured, else fresh) against the targets: wall, memory, the floor. */
function targetNote(ns: ScaleN[]): string | undefined {
  const { hosts, seconds, rssMb } = SCALE_TARGETS;
  const at = ns.find((n) => n.hosts === hosts);
  const pick = (scenario: ScaleRun['scenario']) => at?.runs.find((r) => r.tool === 'mailprov' && r.scenario === scenario);
  const run = pick('dry run, converged hosts') ?? pick('dry run, fresh hosts');
  const floor = at?.runs.find((r) => r.tool === 'floor');
  if (!at || !run) return undefined;
  const mb = run.maxRssKb === undefined ? undefined : run.maxRssKb / 1024;
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const parts = [
    `within ${seconds} s: ${met(run.ok && run.seconds <= seconds)} (${run.seconds.toFixed(1)} s)`,
    `within ${rssMb} MB: ${mb === undefined ? 'not measured' : `${met(mb <= rssMb)} (${mb.toFixed(0)} MB peak RSS)`}`,
    `at or below the floor: ${floor ? `${met(run.seconds <= floor.seconds)} (floor ${floor.seconds.toFixed(1)} s)` : 'no floor measured'}`,
  ];
  return `Targets of issue 18 for the ${run.scenario.replace('dry run, ', 'dry run over ')} at N=${hosts}${run.scenario.includes('fresh') ? ' (the targets name converged hosts)' : ''}: ${parts.join('; ')}${run.ok ? '' : '; some hosts failed in this run'}.`;
}
