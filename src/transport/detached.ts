// Steps that outlive the SSH session. A change step that must not be cut in half (a package
// transaction, make + restart) runs on the host in a session and process group of its own, its input
// from a 0600 file (removed as the step starts), its output and exit status to files in a folder of
// the generation. The command that starts it then waits on it, so a step costs one round trip; if
// the connection drops meanwhile, the step goes on, and the controller reconnects and waits again
// (or the next run reads the folder). The step's real exit status decides, never the session's.
//
// The folder, <generation>/steps/<name>/:
//   lock     held (flock) by the step's runner for as long as it lives: a waiter blocks on it, and a
//            runner that dies (reboot, kill -9) lets it go, so "running" is never stale
//   label    what the step is, for messages; cmd: the command; stdin: its input until it starts
//   started  the runner began (before the command); status: "<exit> <UTC time>" once it finished
//   out, err the command's output
import { CommandError, ConnectionLostError, OperationError } from '../errors.ts';
import { redact } from '../secrets/index.ts';
import { sh } from './quote.ts';
import { indent, type Runner } from './runner.ts';
import type { Connection } from './ssh.ts';

/** What a step folder says about its step. */
export type StepOutcome =
  | { state: 'finished'; code: number; at: string }
  | { state: 'running' }
  | { state: 'died' }
  | { state: 'not-started' };

/** The marker the wait script ends its stderr with. */
const MARK = 'mailprov-step:';

/**
 * What the detached runner runs, as `sh -c RUNNER mailprov-step <dir> <umask>`: it holds the lock
 * from its start (inherited from the launcher) to its end; the command gets the session's umask
 * back (its own files stay 0600), and not the lock's descriptor (a daemon the step starts must not hold it forever).
 */
const RUNNER = [
  'd=$1; um=$2; umask 077',
  ': > "$d/started"',
  // its files are the runner's (0600); the command gets the session's umask back
  '{ rm -f "$d/stdin"; umask "$um"; /bin/sh "$d/cmd" 9>&-; } < "$d/stdin" > "$d/out" 2> "$d/err"',
  'rc=$?; umask 077',
  'printf \'%s %s\\n\' "$rc" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$d/status.tmp" && mv -f "$d/status.tmp" "$d/status"',
].join('\n');

/**
 * Waits for the step in `dir` and reports it: its stdout, its stderr, then a last stderr line
 * "mailprov-step: finished <exit> <time>", "died" or "not-started". A folder that is not there is
 * claimed (made, marked never started), so that a launcher arriving late cannot start the step behind
 * the controller's back.
 */
export function waitScript(dir: string): string {
  const parent = dir.slice(0, dir.lastIndexOf('/'));
  return [
    sh`d=${dir}`,
    'umask 077',
    sh`if [ ! -d "$d" ]; then mkdir -p ${parent} && mkdir "$d" 2>/dev/null && : > "$d/never"; fi`,
    // blocks while the runner lives; a runner never started leaves the lock free
    'flock -s "$d/lock" true 2>/dev/null',
    // (each process costs: a step runs a dozen, and ten hosts share the cores with the controller)
    '[ ! -s "$d/out" ] || cat "$d/out" 2>/dev/null',
    '[ ! -s "$d/err" ] || cat "$d/err" >&2 2>/dev/null',
    `if [ -f "$d/status" ]; then read rc at < "$d/status"; printf '\\n${MARK} finished %s %s\\n' "$rc" "$at" >&2`,
    `elif [ -e "$d/started" ]; then printf '\\n${MARK} died\\n' >&2`,
    `else printf '\\n${MARK} not-started\\n' >&2; fi`,
  ].join('\n');
}

/**
 * Starts a step detached in `dir` (which must not exist) and waits for it (see waitScript). Its input
 * comes on stdin and must arrive whole (`stdinBytes`), or the step is not started: a connection cut
 * mid-transfer must not run a step on half a file. `before` runs first, in this command (the
 * journal's backup of the files the step writes): if it fails, the step is not started, and its
 * exit status and message are the command's own (they need no room on the host's disk).
 */
