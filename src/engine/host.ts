// One host, start to finish, in named phases over one context:
//   connect -> lock -> facts -> plan -> record -> apply -> verify -> finish (and prune old generations)
// A dry run is the same path stopped after planning (and takes no lock: it writes nothing).
// A host that fails after its changes began is rolled back at once. Errors fail this host alone.
import { appendFileSync } from 'node:fs';
import { ConnectionLostError, describeError, InterruptedError, LockError, OperationError } from '../errors.ts';
import { gatherFacts } from '../facts/gather.ts';
import type { HostFacts } from '../facts/types.ts';
import type { ResolvedHost } from '../inventory/load.ts';
import {
  acquireLock,
  controllerIdentity,
  type HeldLock,
  genDir,
  HostJournal,
  journalFact,
  type Generation,
  type PruneOutcome,
} from '../journal/index.ts';
import type { Finding } from '../playbook/index.ts';
import { undoHandlerFor } from '../resources/undo.ts';
import type { Change, Resource } from '../resources/types.ts';
import { redact } from '../secrets/index.ts';
import { commandRunner, type Runner } from '../transport/runner.ts';
import { runDetached, stepName } from '../transport/detached.ts';
import { DEFAULT_RECONNECT, ReconnectingConnection, type ReconnectPolicy } from '../transport/reconnect.ts';
import { connect, type Connection } from '../transport/ssh.ts';
import { confirmOverFreshConnection, newWatch, watcherCommand } from './revert-watcher.ts';
import type { EventSink, HostResult, Phase } from './events.ts';
import { findLeftoverSecrets } from './leftover-secrets.ts';
import { checkResources, factQueries, planHost, type HostPlan } from './plan.ts';
import { describeIncomplete, readLeftSteps, waitForLeftSteps } from './left-steps.ts';
import { describeHalfUndone, repairIncomplete, undoGenerations } from './undo.ts';
import { playbooksToVerify, probePlaybooks, verifyPlaybooks } from './verify.ts';
import { changesDiffer, factDigests, factTexts, saveChange, staleFacts } from '../plans/digest.ts';
import type { SavedHost } from '../plans/format.ts';
import { traced, tracedSync } from '../trace.ts';

export interface HostRunOptions {
  dryRun: boolean;
  emit: EventSink;
  /** Per-host log file (redacted). */
  logFile?: string;
  /** Run post-apply verification even when nothing changed. */
  alwaysVerify?: boolean;
  /** Dry run: also run the playbooks' read-only probes (`plan --probe`). */
  probe?: boolean;
  /** Recorded in the host's journal. */
  inventoryFile?: string;
  /** How long a firewall change waits for confirmation over a fresh connection before the host reverts it. */
  firewallConfirmSeconds?: number;
  /** Fault injection for tests: wait this long before confirming a firewall change. */
  firewallConfirmDelayMs?: number;
  /** How a dropped connection is brought back (default: DEFAULT_RECONNECT). */
  reconnect?: ReconnectPolicy;
  /** Set by a first Ctrl-C: no new step starts; the running one finishes, then the host is rolled back. */
  stop?: StopRequest;
  /** `plan --out`: also keep what a plan file needs of this host (result.saved), scrypt digests with this salt. */
  save?: { salt: string };
  /** `apply PLANFILE`: this host's saved plan, applied only while it still holds (see checkSaved). */
  saved?: SavedPlanOfHost;
}

/** One host's part of a plan file, with what identifies the file. */
export interface SavedPlanOfHost {
  host: SavedHost;
  planId: string;
  salt: string;
}

/** A request to stop, shared by every host of a run (the CLI sets it on the first SIGINT). */
export interface StopRequest {
  requested: boolean;
}

