// The compact live view, for more hosts than the terminal has rows (a line per host would scroll
// and garble, and redrawing them all on every event costs hosts x events). A few lines: a progress
// bar, hosts per phase and per outcome, the slowest hosts at work; failures and first sightings of
// each finding are printed above it once, as they happen. Events only update counts; the block is
// redrawn at most every `intervalMs`, so the cost does not grow with the number of events.
import type { ChalkInstance } from 'chalk';
import type { EngineEvent, HostResult, HostStatus, Phase } from '../engine/events.ts';
import type { Finding } from '../playbook/index.ts';

export interface RunningHost {
  host: string;
  phase: Phase;
  step?: number;
  total?: number;
  elapsedMs: number;
}

/** What the block shows, as plain data: rendering is a pure function of it. */
export interface LiveSnapshot {
  /** Hosts in this run. */
  total: number;
  elapsedMs: number;
  /** Hosts at work, the longest at work first. */
  running: RunningHost[];
  /** Finished hosts per outcome. */
  done: Partial<Record<HostStatus, number>>;
}

export interface RenderOptions {
  /** Columns a line may take: a wrapped line would break the cursor arithmetic of the redraw. */
  width: number;
  c: ChalkInstance;
  /** How many of the slowest hosts to list (default 5). */
  slowest?: number;
}

const PHASES: Phase[] = ['connecting', 'facts', 'planning', 'applying', 'verifying', 'probing', 'rolling back'];
const OUTCOMES: HostStatus[] = ['unchanged', 'changed', 'pending', 'skipped', 'failed', 'rolled-back'];
const BAR = 30;

type Paint = (s: string) => string;
type Segment = [text: string, paint?: Paint];

/** The live block's lines, each at most `width` columns. */
export function renderLive(s: LiveSnapshot, o: RenderOptions): string[] {
  const c = o.c;
  const finished = OUTCOMES.reduce((n, k) => n + (s.done[k] ?? 0), 0);
  const waiting = Math.max(0, s.total - finished - s.running.length);
  const pct = s.total ? Math.floor((finished * 100) / s.total) : 100;
  const filled = s.total ? Math.round((finished * BAR) / s.total) : BAR;
  const lines: Segment[][] = [
    [
      ['[', c.dim],
      ['#'.repeat(filled), c.green],
      ['-'.repeat(BAR - filled), c.dim],
      ['] ', c.dim],
      [`${finished}/${s.total} hosts done  ${pct}%  ${formatDuration(s.elapsedMs)}`, c.bold],
    ],
    [['at work  ', c.dim], ...spread([...phaseCounts(s.running), ['waiting', waiting]], () => (x: string) => x)],
    [['done     ', c.dim], ...spread(outcomeCounts(s.done), (k) => outcomePaint(k, c))],
  ];
  const slow = s.running.slice(0, o.slowest ?? 5);
  const nameWidth = Math.min(24, Math.max(0, ...slow.map((h) => h.host.length)));
  for (const [i, h] of slow.entries()) {
    const step = h.step ? ` ${h.step}/${h.total}` : '';
    lines.push([
      [i ? '         ' : 'slowest  ', c.dim],
      [`${h.host.padEnd(nameWidth)}  `, c.bold],
      [`${(h.phase + step).padEnd(16)} `],
      [formatDuration(h.elapsedMs), h.elapsedMs >= 60_000 ? c.yellow : c.dim],
    ]);
  }
  return lines.map((segs) => fit(segs, o.width));
}

/** "name 3  other 5", the zero counts left out (none at all: "none"). */
function spread(counts: [string, number][], paintFor: (key: string) => Paint): Segment[] {
  const shown = counts.filter(([, n]) => n > 0);
  if (!shown.length) return [['none']];
  return shown.flatMap(([k, n], i): Segment[] => [[i ? '  ' : ''], [`${k} ${n}`, paintFor(k)]]);
}

function phaseCounts(running: RunningHost[]): [string, number][] {
  const counts = new Map<string, number>(PHASES.map((p) => [p, 0]));
  for (const h of running) counts.set(h.phase, (counts.get(h.phase) ?? 0) + 1);
  return [...counts];
}

