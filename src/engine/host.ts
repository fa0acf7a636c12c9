// One host, start to finish: connect -> lock -> facts -> checks -> plan -> record -> apply ->
// verify. A dry run is the same path stopped after planning (and takes no lock: it writes nothing).
// A host that fails after its changes began is rolled back at once. Errors fail this host alone.
import { appendFileSync } from 'node:fs';
import { CommandError, MailprovError, OperationError } from '../errors.ts';
import type { HostFacts } from '../facts/types.ts';
import type { ResolvedHost } from '../inventory/load.ts';
import {
  acquireLock, backupCommand, controllerIdentity, deleteRuleCommand, genDir, parseJournal, restoreFilesCommand, touchedFiles, writeMeta,
  type Generation,
} from '../journal/index.ts';
import { sh } from '../transport/quote.ts';
import type { Finding } from '../playbook/index.ts';
import type { Change } from '../resources/types.ts';
import { redact } from '../secrets/index.ts';
import { connect, type Connection } from '../transport/ssh.ts';
import type { EventSink, HostResult } from './events.ts';
import { gatherFacts } from './facts.ts';
import { checkResources, planHost, type HostPlan } from './plan.ts';
import { undoGenerations } from './rollback.ts';

export { gatherFacts };

export interface HostRunOptions {
  dryRun: boolean;
  emit: EventSink;
  /** Per-host log file (redacted). */
  logFile?: string;
  /** Run post-apply verification even when nothing changed. */
  alwaysVerify?: boolean;
  /** Recorded in the host's journal. */
  inventoryFile?: string;
  /** How long a firewall change waits for confirmation over a fresh connection before the host reverts it. */
  firewallConfirmSeconds?: number;
}

export function newGeneration(id: number, kind: Generation['kind'], inventory: string, summary: string[]): Generation {
  return {
    id, kind, status: 'in-progress', startedAt: new Date().toISOString(), by: controllerIdentity(), inventory, summary,
    files: [], sensitive: [], packageManager: 'apt', packagesInstalled: [], packagesRemoved: [], rulesAdded: [], rulesRemoved: [],
  };
}

/** What a plan will touch, recorded before the first change. */
export function generationFor(id: number, plan: HostPlan, facts: HostFacts, inventory: string): Generation {
  const gen = newGeneration(id, 'apply', inventory, plan.changes.map((c) => c.summary));
  gen.packageManager = facts.os.packageManager;
  for (const c of plan.changes) {
    for (const f of touchedFiles(c)) if (!gen.files.includes(f)) gen.files.push(f);
    for (const u of c.undo) {
      if (u.kind === 'file' && u.sensitive) gen.sensitive.push(u.path);
      if (u.kind === 'packages') gen.packagesInstalled.push(...u.installed);
      if (u.kind === 'iptables-rule') gen.rulesAdded.push({ chain: u.chain, rule: u.rule });
      if (u.kind === 'firewalld-service') (gen.firewalldServicesAdded ??= []).push(u.service);
    }
  }
  return gen;
}