/** Everything the phases of one host's run share. */
interface HostRun {
  host: ResolvedHost;
  opts: HostRunOptions;
  result: HostResult;
  resources: Resource[];
  log(line: string): void;
  phase(phase: Phase, extra?: { step?: number; total?: number; detail?: string }): void;
  finding(f: Finding): void;
  runner?: Runner;
  facts?: HostFacts;
  journal?: HostJournal;
  gen?: Generation;
  /** The host's lock, taken again on each reconnect. */
  lock?: HeldLock;
  lockInfo?: string;
  /** The lock went to another run while the connection was down: this run touches the host no more. */
  lockLost?: boolean;
}

export async function runHost(host: ResolvedHost, opts: HostRunOptions): Promise<HostResult> {
  const started = Date.now();
  const run = newRun(host, opts);
  try {
    lint(run);
    if (opts.stop?.requested) return interruptedBeforeChanges(run, 'before it was contacted');
    const runner = await connectPhase(run);
    // an apply takes the lock and gathers the facts under it in one round trip
    let gathered: HostFacts | undefined;
    if (!opts.dryRun) {
      run.phase('facts');
      // traced as facts: the lock (a flock that does not wait) is the smaller part of this round trip
      run.lock = await traced('facts', () => acquireLock(runner.conn, lockInfo(run), { facts: factQueriesOf(run) }));
      gathered = run.lock.facts;
    }
    await traced('facts', () => factsPhase(run, runner, gathered));
    const plan = tracedSync('plan', () => planPhase(run));
    // credentials mailprov wrote that no bound playbook manages any more: said, with how to remove them
    const leftover = await traced('other remote reads', () =>
      findLeftoverSecrets(runner.conn, host.name, opts.inventoryFile ?? '', run.journal!.generations, run.resources),
    );
    if (leftover) run.finding(leftover);
    if (opts.save)
      run.result.saved = {
        facts: factDigests(run.resources, run.facts!, opts.save.salt),
        changes: plan.changes.map((c) => saveChange(c, opts.save!.salt)),
      };
    if (opts.saved) {
      const refused = checkSaved(run, opts.saved, plan);
      if (refused.length) return refuse(run, refused);
    }
    if (opts.dryRun) {
      run.result.status = plan.changes.length ? 'pending' : 'unchanged';
      if (opts.probe) await traced('verify', () => probePlaybooks(runner, host, run.facts!, run.phase, run.finding));
      return run.result;
    }
    if (opts.stop?.requested && plan.changes.length) return interruptedBeforeChanges(run, 'after planning');
    if (plan.changes.length) {
      run.gen = await traced('apply', () => recordPhase(run, plan));
      await traced('apply', () => applyPhase(run, runner, run.gen!, plan.changes));
      run.result.status = 'changed';
    }
    if (plan.changes.length || opts.alwaysVerify) {
      const toVerify = playbooksToVerify(host.playbooks, plan.changes, opts.alwaysVerify);
      for (const p of host.playbooks.filter((x) => x.parts.verify && !toVerify.includes(x)))
        run.log(
          `verify ${p.name}: not run, every change is of a self-contained playbook (${plan.changes.map((c) => c.resourceId).join(', ')})`,
        );
      await traced('verify', () => verifyPlaybooks(runner, { ...host, playbooks: toVerify }, run.facts!, 'apply', run.phase, run.finding));
    }
    await traced('finish', () => finishPhase(run));
    return run.result;
  } catch (err) {
    run.result.status = 'failed';
    run.result.error = redact(describeError(err));
    run.log(`FAILED: ${run.result.error}`);
    if (run.gen && run.runner && !run.lockLost) await rollBackFailed(run, run.runner, run.gen);
    return run.result;
  } finally {
    run.lock?.release();
    run.runner?.conn.close();
    run.result.durationMs = Date.now() - started;
    opts.emit({ kind: 'host-done', result: run.result });
  }
}

/** Who holds the host's lock, written once per run: a reconnect takes back a lock held under it. */
const lockInfo = (run: HostRun) =>
  (run.lockInfo ??= `${controllerIdentity()} since ${new Date().toISOString()} (${run.opts.inventoryFile ?? 'inventory'})`);

