// `mailprov forget-secrets`, for people and as JSON: per host, how many saved copies went (or would go).
import chalk from 'chalk';
import type { ForgetResult } from '../engine/index.ts';
import { redact, redactValue } from '../secrets/index.ts';

export function renderForget(r: ForgetResult, dryRun: boolean): string {
  const lines: string[] = [];
  if (!r.ok) lines.push(`${chalk.bold(r.host)}: ${chalk.red(`failed: ${r.error}`)}`);
  const verb = dryRun ? 'would remove' : 'removed';
  if (r.removed.length) {
    const gens = new Set(r.removed.map((x) => x.generation)).size;
    const paths = [...new Set(r.removed.map((x) => x.path))].sort().join(', ');
    const copies = r.removed.length === 1 ? '1 saved copy' : `${r.removed.length} saved copies`;
    lines.push(`${chalk.bold(r.host)}: ${verb} ${copies} of sensitive files from ${gens} generation${gens === 1 ? '' : 's'} (${paths})`);
  } else if (r.ok) {
    lines.push(`${chalk.bold(r.host)}: no saved copy of a sensitive file`);
  }
  if (r.unreadable.length)
    lines.push(chalk.yellow(`  unreadable generation folders not looked into (they may hold copies): ${r.unreadable.join(', ')}`));
  return redact(lines.join('\n') + '\n');
}

export function forgetToJson(results: ForgetResult[], dryRun: boolean): string {
  return redact(
    JSON.stringify(redactValue({ command: 'forget-secrets', dryRun, ok: results.every((r) => r.ok), hosts: results }), null, 2),
  );
}
