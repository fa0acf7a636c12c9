// Small helpers for bench/run.ts: timing whole processes, medians, ssh arguments for sandbox hosts.
// spawn for timed() only: it measures a process from spawn to exit with its stdio on files, which
// zx cannot (it pipes and buffers the output, and settles when the pipes close, not at the exit).
// The other local commands go through zx (src/sandbox/local.ts), but traceCli's (bench/profile.ts).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import type { SandboxHost, SandboxState } from '../src/sandbox/index.ts';
import { localSync } from '../src/sandbox/local.ts';

export interface Timed {
  seconds: number;
  code: number | null;
  /** Peak RSS of the largest process of the tree, in KiB (GNU time %M), when asked for. */
  maxRssKb?: number;
  /** CPU seconds (user + system) of the process and the children it waited for (GNU time %U + %S), with maxRssKb. */
  cpuSeconds?: number;
}

export interface TimedOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr go to files, never through pipes we would have to drain while timing. */
  stdoutFile: string;
  stderrFile?: string;
  /** A file whose content becomes the process's stdin (default: /dev/null). */
  stdinFile?: string;
  /** Wrap in GNU time to get the peak RSS and CPU time; costs one extra fork+exec (about 1 ms), not measured apart. */
  rssFile?: string;
  timeoutMs?: number;
}

/** Runs one process to its end and returns the wall time from spawn to exit. */
export async function timed(cmd: string, args: string[], opts: TimedOptions): Promise<Timed> {
  const out = openSync(opts.stdoutFile, 'w');
  const err = opts.stderrFile ? openSync(opts.stderrFile, 'w') : out;
  const input = openSync(opts.stdinFile ?? '/dev/null', 'r');
  const [file, argv] = opts.rssFile ? ['/usr/bin/time', ['-f', '%U %S %M', '-o', opts.rssFile, cmd, ...args]] : [cmd, args];
  const t0 = performance.now();
  const child = spawn(file, argv, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: [input, out, err] });
  closeSync(out);
  if (err !== out) closeSync(err);
  closeSync(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20 * 60_000);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const seconds = (performance.now() - t0) / 1000;
  clearTimeout(timer);
  let usage: { maxRssKb?: number; cpuSeconds?: number } = {};
  if (opts.rssFile && existsSync(opts.rssFile)) usage = parseTimeOutput(readFileSync(opts.rssFile, 'utf8'));
  // GNU time passes the child's exit status through
  return { seconds, code, ...usage };
}

/** GNU time's "%U %S %M" line (after "Command exited with non-zero status N" when the command failed). */
export function parseTimeOutput(text: string): { maxRssKb?: number; cpuSeconds?: number } {
  const fields = (text.trim().split('\n').pop() ?? '').trim().split(/\s+/).map(Number);
  if (fields.length !== 3 || fields.some((n) => !Number.isFinite(n))) return {};
  const [user, sys, rss] = fields;
  return { maxRssKb: rss, cpuSeconds: Math.round((user + sys) * 100) / 100 };
}

/** Several processes started at once; the time is until the last one exits. */
export async function timedAll(
  runs: { cmd: string; args: string[]; opts: TimedOptions }[],
): Promise<{ seconds: number; codes: (number | null)[] }> {
  const t0 = performance.now();
  const results = await Promise.all(runs.map((r) => timed(r.cmd, r.args, r.opts)));
  return { seconds: (performance.now() - t0) / 1000, codes: results.map((r) => r.code) };
}

export function median(xs: number[]): number {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * OpenSSH options for a sandbox host: its key, host keys checked against the sandbox's known_hosts,
 * no agent, no multiplexing (every process opens its own connection, as mailprov does).
 */
export function sshArgs(state: SandboxState, host: SandboxHost): string[] {
  return [
    '-F',
    '/dev/null',
    '-i',
    state.privateKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${state.knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ControlMaster=no',
    '-o',
    'ControlPath=none',
    '-p',
    String(host.port),
    'root@127.0.0.1',
  ];
}

/** One command on a host over its own ssh connection, outside any timing. Throws on failure. */
export function sshRun(state: SandboxState, host: SandboxHost, command: string): string {
  return localSync({ what: `ssh ${host.name}` })`ssh ${sshArgs(state, host)} ${command}`.stdout;
}

/** Runs a command on every host at once (untimed set-up work), failing if any host fails. */
export async function sshRunAll(state: SandboxState, command: string, logFile: string): Promise<void> {
  const r = await timedAll(
    state.hosts.map((h) => ({ cmd: 'ssh', args: [...sshArgs(state, h), command], opts: { stdoutFile: `${logFile}.${h.name}` } })),
  );
  const bad = r.codes.map((c, i) => (c === 0 ? undefined : state.hosts[i].name)).filter(Boolean);
  if (bad.length) throw new Error(`${command}: failed on ${bad.join(', ')} (see ${logFile}.<host>)`);
}

export const fmt = (s: number | undefined, digits = 2) => (s === undefined || Number.isNaN(s) ? 'n/a' : s.toFixed(digits));
export const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b === 0 ? undefined : a / b;

/** A markdown table: the first two columns left-aligned, the numbers right-aligned. */
export function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i < 2 ? ':' : '-') + '-'.repeat(w) + (i < 2 ? '-' : ':')).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}
