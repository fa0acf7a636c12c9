// Fault injection: cut a sandbox host's SSH connections, as a VPN that flaps or a laptop that sleeps
// does. The host's per-connection sshd processes are ended (what the host sees when a session goes),
// and for `forSeconds` the forwarder drops the host's connections and refuses new ones (a link that is
// down: a reconnect fails until it is back). Tests call it at any step; `mailprov sandbox cut` too.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import { cutsFile, type ForwarderCuts } from './forwarder.ts';
import type { SandboxState } from './state.ts';
import { descendants, isRunning, processTree, type RecordedProcess } from './processes.ts';

export interface CutOptions {
  /** Also keep the host unreachable this long (the forwarder refuses its connections). Default 0. */
  forSeconds?: number;
  /**
   * 'end' (default): the sessions' sshd processes end. 'freeze': they are stopped instead, as a host
   * that has not noticed yet that the link went (a silent drop): the session, and what it holds
   * (mailprov's lock), stays until the host gives up on it. Needs forSeconds > 0 to cut the controller off.
   */
  sessions?: 'end' | 'freeze';
}

export interface CutResult {
  /** sshd session processes ended (or frozen). */
  sessions: number;
  /** Until when (ms since the epoch) the host refuses new connections; 0 when not at all. */
  downUntil: number;
}

const comm = (pid: number): string | undefined => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
};

const isSshd = (name: string | undefined) => name === 'sshd' || name === 'sshd-session';

let cutSeq = 0;

export async function cutConnection(state: SandboxState, name: string, opts: CutOptions = {}): Promise<CutResult> {
  const host = state.hosts.find((h) => h.name === name);
  if (!host) throw new SandboxError(`no sandbox host ${name} (hosts: ${state.hosts.map((h) => h.name).join(', ')})`);
  if (host.reachableFrom) throw new SandboxError(`${name} is a private host: cut the host it is reached through instead`);
  const seconds = opts.forSeconds ?? 0;
  if (!(seconds >= 0)) throw new SandboxError(`cut ${name}: --for expects a number of seconds, got ${seconds}`);
  let downUntil = 0;
  const cutLink = async () => {
    if (seconds <= 0) return;
    downUntil = Date.now() + seconds * 1000;
    await cutForwarder(state, name, downUntil);
  };
  // ending sessions: the link first, so that no reconnect slips in between; freezing them: the
  // sessions first, so that they are still there (the link's end would end them) when it goes
  if (opts.sessions !== 'freeze') await cutLink();
  const sessions = sshSessions(state, name);
  for (const p of sessions) {
    // still the process found a moment ago (same start time): a pid is never signalled after reuse
    if (!isRunning(p)) continue;
    try {
      process.kill(p.pid, opts.sessions === 'freeze' ? 'SIGSTOP' : 'SIGKILL');
    } catch {
      /* exited meanwhile */
    }
  }
  if (opts.sessions === 'freeze') await cutLink();
  return { sessions: sessions.length, downUntil };
}

/** Every sshd under the host's listening sshd: its per-connection processes. */
function sshSessions(state: SandboxState, name: string): RecordedProcess[] {
  const root = state.processes.find((p) => p.what === `${name} host`);
  if (!root || !isRunning(root)) throw new SandboxError(`sandbox host ${name} is not running`);
  const tree = processTree();
  const parentOf = new Map<number, number>();
  for (const [ppid, kids] of tree) for (const k of kids) parentOf.set(k.pid, ppid);
  return descendants(root.pid, tree).filter((p) => isSshd(comm(p.pid)) && isSshd(comm(parentOf.get(p.pid) ?? 0)));
}

/** Tells the forwarder daemon to cut the host off until `until`, and waits until it says it did. */
async function cutForwarder(state: SandboxState, name: string, until: number): Promise<void> {
  const fwd = state.processes.find((p) => p.what === 'forwarder');
  if (!fwd || !isRunning(fwd)) throw new SandboxError('the sandbox forwarder is not running');
  const config = join(state.dir, 'forwarder.json');
  const seq = Date.now() * 1000 + (cutSeq++ % 1000);
  // cuts still pending for other hosts stay in the file: two cuts close together both reach the daemon
  let earlier: Record<string, number> = {};
  try {
    earlier = (JSON.parse(readFileSync(cutsFile(config), 'utf8')) as ForwarderCuts).cuts;
  } catch {
    /* none yet */
  }
  const live = Object.fromEntries(Object.entries(earlier).filter(([, t]) => t > Date.now()));
  const body: ForwarderCuts = { seq, cuts: { ...live, [name]: until } };
  writeFileSync(cutsFile(config), JSON.stringify(body));
  process.kill(fwd.pid, 'SIGUSR2');
  const done = `${cutsFile(config)}.done`;
  const deadline = Date.now() + 5000;
  while (!(existsSync(done) && readFileSync(done, 'utf8').trim() === String(seq))) {
    if (Date.now() > deadline) throw new SandboxError(`the forwarder did not cut ${name} within 5 s (see forwarder.log)`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
