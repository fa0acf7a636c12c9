// A playbook is a function of its typed settings returning the resources it wants (plus optional
// lint, fact checks and post-apply verification). Settings are validated by the playbook's schema
// when the inventory loads, so a mistake fails before any connection.
import type { z } from 'zod';
import type { Duplex } from 'node:stream';
import type { FactQuery, HostFacts } from '../facts/types.ts';
import type { Resource } from '../resources/types.ts';
import type { Connection } from '../transport/ssh.ts';

export interface Finding {
  /** error: fails the host; warning: worth a look; info: a report (a queue flushed, say). */
  level: 'error' | 'warning' | 'info';
  code: string;
  message: string;
  line?: number;
}

/** What a read-only check of a host (`plan --probe`) may do. */
export interface ProbeContext {
  hostName: string;
  exec: Connection['exec'];
  /**
   * Opens a TCP connection from the host itself (its routes, firewall and DNS), carried over the SSH
   * connection; rejects with an error whose `kind` is refused, dns, unreachable, timed-out or other.
   */
  connect(host: string, port: number, opts?: { connectTimeoutMs?: number }): Promise<Duplex>;
  facts: HostFacts;
  /** Reports a line of progress (already redacted by the engine). */
  log(line: string): void;
  /**
   * Reports what could not be verified, or what is worth fixing, without failing the host (shown as
   * a warning; its code is `not-verified` unless given).
   */
  warn(message: string, code?: string): void;
  /** Reports a result worth showing in the summary (shown as info; its code is the phase's unless given). */
  info(message: string, code?: string): void;
}

export interface VerifyContext extends ProbeContext {
  /** After a rollback only the basics are checked: the old config may not relay at all. */
  mode: 'apply' | 'rollback';
}

export interface PlaybookParts {
  resources: Resource[];
  /** Facts the playbook reads itself (in checkFacts, probe, verify), gathered with the resources' own. */
  facts?: FactQuery[];
  /** Checks that need no host (run before connecting). */
  lint?(): Finding[];
  /** Checks that need the host's facts (run before any change). */
  checkFacts?(facts: HostFacts): Finding[];
  /** Post-apply verification, run when the host changed; throws OperationError with evidence. */
  verify?(ctx: VerifyContext): Promise<void>;
  /**
   * Its changes touch only what its own verify proves (mail-aliases: the aliases file and its
   * database, nothing sendmail relays with): when every change of an apply is of such playbooks, only
   * theirs verify, and another playbook's verify (the smart-host probe) does not run for them. Any
   * change of a playbook without it verifies every playbook of the host.
   */
  selfContained?: boolean;
  /**
   * Read-only checks against the world outside the host (`plan --probe`): changes nothing; throws
   * OperationError with evidence when the host could not work as configured.
   */
  probe?(ctx: ProbeContext): Promise<void>;
  /** `mailprov status`: how the service runs now, read from facts (gathered with the others, in one command). */
  status?: PlaybookStatusParts;
}

/** A playbook's answer to "is mail flowing?" (`mailprov status`): read-only, from facts and an optional probe. */
export interface PlaybookStatusParts {
  /** Facts the status reads, gathered in the same remote command as the resources' own. */
  facts: FactQuery[];
  read(facts: HostFacts): ServiceStatus;
  /** `status --probe`: the world beyond the host (the smart host), as `plan --probe` sees it. */
  probe?(ctx: ProbeContext): Promise<ProbeStatus>;
}

/** Why queued messages wait: one deferral reason, decoded as the probe decodes failures. */
export interface QueueCause {
  /** How many queued messages carry this reason (of those whose details were read). */
  count: number;
  /** The decoded cause's code ("refused-at-greeting"), or "unknown" when no pattern fits. */
  code: string;
  /** "cause; remedy" when decoded, else the reason as sendmail wrote it. */
  text: string;
  /** The reason as sendmail keeps it in the queue file ("Deferred: 421 4.3.2 ..."). */
  reason: string;
}

/** A line of the mail log about the smart host, with its time. */
export interface LogEvent {
  /** Seconds since the epoch. */
  at: number;
  line: string;
  /** Decoded, for a failure. */
  code?: string;
  text?: string;
}

export interface ServiceStatus {
  /** The daemon runs (its process is there). */
  running: boolean;
  /** Where it listens on port 25 ("127.0.0.1", "::1", "0.0.0.0"). */
  listening: string[];
  queue: { messages: number; oldestSeconds: number | null; causes: QueueCause[] };
  lastDelivery: LogEvent | null;
  lastFailure: LogEvent | null;
  /** Where the log was read ("/var/log/mail.log", "journal"), or null when there was none. */
  logSource: string | null;
  /** The certificate the service presents to its clients (sendmail's submission), null when it has none. */
  certificate?: ServerCertificate | null;
}

/** A certificate on the host, as `mailprov status` reports it. */
export interface ServerCertificate {
  subject: string;
  issuer: string;
  /** Its subjectAltName's DNS names and IP addresses. */
  names: string[];
  /** When it expires, seconds since the epoch. */
  expiresAt: number;
  selfSigned: boolean;
}

export interface ProbeStatus {
  ok: boolean;
  /** Whether TLS was set up (null: not reached that far). */
  tls: boolean | null;
  /** The AUTH mechanism accepted, or null (no auth configured, or refused). */
  auth: string | null;
  certificate: { subject: string; issuer: string; expiresAt: number | null } | null;
  /** When the probe failed: the decoded cause's code and "cause; remedy". */
  code?: string;
  text?: string;
}

export interface PlaybookDefinition<Schema extends z.ZodType> {
  name: string;
  settings: Schema;
  build(settings: z.output<Schema>): PlaybookParts;
}

/** What an inventory holds: a playbook with the settings it was given (validated at load). */
export interface PlaybookUse {
  readonly playbook: PlaybookDefinition<z.ZodType>;
  readonly settings: unknown;
}

export type Playbook<Schema extends z.ZodType> = ((settings: z.input<Schema>) => PlaybookUse) & {
  definition: PlaybookDefinition<Schema>;
};

export function definePlaybook<Schema extends z.ZodType>(def: PlaybookDefinition<Schema>): Playbook<Schema> {
  const use = (settings: z.input<Schema>): PlaybookUse => ({ playbook: def as unknown as PlaybookDefinition<z.ZodType>, settings });
  return Object.assign(use, { definition: def });
}
