// The mail queue of a relay: how many messages wait, since when, and why (the deferral reason
// sendmail keeps in each queue file's M line). Read as a fact with the others, shown as a finding,
// and flushed after an apply that mended the relay.
import { defineFact, script, type Finding } from 'mailprov';
import { diagnoseText, oneLine, type DiagnoseContext } from './diagnose.ts';

/** The MTA's queue, then the submission program's (Debian and RHEL name the latter differently). */
export const QUEUE_DIRS = ['/var/spool/mqueue', '/var/spool/mqueue-client', '/var/spool/clientmqueue'];

/** Details are read for this many messages at most; the count is always whole. */
const MAX_DETAILS = 200;

export interface QueuedMessage {
  dir: string;
  /** When it was queued (the queue file's T line), in seconds since the epoch by the host's clock. */
  queuedAt: number;
  /** Why the last attempt failed ("Deferred: 454 4.7.0 ..."), "" before any attempt. */
  reason: string;
}

export interface MailQueue {
  count: number;
  /** The host's clock when read. */
  now: number;
  messages: QueuedMessage[];
}

/** Prints "now <epoch>", "count <n>", then "m<TAB>dir<TAB>queued<TAB>reason" per message (at most MAX_DETAILS). */
export function queueScript(): string {
  const dirs = QUEUE_DIRS.join(' ');
  return [
    'echo "now $(date +%s)"; ',
    `n=0; for d in ${dirs}; do [ -d "$d" ] || continue; for f in "$d"/qf*; do [ -f "$f" ] || continue; n=$((n+1));`,
    ` if [ $n -le ${MAX_DETAILS} ]; then printf 'm\\t%s\\t%s\\t%s\\n' "$d" "$(sed -n 's/^T//p' "$f" | head -n 1)" "$(sed -n 's/^M//p' "$f" | head -n 1 | tr '\\t' ' ')"; fi;`,
    ' done; done; echo "count $n"',
  ].join('');
}

export function parseQueue(output: string): MailQueue {
  const queue: MailQueue = { count: 0, now: 0, messages: [] };
  for (const line of output.split('\n')) {
    if (line.startsWith('now ')) queue.now = Number(line.slice(4)) || 0;
    else if (line.startsWith('count ')) queue.count = Number(line.slice(6)) || 0;
    else if (line.startsWith('m\t')) {
      const [, dir, mtime, ...reason] = line.split('\t');
      queue.messages.push({ dir, queuedAt: Number(mtime) || 0, reason: reason.join(' ').trim() });
    }
  }
  return queue;
}

export const mailQueueFact = defineFact<MailQueue>({ name: 'sendmail-queue', script: queueScript, parse: parseQueue });

export function formatAge(seconds: number): string {
  if (seconds < 120) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86400)} days`;
}

/** "3 messages wait in the queue, the oldest for 2 h: 2 x Deferred: ... (cause; remedy)". */
export function describeQueue(queue: MailQueue, ctx: DiagnoseContext): string | undefined {
  if (queue.count === 0) return undefined;
  const oldest = Math.min(...queue.messages.map((m) => m.queuedAt));
  const age = queue.messages.length ? `, the oldest for ${formatAge(queue.now - oldest)}` : '';
  // the commonest reasons first; between equals, the newest (what the relay says now)
  const reasons = new Map<string, { n: number; newest: number }>();
  for (const m of queue.messages) {
    if (!m.reason) continue;
    const r = reasons.get(m.reason) ?? { n: 0, newest: 0 };
    reasons.set(m.reason, { n: r.n + 1, newest: Math.max(r.newest, m.queuedAt) });
  }
  const top = [...reasons.entries()]
    .sort((a, b) => b[1].n - a[1].n || b[1].newest - a[1].newest)
    .slice(0, 3)
    .map(([r, { n }]): [string, number] => [r, n]);
  const why = top.map(([r, n]) => {
    const d = diagnoseText(r, ctx);
    return `${n} x ${d ? oneLine(d) : r}`;
  });
  const n = queue.count === 1 ? '1 message waits' : `${queue.count} messages wait`;
  return `${n} in the mail queue${age}${why.length ? `: ${why.join('; ')}` : ''}`;
}

export function queueFinding(queue: MailQueue, ctx: DiagnoseContext): Finding[] {
  const message = describeQueue(queue, ctx);
  return message ? [{ level: 'warning', code: 'mail-queued', message }] : [];
}

/**
 * Sends what waits now: sendmail may remember the smart host as down (host status), so that is
 * purged first and ignored for this run; then both queues are run once, in the foreground (-qf: a plain -q hands the run to a child and returns), and
 * read again. `timeout` bounds a long queue: what is left is reported, not waited for.
 */
export function flushCommand(sendmail: string): string {
  return script([
    `${sendmail} -bH >/dev/null 2>&1 || true`,
    `timeout 120 ${sendmail} -Am -qf -O Timeout.hoststatus=0s >/dev/null 2>&1 || true`,
    `timeout 60 ${sendmail} -Ac -qf -O Timeout.hoststatus=0s >/dev/null 2>&1 || true`,
    queueScript(),
  ]);
}
