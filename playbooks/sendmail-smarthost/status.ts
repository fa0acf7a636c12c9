// `mailprov status` for a sendmail relay: is the daemon up and where does it listen, what waits in
// the queue and why (decoded as the probe decodes failures), and what the mail log last said about
// the smart host. All of it is facts, read in the one remote command the engine gathers facts with.
import {
  defineFact,
  OperationError,
  type HostFacts,
  type LogEvent,
  type ProbeContext,
  type ProbeStatus,
  type QueueCause,
  type ServiceStatus,
} from 'mailprov';
import { diagnoseText, oneLine, type DiagnoseContext, type Diagnosis } from './diagnose.ts';
import { diagnoseContext, probeSmartHost } from './probe.ts';
import { mailQueueFact, type MailQueue } from './queue.ts';
import type { SendmailSettings } from './settings.ts';
import { certStatus, submissionCertFact } from './submission-cert.ts';
import { SUBMISSION_PATHS } from './render.ts';

/** Mail log lines about deliveries read at most (the newest). */
const LOG_LINES = 400;
/** The newest lines of the log searched for them: tail reads from the end, so a log of gigabytes costs no more. */
const LOG_SCAN = 200000;

/**
 * Prints "now <epoch>", "tz <+hhmm>", "ps <title>" per sendmail process, "listen <local address>"
 * per socket listening on port 25, "logsource <path|journal>" and "log <line>" per delivery line
 * (stat=) of the mail log: Debian's mail.log, RHEL's maillog, else the journal (Debian 13 has no
 * rsyslog), whose lines start with the time in seconds since the epoch (-o short-unix).
 */
export function relayStatusScript(): string {
  return [
    'echo "now $(date +%s)"; echo "tz $(date +%z)"',
    "ps -eo args | grep -E '^(sendmail|sm-mta)' | sed 's/^/ps /'",
    "ss -ltnH 'sport = :25' 2>/dev/null | awk '{print \"listen \" $4}'",
    'f=; for c in /var/log/mail.log /var/log/maillog; do if [ -r "$c" ]; then f=$c; break; fi; done',
    `if [ -n "$f" ]; then echo "logsource $f"; tail -n ${LOG_SCAN} "$f" | grep -a 'stat=' | tail -n ${LOG_LINES} | sed 's/^/log /';` +
      ` elif command -v journalctl >/dev/null 2>&1; then echo 'logsource journal'; journalctl -q --no-pager -o short-unix -t sm-mta -t sendmail -n ${LOG_SCAN} 2>/dev/null | grep -a 'stat=' | tail -n ${LOG_LINES} | sed 's/^/log /'; fi`,
    'true',
  ].join('\n');
}

export interface RelayStatusFacts {
  now: number;
  /** The host's UTC offset in minutes (for syslog's traditional timestamps, which carry none). */
  tzMinutes: number;
  processes: string[];
  listening: string[];
  logSource: string | null;
  log: string[];
}

export function parseRelayStatus(output: string): RelayStatusFacts {
  const facts: RelayStatusFacts = { now: 0, tzMinutes: 0, processes: [], listening: [], logSource: null, log: [] };
  for (const line of output.split('\n')) {
    const sp = line.indexOf(' ');
    const [key, rest] = sp < 0 ? [line, ''] : [line.slice(0, sp), line.slice(sp + 1)];
    if (key === 'now') facts.now = Number(rest) || 0;
    else if (key === 'tz') {
      const m = /^([+-])(\d\d)(\d\d)$/.exec(rest.trim());
      if (m) facts.tzMinutes = (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
    } else if (key === 'ps') facts.processes.push(rest);
    else if (key === 'listen') {
      const address = listenAddress(rest.trim());
      if (address && !facts.listening.includes(address)) facts.listening.push(address);
    } else if (key === 'logsource') facts.logSource = rest.trim() || null;
    else if (key === 'log') facts.log.push(rest);
  }
  return facts;
}

export const relayStatusFact = defineFact<RelayStatusFacts>({
  name: 'sendmail-status',
  script: relayStatusScript,
  parse: parseRelayStatus,
});

/** ss's "Local Address:Port" ("127.0.0.1:25", "[::1]:25", "*:25", "0.0.0.0%lo:25") as an address. */
export function listenAddress(local: string): string | undefined {
  const m = /^(.*):(\d+|\*)$/.exec(local);
  if (!m) return undefined;
  const host = m[1].replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  return host === '*' ? '0.0.0.0' : host;
}

/** The daemon's titles: "sendmail: MTA: accepting connections" (Debian), "sendmail: accepting connections" (RHEL). */
export const daemonRunning = (processes: string[]) =>
  processes.some((p) => /^(sendmail|sm-mta): (MTA: )?(accepting|rejecting) connections/.test(p) || /^sendmail: MTA:/.test(p));

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A log line's time in seconds since the epoch: the journal's short-unix ("1796017379.123456 host
 * sm-mta[1]: ..."), RFC 3339 (rsyslog's default since Debian 12) or the traditional "Dec  7 04:02:59"
 * (RHEL), which has no year nor zone: the host's zone, and the year that puts it not after now.
 */
export function logTime(line: string, now: number, tzMinutes: number): number | undefined {
  let m = /^(\d{9,})(\.\d+)?\s/.exec(line);
  if (m) return Number(m[1]);
  m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d))\s/.exec(line);
  if (m) {
    const t = Date.parse(m[1]);
    return Number.isNaN(t) ? undefined : Math.floor(t / 1000);
  }
  m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\s/.exec(line);
  if (!m || !MONTHS.includes(m[1])) return undefined;
  const at = (year: number) =>
    Date.UTC(year, MONTHS.indexOf(m![1]), Number(m![2]), Number(m![3]), Number(m![4]), Number(m![5])) / 1000 - tzMinutes * 60;
  const year = new Date((now + tzMinutes * 60) * 1000).getUTCFullYear();
  // a line from late December read in early January is last year's
  return at(year) > now + 86400 ? at(year - 1) : at(year);
}

