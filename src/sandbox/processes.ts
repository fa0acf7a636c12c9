// The sandbox's processes, known by what `up` recorded rather than by what their command line says:
// a pid alone can be reused by an unrelated process once ours is gone, so each is recorded with its
// start time (/proc/<pid>/stat field 22, clock ticks after boot), which a reused pid cannot share,
// and the namespaces the sandbox made for it: `down` signals nothing outside them.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface RecordedProcess {
  pid: number;
  /** /proc/<pid>/stat field 22, as written there */
  start: string;
  /** for messages: 'smart host', 'relay1 host', 'relay1 forwarder' */
  what: string;
  /**
   * The namespaces the sandbox made for it (those it is in that are not the controller's own), as
   * /proc/<pid>/ns names them. A descendant found by `down` carries its recorded ancestor's.
   */
  ns?: Namespaces;
}

export const NAMESPACE_KINDS = ['net', 'mnt', 'pid', 'uts', 'ipc'] as const;
export type NamespaceKind = (typeof NAMESPACE_KINDS)[number];
/** A process's namespaces by kind, as /proc/<pid>/ns/<kind> links name them: 'net:[4026532201]'. */
export type Namespaces = Partial<Record<NamespaceKind, string>>;

/** Reads /proc/<pid>/ns/<kind> ('self': this process); undefined when there is no such process. Swappable in tests. */
export type NamespaceReader = (pid: number | 'self', kind: NamespaceKind) => string | undefined;

export const readNamespace: NamespaceReader = (pid, kind) => {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
};

/** The namespaces `pid` is in that this process is not: the ones made for it (by unshare). */
export function madeNamespaces(pid: number, read: NamespaceReader = readNamespace): Namespaces {
  const made: Namespaces = {};
  for (const kind of NAMESPACE_KINDS) {
    const theirs = read(pid, kind);
    const ours = read('self', kind);
    if (theirs !== undefined && ours !== undefined && theirs !== ours) made[kind] = theirs;
  }
  return made;
}

/**
 * Why `down` must not signal a recorded process (undefined when it may): it must be recorded with the
 * namespaces the sandbox made for it, none of them this controller's own (a forged record could name
 * the host's), and still be in each. A process of the host's own namespaces, or of another
 * container's, is never the sandbox's, whatever processes.jsonl says.
 */
export function outsideSandbox(p: RecordedProcess, read: NamespaceReader = readNamespace): string | undefined {
  const kinds = Object.keys(p.ns ?? {}) as NamespaceKind[];
  if (!kinds.length) return "recorded without the namespaces the sandbox made for it (not written by this mailprov's `sandbox up`)";
  for (const kind of kinds) {
    const recorded = p.ns![kind]!;
    if (recorded === read('self', kind))
      return `its recorded ${kind} namespace ${recorded} is this machine's own, not one the sandbox made`;
    const now = read(p.pid, kind);
    if (now !== recorded) return `it is in ${kind} namespace ${now ?? '(none: gone)'}, not ${recorded}, which the sandbox made for it`;
  }
  return undefined;
}

/**
 * Why `down` must not signal a descendant of a recorded process: it left (setns) a namespace of the kinds
 * the sandbox made for its ancestor, for this machine's own. A deeper namespace made inside is still inside.
 */
export function descendantOutside(d: RecordedProcess, ancestor: Namespaces, read: NamespaceReader = readNamespace): string | undefined {
  for (const kind of Object.keys(ancestor) as NamespaceKind[]) {
    const now = read(d.pid, kind);
    if (now !== undefined && now === read('self', kind))
      return `it is in this machine's own ${kind} namespace ${now}, outside the sandbox's`;
  }
  return undefined;
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
  admit: (descendant: RecordedProcess) => boolean = () => true,
): RecordedProcess[] {
  const found = new Map<string, RecordedProcess>();
  const refused = new Set<string>();
  let fresh = targets;
  while (fresh.length) {
    for (const p of fresh) {
      found.set(key(p), p);
      stop(p);
    }
    const t = tree();
    const next = new Map<string, RecordedProcess>();
    for (const p of found.values())
      for (const child of descendants(p.pid, t)) {
        // a descendant is judged by the namespaces of the recorded process it comes from
        const d = p.ns ? { ...child, ns: p.ns } : child;
        if (found.has(key(d)) || refused.has(key(d)) || next.has(key(d))) continue;
        if (admit(d)) next.set(key(d), d);
        else refused.add(key(d));
      }
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
 * Kills the recorded processes that still are what was recorded, in the namespaces the sandbox made
 * for them, and all their descendants (a host's namespace PID 1 and everything in it, sshd's
 * per-connection children), and waits until every one has exited. All are stopped first, so none can
 * fork a child the kill would miss. Returns what is still running at the deadline (`left`, empty on
 * success) and what was not signalled at all, with why (`refused`: outside the sandbox's namespaces).
 */
export async function killRecorded(
  recorded: RecordedProcess[],
  timeoutMs = 30_000,
  readNs: NamespaceReader = readNamespace,
): Promise<{ left: RecordedProcess[]; refused: { process: RecordedProcess; why: string }[] }> {
  const refused: { process: RecordedProcess; why: string }[] = [];
  const targets: RecordedProcess[] = [];
  for (const p of recorded.filter((r) => isRunning(r))) {
    const why = outsideSandbox(p, readNs);
    if (why) refused.push({ process: p, why });
    else targets.push(p);
  }
  const all = stopTree(
    targets,
    () => processTree(),
    (p) => signal(p, 'SIGSTOP'),
    (d) => {
      const why = descendantOutside(d, d.ns ?? {}, readNs);
      if (why) refused.push({ process: d, why });
      return !why;
    },
  );
  return { left: await killAndWait(all, timeoutMs), refused };
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
