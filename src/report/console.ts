// Renders engine events for people: live per-host lines on a terminal, plain lines otherwise;
// then the plan (changes, reasons, diffs) and a summary table. Everything passes the redactor.
import type chalk from 'chalk';
import { Chalk } from 'chalk';
import type { EngineEvent, HostResult } from '../engine/events.ts';
import { redact } from '../secrets/index.ts';
import { unifiedDiff } from './diff.ts';
import { groupFindings, listHosts } from './once.ts';
import { LiveView, renderCompactSummary } from './live.ts';

export interface ConsoleOptions {
  out?: NodeJS.WriteStream;
  /** Live redrawn lines (terminal) or one line per event (pipes, CI). */
  live?: boolean;
  color?: boolean;
  /** Hosts in the run: as many as the terminal's rows, or more, get the compact live view (live.ts). */
  hosts?: number;
  /** The terminal's rows (default: the stream's). */
  rows?: number;
}

export class ConsoleReporter {
  private readonly out: NodeJS.WriteStream;
  private readonly live: boolean;
  readonly c: typeof chalk;
  private lines = new Map<string, string>();
  private drawn = 0;
  /** Set when a line per host would not fit the screen. */
  private readonly compact?: LiveView;

  constructor(opts: ConsoleOptions = {}) {
    this.out = opts.out ?? process.stdout;
    this.live = opts.live ?? Boolean(this.out.isTTY);
    this.c = new Chalk({ level: (opts.color ?? Boolean(this.out.isTTY)) ? 1 : 0 });
    if (this.live && (opts.hosts ?? 0) >= (opts.rows ?? this.out.rows ?? 24))
      this.compact = new LiveView({
        total: opts.hosts ?? 0,
        write: (s) => this.write(s),
        c: this.c,
        columns: () => this.out.columns ?? 80,
      });
  }

  /** The run is over: the compact view draws its last state and stops its timer. */
  finish(): void {
    this.compact?.finish();
  }

  write(text: string): void {
    this.out.write(redact(text));
  }

  private redraw(): void {
    if (!this.live) return;
    let s = this.drawn ? `\x1b[${this.drawn}A` : '';
    for (const line of this.lines.values()) s += `\x1b[2K${line}\n`;
    this.drawn = this.lines.size;
    this.write(s);
  }

  onEvent = (e: EngineEvent): void => {
    if (this.compact) {
      this.compact.onEvent(e);
      return;
    }
    const c = this.c;
    switch (e.kind) {
      case 'host-phase': {
        const step = e.step ? ` ${e.step}/${e.total}` : '';
        const line = `${c.bold(e.host.padEnd(16))} ${e.phase}${step}${e.detail ? c.dim(`: ${e.detail}`) : ''}`;
        this.lines.set(e.host, line);
        if (this.live) this.redraw();
        else this.write(`${e.host}: ${e.phase}${step}${e.detail ? `: ${e.detail}` : ''}\n`);
        break;
      }
      case 'host-finding':
        // said once for all the hosts that report it, after the run (printFindings)
        break;
      case 'host-done': {
        const r = e.result;
        const line = `${c.bold(r.host.padEnd(16))} ${statusWord(r, c)}${r.error ? c.red(`: ${firstLine(r.error)}`) : ''}`;
        this.lines.set(r.host, line);
        if (this.live) this.redraw();
        else this.write(`${r.host}: ${plainStatus(r)}${r.error ? `: ${firstLine(r.error)}` : ''}\n`);
        break;
      }
    }
  };

  /** Per host: OS, then each change with its reason and diff (the dry run's main output). */
  printPlan(results: HostResult[]): void {
    const c = this.c;
    // compact: hosts without changes are one line of the summary
    if (this.compact) results = results.filter((r) => r.status !== 'unchanged');
    for (const r of results) {
      this.write(`\n${c.bold(r.host)} ${c.dim(`(${r.address}${r.os ? `, ${r.os}` : ''})`)}\n`);
      if (r.status === 'failed') {
        this.write(c.red(`  failed: ${r.error}\n`));
        continue;
      }
      if (!r.changes.length) this.write(c.green('  no changes\n'));
      for (const ch of r.changes) {
        this.write(`  ${c.yellow('~')} ${ch.summary} ${c.dim(`(${ch.reason})`)}\n`);
        for (const d of ch.details ?? []) this.write(c.cyan(`      ${d}\n`));
        for (const step of ch.steps) if (!ch.diff) this.write(c.dim(`      $ ${step.label}\n`));
        if (ch.diff) {
          for (const m of ch.diff.meta) this.write(c.cyan(`      ${m}\n`));
          if (ch.diff.secretChanged) this.write(c.magenta('      a secret value changed (masked)\n'));
          if (ch.diff.before !== ch.diff.after) this.write(colorDiff(unifiedDiff(ch.diff), c) + '\n');
        }
      }
    }
  }