/**
 * Why a saved plan does not hold on this host any more, one line each (none: apply it). Checked
 * after the facts were gathered again and the resources planned again: the plan applied once (its
 * id in the host's journal), the facts each step was computed from, then the steps themselves, whose
 * content is regenerated from the inventory and must have the digests the plan saved.
 */
function checkSaved(run: HostRun, saved: SavedPlanOfHost, plan: HostPlan): string[] {
  // applied once: a generation carries its id, unless the automatic rollback undid it (a failed or
  // interrupted apply left the host as it was, so the reviewed plan may be tried again)
  const gens = run.journal!.generations;
  const undidByHand = new Set(gens.flatMap((g) => (g.kind === 'rollback' ? (g.undid ?? []) : [])));
  const applied = gens.find((g) => g.plan === saved.planId && (g.status !== 'rolled-back' || undidByHand.has(g.id)));
  if (applied) {
    if (applied.status === 'complete') run.result.alreadyApplied = applied.id;
    return [`this plan was already applied here (generation ${applied.id}, ${applied.status}, ${applied.startedAt}): make a new plan`];
  }
  if (saved.host.status === 'failed')
    return [`the plan holds no steps for this host: planning failed then (${(saved.host.error ?? '').split('\n')[0]})`];
  const facts = staleFacts(
    saved.host.facts,
    factDigests(run.resources, run.facts!, saved.salt),
    saved.salt,
    factTexts(run.resources, run.facts!),
  );
  return facts.length ? facts : changesDiffer(saved.host.changes, plan.changes, saved.salt);
}

/** The saved plan does not hold here: nothing is changed on this host. */
function refuse(run: HostRun, refused: string[]): HostResult {
  run.result.status = 'skipped';
  run.result.changes = [];
  run.result.refused = refused;
  run.result.error = `refused: the saved plan does not hold on this host:\n${refused.map((r) => `  ${r}`).join('\n')}`;
  run.log(run.result.error);
  return run.result;
}

/** A first Ctrl-C came before this host changed anything: it is left as it is. */
function interruptedBeforeChanges(run: HostRun, when: string): HostResult {
  run.result.status = 'skipped';
  run.result.error = `interrupted (Ctrl-C) ${when}: nothing was changed`;
  run.result.stopped = 'before any change';
  run.log(run.result.error);
  return run.result;
}

function newRun(host: ResolvedHost, opts: HostRunOptions): HostRun {
  const log = (line: string) => {
    if (opts.logFile) appendFileSync(opts.logFile, redact(line) + '\n', { mode: 0o600 });
  };
  const result: HostResult = {
    host: host.name,
    address: `${host.target.address}:${host.target.port}`,
    status: 'unchanged',
    changes: [],
    applied: 0,
    findings: [],
    durationMs: 0,
    logFile: opts.logFile,
  };
  return {
    host,
    opts,
    result,
    resources: host.playbooks.flatMap((p) => p.parts.resources),
    log,
    phase: (phase, extra = {}) => opts.emit({ kind: 'host-phase', host: host.name, phase, ...extra }),
    finding(f) {
      result.findings.push(f);
      opts.emit({ kind: 'host-finding', host: host.name, finding: f });
      log(`${f.level}: [${f.code}] ${f.message}`);
    },
  };
}

/** Checks that need no host: the resources fit together, and the playbooks' own lint. */
function lint(run: HostRun): void {
  const problems = checkResources(run.resources);
  if (problems.length) throw new OperationError('the playbooks declare conflicting resources', problems);
  for (const p of run.host.playbooks) p.parts.lint?.().forEach(run.finding);
  failOnErrors(run.result.findings, 'lint');
}

