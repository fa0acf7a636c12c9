// Long-lived processes of the sandbox (a host, the forwarder, the stand-in smart host, the LAN), each
// started detached in namespaces of its own and recorded before it runs its command: what `down`
// kills, and only while they are still in those namespaces.
// spawn for daemon() only: a host or daemon outlives this process (detached, in new namespaces), its
// output appended to a log file and its pid recorded at once; zx runs a command to its end.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { SandboxError } from '../errors.ts';
import { packageRoot } from '../paths.ts';
import { appendProcessLog } from './process-log.ts';
import { isRunning, madeNamespaces, type NamespaceKind, recordProcess, type RecordedProcess } from './processes.ts';
import type { SandboxState } from './state.ts';
import { tsxLoaderUrl } from './wait.ts';

// What each daemon runs first, in the namespaces unshare made for it: it waits for `go` on stdin,
// which `up` writes once it has recorded the process with those namespaces. An `up` that dies before
// closes the pipe, and the process exits instead of running unrecorded.
const GATE = 'IFS= read -r go && [ "$go" = go ] || exit 1; exec "$@" </dev/null';

/** The namespaces of its own a process started by `unshare <flags>` is in (--pid is its children's). */
const UNSHARE_KINDS: Record<string, NamespaceKind> = { '--net': 'net', '--mount': 'mnt', '--uts': 'uts', '--ipc': 'ipc' };

/**
 * Starts a long-lived process detached from us, in namespaces of its own (`unshare` with `flags`), its
 * output appended to a log file, and records it (pid, start time, the namespaces made for it) in the
 * process log before it runs its command (and in `state`, written later), so that `down` knows it even
 * if `up` dies, and can tell it from any process outside those namespaces.
 */
export async function daemon(
  state: SandboxState,
  what: string,
  flags: string[],
  cmd: string,
  args: string[],
  logFile: string,
): Promise<RecordedProcess | undefined> {
  const fd = openSync(logFile, 'a');
  const child = spawn('unshare', [...flags, 'sh', '-c', GATE, 'mailprov-gate', cmd, ...args], {
    detached: true,
    stdio: ['pipe', fd, fd],
  });
  closeSync(fd);
  child.unref();
  child.stdin!.on('error', () => {}); // it exited meanwhile: nothing to tell it
  if (!child.pid) throw new SandboxError(`could not start ${cmd}`);
  const kinds = flags.flatMap((f) => UNSHARE_KINDS[f] ?? []);
  const deadline = Date.now() + 10_000;
  // unshare makes them right after it starts: wait for every one (a condition, polled, with a deadline)
  for (;;) {
    const made = madeNamespaces(child.pid);
    const recorded = recordProcess(child.pid, what);
    // not readable (or a zombie) means it has already exited: nothing to record, nothing to kill later
    if (!recorded || !isRunning(recorded)) return undefined;
    if (kinds.every((k) => made[k] !== undefined)) {
      const p: RecordedProcess = { ...recorded, ns: made };
      state.processes.push(p);
      appendProcessLog(state.dir, p);
      child.stdin!.end('go\n');
      return p;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new SandboxError(
        `${what} did not enter its namespaces (unshare ${flags.join(' ')}) within 10 s:\n${readFileSync(logFile, 'utf8').slice(-2000)}`,
      );
    }
    await pause(5);
  }
}

/**
 * A daemon of ours (src/sandbox/<file>), run by this Node with tsx, as the stand-in smart host is. It
 * serves this machine's loopback and files, so its namespace of its own is an IPC one, which it does
 * not use: what lets `down` tell it from a process of this machine's.
 */
export async function nodeDaemon(state: SandboxState, what: string, file: string, configPath: string, logFile: string): Promise<void> {
  const entry = join(packageRoot(), 'src/sandbox', file);
  await daemon(state, what, ['--ipc'], process.execPath, ['--import', tsxLoaderUrl(), entry, configPath], logFile);
}