  /** Each distinct finding once, with the hosts that reported it (a playbook's lint warning is every host's). */
  printFindings(results: Pick<HostResult, 'host' | 'findings'>[]): void {
    const c = this.c;
    const shared = groupFindings(results);
    if (shared.length) this.write('\n');
    for (const { finding: f, hosts } of shared) {
      const tag = f.level === 'error' ? c.red('error') : f.level === 'info' ? c.cyan('info') : c.yellow('warning');
      this.write(`${listHosts(hosts)}: ${tag} [${f.code}] ${f.message}\n`);
    }
  }

  printErrors(results: HostResult[]): void {
    for (const r of results.filter((x) => x.status === 'failed' || x.status === 'rolled-back')) {
      const rb = r.rolledBack
        ? `rolled back to where it was (generation ${r.rolledBack.generation} undone; restored ${r.rolledBack.restored.join(', ') || 'nothing'})\n`
        : '';
      this.write(`\n${this.c.red.bold(`${r.host} failed:`)}\n${r.error}\n${rb}${r.logFile ? this.c.dim(`log: ${r.logFile}\n`) : ''}`);
    }
  }

  printSummary(results: HostResult[], runDir?: string, dryRun = false): void {
    if (this.compact) {
      this.write(renderCompactSummary(results, { c: this.c, dryRun, runDir }));
      return;
    }
    const c = this.c;
    const rows = results.map((r) => [
      r.host,
      r.os ?? '-',
      String(r.changes.length),
      plainStatus(r),
      `${(r.durationMs / 1000).toFixed(1)}s`,
    ]);
    const head = ['host', 'os', dryRun ? 'pending' : 'changed', 'status', 'time'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
    const fmt = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ');
    this.write('\n' + c.bold(fmt(head)) + '\n');
    for (const [i, row] of rows.entries()) {
      const r = results[i];
      const colored = fmt(row).replace(row[3], statusWord(r, c).padEnd(widths[3] + (statusWord(r, c).length - row[3].length)));
      this.write(colored + '\n');
    }
    const changes = results.reduce((n, r) => n + r.changes.length, 0);
    const changedHosts = results.filter((r) => r.changes.length && r.status !== 'failed').length;
    const unchanged = results.filter((r) => r.status === 'unchanged').length;
    const failed = results.filter((r) => r.status === 'failed' || r.status === 'rolled-back').length;
    // apply PLANFILE: hosts where the saved plan no longer held
    const refused = results.filter((r) => r.refused).length;
    this.write(
      `\n${changes} change${changes === 1 ? '' : 's'} ${dryRun ? 'pending ' : ''}on ${changedHosts} host${changedHosts === 1 ? '' : 's'}, ` +
        `${unchanged} host${unchanged === 1 ? '' : 's'} unchanged${failed ? c.red(`, ${failed} failed`) : ''}` +
        `${refused ? c.yellow(`, ${refused} refused (the saved plan no longer holds there)`) : ''}\n`,
    );
    const pruned = results.reduce((n, r) => n + (r.pruned?.length ?? 0), 0);
    if (pruned)
      this.write(c.dim(`pruned ${pruned} older generation${pruned === 1 ? '' : 's'} (keepGenerations), see \`mailprov history\`\n`));
    if (runDir) this.write(c.dim(`logs: ${runDir}\n`));
  }
}

function plainStatus(r: HostResult): string {
  return r.status === 'pending' ? 'changes pending' : r.status === 'rolled-back' ? 'rolled back' : r.status;
}

function statusWord(r: HostResult, c: typeof chalk): string {
  switch (r.status) {
    case 'failed':
      return c.red('failed');
    case 'rolled-back':
      return c.red('rolled back');
    case 'skipped':
      return c.dim('skipped');
    case 'changed':
      return c.yellow('changed');
    case 'pending':
      return c.yellow('changes pending');
    default:
      return c.green('unchanged');
  }
}

const firstLine = (s: string) => s.split('\n')[0];

function colorDiff(patch: string, c: typeof chalk): string {
  return patch
    .split('\n')
    .map((l) => {
      const line = `      ${l}`;
      if (l.startsWith('+++') || l.startsWith('---')) return c.bold(line);
      if (l.startsWith('+')) return c.green(line);
      if (l.startsWith('-')) return c.red(line);
      if (l.startsWith('@@')) return c.cyan(line);
      return line;
    })
    .join('\n');
}
