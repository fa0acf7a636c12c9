// The machine-readable result: one JSON document per run. Step stdin (file content) is never
// included, diffs are already masked, every value passes the redactor, and the text once more.
import type { HostResult, HostStatus } from '../engine/events.ts';
import { redact, redactValue } from '../secrets/index.ts';
import { unifiedDiff } from './diff.ts';

export function resultsToJson(command: string, results: HostResult[], extra: Record<string, unknown> = {}): string {
  const doc = {
    command,
    ok: !anyFailed(results),
    summary: summarize(results),
    ...extra,
    hosts: results.map((r) => ({
      host: r.host,
      address: r.address,
      os: r.os ?? null,
      status: r.status,
      durationMs: r.durationMs,
      error: r.error ?? null,
      rolledBack: r.rolledBack ?? null,
      pruned: r.pruned ?? [],
      findings: r.findings,
      log: r.logFile ?? null,
      // apply PLANFILE: why the saved plan was refused on this host
      ...(r.refused ? { refused: r.refused } : {}),
      ...(r.alreadyApplied !== undefined ? { alreadyApplied: r.alreadyApplied } : {}),
      changes: r.changes.map((c) => ({
        resource: c.resourceId,
        action: c.action,
        summary: c.summary,
        reason: c.reason,
        details: c.details ?? [],
        commands: c.steps.map((s) => ({
          label: s.label,
          command: s.command,
          sendsContent: s.stdin !== undefined || s.stdinFrom !== undefined,
        })),
        diff: c.diff ? { ...c.diff, unified: unifiedDiff(c.diff) } : null,
      })),
    })),
  };
  // values first: a secret JSON-escaped in the text (a quote, a backslash) would slip past a text redactor
  return redact(JSON.stringify(redactValue(doc), null, 2));
}

/** What a run's result needs for its summary and exit code: a host's JSON entry has it too (report merge). */
export interface Outcome {
  status: HostStatus;
  changes: readonly unknown[];
}

const anyFailed = (hosts: readonly Outcome[]) => hosts.some((r) => r.status === 'failed' || r.status === 'rolled-back');

export function summarize(hosts: readonly Outcome[]) {
  return {
    hosts: hosts.length,
    changes: hosts.reduce((n, r) => n + r.changes.length, 0),
    changed: hosts.filter((r) => r.status === 'changed' || r.status === 'pending').length,
    unchanged: hosts.filter((r) => r.status === 'unchanged').length,
    failed: hosts.filter((r) => r.status === 'failed' || r.status === 'rolled-back').length,
    rolledBack: hosts.filter((r) => r.status === 'rolled-back').length,
  };
}

/** apply and plan: 1 when a host failed, else 2 for a plan with changes pending, else 0. */
export function runExitCode(mode: 'apply' | 'plan', hosts: readonly Outcome[]): 0 | 1 | 2 {
  if (anyFailed(hosts)) return 1;
  return mode === 'plan' && hosts.some((r) => r.status === 'pending') ? 2 : 0;
}
