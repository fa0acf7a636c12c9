// The sandbox's processes, known by what `up` recorded rather than by what their command line says:
// a pid alone can be reused by an unrelated process once ours is gone, so each is recorded with its
// start time (/proc/<pid>/stat field 22, clock ticks after boot), which a reused pid cannot share.
import { readFileSync, readdirSync } from 'node:fs';

export interface RecordedProcess {
  pid: number;
  /** /proc/<pid>/stat field 22, as written there */
  start: string;
  /** for messages: 'smart host', 'relay1 host', 'relay1 forwarder' */
  what: string;
}

export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  start: string;
}

/** Reads /proc/<pid>/stat; undefined when there is no such process. Swappable in tests. */
export type StatReader = (pid: number) => string | undefined;

export const readProcStat: StatReader = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
};

/** Parses a stat line. The command name (field 2) may hold spaces and parentheses: fields follow its last ')'. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 1 || close < open) return undefined;
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/); // rest[0] is field 3
  const pid = Number(text.slice(0, open).trim());
  const start = rest[22 - 3];
  if (!Number.isInteger(pid) || !start || !/^\d+$/.test(start)) return undefined;
  return { pid, state: rest[0], ppid: Number(rest[1]), start };
}

/** The record of a running process, or undefined when it cannot be read (it has exited). */
export function recordProcess(pid: number, what: string, read: StatReader = readProcStat): RecordedProcess | undefined {
  const text = read(pid);
  const stat = text === undefined ? undefined : parseProcStat(text);
  return stat ? { pid, start: stat.start, what } : undefined;
}

/**
 * Whether the recorded process still runs: same pid and same start time. A zombie has exited (it
 * keeps its stat until reaped), and a pid with another start time is some other process now.
 */
export function isRunning(p: RecordedProcess, read: StatReader = readProcStat): boolean {
  const text = read(p.pid);
  const stat = text === undefined ? undefined : parseProcStat(text);
  return !!stat && stat.start === p.start && stat.state !== 'Z' && stat.state !== 'X';
}

/** Children by parent pid, as /proc shows them at one moment. */
export function processTree(read: StatReader = readProcStat): Map<number, ProcStat[]> {
  const children = new Map<number, ProcStat[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = read(Number(entry));
    const stat = text === undefined ? undefined : parseProcStat(text);
    if (!stat) continue;
    const siblings = children.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else children.set(stat.ppid, [stat]);
  }
  return children;
}

/** Every descendant of `pid` in the tree, recorded as it is (pid and start time). */
export function descendants(pid: number, tree: Map<number, ProcStat[]>): RecordedProcess[] {
  const out: RecordedProcess[] = [];
  const walk = (parent: number) => {
    for (const c of tree.get(parent) ?? []) {
      out.push({ pid: c.pid, start: c.start, what: `child of ${pid}` });
      walk(c.pid);
    }
  };
  walk(pid);
  return out;
}

const key = (p: RecordedProcess) => `${p.pid}:${p.start}`;

/**
 * Stops the targets (SIGSTOP) and every descendant of theirs, reading the tree again after each
 * round until it shows no new one: a child forked between a read and its parent's stop is caught by
 * the next read, and once all are stopped none can fork. Returns everything stopped.
 */
export function stopTree(
  targets: RecordedProcess[],
  tree: () => Map<number, ProcStat[]>,
  stop: (p: RecordedProcess) => void,
): RecordedProcess[] {
  const found = new Map<string, RecordedProcess>();
  let fresh = targets;
  while (fresh.length) {
    for (const p of fresh) {
      found.set(key(p), p);
      stop(p);
    }
    const t = tree();
    const next = new Map<string, RecordedProcess>();
    for (const p of found.values()) for (const d of descendants(p.pid, t)) if (!found.has(key(d))) next.set(key(d), d);
    fresh = [...next.values()];
  }
  return [...found.values()];
}

/**
 * Kills the processes (SIGKILL, again while any runs) until none of them runs; a zombie has exited.
 * Returns those still running at the deadline (empty on success).
 */
export async function killAndWait(
  procs: RecordedProcess[],
  timeoutMs: number,
  running: (p: RecordedProcess) => boolean = (p) => isRunning(p),
  kill: (p: RecordedProcess) => void = (p) => signal(p, 'SIGKILL'),
  pause: () => Promise<void> = () => new Promise((r) => setTimeout(r, 50)),
): Promise<RecordedProcess[]> {
  const deadline = Date.now() + timeoutMs;
  let left = procs.filter(running);
  while (left.length) {
    if (Date.now() > deadline) return left;
    for (const p of left) kill(p);
    await pause();
    left = left.filter(running);
  }
  return [];
}

const signal = (p: RecordedProcess, sig: NodeJS.Signals) => {
  try {
    process.kill(p.pid, sig);
  } catch {
    /* gone meanwhile */
  }
};

/**
 * Kills the recorded processes that still are what was recorded, and all their descendants (a host's
 * namespace PID 1 and everything in it, sshd's per-connection children), and waits until every one
 * has exited. All are stopped first, so none can fork a child the kill would miss. Returns what is
 * still running at the deadline (empty on success).
 */
export async function killRecorded(recorded: RecordedProcess[], timeoutMs = 30_000): Promise<RecordedProcess[]> {
  const targets = recorded.filter((p) => isRunning(p));
  const all = stopTree(
    targets,
    () => processTree(),
    (p) => signal(p, 'SIGSTOP'),
  );
  return killAndWait(all, timeoutMs);
}

/** A process for a message: pid, what it was recorded as, and its command name now. */
export function describeProcess(p: RecordedProcess): string {
  let comm = '';
  try {
    comm = readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim();
  } catch {
    /* gone meanwhile */
  }
  return `${p.pid} (${p.what}${comm ? `, ${comm}` : ''})`;
}
