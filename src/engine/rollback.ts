// Undoing generations on a host: put back the files each one backed up (or remove the ones it
// created), take out the firewall rules it added, optionally remove the packages it installed,
// then rebuild what depends on the restored files (the playbooks' commands and handlers: makemap,
// make, restart) and verify. Used by `mailprov rollback`, by the automatic rollback of a failed
// host, and to repair a host whose previous controller died mid-apply.
import { CommandError, OperationError } from '../errors.ts';
import { backupCommand, deleteRuleCommand, genDir, restoreFilesCommand, type FirewallRuleRef, type Generation } from '../journal/index.ts';
import type { BoundPlaybook } from '../inventory/load.ts';
import { installCommand, removeCommand } from '../resources/packages.ts';
import type { Change, FileDiff, Resource } from '../resources/types.ts';
import { sh } from '../transport/quote.ts';
import type { Connection } from '../transport/ssh.ts';
import { gatherFacts } from './facts.ts';
import { planHost } from './plan.ts';

export interface UndoOptions {
  /** Also remove the packages the undone generations installed. */
  packages: boolean;
  log(line: string): void;
  /** Back up the current files into this (rollback) generation first, so the rollback can be undone. */
  recordInto?: Generation;
}

export interface UndoResult {
  restored: string[];
  rebuilt: Change[];
}

async function run(conn: Connection, command: string, label: string, log: (l: string) => void, stdin?: string): Promise<string> {
  const r = await conn.exec(command, stdin);
  log(`  $ ${label} -> exit ${r.code}`);
  if (r.code !== 0) throw new CommandError(conn.target.name, label, r.code, r.stdout, r.stderr, 'rollback');
  return r.stdout;
}

/** The resources that rebuild from files: commands and handlers, never the file writes themselves. */
export function dependents(playbooks: BoundPlaybook[]): Resource[] {
  return playbooks.flatMap((p) => p.parts.resources).filter((r) => r.id.startsWith('command:') || r.handler);
}

/** Undoes generations, newest first, then rebuilds and restarts what depends on the restored files. */
export async function undoGenerations(conn: Connection, gens: Generation[], playbooks: BoundPlaybook[], opts: UndoOptions): Promise<UndoResult> {
  const { log } = opts;
  if (opts.recordInto) {
    const files = [...new Set(gens.flatMap((g) => g.files))];
    if (files.length) await run(conn, files.map((f) => backupCommand(opts.recordInto!.id, f)).join('\n'), 'back up the current files', log);
  }
  const restored = new Set<string>();
  for (const gen of gens) {
    log(`undo generation ${gen.id} (${gen.kind}, ${gen.startedAt})`);
    const out = await run(conn, restoreFilesCommand(gen), `restore the files of generation ${gen.id}`, log);
    for (const line of out.split('\n')) {
      const m = /^(restored|removed) (.+)$/.exec(line);
      if (m) restored.add(m[2]);
    }
    for (const r of gen.rulesAdded) await run(conn, deleteRuleCommand(r), `iptables -D ${r.chain} ${r.rule}`, log);
    for (const svc of gen.firewalldServicesAdded ?? []) {
      await run(conn, sh`firewall-cmd --permanent --remove-service=${svc} && firewall-cmd --reload`, `firewalld: remove ${svc}`, log);
    }
    for (const r of gen.rulesRemoved) {
      const args = r.rule.split(' ');
      // placed as the firewall resource places it: before the chain's first REJECT/DROP, else last
      const place = [
        sh`if ! iptables -w -C ${r.chain} ${args} 2>/dev/null; then`,
        sh`  pos=$(iptables -w -S ${r.chain} | grep -- '^-A' | grep -n -m1 -E -- '-j (REJECT|DROP)' | cut -d: -f1)`,
        sh`  if [ -n "$pos" ]; then iptables -w -I ${r.chain} "$pos" ${args}; else iptables -w -A ${r.chain} ${args}; fi`,
        'fi',
      ].join('\n');
      await run(conn, place, `iptables: put back ${r.chain} ${r.rule}`, log);
    }
    if (opts.packages && gen.packagesInstalled.length) {
      await run(conn, removeCommand(gen.packageManager, gen.packagesInstalled), `remove ${gen.packagesInstalled.join(', ')}`, log);
    }
    if (opts.packages && gen.packagesRemoved.length) {
      await run(conn, installCommand(gen.packageManager, gen.packagesRemoved), `reinstall ${gen.packagesRemoved.join(', ')}`, log);
    }
  }
  // Rebuild from the restored files with the playbooks' own watchers: makemap, make, restart.
  const deps = dependents(playbooks);
  const facts = await gatherFacts(conn, deps);
  const already = new Set([...restored].map((p) => `file:${p}`));
  const plan = planHost(
    playbooks.flatMap((p) => p.parts.resources).filter((r) => already.has(r.id) || deps.includes(r)),
    facts,
    already,
  );
  for (const change of plan.changes) {
    log(`rebuild: ${change.summary} (${change.reason})`);
    for (const step of change.steps) await run(conn, step.command, step.label, log, step.stdin);
  }
  if (opts.recordInto) {
    opts.recordInto.rulesRemoved.push(...gens.flatMap((g) => g.rulesAdded));
    opts.recordInto.rulesAdded.push(...gens.flatMap((g) => g.rulesRemoved));
    if (opts.packages) opts.recordInto.packagesRemoved.push(...gens.flatMap((g) => g.packagesInstalled));
  }
  return { restored: [...restored], rebuilt: plan.changes };
}