export async function runHost(host: ResolvedHost, opts: HostRunOptions): Promise<HostResult> {
  const started = Date.now();
  const { emit } = opts;
  const log = (line: string) => {
    if (opts.logFile) appendFileSync(opts.logFile, redact(line) + '\n');
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
  const finding = (f: Finding) => {
    result.findings.push(f);
    emit({ kind: 'host-finding', host: host.name, finding: f });
    log(`${f.level}: [${f.code}] ${f.message}`);
  };
  const resources = host.playbooks.flatMap((p) => p.parts.resources);
  let conn: Connection | undefined;
  let lock: { release(): void } | undefined;
  let gen: Generation | undefined;
  try {
    const problems = checkResources(resources);
    if (problems.length) throw new OperationError('the playbooks declare conflicting resources', problems);
    for (const p of host.playbooks) p.parts.lint?.().forEach(finding);
    failOnErrors(result.findings, 'lint');

    emit({ kind: 'host-phase', host: host.name, phase: 'connecting' });
    log(`connect ${host.target.user}@${host.target.address}:${host.target.port}`);
    conn = await connect(host.target);
    const c = conn;
    if (!opts.dryRun) lock = await acquireLock(conn, `${controllerIdentity()} since ${new Date().toISOString()} (${opts.inventoryFile ?? 'inventory'})`);

    emit({ kind: 'host-phase', host: host.name, phase: 'facts' });
    let facts = await gatherFacts(conn, resources);
    result.os = facts.os.prettyName;
    log(`facts: ${facts.os.prettyName} (${facts.os.family}, ${facts.os.packageManager}, ${facts.os.serviceManager}), fqdn ${facts.os.fqdn}`);

    // A generation left in progress means a controller died mid-apply: repair before anything else.
    let journal = parseJournal(facts.journal);
    const incomplete = journal.filter((g) => g.status === 'in-progress').reverse();
    if (incomplete.length) {
      const ids = incomplete.map((g) => g.id).join(', ');
      if (opts.dryRun) {
        finding({ level: 'warning', code: 'incomplete-generation', message: `generation ${ids} was left incomplete (a controller died mid-apply); the next apply or rollback rolls it back first` });
      } else {
        finding({ level: 'warning', code: 'incomplete-generation', message: `generation ${ids} was left incomplete (a controller died mid-apply): rolling it back first` });
        await undoGenerations(c, incomplete, host.playbooks, { packages: false, log });
        for (const g of incomplete) await writeMeta(c, { ...g, status: 'rolled-back', finishedAt: new Date().toISOString(), reason: 'left incomplete by a controller that died; rolled back by the next run' });
        facts = await gatherFacts(c, resources);
        journal = parseJournal(facts.journal);
      }
    }
    for (const p of host.playbooks) p.parts.checkFacts?.(facts).forEach(finding);
    failOnErrors(result.findings, 'host checks');

    emit({ kind: 'host-phase', host: host.name, phase: 'planning' });
    const plan: HostPlan = planHost(resources, facts);
    result.changes = plan.changes;
    for (const ch of plan.changes) log(`plan: ${ch.summary} -- ${ch.reason}`);
    for (const u of plan.unchanged) log(`ok: ${u.resourceId} -- ${u.reason}`);

    if (opts.dryRun) {
      result.status = plan.changes.length ? 'pending' : 'unchanged';
      return result;
    }
    if (plan.changes.length) {
      gen = generationFor(Math.max(0, ...journal.map((g) => g.id)) + 1, plan, facts, opts.inventoryFile ?? '');
      await writeMeta(c, gen);
      log(`recorded generation ${gen.id} in /var/lib/mailprov`);
      await applyChanges(c, plan.changes, gen, host, emit, log, () => result.applied++, opts.firewallConfirmSeconds ?? 60);
      result.status = 'changed';
    }
    if (plan.changes.length || opts.alwaysVerify) {
      for (const p of host.playbooks) {
        if (!p.parts.verify) continue;
        emit({ kind: 'host-phase', host: host.name, phase: 'verifying', detail: p.name });
        await p.parts.verify({
          hostName: host.name, mode: 'apply', exec: (cmd, stdin) => c.exec(cmd, stdin), facts, log: (l) => log(`verify: ${l}`),
          warn: (message) => finding({ level: 'warning', code: 'not-verified', message }),
        });
      }
    }
    if (gen) await writeMeta(c, { ...gen, status: 'complete', finishedAt: new Date().toISOString() });
    return result;
  } catch (err) {
    result.status = 'failed';
    result.error = redact(err instanceof MailprovError ? err.message : `unexpected error: ${(err as Error).stack ?? err}`);
    log(`FAILED: ${result.error}`);
    if (gen && conn) await rollBackFailed(conn, host, gen, result, emit, log);
    return result;
  } finally {
    lock?.release();
    conn?.close();
    result.durationMs = Date.now() - started;
    emit({ kind: 'host-done', result });
  }
}

/** A host whose new config failed goes back to where it was, by itself. */
async function rollBackFailed(conn: Connection, host: ResolvedHost, gen: Generation, result: HostResult, emit: EventSink, log: (l: string) => void): Promise<void> {
  emit({ kind: 'host-phase', host: host.name, phase: 'rolling back', detail: `generation ${gen.id}` });
  log(`rolling back generation ${gen.id}`);
  try {
    const undone = await undoGenerations(conn, [gen], host.playbooks, { packages: false, log });
    for (const p of host.playbooks) {
      if (!p.parts.verify) continue;
      const facts = await gatherFacts(conn, []);
      await p.parts.verify({
        hostName: host.name, mode: 'rollback', exec: (cmd, stdin) => conn.exec(cmd, stdin), facts, log: (l) => log(`verify after rollback: ${l}`),
        warn: (message) => log(`verify after rollback, warning: ${message}`),
      });
    }
    await writeMeta(conn, { ...gen, status: 'rolled-back', finishedAt: new Date().toISOString(), reason: result.error });
    result.status = 'rolled-back';
    result.rolledBack = { generation: gen.id, restored: undone.restored };
  } catch (err) {
    const why = redact(err instanceof MailprovError ? err.message : String(err));
    log(`ROLLBACK FAILED: ${why}`);
    await writeMeta(conn, { ...gen, status: 'failed', finishedAt: new Date().toISOString(), reason: `${result.error}; rollback failed: ${why}` }).catch(() => {});
    result.error += `\nautomatic rollback of generation ${gen.id} failed too: ${why}`;
  }
}

function failOnErrors(findings: Finding[], stage: string): void {
  const errors = findings.filter((f) => f.level === 'error');
  if (errors.length) throw new OperationError(`${stage} found ${errors.length} error(s)`, errors.map((e) => `  [${e.code}] ${e.message}`));
}

async function applyChanges(
  conn: Connection,
  changes: Change[],
  gen: Generation,
  host: ResolvedHost,
  emit: EventSink,
  log: (line: string) => void,
  onApplied: () => void,
  confirmSeconds: number,
): Promise<void> {
  const total = changes.length;
  for (const [i, change] of changes.entries()) {
    emit({ kind: 'host-phase', host: host.name, phase: 'applying', step: i + 1, total, detail: change.summary });
    log(`apply ${i + 1}/${total}: ${change.summary} (${change.reason})`);
    const rules = change.undo.filter((u) => u.kind === 'iptables-rule');
    // a firewall change could cut us off: the host reverts it by itself unless we confirm it
    if (rules.length) await run(conn, firewallWatcherCommand(gen, rules, confirmSeconds), 'start the firewall watcher', log);
    // the files a change writes are copied into the generation first, in the same remote command
    const backup = touchedFiles(change).map((f) => backupCommand(gen.id, f)).join('\n');
    for (const [j, step] of change.steps.entries()) {
      await run(conn, j === 0 && backup ? `${backup}\n${step.command}` : step.command, step.label, log, step.stdin, change.summary);
    }
    if (rules.length) await confirmFirewall(host, gen, log);
    onApplied();
  }
}

async function run(conn: Connection, command: string, label: string, log: (line: string) => void, stdin?: string, what?: string): Promise<void> {
  const t0 = Date.now();
  const r = await conn.exec(command, stdin);
  log(`  $ ${label} -> exit ${r.code} in ${Date.now() - t0} ms`);
  if (r.stdout.trim()) log(indent(r.stdout));
  if (r.stderr.trim()) log(indent(r.stderr));
  if (r.code !== 0) throw new CommandError(conn.target.name, label, r.code, redact(r.stdout), redact(r.stderr), what);
}

/**
 * A detached process on the host (the idea of iptables-apply and deploy-rs's magic rollback):
 * unless a fresh SSH connection confirms the new rules within the timeout, it deletes them and puts
 * the saved rules file back.
 */
export function firewallWatcherCommand(gen: Generation, rules: { chain: string; rule: string; persistFile?: string }[], seconds: number): string {
  const dir = genDir(gen.id);
  const files = rules.flatMap((r) => (r.persistFile ? [r.persistFile] : []));
  const revert = [
    // first: the file restore below stops this generation's watcher, which is this very script
    `rm -f ${dir}/firewall-watcher.pid`,
    ...rules.map((r) => deleteRuleCommand(r)),
    restoreFilesCommand({ ...gen, files }),
    `date > ${dir}/firewall-reverted`,
  ].join('\n');
  const script = `sleep ${seconds}; [ -e ${dir}/firewall-confirmed ] && exit 0\n${revert}`;
  return sh`rm -f ${`${dir}/firewall-confirmed`} ${`${dir}/firewall-reverted`}; setsid sh -c ${script} >/dev/null 2>&1 </dev/null & echo $! > ${`${dir}/firewall-watcher.pid`}`;
}

async function confirmFirewall(host: ResolvedHost, gen: Generation, log: (line: string) => void): Promise<void> {
  const dir = genDir(gen.id);
  let fresh: Connection;
  try {
    fresh = await connect(host.target);
  } catch (err) {
    throw new OperationError(`the firewall change cut off new SSH connections (${(err as Error).message}); the host reverts it by itself`);
  }
  try {
    // confirmed only if the watcher has not reverted already
    const r = await fresh.exec(sh`[ ! -e ${`${dir}/firewall-reverted`} ] && touch ${`${dir}/firewall-confirmed`} && kill "$(cat ${`${dir}/firewall-watcher.pid`})" 2>/dev/null; [ -e ${`${dir}/firewall-confirmed`} ]`);
    if (r.code !== 0) throw new OperationError('the firewall change was reverted by the host before it could be confirmed');
    log('firewall change confirmed over a fresh SSH connection');
  } finally {
    fresh.close();
  }
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