async function connectPhase(run: HostRun): Promise<Runner> {
  const t = run.host.target;
  run.phase('connecting');
  const via = t.jump?.length ? ` via ${t.jump.map((j) => `${j.user}@${j.address}:${j.port}`).join(', ')}` : '';
  run.log(`connect ${t.user}@${t.address}:${t.port}${via}`);
  // a connection that drops is brought back, host key checked again, and the host's lock taken again
  const conn = new ReconnectingConnection(await connect(t), run.opts.reconnect ?? DEFAULT_RECONNECT, {
    log: run.log,
    onReconnect: async (fresh) => {
      if (!run.lock) return;
      try {
        run.lock.release();
      } catch {
        /* its channel went with the old connection */
      }
      run.lock = undefined;
      try {
        // the host may not have noticed yet that the old session is gone: its lock is ours to take back
        run.lock = await acquireLock(fresh, lockInfo(run), { reclaim: true });
      } catch (err) {
        if (!(err instanceof LockError)) throw err;
        run.lockLost = true;
        conn.close();
        throw new LockError(
          `${run.host.name}: the connection was lost, and when it came back another mailprov run held the host's lock: this run leaves the host to it (${err.message})`,
        );
      }
    },
  });
  run.runner = commandRunner(conn, run.log);
  return run.runner;
}

/** Every fact the host's run reads: the journal, the resources', the playbooks'. */
const factQueriesOf = (run: HostRun) => [
  journalFact.query(),
  ...factQueries(run.resources),
  ...run.host.playbooks.flatMap((p) => p.parts.facts ?? []),
];

/**
 * Facts and the journal in one round trip (with the lock, for an apply: `gathered`). Generations an undo left halfway are reported; an apply
 * a dead controller left is rolled back first (a rollback it left is recorded as failed).
 */
async function factsPhase(run: HostRun, runner: Runner, gathered?: HostFacts): Promise<void> {
  if (!gathered) run.phase('facts');
  const queries = factQueriesOf(run);
  run.facts = gathered ?? (await gatherFacts(runner.conn, queries));
  run.journal = HostJournal.fromFacts(runner, run.facts, undoHandlerFor);
  const os = run.facts.os;
  run.result.os = os.prettyName;
  run.log(`facts: ${os.prettyName} (${os.family}, ${os.packageManager}, ${os.serviceManager}), fqdn ${os.fqdn}`);
  for (const g of run.journal.halfUndone) run.finding({ level: 'warning', code: 'rollback-failed', message: describeHalfUndone(g) });
  const incomplete = run.journal.incomplete;
  if (incomplete.length) {
    const dry = run.opts.dryRun;
    // what each one's last step did on the host: the step folders say it, whoever was cut off
    const left = await readLeftSteps(runner, incomplete);
    for (const g of incomplete)
      run.finding({ level: 'warning', code: 'incomplete-generation', message: describeIncomplete(g, left.get(g.id) ?? [], dry) });
    if (!dry) {
      // a step still running there is waited for: apt's transaction, make and restart stay whole
      for (const g of incomplete)
        for (const message of await waitForLeftSteps(runner, g, left.get(g.id) ?? []))
          run.finding({ level: 'info', code: 'incomplete-generation', message });
      await repairIncomplete(runner, run.journal, run.host.playbooks, os);
      run.facts = await gatherFacts(runner.conn, queries);
      run.journal = HostJournal.fromFacts(runner, run.facts, undoHandlerFor);
    }
  }
  for (const p of run.host.playbooks) p.parts.checkFacts?.(run.facts).forEach(run.finding);
  failOnErrors(run.result.findings, 'host checks');
}

function planPhase(run: HostRun): HostPlan {
  run.phase('planning');
  const plan = planHost(run.resources, run.facts!);
  run.result.changes = plan.changes;
  for (const ch of plan.changes) run.log(`plan: ${ch.summary} -- ${ch.reason}`);
  for (const u of plan.unchanged) run.log(`ok: ${u.resourceId} -- ${u.reason}`);
  return plan;
}