export interface RollbackPlan {
  target: number;
  undo: Generation[];
  /** Per file: what it is now and what the rollback makes it (masked where it holds secrets). */
  diffs: FileDiff[];
  rulesRemoved: FirewallRuleRef[];
  rulesAdded: FirewallRuleRef[];
  packages: string[];
}

/** Which generations `rollback --to N` undoes: every complete one after N, newest first. */
export function chooseUndo(journal: Generation[], to?: number): { target: number; undo: Generation[] } {
  const complete = journal.filter((g) => g.status === 'complete');
  if (!complete.length) throw new OperationError('nothing to roll back: the host has no complete generation');
  const target = to ?? (complete.length >= 2 ? complete[complete.length - 2].id : 0);
  if (to !== undefined && to !== 0 && !complete.some((g) => g.id === to)) {
    throw new OperationError(`--to ${to}: no complete generation ${to} on this host (complete: ${complete.map((g) => g.id).join(', ')})`);
  }
  const undo = complete.filter((g) => g.id > target).reverse();
  if (!undo.length) throw new OperationError(`nothing to roll back: generation ${target} is the latest`);
  return { target, undo };
}

/** The dry run of a rollback: file diffs from the host's own backups, read-only. */
export async function planRollback(conn: Connection, journal: Generation[], playbooks: BoundPlaybook[], to: number | undefined, packages: boolean): Promise<RollbackPlan> {
  const { target, undo } = chooseUndo(journal, to);
  // Restoring newest first, the oldest undone generation's copy of a file is what remains.
  const source = new Map<string, Generation>();
  for (const g of undo) for (const f of g.files) source.set(f, g);
  const queries = [...source.entries()].flatMap(([path, g]) => [
    { kind: 'file' as const, path },
    { kind: 'file' as const, path: `${genDir(g.id)}/files${path}` },
    { kind: 'file' as const, path: `${genDir(g.id)}/absent` },
  ]);
  const facts = await gatherFacts(conn, [], queries);
  const masks = new Map(playbooks.flatMap((p) => p.parts.resources).filter((r) => r.file).map((r) => [r.file!.path, r.file!.mask]));
  const diffs: FileDiff[] = [];
  for (const [path, g] of source) {
    const now = facts.files.get(path);
    const copy = facts.files.get(`${genDir(g.id)}/files${path}`);
    const absent = (facts.files.get(`${genDir(g.id)}/absent`) as { content?: string } | undefined)?.content?.split('\n').includes(path);
    if (!copy?.exists && !absent) continue; // never written by that generation
    const before = now?.exists ? (now.content ?? null) : null;
    const after = copy?.exists ? (copy.content ?? null) : null;
    const meta: string[] = [];
    if (now?.exists && copy?.exists && (now.mode !== copy.mode || now.owner !== copy.owner || now.group !== copy.group)) {
      meta.push(`${now.owner}:${now.group} ${now.mode} -> ${copy.owner}:${copy.group} ${copy.mode}`);
    }
    if (before === after && !meta.length) continue;
    const sensitive = undo.some((u) => u.sensitive?.includes(path));
    const mask = masks.get(path) ?? (sensitive ? () => '(content hidden: it holds secrets)\n' : undefined);
    const m = (t: string | null) => (t === null || !mask ? t : mask(t));
    diffs.push({ path, before: m(before), after: m(after), masked: !!mask, secretChanged: !!mask && before !== after && m(before) === m(after), meta: after === null ? ['file removed (it did not exist before)'] : meta });
  }
  return {
    target,
    undo,
    diffs,
    rulesRemoved: undo.flatMap((g) => g.rulesAdded),
    rulesAdded: undo.flatMap((g) => g.rulesRemoved),
    packages: packages ? undo.flatMap((g) => g.packagesInstalled) : [],
  };
}