function outcomeCounts(done: LiveSnapshot['done']): [string, number][] {
  return OUTCOMES.map((k) => [outcomeWord(k), done[k] ?? 0]);
}

const outcomeWord = (s: HostStatus) => (s === 'pending' ? 'changes pending' : s === 'rolled-back' ? 'rolled back' : s);

function outcomePaint(word: string, c: ChalkInstance): Paint {
  if (word === 'failed' || word === 'rolled back') return c.red;
  if (word === 'changed' || word === 'changes pending') return c.yellow;
  if (word === 'skipped') return c.dim;
  return c.green;
}

/** Segments cut to `width` columns (ASCII), painted after cutting so escape codes never count. */
function fit(segs: Segment[], width: number): string {
  let left = Math.max(1, width);
  let out = '';
  for (const [text, paint] of segs) {
    if (left <= 0) break;
    const piece = text.length > left ? `${text.slice(0, Math.max(0, left - 1))}…` : text;
    out += paint && piece ? paint(piece) : piece;
    left -= piece.length;
  }
  return out;
}

/** 12.3s, 4m05s, 1h02m. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface LiveViewOptions {
  /** Hosts in this run. */
  total: number;
  /** Where the text goes (the reporter's redacting writer). */
  write: (text: string) => void;
  c: ChalkInstance;
  columns: () => number;
  now?: () => number;
  /** Redraw at most this often; with no events, still once a second so elapsed times move. */
  intervalMs?: number;
}

/** Holds the counts behind the block and draws it, throttled. */
export class LiveView {
  private readonly running = new Map<string, { phase: Phase; step?: number; total?: number; since: number }>();
  private readonly done: Partial<Record<HostStatus, number>> = {};
  private readonly seenFindings = new Set<string>();
  private above: string[] = [];
  private started?: number;
  private drawn = 0;
  private lastDraw = 0;
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly opts: LiveViewOptions) {
    this.now = opts.now ?? Date.now;
  }

  onEvent(e: EngineEvent): void {
    const now = this.now();
    this.started ??= now;
    if (e.kind === 'host-phase') {
      // set() on a present key keeps its place: the map stays ordered by start, the slowest first
      const since = this.running.get(e.host)?.since ?? now;
      this.running.set(e.host, { phase: e.phase, step: e.step, total: e.total, since });
    } else if (e.kind === 'host-finding') {
      this.noteFinding(e.host, e.finding);
    } else {
      const r = e.result;
      this.running.delete(r.host);
      this.done[r.status] = (this.done[r.status] ?? 0) + 1;
      if (r.status === 'failed' || r.status === 'rolled-back') this.above.push(failureLine(r, this.opts.c));
    }
    this.dirty = true;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 100);
      this.timer.unref();
    }
  }

  snapshot(): LiveSnapshot {
    const now = this.now();
    return {
      total: this.opts.total,
      elapsedMs: this.started === undefined ? 0 : now - this.started,
      running: [...this.running].map(([host, r]) => ({ host, phase: r.phase, step: r.step, total: r.total, elapsedMs: now - r.since })),
      done: { ...this.done },
    };
  }

  /** The run is over: stop the timer and draw the final counts (and any failure not shown yet). */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.dirty || this.above.length) this.draw();
  }

  private tick(): void {
    if (this.dirty || this.now() - this.lastDraw >= 1000) this.draw();
  }

  private draw(): void {
    // back to the top of the old block and clear below: failures go there, then the new block
    let s = this.drawn ? `\x1b[${this.drawn}A\r\x1b[J` : '';
    for (const line of this.above) s += `${line}\n`;
    this.above = [];
    const lines = renderLive(this.snapshot(), { width: this.opts.columns() - 1, c: this.opts.c });
    for (const line of lines) s += `${line}\n`;
    this.drawn = lines.length;
    this.dirty = false;
    this.lastDraw = this.now();
    this.opts.write(s);
  }

  /** Each finding once, when first seen: a thousand hosts with one warning print one line (the summary counts them). */
  private noteFinding(host: string, f: Finding): void {
    const key = `${f.level}\0${f.code}\0${f.message}`;
    if (this.seenFindings.has(key)) return;
    this.seenFindings.add(key);
    const c = this.opts.c;
    const tag = f.level === 'error' ? c.red('error') : f.level === 'info' ? c.cyan('info') : c.yellow('warning');
    this.above.push(`${host}: ${tag} [${f.code}] ${f.message}`);
  }
}