/** The generation is recorded before the first change, with everything the plan may touch. */
async function recordPhase(run: HostRun, plan: HostPlan): Promise<Generation> {
  const written = plan.changes.flatMap((c) => c.files ?? []);
  const unique = (paths: string[]) => [...new Set(paths)];
  // each record is checked by its own kind now, so a bad one fails before anything changes
  for (const r of plan.changes.flatMap((c) => c.undo)) undoHandlerFor(r);
  return run.journal!.begin({
    kind: 'apply',
    inventory: run.opts.inventoryFile ?? '',
    summary: plan.changes.map((c) => c.summary),
    files: unique(written.filter((f) => !f.keepOnUndo).map((f) => f.path)),
    kept: unique(written.filter((f) => f.keepOnUndo).map((f) => f.path)),
    sensitive: unique(written.filter((f) => f.sensitive).map((f) => f.path)),
    undo: plan.changes.flatMap((c) => c.undo),
    ...(run.opts.saved ? { plan: run.opts.saved.planId } : {}),
  });
}

async function applyPhase(run: HostRun, runner: Runner, gen: Generation, changes: Change[]): Promise<void> {
  const total = changes.length;
  for (const [i, change] of changes.entries()) {
    // a Ctrl-C lets the running change finish, and starts no other
    if (run.opts.stop?.requested) {
      run.result.stopped = i === 0 ? 'before its first change' : `after change ${i} of ${total} (${changes[i - 1].summary})`;
      throw new InterruptedError(`interrupted (Ctrl-C) ${run.result.stopped}: the rest was not started`);
    }
    run.phase('applying', { step: i + 1, total, detail: change.summary });
    run.log(`apply ${i + 1}/${total}: ${change.summary} (${change.reason})`);
    // a change that could cut us off: the host undoes it by itself unless we confirm it
    const watch = change.confirm ? newWatch(gen.id, i + 1) : undefined;
    if (watch) {
      const revert = change.undo.flatMap((r) => {
        const { handler, record } = undoHandlerFor(r);
        return handler.steps(record, run.facts!.os);
      });
      await runner.run(watcherCommand(watch, revert, run.opts.firewallConfirmSeconds ?? 60), 'start the firewall watcher');
    }
    // the files a change writes are copied aside first, in the same remote command (fail-stop)
    const backup = run.journal!.backupScript(
      gen,
      (change.files ?? []).map((f) => f.path),
    );
    let previous = '';
    for (const [j, step] of change.steps.entries()) {
      // detached on the host: a lost connection never cuts a step (apt, make, a restart) in half;
      // the backup runs in the same command, before it, and a failed one stops it (fail-stop)
      const out = await runDetached(runner, {
        dir: `${genDir(gen.id)}/steps/${stepName()}`,
        before: j === 0 ? backup : undefined,
        command: step.command,
        stdin: step.stdinFrom ? await step.stdinFrom(previous) : step.stdin,
        label: step.label,
        what: change.summary,
        onLost: (message) => run.finding({ level: 'warning', code: 'connection-lost', message }),
      });
      // what the step says worth reporting (a lock it waited for, a package it upgraded)
      if (step.notes)
        for (const line of out.split('\n'))
          if (line.startsWith('mailprov-note: ')) run.finding({ level: 'info', code: step.notes, message: line.slice(15) });
      previous = out;
    }
    if (watch) await confirmPhase(run, watch);
    run.result.applied++;
  }
}

/**
 * Marks the generation complete and prunes the ones beyond keepGenerations in the same command. A
 * run that changed nothing prunes only when there is something to prune (a lowered setting), and a
 * prune that fails is a warning: the host itself is done.
 */
async function finishPhase(run: HostRun): Promise<void> {
  const keep = run.host.keepGenerations;
  let outcome: PruneOutcome;
  if (run.gen) {
    outcome = await run.journal!.completeAndPrune(run.gen, keep);
  } else {
    try {
      outcome = await run.journal!.prune(keep);
    } catch (err) {
      outcome = { pruned: [], failed: [] };
      run.finding({ level: 'warning', code: 'prune-failed', message: `could not prune old generations: ${describeError(err)}` });
    }
  }
  if (outcome.pruned.length) run.result.pruned = outcome.pruned;
  if (outcome.failed.length)
    run.finding({
      level: 'warning',
      code: 'prune-failed',
      message: `could not prune generation(s) ${outcome.failed.join(', ')} (keepGenerations=${keep}); they stay on the host`,
    });
}

