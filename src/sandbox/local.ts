// Commands on this machine (the sandbox's, and the benchmark's), the one way: zx's `$`, which quotes
// every interpolated value (an array becomes one quoted word per element). A failure becomes a
// SandboxError carrying the command, exit code, stdout and stderr.
//
//   await local()`openssl ${args}`;
//   localSync({ env, what: 'could not install socat with apt' })`apt-get install -y -q ${pkgs}`;
import { createRequire } from 'node:module';
import type { Options, ProcessOutput } from 'zx/core';
import { SandboxError } from '../errors.ts';

export interface LocalOptions {
  env?: NodeJS.ProcessEnv;
  /** Default: the current directory at the call, as child_process does (zx would take the one it was loaded in). */
  cwd?: string;
  /** Text for the command's stdin; without it stdin is /dev/null. */
  input?: string;
  /** Return a failed command's output instead of throwing (check `.ok`). */
  nothrow?: boolean;
  /** What was being done, leading the error message: "could not install socat with apt: apt-get ... failed (exit 100)". */
  what?: string;
}

type Zx = typeof import('zx/core');
let zx: { lib: Zx; bash: string } | undefined;

// Required on first use, not imported: inventories/sandbox.ts reads the sandbox's state through this
// package, and a plan on sandbox hosts should not pay zx's load (~35 ms) for commands it never runs.
function load(): { lib: Zx; bash: string } {
  if (!zx) {
    const lib = createRequire(import.meta.url)('zx/core') as Zx;
    zx = { lib, bash: lib.which.sync('bash') };
  }
  return zx;
}

function options(opts: LocalOptions, sync: boolean): Partial<Options> {
  const { lib, bash } = load();
  return {
    // zx quotes with bash's $'...', which dash (Debian's sh) does not promise: the shell is bash, set
    // here rather than left to zx's own defaults or to ZX_SHELL/ZX_PREFIX in the environment
    shell: bash,
    quote: lib.quote,
    prefix: 'set -euo pipefail;',
    postfix: '',
    // nothing is echoed: the output is kept, and shown in the error when the command fails
    verbose: false,
    quiet: true,
    // failures are checked below: zx 8's sync mode does not throw, it leaves a rejected promise that
    // ends the process as an unhandled rejection
    nothrow: true,
    detached: false,
    preferLocal: false,
    timeout: 0,
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env ?? process.env,
    // an async zx child's stdin otherwise stays an open pipe, and ssh or cat would wait on it forever
    ...(opts.input === undefined ? { stdio: ['ignore', 'pipe', 'pipe'] } : { input: opts.input, stdio: 'pipe' }),
    sync,
  };
}

/** The command as zx builds it (without the prefix), for messages. */
function shown(pieces: TemplateStringsArray, args: unknown[]): string {
  const { quote } = load().lib;
  const word = (a: unknown) => (Array.isArray(a) ? a.map((x) => quote(String(x))).join(' ') : quote(String(a)));
  return pieces.reduce((cmd, piece, i) => cmd + word(args[i - 1]) + piece);
}

/** A failed command as a SandboxError: its last lines of output in the message, all of it in `failed`. */
export function localFailure(command: string, out: ProcessOutput, what?: string): SandboxError {
  const how = out.signal ? `was ended by ${out.signal}` : `failed (exit ${out.exitCode})`;
  const tail = (out.stderr.trim() || out.stdout.trim()).split('\n').slice(-20).join('\n').slice(-4000);
  return new SandboxError(`${what ? `${what}: ` : ''}${command} ${how}${tail ? `\n${tail}` : ''}`, {
    command,
    exitCode: out.exitCode,
    signal: out.signal,
    stdout: out.stdout,
    stderr: out.stderr,
  });
}

function checked(out: ProcessOutput, pieces: TemplateStringsArray, args: unknown[], opts: LocalOptions): ProcessOutput {
  if (!out.ok && !opts.nothrow) throw localFailure(shown(pieces, args), out, opts.what);
  return out;
}

/** Runs a local command to its end: `await local(opts)\`cmd ${arg}\``. */
export function local(opts: LocalOptions = {}) {
  return async (pieces: TemplateStringsArray, ...args: unknown[]): Promise<ProcessOutput> =>
    checked(await load().lib.$(options(opts, false))(pieces, ...args), pieces, args, opts);
}

/** The same, blocking (for the few callers that are synchronous): `localSync(opts)\`cmd ${arg}\``. */
export function localSync(opts: LocalOptions = {}) {
  return (pieces: TemplateStringsArray, ...args: unknown[]): ProcessOutput =>
    checked(load().lib.$(options(opts, true))(pieces, ...args) as unknown as ProcessOutput, pieces, args, opts);
}