/** Whether a delivery line is about the smart host: its mailer (relay, as SMART_HOST makes it) or its relay= name. */
function toSmartHost(line: string, smartHost: string): boolean {
  if (/\bmailer=relay\b/.test(line)) return true;
  const relay = /\brelay=([^\s,]+)/
    .exec(line)?.[1]
    ?.replace(/\.$/, '')
    .replace(/^\[|\]$/g, '');
  return relay?.toLowerCase() === smartHost.toLowerCase().replace(/^\[|\]$/g, '');
}

/** The newest delivery to the smart host (stat=Sent) and the newest failure (any other stat=), from the log. */
export function readDeliveries(
  facts: Pick<RelayStatusFacts, 'log' | 'now' | 'tzMinutes'>,
  ctx: DiagnoseContext,
): { lastDelivery: LogEvent | null; lastFailure: LogEvent | null } {
  let lastDelivery: LogEvent | null = null;
  let lastFailure: LogEvent | null = null;
  for (const line of facts.log) {
    const stat = /\bstat=(.*)$/.exec(line)?.[1];
    if (stat === undefined || !toSmartHost(line, ctx.smartHost)) continue;
    const at = logTime(line, facts.now, facts.tzMinutes);
    if (at === undefined) continue;
    const text = line.trim();
    if (/^Sent\b/.test(stat)) {
      if (!lastDelivery || at >= lastDelivery.at) lastDelivery = { at, line: text };
    } else if (!lastFailure || at >= lastFailure.at) {
      const d = diagnoseText(stat, ctx);
      lastFailure = { at, line: text, ...decoded(d, stat) };
    }
  }
  return { lastDelivery, lastFailure };
}

const decoded = (d: Diagnosis | undefined, raw: string) => ({ code: d?.code ?? 'unknown', text: d ? oneLine(d) : raw });

/** The queue in figures: count, the oldest message's age, and its reasons grouped (commonest first) and decoded. */
export function queueStatus(queue: MailQueue, ctx: DiagnoseContext): ServiceStatus['queue'] {
  const oldest = queue.messages.length ? Math.min(...queue.messages.map((m) => m.queuedAt)) : undefined;
  const groups = new Map<string, { n: number; newest: number }>();
  for (const m of queue.messages) {
    const reason = m.reason || '(not tried yet)';
    const g = groups.get(reason) ?? { n: 0, newest: 0 };
    groups.set(reason, { n: g.n + 1, newest: Math.max(g.newest, m.queuedAt) });
  }
  const causes: QueueCause[] = [...groups.entries()]
    .sort((a, b) => b[1].n - a[1].n || b[1].newest - a[1].newest)
    .map(([reason, { n }]) => ({ count: n, reason, ...decoded(diagnoseText(reason, ctx), reason) }));
  return {
    messages: queue.count,
    oldestSeconds: queue.count && oldest !== undefined ? Math.max(0, queue.now - oldest) : null,
    causes,
  };
}

export function readRelayStatus(facts: HostFacts, settings: SendmailSettings): ServiceStatus {
  const ctx = diagnoseContext(settings, { facts });
  const s = facts.get(relayStatusFact, undefined);
  return {
    running: daemonRunning(s.processes),
    listening: s.listening,
    queue: queueStatus(facts.get(mailQueueFact, undefined), ctx),
    ...readDeliveries(s, ctx),
    logSource: s.logSource,
    // the submission daemon's certificate: when it expires shows in status, text, JSON and metrics
    ...(settings.submission
      ? { certificate: certStatus(facts.get(submissionCertFact, { cert: SUBMISSION_PATHS.cert, key: SUBMISSION_PATHS.key })) }
      : {}),
  };
}

/** `status --probe`: the probe `plan --probe` runs, its outcome as figures instead of an error. */
export async function probeStatus(ctx: ProbeContext, settings: SendmailSettings): Promise<ProbeStatus> {
  try {
    const r = await probeSmartHost(ctx, settings);
    return {
      ok: true,
      tls: r.tls ?? null,
      auth: r.mechanism ?? null,
      certificate: r.certificate
        ? { subject: r.certificate.subject, issuer: r.certificate.issuer, expiresAt: r.certificate.expiresAt }
        : null,
    };
  } catch (err) {
    if (!(err instanceof OperationError)) throw err;
    const d = (err as OperationError & { diagnosis?: Diagnosis }).diagnosis;
    return { ok: false, tls: null, auth: null, certificate: null, code: d?.code ?? 'unknown', text: d ? oneLine(d) : err.message };
  }
}
