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
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  }
  return children;
}

/** Every descendant of `pid` in the tree, recorded as it is (pid and start time). */
export function descendants(pid: number, tree: Map<number, ProcStat[]>): RecordedProcess[] {
  return (tree.get(pid) ?? []).flatMap((c) => [{ pid: c.pid, start: c.start, what: `child of ${pid}` }, ...descendants(c.pid, tree)]);
}

const signal = (p: RecordedProcess, sig: NodeJS.Signals) => {
  try {
    process.kill(p.pid, sig);
  } catch {
    /* gone meanwhile */
  }
};

/**
 * Kills the recorded processes that still are what was recorded, and their descendants (a forwarder's
 * per-connection children; a host's namespace, which also dies with its unshare through --kill-child).
 * Each is stopped before its tree is read, so it cannot fork a child the kill would miss. Returns what
 * is still running afterwards (empty on success).
 */
export async function killRecorded(recorded: RecordedProcess[], timeoutMs = 5000): Promise<RecordedProcess[]> {
  const targets = recorded.filter((p) => isRunning(p));
  for (const p of targets) signal(p, 'SIGSTOP');
  const tree = processTree();
  const all = [...targets, ...targets.flatMap((p) => descendants(p.pid, tree))];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = all.filter((p) => isRunning(p));
    if (!left.length || Date.now() > deadline) return left;
    for (const p of left) signal(p, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
  }
}
