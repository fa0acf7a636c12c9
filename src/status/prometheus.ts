// `status --prometheus FILE`: node_exporter's textfile-collector format (Prometheus text exposition
// 0.0.4), one gauge family per figure, labelled by host, written atomically: a temp file in the same
// folder (not named *.prom, so the collector never reads it half-written), then rename.
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { HostStatus } from './host.ts';

interface Family {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export const escapeLabel = (v: string) => v.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

const b = (v: boolean) => (v ? 1 : 0);

export function prometheusText(statuses: HostStatus[]): string {
  const fam = (name: string, help: string): Family => ({ name, help, samples: [] });
  const up = fam('mailprov_up', '1 when mailprov reached the host and read its status, 0 when it could not');
  const running = fam('mailprov_sendmail_running', '1 when the sendmail daemon runs');
  const drift = fam('mailprov_drift_changes', 'changes `mailprov apply` would make (0: the host is as the inventory says)');
  const queued = fam('mailprov_queue_messages', 'messages in the mail queue');
  const oldest = fam('mailprov_queue_oldest_seconds', 'age of the oldest queued message, 0 when the queue is empty');
  const causes = fam('mailprov_queue_deferred_messages', 'queued messages by decoded deferral cause');
  const delivered = fam('mailprov_last_delivery_timestamp_seconds', 'time of the last delivery to the smart host in the mail log');
  const failed = fam('mailprov_last_failure_timestamp_seconds', 'time of the last failed attempt at the smart host in the mail log');
  const probe = fam('mailprov_probe_success', '1 when the smart host probe (TLS, credentials) succeeded (status --probe)');
  const expiry = fam(
    'mailprov_smarthost_cert_expiry_seconds',
    "time the smart host's certificate expires, seconds since the epoch (status --probe)",
  );
  const served = fam(
    'mailprov_submission_cert_expiry_seconds',
    'time the certificate the relay presents (submission) expires, seconds since the epoch',
  );
  for (const s of statuses) {
    const host = { host: s.host };
    up.samples.push({ labels: host, value: b(s.state === 'ok' || s.state === 'attention') });
    if (s.drift) drift.samples.push({ labels: host, value: s.drift.changes });
    const svc = s.service;
    if (svc) {
      running.samples.push({ labels: host, value: b(svc.running) });
      queued.samples.push({ labels: host, value: svc.queue.messages });
      oldest.samples.push({ labels: host, value: svc.queue.oldestSeconds ?? 0 });
      const byCode = new Map<string, number>();
      for (const c of svc.queue.causes) byCode.set(c.code, (byCode.get(c.code) ?? 0) + c.count);
      for (const [cause, n] of byCode) causes.samples.push({ labels: { ...host, cause }, value: n });
      if (svc.lastDelivery) delivered.samples.push({ labels: host, value: svc.lastDelivery.at });
      if (svc.lastFailure) failed.samples.push({ labels: host, value: svc.lastFailure.at });
      if (svc.certificate) served.samples.push({ labels: host, value: svc.certificate.expiresAt });
    }
    if (s.probe) {
      probe.samples.push({ labels: host, value: b(s.probe.ok) });
      if (s.probe.certificate?.expiresAt) expiry.samples.push({ labels: host, value: s.probe.certificate.expiresAt });
    }
  }
  // per host, not per file: the shards of a fleet each write a file, which the collector reads together
  const read = fam('mailprov_status_timestamp_seconds', 'when mailprov status read (or tried to read) the host');
  for (const s of statuses) read.samples.push({ labels: { host: s.host }, value: s.checkedAt });
  const families = [up, running, drift, queued, oldest, causes, delivered, failed, probe, expiry, served, read];
  const lines: string[] = [];
  for (const f of families) {
    if (!f.samples.length) continue;
    lines.push(`# HELP ${f.name} ${f.help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`, `# TYPE ${f.name} gauge`);
    for (const { labels, value } of f.samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      lines.push(`${f.name}${l.length ? `{${l.join(',')}}` : ''} ${value}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Temp file beside the target, then rename: a reader sees the old file or the new one, whole. */
export function writeAtomically(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
}