function failureLine(r: HostResult, c: ChalkInstance): string {
  const word = r.status === 'rolled-back' ? 'failed, rolled back' : 'failed';
  return `${c.red.bold(`${r.host} ${word}`)}${r.error ? c.red(`: ${r.error.split('\n')[0]}`) : ''}`;
}

export interface SummaryOptions {
  c: ChalkInstance;
  dryRun: boolean;
  runDir?: string;
}

/**
 * The summary after a compact run: a table of the hosts that changed, failed or were skipped, the
 * unchanged ones as one line, each finding once with how many hosts had it, then the totals.
 */
export function renderCompactSummary(results: HostResult[], o: SummaryOptions): string {
  const c = o.c;
  const listed = results.filter((r) => r.status !== 'unchanged');
  const unchanged = results.length - listed.length;
  let s = '';
  if (listed.length) {
    const head = ['host', 'os', o.dryRun ? 'pending' : 'changed', 'status', 'time'];
    const rows = listed.map((r) => [r.host, r.os ?? '-', String(r.changes.length), outcomeWord(r.status), formatDuration(r.durationMs)]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    const fmt = (row: string[], paintStatus: Paint = (x) => x) =>
      row.map((cell, i) => (i === 3 ? paintStatus(cell.padEnd(widths[i])) : cell.padEnd(widths[i]))).join('  ');
    s += `\n${c.bold(fmt(head))}\n`;
    for (const [i, row] of rows.entries()) s += `${fmt(row, outcomePaint(outcomeWord(listed[i].status), c))}\n`;
  }
  if (unchanged) s += `${listed.length ? '' : '\n'}${c.green(`${unchanged} host${unchanged === 1 ? '' : 's'} unchanged`)}\n`;
  for (const g of groupFindings(results)) {
    const tag = g.finding.level === 'error' ? c.red('error') : g.finding.level === 'info' ? c.cyan('info') : c.yellow('warning');
    s += `${tag} [${g.finding.code}] ${g.finding.message}: ${hostList(g.hosts)}\n`;
  }
  s += `\n${totals(results, o)}\n`;
  const pruned = results.reduce((n, r) => n + (r.pruned?.length ?? 0), 0);
  if (pruned) s += c.dim(`pruned ${pruned} older generation${pruned === 1 ? '' : 's'} (keepGenerations), see \`mailprov history\`\n`);
  if (o.runDir) s += c.dim(`logs: ${o.runDir}\n`);
  return s;
}

function totals(results: HostResult[], o: SummaryOptions): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const changes = results.reduce((n, r) => n + r.changes.length, 0);
  const changedHosts = results.filter((r) => r.changes.length && r.status !== 'failed').length;
  const unchanged = results.filter((r) => r.status === 'unchanged').length;
  const failed = results.filter((r) => r.status === 'failed' || r.status === 'rolled-back').length;
  return (
    `${plural(changes, 'change')} ${o.dryRun ? 'pending ' : ''}on ${plural(changedHosts, 'host')}, ` +
    `${plural(unchanged, 'host')} unchanged${failed ? o.c.red(`, ${failed} failed`) : ''}`
  );
}

/** Findings equal in level, code and message, with the hosts that had them, in the order first seen. */
export function groupFindings(results: HostResult[]): { finding: Finding; hosts: string[] }[] {
  const groups = new Map<string, { finding: Finding; hosts: Set<string> }>();
  for (const r of results)
    for (const f of r.findings) {
      const key = `${f.level}\0${f.code}\0${f.message}`;
      const g = groups.get(key) ?? { finding: f, hosts: new Set<string>() };
      g.hosts.add(r.host);
      groups.set(key, g);
    }
  return [...groups.values()].map((g) => ({ finding: g.finding, hosts: [...g.hosts] }));
}

/** "relay1, relay2" or "412 hosts (relay1, relay2, relay3, ...)". */
function hostList(hosts: string[]): string {
  if (hosts.length <= 3) return hosts.join(', ');
  return `${hosts.length} hosts (${hosts.slice(0, 3).join(', ')}, ...)`;
}
