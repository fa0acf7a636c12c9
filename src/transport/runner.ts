// The one way apply, rollback and the journal run a command on a host: logged with its label, exit
// code and time, output redacted before it reaches a log or an error, a non-zero exit thrown as a
// CommandError carrying the command's label, exit code and output (as zx's ProcessOutput does).
import { CommandError } from '../errors.ts';
import { redact } from '../secrets/index.ts';
import type { Connection, ExecResult } from './ssh.ts';

export interface Runner {
  readonly host: string;
  readonly conn: Connection;
  /** Runs a command that must succeed; returns its stdout. `what` says what it was for, in errors. */
  run(command: string, label: string, opts?: { stdin?: string; what?: string }): Promise<string>;
  /** Runs a command whose exit code the caller judges (a check). */
  exec(command: string, stdin?: string): Promise<ExecResult>;
  /** A line for the host's log (redacted by the runner's owner). */
  log(line: string): void;
}

export function commandRunner(conn: Connection, log: (line: string) => void): Runner {
  return {
    host: conn.target.name,
    conn,
    log,
    exec: (command, stdin) => conn.exec(command, stdin),
    async run(command, label, opts = {}) {
      const t0 = Date.now();
      const r = await conn.exec(command, opts.stdin);
      log(`  $ ${label} -> exit ${r.code} in ${Date.now() - t0} ms`);
      if (r.stdout.trim()) log(indent(redact(r.stdout)));
      if (r.stderr.trim()) log(indent(redact(r.stderr)));
      if (r.code !== 0) throw new CommandError(conn.target.name, label, r.code, redact(r.stdout), redact(r.stderr), opts.what);
      return r.stdout;
    },
  };
}

/** A command's output under its log line, four spaces in. */
export const indent = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
