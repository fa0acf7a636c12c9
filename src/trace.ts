// MAILPROV_TRACE=1: where a run's time goes, phase by phase, printed on stderr as the command ends
// (never on stdout, which may be JSON). Off, each call is one boolean test: nothing is kept.
// Times are ms since the process started (performance.now()), so "module load" includes Node's
// own start. A phase that runs once per host sums its hosts; its span (first start to last end)
// says how much of the wall time it covered, hosts running in parallel.

/** The phases, in the order a run meets them (and the order of the report). */
export const TRACE_PHASES = [
  'module load',
  'inventory compile',
  'ssh_config and known_hosts',
  'key decryption',
  'handshake',
  'lock',
  'facts',
  'plan',
  'other remote reads',
  'apply',
  'verify',
  'finish',
  'render',
] as const;
export type TracePhase = (typeof TRACE_PHASES)[number];

interface Span {
  phase: TracePhase;
  start: number;
  end: number;
}

const spans: Span[] = [];
const enabled = () => !!process.env.MAILPROV_TRACE;

/** Starts timing a phase; the function returned ends it. */
export function traceSpan(phase: TracePhase, start = performance.now()): () => void {
  if (!enabled()) return () => {};
  return () => {
    spans.push({ phase, start, end: performance.now() });
  };
}

/** Times `fn` as one span of `phase` (ended whether it resolves or throws). */
export async function traced<T>(phase: TracePhase, fn: () => Promise<T>): Promise<T> {
  const end = traceSpan(phase);
  try {
    return await fn();
  } finally {
    end();
  }
}

/** Times a synchronous `fn` as one span of `phase`. */
export function tracedSync<T>(phase: TracePhase, fn: () => T): T {
  const end = traceSpan(phase);
  try {
    return fn();
  } finally {
    end();
  }
}

export interface TraceLine {
  phase: TracePhase;
  /** ms since process start: the first span's start and the last one's end */
  from: number;
  to: number;
  /** the spans' durations added up (over hosts, for a per-host phase) */
  totalMs: number;
  count: number;
}

export function traceLines(): TraceLine[] {
  return TRACE_PHASES.flatMap((phase) => {
    const mine = spans.filter((s) => s.phase === phase);
    if (!mine.length) return [];
    return [
      {
        phase,
        from: Math.min(...mine.map((s) => s.start)),
        to: Math.max(...mine.map((s) => s.end)),
        totalMs: mine.reduce((sum, s) => sum + s.end - s.start, 0),
        count: mine.length,
      },
    ];
  });
}

/**
 * The report, one line per phase that ran: `trace: <phase>  <from>-<to> ms  <total> ms [in n]`.
 * bench/profile.ts reads these lines (keep the format).
 */
export function traceReport(now = performance.now()): string {
  if (!enabled()) return '';
  const r = (x: number) => Math.round(x).toString();
  const lines = traceLines().map(
    (l) =>
      `trace: ${l.phase.padEnd(27)} ${`${r(l.from)}-${r(l.to)} ms`.padStart(16)} ${`${r(l.totalMs)} ms`.padStart(9)}${l.count > 1 ? ` in ${l.count}` : ''}\n`,
  );
  return `${lines.join('')}trace: ${'total'.padEnd(27)} ${`0-${r(now)} ms`.padStart(16)}\n`;
}