export function launchScript(dir: string, command: string, label: string, stdinBytes: number, before = ''): string {
  const parent = dir.slice(0, dir.lastIndexOf('/'));
  return [
    sh`d=${dir}`,
    'um=$(umask); umask 077',
    sh`[ -d ${parent} ] || mkdir -p ${parent} || exit 120`,
    sh`mkdir "$d" 2>/dev/null || { echo ${`mailprov: the step folder ${dir} exists already`} >&2; exit 120; }`,
    // the lock first: from here on, a waiter sees the step as running until its runner ends
    'exec 9> "$d/lock" && flock -x 9 || exit 120',
    ...(before ? [`(\n${before}\n) || { rc=$?; : > "$d/never" 2>/dev/null; exit $rc; }`] : []),
    sh`printf '%s\\n' ${label} > "$d/label" && printf '%s\\n' ${command} > "$d/cmd" && cat > "$d/stdin" || exit 120`,
    // no input expected: an empty file is whole, told without a process
    `if ${stdinBytes === 0 ? '[ -s "$d/stdin" ]' : sh`[ "$(wc -c < "$d/stdin")" -ne ${stdinBytes} ]`}; then ${sh`rm -f "$d/stdin"; : > "$d/never"; echo ${'mailprov: the step input did not arrive whole (connection lost?): the step was not started'} >&2; exit 120`}; fi`,
    sh`setsid /bin/sh -c ${RUNNER} mailprov-step "$d" "$um" < /dev/null > /dev/null 2>&1 &`,
    'exec 9>&-',
    waitScript(dir),
  ].join('\n');
}

/** Splits the wait script's output into the step's own stderr and its outcome (none: the script did not get that far). */
export function parseStepReport(stderr: string): { outcome?: StepOutcome; stderr: string } {
  const m = new RegExp(`\\n?${MARK} (finished (\\d+) (\\S+)|died|not-started)\\n?$`).exec(stderr);
  if (!m) return { stderr };
  const rest = stderr.slice(0, m.index);
  if (m[2] !== undefined) return { outcome: { state: 'finished', code: Number(m[2]), at: m[3] }, stderr: rest };
  return { outcome: { state: m[1] as 'died' | 'not-started' }, stderr: rest };
}

/** "2026-12-07T01:02:03Z" -> "01:02:03 UTC", for messages. */
export function clockTime(at: string): string {
  const m = /T(\d\d:\d\d:\d\d)/.exec(at);
  return m ? `${m[1]} UTC` : at;
}

/** A connection that can be brought back after it dropped (see reconnect.ts). */
export interface Reconnectable extends Connection {
  reconnect(why: string): Promise<void>;
}

const canReconnect = (c: Connection): c is Reconnectable => typeof (c as Partial<Reconnectable>).reconnect === 'function';

export interface DetachedStep {
  /** The step's folder, e.g. /var/lib/mailprov/generations/3/steps/<name>; it must not exist yet. */
  dir: string;
  command: string;
  stdin?: string;
  label: string;
  /** What it was for, in errors (as Runner.run's). */
  what?: string;
  /** Told when the connection was lost during the step, once the step's outcome is known. */
  onLost?: (message: string) => void;
  /** Shell run right before the step, in the command that starts it; if it fails, the step is not started (see launchScript). */
  before?: string;
  /** Do not start it: wait for the step already in `dir` (started by a run that was cut off). */
  resumeOnly?: boolean;
  /** Told the step's exit status and when it finished, before a non-zero exit is thrown. */
  onFinished?: (code: number, at: string) => void;
}

/** How many times one step's wait may be resumed after a lost connection. */
const MAX_RESUMES = 20;

/**
 * Runs a step detached on the host and waits for it, through lost connections: a loss is followed by
 * a reconnect (the connection's own, bounded) and the wait resumes. Returns the step's stdout; a
 * non-zero exit is a CommandError, as Runner.run's; a step that died on the host is an OperationError.
 */