async function confirmPhase(run: HostRun, watch: ReturnType<typeof newWatch>): Promise<void> {
  if (run.opts.firewallConfirmDelayMs) await new Promise((r) => setTimeout(r, run.opts.firewallConfirmDelayMs));
  // a new SSH connection to the host, by the same way as the first (through its jump hosts, if any)
  let fresh: Connection;
  try {
    fresh = await connect(run.host.target);
  } catch (err) {
    throw new OperationError(`the firewall change cut off new SSH connections (${(err as Error).message}); the host reverts it by itself`);
  }
  try {
    await confirmOverFreshConnection(commandRunner(fresh, run.log), watch);
  } finally {
    fresh.close();
  }
}

/** A host whose new config failed goes back to where it was, by itself. */
async function rollBackFailed(run: HostRun, runner: Runner, gen: Generation): Promise<void> {
  run.phase('rolling back', { detail: `generation ${gen.id}` });
  run.log(`rolling back generation ${gen.id}`);
  const journal = run.journal!;
  let undone: Awaited<ReturnType<typeof undoGenerations>>;
  const undo = () =>
    // records the generation 'rolled-back' once undone, or 'rollback-failed' with what it did undo
    undoGenerations(runner, journal, [gen], run.host.playbooks, {
      optIn: new Set(),
      os: run.facts!.os,
      reason: run.result.error!,
      by: 'the automatic rollback',
    });
  try {
    try {
      undone = await undo();
    } catch (err) {
      // cut off mid-rollback: every undo step is idempotent, so it runs again once reconnected
      if (!lostConnection(err) || run.lockLost) throw err;
      // the next command brings the connection back (see reconnect.ts)
      run.log(`the connection was lost during the automatic rollback (${describeError(err)}); reconnecting to finish it`);
      undone = await undo();
      run.finding({
        level: 'warning',
        code: 'connection-lost',
        message: 'the connection was lost during the automatic rollback; reconnected, and the rollback was run again to the end',
      });
    }
  } catch (err) {
    const why = redact(describeError(err));
    run.log(`ROLLBACK FAILED: ${why}`);
    // an undo stopped halfway says so itself; anything else (the rebuild after it) is named here
    run.result.error += why.startsWith('the automatic rollback')
      ? `\n${why}`
      : `\nthe automatic rollback of generation ${gen.id} failed: ${why}`;
    return;
  }
  run.result.rolledBack = { generation: gen.id, restored: undone.restored };
  try {
    await verifyPlaybooks(runner, run.host, undone.facts, 'rollback', run.phase, (f) =>
      run.log(`verify after rollback, ${f.level}: ${f.message}`),
    );
    run.result.status = 'rolled-back';
  } catch (err) {
    // what the generation did is undone; what runs on the restored files did not come back well
    const why = redact(describeError(err));
    run.log(`VERIFY AFTER ROLLBACK FAILED: ${why}`);
    run.result.error += `\ngeneration ${gen.id} was rolled back, but the host did not verify after it: ${why}`;
  }
}

/** The error (or what it was caused by) is a dropped connection. */
function lostConnection(err: unknown): boolean {
  for (let e = err; e; e = (e as Error).cause) if (e instanceof ConnectionLostError) return true;
  return /connection lost while running a command|connection was lost/.test(describeError(err));
}

function failOnErrors(findings: Finding[], stage: string): void {
  const errors = findings.filter((f) => f.level === 'error');
  if (errors.length)
    throw new OperationError(
      `${stage} found ${errors.length} error(s)`,
      errors.map((e) => `  [${e.code}] ${e.message}`),
    );
}
