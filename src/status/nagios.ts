// `status --nagios`: one status line with performance data, and the exit codes of the Nagios plugin
// guidelines (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), which Icinga, Sensu and Zabbix read too.
// A threshold N alerts when the value is above N (the guidelines' range "N", that is 0..N is fine).
import { UsageError } from '../errors.ts';
import type { HostStatus } from './host.ts';

export const NAGIOS = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type NagiosState = keyof typeof NAGIOS;

export interface NagiosThresholds {
  warnQueue: number;
  critQueue: number;
  /** Seconds. */
  warnAge: number;
  critAge: number;
  /** Seconds a certificate the service presents has left: WARNING, CRITICAL under these. */
  warnCert: number;
  critCert: number;
}

export const DEFAULT_THRESHOLDS: NagiosThresholds = {
  warnQueue: 10,
  critQueue: 100,
  warnAge: 1800,
  critAge: 7200,
  warnCert: 30 * 86400,
  critCert: 7 * 86400,
};

/** "90", "90s", "30m", "2h", "1d" -> seconds. */
export function parseDuration(value: string, option: string): number {
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(value);
  if (!m) throw new UsageError(`${option} ${value}: expected a duration such as 600, 600s, 30m, 2h or 1d`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

export function parseCount(value: string, option: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new UsageError(`${option} ${value}: expected a whole number of messages`);
  return Number(value);
}

/** CRITICAL over WARNING over UNKNOWN over OK, as the monitoring plugins' max_state_alt. */
const RANK: NagiosState[] = ['OK', 'UNKNOWN', 'WARNING', 'CRITICAL'];
export const worst = (states: NagiosState[]): NagiosState =>
  states.reduce<NagiosState>((a, s) => (RANK.indexOf(s) > RANK.indexOf(a) ? s : a), 'OK');

/** One host's state and, when not OK, why. */
export function hostNagios(s: HostStatus, t: NagiosThresholds): { state: NagiosState; why: string[] } {
  if (s.state === 'unreachable') return { state: 'CRITICAL', why: ['unreachable'] };
  if (s.state === 'failed') return { state: 'UNKNOWN', why: [`not read (${s.error ?? 'error'})`] };
  const found: [NagiosState, string][] = [];
  const svc = s.service;
  if (svc && !svc.running) found.push(['CRITICAL', 'sendmail not running']);
  if (svc) {
    const q = svc.queue;
    const cause = q.causes[0] ? ` (${q.causes[0].code})` : '';
    if (q.messages > t.critQueue) found.push(['CRITICAL', `${q.messages} queued > ${t.critQueue}${cause}`]);
    else if (q.messages > t.warnQueue) found.push(['WARNING', `${q.messages} queued > ${t.warnQueue}${cause}`]);
    const age = q.oldestSeconds ?? 0;
    if (age > t.critAge) found.push(['CRITICAL', `oldest queued ${age}s > ${t.critAge}s${cause}`]);
    else if (age > t.warnAge) found.push(['WARNING', `oldest queued ${age}s > ${t.warnAge}s${cause}`]);
  }
  const cert = svc?.certificate;
  if (cert) {
    const left = cert.expiresAt - s.checkedAt;
    const says = left <= 0 ? 'expired' : `expires in ${Math.floor(left / 86400)} day(s)`;
    if (left < t.critCert) found.push(['CRITICAL', `certificate ${says} < ${t.critCert / 86400} days`]);
    else if (left < t.warnCert) found.push(['WARNING', `certificate ${says} < ${t.warnCert / 86400} days`]);
  }
  if (s.probe && !s.probe.ok) found.push(['CRITICAL', `smart host probe failed (${s.probe.code ?? 'unknown'})`]);
  if (s.drift?.changes) found.push(['WARNING', `${s.drift.changes} change(s) pending`]);
  return { state: worst(found.map(([st]) => st)), why: found.map(([, w]) => w) };
}

/** A perfdata label: quoted (single quotes doubled) unless it is plain. */
const label = (l: string) => (/^[A-Za-z0-9_.-]+$/.test(l) ? l : `'${l.replaceAll("'", "''")}'`);

export function nagiosReport(statuses: HostStatus[], t: NagiosThresholds): { line: string; code: number } {
  const per = statuses.map((s) => ({ s, ...hostNagios(s, t) }));
  const state = statuses.length ? worst(per.map((p) => p.state)) : 'UNKNOWN';
  const bad = per.filter((p) => p.state !== 'OK');
  const summary = !statuses.length
    ? 'no host selected'
    : bad.length
      ? bad.map((p) => `${p.s.host} ${p.state}: ${p.why.join(', ')}`).join('; ')
      : `${statuses.length} host(s) OK, no mail waiting`;
  const perf: string[] = [];
  for (const { s } of per) {
    const q = s.service?.queue;
    perf.push(`${label(`${s.host}_queue`)}=${q ? q.messages : 'U'};${t.warnQueue};${t.critQueue};0;`);
    perf.push(`${label(`${s.host}_oldest`)}=${q ? `${q.oldestSeconds ?? 0}s` : 'U'};${t.warnAge};${t.critAge};0;`);
    perf.push(`${label(`${s.host}_drift`)}=${s.drift ? s.drift.changes : 'U'};0;;0;`);
    // days left: the range "N:" alerts below N
    const cert = s.service?.certificate;
    if (cert)
      perf.push(
        `${label(`${s.host}_cert_days`)}=${Math.floor((cert.expiresAt - s.checkedAt) / 86400)};${t.warnCert / 86400}:;${t.critCert / 86400}:;;`,
      );
  }
  // one line: a newline in a host's error would start the plugin's long output
  const line = `MAILPROV ${state} - ${summary}`.replace(/[\r\n|]+/g, ' ');
  return { line: `${line}${perf.length ? ` | ${perf.join(' ')}` : ''}`, code: NAGIOS[state] };
}
