// The sandbox's state store: what `up` wrote (its hosts, its processes, its files) in state.json,
// read and written whole, and the check of a folder before anything in it is used or deleted.
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DebianRelease } from './base.ts';
import type { SandboxLan } from './lan.ts';
import { checkSandboxFolder } from './ownership.ts';
import { mergeProcesses, readProcessLog } from './process-log.ts';
import { isRunning, type RecordedProcess } from './processes.ts';

/** 'debian': Debian (13 trixie unless the host's release says 12 bookworm). 'centos': the CentOS-like stand-in (rpm, dnf, RHEL layout; see centos/base.ts). */
export type SandboxHostKind = 'debian' | 'centos';

export interface SandboxHost {
  name: string;
  fqdn: string;
  /** On this machine's 127.0.0.1; for a private host, 22 on its private address (see below). */
  port: number;
  dir: string;
  /** State written before this field existed holds Debian hosts only: read it with hostKind(). */
  kind: SandboxHostKind;
  /** A Debian host's release; state written before this field existed holds Debian 12 hosts only (hostRelease()). */
  release?: DebianRelease;
  /**
   * A private host (UpOptions.private): no port on this machine. It sits on the sandbox LAN, where
   * these hosts reach it as `fqdn:22` (only their /etc/hosts name its LAN address).
   */
  reachableFrom?: string[];
  /** On a sandbox with a LAN: the host's address there (lan.ts). */
  lanAddress?: string;
}

/** In every state file `up` writes: what `down` checks before it deletes a folder. */
export const SANDBOX_OWNER = 'mailprov sandbox';

export interface SandboxState {
  owner: typeof SANDBOX_OWNER;
  dir: string;
  /** false until every host answers and known_hosts is written: a crashed `up` is never taken for a sandbox */
  ready: boolean;
  /**
   * every daemon `up` started: what `down` may kill. Recorded as each starts in processes.jsonl
   * (process-log.ts), and here too once `up` is done; readState and inspectFolder merge both.
   */
  processes: RecordedProcess[];
  /** The Debian base of the default release's hosts, or of the first Debian host's (not built when every host is CentOS-like). */
  base: string;
  /** Each Debian release's base, by release; state written before this field existed has `base` (Debian 12) only. */
  bases?: Partial<Record<DebianRelease, string>>;
  /** The CentOS-like base, when the sandbox has CentOS-like hosts. */
  centosBase?: string;
  privateKey: string;
  knownHosts: string;
  smartHost: {
    name: string;
    user: string;
    passwordFile: string;
    /** The second account (relay2@...) and its password file. */
    second: { user: string; passwordFile: string };
    socket: string;
    storeDir: string;
    caCert: string;
  };
  hosts: SandboxHost[];
  /** The sandbox LAN (UpOptions.lan), with its two clients. */
  lan?: SandboxLan;
}

export function defaultStateDir(): string {
  return resolve(process.env.MAILPROV_SANDBOX_DIR ?? join(process.cwd(), '.sandbox'));
}

const stateFile = (dir: string) => join(dir, 'state.json');

export const hostKind = (h: SandboxHost): SandboxHostKind => h.kind ?? 'debian';

/** A Debian host's release (a host of a state from before releases: 12); undefined for a CentOS-like host. */
export const hostRelease = (h: SandboxHost): DebianRelease | undefined => (hostKind(h) === 'debian' ? (h.release ?? 12) : undefined);

/** What `sandbox up` and `status` print as a host's kind: "debian 13", "centos". */
export const hostLabel = (h: SandboxHost): string => (hostKind(h) === 'debian' ? `debian ${hostRelease(h)}` : hostKind(h));

/** The state of the sandbox in `dir`, or undefined when there is none; a folder or file not root's alone throws (ownership.ts). */
export function readState(dir = defaultStateDir()): SandboxState | undefined {
  if (checkSandboxFolder(resolve(dir)) === 'absent') return undefined;
  try {
    const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as SandboxState;
    if (Array.isArray(state.processes)) state.processes = mergeProcesses(state.processes, readProcessLog(dir));
    return state;
  } catch {
    return undefined;
  }
}

// Written whole to a temporary file and renamed: a crash mid-write leaves the previous state, never half.
export function writeState(state: SandboxState): void {
  const tmp = `${stateFile(state.dir)}.tmp`;
  rmSync(tmp, { force: true }); // a new file, so that its mode is the one given
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, stateFile(state.dir));
}

export type Folder = { kind: 'absent' } | { kind: 'ours'; state: SandboxState } | { kind: 'foreign'; reason: string; empty: boolean };

/** Whether `dir` holds a sandbox of ours: a state file `up` wrote (with the owner mark) for this very folder. */
export function inspectFolder(dir: string): Folder {
  // before anything in it is read: the folder and its state files are root's alone, or refused
  if (checkSandboxFolder(dir) === 'absent') return { kind: 'absent' };
  const empty = readdirSync(dir).length === 0;
  const file = stateFile(dir);
  if (!existsSync(file)) return { kind: 'foreign', reason: `${dir} does not hold a mailprov sandbox (no state.json)`, empty };
  let state: Partial<SandboxState>;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as Partial<SandboxState>;
  } catch (err) {
    return { kind: 'foreign', reason: `${file} is not a mailprov sandbox's state (${(err as Error).message})`, empty };
  }
  if (state.owner !== SANDBOX_OWNER || !Array.isArray(state.processes)) {
    // also a sandbox of a mailprov from before the mark: it recorded no processes, so none can be told apart
    return {
      kind: 'foreign',
      reason: `${file} was not written by this mailprov's \`sandbox up\` (no "owner": "${SANDBOX_OWNER}"; a sandbox of an older mailprov must be stopped and deleted by hand)`,
      empty,
    };
  }
  if (typeof state.dir !== 'string' || resolve(state.dir) !== dir) {
    return { kind: 'foreign', reason: `${file} is the state of a sandbox in ${String(state.dir)}, not in ${dir}`, empty };
  }
  // and what a crashed `up` recorded only in its process log
  return { kind: 'ours', state: { ...(state as SandboxState), processes: mergeProcesses(state.processes, readProcessLog(dir)) } };
}

/** The recorded processes of a sandbox that still run (same pid, same start time). */
export function sandboxProcesses(state: SandboxState): RecordedProcess[] {
  return state.processes.filter((p) => isRunning(p));
}
