// The machine-readable result: one JSON document per run. Step stdin (file content) is never
// included, diffs are already masked, every value passes the redactor, and the text once more.
import type { HostResult } from '../engine/events.ts';
import { redact, redactValue } from '../secrets/index.ts';
import { unifiedDiff } from './diff.ts';

export function resultsToJson(command: string, results: HostResult[], extra: Record<string, unknown> = {}): string {
  const doc = {
    command,
    ok: results.every((r) => r.status !== 'failed' && r.status !== 'rolled-back'),
    summary: {
      hosts: results.length,
      changes: results.reduce((n, r) => n + r.changes.length, 0),
      changed: results.filter((r) => r.status === 'changed' || r.status === 'pending').length,
      unchanged: results.filter((r) => r.status === 'unchanged').length,
      failed: results.filter((r) => r.status === 'failed' || r.status === 'rolled-back').length,
      rolledBack: results.filter((r) => r.status === 'rolled-back').length,
    },
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
      changes: r.changes.map((c) => ({
        resource: c.resourceId,
        action: c.action,
        summary: c.summary,
        reason: c.reason,
        commands: c.steps.map((s) => ({ label: s.label, command: s.command, sendsContent: s.stdin !== undefined })),
        diff: c.diff ? { ...c.diff, unified: unifiedDiff(c.diff) } : null,
      })),
    })),
  };
  // values first: a secret JSON-escaped in the text (a quote, a backslash) would slip past a text redactor
  return redact(JSON.stringify(redactValue(doc), null, 2));
}
