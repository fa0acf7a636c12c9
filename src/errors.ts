// One flat family of errors. Exactly one place (the CLI entry) maps them to exit codes and text.

export class MailprovError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * The inventory (or a playbook's settings) is wrong: names the file, the field and what was expected,
 * and the host when the settings came from it (a binding's `use: (host) => ...`).
 */
export class InventoryError extends MailprovError {
  constructor(
    readonly file: string,
    readonly field: string,
    readonly expected: string,
    detail?: string,
    readonly host?: string,
  ) {
    super(`${file}: ${host === undefined ? '' : `host ${host}: `}${field}: ${expected}${detail ? ` (${detail})` : ''}`);
  }
}

/** Could not reach or authenticate to a host, or its host key did not verify. */
export class ConnectError extends MailprovError {
  /** The message without the host's name in front (a jump host's failure is told again for each host behind it). */
  readonly detail: string;
  constructor(
    readonly host: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${host}: ${message}`, options);
    this.detail = message;
  }
}

/**
 * The connection dropped while a command ran (or before it could start): whether the command ran
 * is not known from here. Steps that must not be cut in half run detached on the host (see
 * transport/detached.ts), so for those the controller reconnects and reads what happened.
 */
export class ConnectionLostError extends ConnectError {}

/** The run was interrupted (Ctrl-C): the host stopped before its next step. */
export class InterruptedError extends MailprovError {}

/**
 * An ssh_config file (~/.ssh/config or --ssh-config) that cannot be read, says something impossible, or
 * something mailprov cannot do (a ProxyCommand other than a bastion's ssh -W): names the file, the line
 * and, when it concerns one host, the host.
 */
export class SshConfigError extends MailprovError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    message: string,
    readonly host?: string,
  ) {
    super(`${file}${line ? ` line ${line}` : ''}: ${host === undefined ? '' : `host ${host}: `}${message}`);
  }
}

/**
 * A private key file cannot be used: unreadable, not a key, encrypted with no passphrase to open it, or a
 * wrong passphrase. Raised on the controller before any host is contacted; names the key file.
 */
export class KeyError extends MailprovError {
  constructor(
    readonly keyFile: string,
    message: string,
  ) {
    super(`private key ${keyFile}: ${message}`);
  }
}

/** A remote command failed: carries the command, exit code and output, as zx's ProcessOutput does. */
export class CommandError extends MailprovError {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
    readonly what?: string,
  ) {
    const tail = (stderr || stdout).trim().split('\n').slice(-8).join('\n');
    super(`${host}: ${what ?? 'command'} failed (exit ${exitCode}): ${command}${tail ? `\n${tail}` : ''}`);
  }
}

/** Gathering facts failed or their output could not be parsed. */
export class FactError extends MailprovError {}

/** A resource could not be planned or applied (lint errors, validation failures, verification). */
export class OperationError extends MailprovError {
  constructor(
    message: string,
    readonly evidence: string[] = [],
  ) {
    super(evidence.length ? `${message}\n${evidence.join('\n')}` : message);
  }
}

/** A rollback needs a generation the retention pruned (keepGenerations): its backups are gone. */
export class GenerationPrunedError extends OperationError {
  constructor(
    readonly generations: number[],
    readonly keep: number,
    message: string,
  ) {
    super(message);
  }
}

/** A local command that failed, as zx reports it: the command, its exit code (null when a signal ended it) and output. */
export interface FailedCommand {
  command: string;
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * The sandbox cannot run here (not root, no namespaces) or failed to start. When a local command failed
 * (src/sandbox/local.ts), it carries the command, exit code and output, as CommandError does for a host.
 */
export class SandboxError extends MailprovError {
  constructor(
    message: string,
    readonly failed?: FailedCommand,
  ) {
    super(message);
  }
}

/** Another run holds the host's lock, or taking it did not answer. */
export class LockError extends MailprovError {}

/** A secret (env variable or file) could not be read. */
export class SecretError extends MailprovError {}

/** A plan file (`plan --out`) that cannot be used: not a plan, changed after it was written, sealed with a key not given. */
export class PlanFileError extends MailprovError {}

/**
 * A saved plan no longer holds as a whole (the inventory, mailprov's version or the selection
 * changed since it was made): nothing was applied. Exit code EXIT_STALE (4), as for stale hosts.
 */
export class StalePlanError extends MailprovError {}

/** A command-line flag or argument is wrong (its value, or what it reads from the environment): names the flag. */
export class UsageError extends MailprovError {}

/**
 * `report merge` inputs that are not the shards of one selection (commands, inventories, --limit, n,
 * shards, hosts): names the files and what is missing or foreign. Exit code EXIT_NOT_ONE_RUN (3),
 * never 1: a refused merge says nothing about whether any host failed.
 */
export class MergeError extends MailprovError {
  constructor(
    readonly files: string[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * The exit codes, as the CLI entry (src/cli/main.ts) returns them:
 * 0 done (nothing failed, nothing pending);
 * 1 a host failed (or was rolled back), or any other error (the inventory, the command line, ...);
 * 2 `plan` (and `forget-secrets --dry-run`): changes pending;
 * 3 `report merge`: the files are not the shards of one run over one selection (a MergeError);
 * 4 `apply PLANFILE`: a host (or the whole plan) was refused as stale or already applied, and none failed.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_PENDING = 2;
export const EXIT_NOT_ONE_RUN = 3;
export const EXIT_STALE = 4;

/** The exit code an error ends the command with: 3 for a refused merge, 4 for a stale plan, else 1. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof StalePlanError) return EXIT_STALE;
  return err instanceof MergeError ? EXIT_NOT_ONE_RUN : EXIT_FAILED;
}

/** An error as one line of text for a person: ours as they are, anything else as unexpected, with its stack. */
export function describeError(err: unknown): string {
  return err instanceof MailprovError ? err.message : `unexpected error: ${(err as Error)?.stack ?? String(err)}`;
}
