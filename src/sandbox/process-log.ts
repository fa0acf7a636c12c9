// The sandbox's processes as `up` starts them: one JSON line each, appended to processes.jsonl beside
// state.json. Appending a line costs the same at the thousandth host as at the first, where rewriting
// the whole state file for each process grew with the sandbox (two processes per host: quadratic).
// A crash of `up` leaves every process started so far in the log; a line cut short by the crash is
// skipped. The log is read only through a state file of ours (inspectFolder), so `down` still acts on
// nothing but a folder `up` wrote.
import { appendFileSync, chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NAMESPACE_KINDS, type Namespaces, type RecordedProcess } from './processes.ts';

export const processLogFile = (dir: string) => join(dir, 'processes.jsonl');

/** Starts an empty log (a new sandbox in `dir`). */
export function resetProcessLog(dir: string): void {
  writeFileSync(processLogFile(dir), '', { mode: 0o600 });
  chmodSync(processLogFile(dir), 0o600); // a file left by an older mailprov keeps its mode through writeFileSync
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
      if (Number.isInteger(p.pid) && typeof p.start === 'string' && /^\d+$/.test(p.start) && typeof p.what === 'string') {
        const ns = namespacesOf(p.ns);
        out.push({ pid: p.pid!, start: p.start, what: p.what, ...(ns ? { ns } : {}) });
      }
    } catch {
      /* cut short by a crash */
    }
  }
  return out;
}

/** A record's namespaces, kept only when every one reads as /proc/<pid>/ns names one ('net:[4026532201]'). */
function namespacesOf(value: unknown): Namespaces | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Namespaces = {};
  for (const [kind, id] of Object.entries(value)) {
    if (
      !(NAMESPACE_KINDS as readonly string[]).includes(kind) ||
      typeof id !== 'string' ||
      id !== `${kind}:[${id.slice(kind.length + 2, -1)}]`
    )
      return undefined;
    if (!/^\d+$/.test(id.slice(kind.length + 2, -1))) return undefined;
    out[kind as keyof Namespaces] = id;
  }
  return Object.keys(out).length ? out : undefined;
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
