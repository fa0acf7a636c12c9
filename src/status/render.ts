// `mailprov status` for people (a table, then what each host needs) and as JSON, with its exit codes.
import type { HostStatus } from './host.ts';

/** 0 every host ok, 2 a host needs attention, 3 a host could not be reached or read (1: mailprov's own error). */
export const STATUS_EXIT = { OK: 0, ATTENTION: 2, UNREAD: 3 } as const;

export function statusExitCode(statuses: HostStatus[]): number {
  if (statuses.some((s) => s.state === 'unreachable' || s.state === 'failed')) return STATUS_EXIT.UNREAD;
  if (statuses.some((s) => s.state === 'attention')) return STATUS_EXIT.ATTENTION;
  return STATUS_EXIT.OK;
}

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

const ago = (at: number | undefined, now: number) => (at === undefined ? '-' : `${formatAge(now - at)} ago`);

/** One row per host, then the details that need more than a cell: the causes, the probe, the errors. */
export function statusTable(statuses: HostStatus[], now = Math.floor(Date.now() / 1000)): string {
  const head = ['HOST', 'STATE', 'DRIFT', 'SENDMAIL', 'LISTENS ON', 'QUEUE', 'OLDEST', 'LAST DELIVERY', 'LAST FAILURE'];
  const rows = statuses.map((s) => {
    const svc = s.service;
    return [
      s.host,
      s.state,
      s.drift ? String(s.drift.changes) : '-',
      svc ? (svc.running ? 'running' : 'stopped') : '-',
      svc ? svc.listening.join(',') || 'nothing' : '-',
      svc ? String(svc.queue.messages) : '-',
      svc?.queue.oldestSeconds != null ? formatAge(svc.queue.oldestSeconds) : '-',
      svc ? ago(svc.lastDelivery?.at, now) : '-',
      svc ? ago(svc.lastFailure?.at, now) : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  const out = [fmt(head), ...rows.map(fmt)];
  for (const s of statuses) {
    const details: string[] = [];
    if (s.error) details.push(`${s.state}: ${s.error}`);
    for (const c of s.service?.queue.causes ?? []) details.push(`queued: ${c.count} x [${c.code}] ${c.text}`);
    if (s.service?.lastFailure) details.push(`last failure: [${s.service.lastFailure.code}] ${s.service.lastFailure.text}`);
    if (s.drift?.changes) details.push(`drift: ${s.drift.summaries.join('; ')}`);
    const c = s.service?.certificate;
    if (c)
      details.push(
        `certificate: ${c.names.join(', ') || c.subject}, ${c.selfSigned ? 'self-signed' : `issued by ${c.issuer}`}, ${c.expiresAt > now ? `expires in ${formatAge(c.expiresAt - now)}` : `EXPIRED ${formatAge(now - c.expiresAt)} ago`} (${new Date(c.expiresAt * 1000).toISOString().slice(0, 10)})`,
      );
    const p = s.probe;
    if (p) {
      const cert = p.certificate
        ? `, certificate ${p.certificate.subject} by ${p.certificate.issuer}${p.certificate.expiresAt ? ` expires in ${formatAge(p.certificate.expiresAt - now)}` : ''}`
        : '';
      details.push(
        p.ok
          ? `smart host: reached${p.tls ? ' over TLS' : p.tls === false ? ' without TLS' : ''}${p.auth ? `, AUTH ${p.auth} accepted` : ''}${cert}`
          : `smart host probe failed: [${p.code}] ${p.text}`,
      );
    }
    if (details.length) out.push('', `${s.host}:`, ...details.map((d) => `  ${d}`));
  }
  return out.join('\n') + '\n';
}

export function statusJson(statuses: HostStatus[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ command: 'status', exitCode: statusExitCode(statuses), ...extra, hosts: statuses }, null, 2);
}
