// History and rollback, for people and as JSON. Everything passes the redactor, values before
// they are serialized (an escaped secret would slip past a redactor run on the JSON text).
import chalk from 'chalk';
import type { HostHistory, RollbackResult } from '../engine/index.ts';
import { redact, redactValue } from '../secrets/index.ts';
import { unifiedDiff } from './diff.ts';

export function renderHistory(name: string, history: HostHistory): string {
  const lines = [chalk.bold(name)];
  if (!history.generations.length) lines.push('  no generations');
  if (history.pruned.length) lines.push(chalk.dim(`  ${prunedLine(history.pruned)}`));
  for (const g of history.generations) {
    lines.push(`  ${String(g.id).padStart(3)}  ${g.kind.padEnd(8)} ${g.status.padEnd(15)} ${g.startedAt}  ${g.by}`);
    for (const s of g.summary) lines.push(`         ${s}`);
    if (g.reason) lines.push(`         reason: ${g.reason.split('\n')[0]}`);
    for (const f of g.forgotten) lines.push(chalk.dim(`         saved copy of ${f.path} removed by forget-secrets (${f.at})`));
  }
  for (const u of history.unreadable) lines.push(chalk.yellow(`  ${u.dir.padStart(3)}  unreadable: ${u.problem} (skipped)`));
  return redact(lines.join('\n') + '\n');
}

/** "2 older generations pruned (1-2; keepGenerations=10)". */
function prunedLine(pruned: HostHistory['pruned']): string {
  const ids = pruned.map((p) => p.id);
  const range = ids.length > 1 && ids[ids.length - 1] - ids[0] === ids.length - 1 ? `${ids[0]}-${ids[ids.length - 1]}` : ids.join(', ');
  const n = pruned.length === 1 ? '1 older generation' : `${pruned.length} older generations`;
  return `${n} pruned (${range}; keepGenerations=${pruned[pruned.length - 1].keep})`;
}

export function renderHistoryError(name: string, message: string): string {
  return redact(`${chalk.bold(name)}\n  ${chalk.red(message)}\n`);
}

export function renderRollback(r: RollbackResult, dryRun: boolean): string {
  if (!r.plan) return '';
  const p = r.plan;
  const lines = [
    `${chalk.bold(r.host)}: ${dryRun ? 'would roll back' : 'rolled back'} to generation ${p.target} (undo ${p.undo.map((g) => g.id).join(', ')}` +
      `${p.closed.length ? `; ${p.closed.map((g) => g.id).join(', ')} undone with what it undid` : ''})`,
  ];
  for (const d of p.diffs) {
    lines.push(
      `  ${chalk.yellow('~')} ${d.path}${d.meta.length ? ` (${d.meta.join(', ')})` : ''}${d.secretChanged ? ' (a secret value changed)' : ''}`,
    );
    if (d.before !== d.after)
      lines.push(
        unifiedDiff(d)
          .split('\n')
          .map((l) => `      ${l}`)
          .join('\n'),
      );
  }
  for (const a of p.actions) lines.push(`  ${chalk.yellow(a.slice(0, 1))}${a.slice(1)}`);
  for (const f of p.notRestored)
    lines.push(
      chalk.yellow(
        `  ! ${f.path}: ${dryRun ? 'would not be' : 'not'} restored: its saved copy in generation ${f.generations.join(', ')} ` +
          'was removed by forget-secrets; the current file (the newest credentials) stays',
      ),
    );
  if (!dryRun) lines.push(`recorded as generation ${r.generation}; restored ${r.restored?.join(', ') || 'no file'}; rebuilt and verified`);
  if (r.pruned?.length)
    lines.push(chalk.dim(`pruned older generation${r.pruned.length === 1 ? '' : 's'} ${r.pruned.join(', ')} (keepGenerations)`));
  return redact(lines.join('\n') + '\n');
}

export function rollbackToJson(r: RollbackResult): string {
  const plan = r.plan && {
    ...r.plan,
    undo: r.plan.undo.map((g) => g.id),
    files: r.plan.files.map((g) => g.id),
    closed: r.plan.closed.map((g) => g.id),
    diffs: r.plan.diffs.map((d) => ({ ...d, unified: unifiedDiff(d) })),
  };
  return redact(JSON.stringify(redactValue({ ...r, plan }), null, 2));
}

export function historyToJson(all: Record<string, unknown>): string {
  return redact(JSON.stringify(redactValue(all), null, 2));
}
