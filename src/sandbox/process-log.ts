// The sandbox's processes as `up` starts them: one JSON line each, appended to processes.jsonl beside
// state.json. Appending a line costs the same at the thousandth host as at the first, where rewriting
// the whole state file for each process grew with the sandbox (two processes per host: quadratic).
// A crash of `up` leaves every process started so far in the log; a line cut short by the crash is
// skipped. The log is read only through a state file of ours (inspectFolder), so `down` still acts on
// nothing but a folder `up` wrote.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RecordedProcess } from './processes.ts';

export const processLogFile = (dir: string) => join(dir, 'processes.jsonl');

/** Starts an empty log (a new sandbox in `dir`). */
export function resetProcessLog(dir: string): void {
  writeFileSync(processLogFile(dir), '', { mode: 0o600 });
}

export function appendProcessLog(dir: string, p: RecordedProcess): void {
  appendFileSync(processLogFile(dir), `${JSON.stringify(p)}\n`);
}

/** The records in a log's text; lines that are not a whole record are skipped. */
export function parseProcessLog(text: string): RecordedProcess[] {
  const out: RecordedProcess[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const p = JSON.parse(line) as Partial<RecordedProcess>;
      if (Number.isInteger(p.pid) && typeof p.start === 'string' && /^\d+$/.test(p.start) && typeof p.what === 'string')
        out.push({ pid: p.pid!, start: p.start, what: p.what });
    } catch {
      /* cut short by a crash */
    }
  }
  return out;
}

export function readProcessLog(dir: string): RecordedProcess[] {
  try {
    return parseProcessLog(readFileSync(processLogFile(dir), 'utf8'));
  } catch {
    return [];
  }
}

/** Both lists, each process (pid and start time) once, in order of first appearance. */
export function mergeProcesses(a: RecordedProcess[], b: RecordedProcess[]): RecordedProcess[] {
  const seen = new Set<string>();
  return [...a, ...b].filter((p) => {
    const key = `${p.pid}:${p.start}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