export async function runDetached(runner: Runner, step: DetachedStep): Promise<string> {
  const conn = runner.conn;
  const t0 = Date.now();
  const stdin = step.stdin ?? '';
  let dir = step.dir;
  let lostAt: number | undefined;
  let relaunched = false;
  let report: { stdout: string; stderr: string; outcome?: StepOutcome; code: number | null } | undefined;
  const attempt = async (script: string, input?: string) => {
    try {
      const r = await conn.exec(script, input);
      return { ...r, ...parseStepReport(r.stderr) };
    } catch (err) {
      if (!(err instanceof ConnectionLostError)) throw err;
      lostAt ??= Date.now();
      runner.log(`  ! connection lost during "${step.label}": the step goes on on the host; reconnecting`);
      if (!canReconnect(conn))
        throw new ConnectionLostError(
          conn.target.name,
          `the connection was lost during "${step.label}"; the step goes on on the host, and the next apply or rollback waits for it and takes over`,
        );
      await conn.reconnect(`the connection was lost during "${step.label}"`);
      return undefined;
    }
  };
  report = step.resumeOnly
    ? await attempt(waitScript(dir))
    : await attempt(launchScript(dir, step.command, step.label, Buffer.byteLength(stdin), step.before), stdin);
  for (let resumes = 0; !report?.outcome || report.outcome.state === 'not-started'; resumes++) {
    if (report && !report.outcome) {
      // the launcher itself refused (a folder already there, input cut short): the step did not start
      runner.log(`  $ ${step.label} (detached) -> not started, exit ${report.code}`);
      throw new CommandError(runner.host, step.label, report.code, redact(report.stdout), redact(report.stderr), step.what);
    }
    if (report?.outcome?.state === 'not-started') {
      // cut before the step started: it never ran, so it is started once more, in a folder of its own
      if (relaunched || lostAt === undefined || step.resumeOnly)
        throw new OperationError(`${runner.host}: "${step.label}" was not started on the host (the connection was lost before it began)`);
      relaunched = true;
      dir = `${step.dir}-again`;
      report = await attempt(launchScript(dir, step.command, step.label, Buffer.byteLength(stdin), step.before), stdin);
      continue;
    }
    if (resumes >= MAX_RESUMES)
      throw new ConnectionLostError(
        conn.target.name,
        `the connection was lost ${MAX_RESUMES} times while waiting for "${step.label}"; the step goes on on the host, and the next apply or rollback waits for it`,
      );
    report = await attempt(waitScript(dir));
  }
  const outcome = report.outcome;
  const took = Date.now() - t0;
  if (outcome.state !== 'finished') {
    runner.log(`  $ ${step.label} (detached) -> died on the host after ${took} ms`);
    throw new OperationError(
      `${runner.host}: "${step.label}" died on the host before it finished (no exit status: killed, or the host restarted)`,
      report.stderr.trim() ? [redact(report.stderr.trim())] : [],
    );
  }
  runner.log(`  $ ${step.label} (detached) -> exit ${outcome.code} in ${took} ms`);
  if (report.stdout.trim()) runner.log(indent(redact(report.stdout)));
  if (report.stderr.trim()) runner.log(indent(redact(report.stderr)));
  step.onFinished?.(outcome.code, outcome.at);
  if (lostAt !== undefined) {
    const message = `the connection was lost during "${step.label}"; reconnected, and the step finished on the host at ${clockTime(outcome.at)} with exit ${outcome.code}`;
    runner.log(message);
    step.onLost?.(message);
  }
  if (outcome.code !== 0)
    throw new CommandError(runner.host, step.label, outcome.code, redact(report.stdout), redact(report.stderr), step.what);
  return report.stdout;
}

let seq = 0;

/** A new step folder's name: in the order steps were started, unique within this process. */
export function stepName(): string {
  seq = (seq + 1) % 1000;
  return `${Date.now()}-${String(seq).padStart(3, '0')}`;
}

/**
 * Lists the step folders of generation folders, one line each: "<gen>\t<name>\t<state>\t<label>",
 * the state "finished <exit> <time>", "running", "died" or "not-started". Read-only.
 */
export function stepsStatusScript(genDirs: { id: number; dir: string }[]): string {
  return genDirs
    .map(({ id, dir }) =>
      [
        sh`for d in ${dir}/steps/*/; do [ -d "$d" ] || continue; d=\${d%/}; n=\${d##*/}; l=$(head -n 1 "$d/label" 2>/dev/null | tr '\\t' ' ')`,
        '  if [ -f "$d/status" ]; then read rc at < "$d/status"; s="finished $rc $at"',
        '  elif ! flock -n -s "$d/lock" true 2>/dev/null; then s=running',
        '  elif [ -e "$d/started" ]; then s=died; else s=not-started; fi',
        sh`  printf '%s\\t%s\\t%s\\t%s\\n' ${String(id)} "$n" "$s" "$l"`,
        'done',
      ].join('\n'),
    )
    .join('\n');
}

export interface LeftStep {
  gen: number;
  name: string;
  label: string;
  outcome: StepOutcome;
}

/** Reads stepsStatusScript's output; lines that do not parse are skipped (the folder is input). */
export function parseStepsStatus(output: string): LeftStep[] {
  const steps: LeftStep[] = [];
  for (const line of output.split('\n')) {
    const m = /^(\d+)\t([0-9]+-[0-9]+(?:-again)?)\t(finished (\d+) (\S+)|running|died|not-started)\t(.*)$/.exec(line);
    if (!m) continue;
    const outcome: StepOutcome =
      m[4] !== undefined ? { state: 'finished', code: Number(m[4]), at: m[5] } : { state: m[3] as 'running' | 'died' | 'not-started' };
    steps.push({ gen: Number(m[1]), name: m[2], label: m[6].slice(0, 200), outcome });
  }
  return steps.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
