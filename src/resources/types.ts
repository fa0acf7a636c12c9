// The resource contract every resource follows (pyinfra's operation, Ansible's module):
//   facts()  -> which facts it reads
//   plan()   -> pure: desired state vs facts -> a Change (what, why, diff, the steps that make it so,
//               the files it writes, and the records of what else it does), or a NoChange with the reason
//   undo     -> each kind of record has an UndoHandler beside its resource (see undo.ts): how to
//               undo it, and what a rollback records so that the rollback itself can be undone
// The engine executes the steps of a plan; a dry run renders the same plan and executes nothing.
import type { FactQuery, HostFacts, OsFacts } from '../facts/types.ts';
import type { UndoRecord } from '../journal/records.ts';

export type { UndoRecord };

/** One remote execution. Content travels on stdin, never inside the command line. */
export interface Step {
  command: string;
  stdin?: string;
  /**
   * Content made on the controller at apply time from the previous step's output, sent as this
   * step's stdin: a certificate signed for the request the host just made, so that the host's new
   * private key never leaves it. A saved plan holds no digest of it (it does not exist yet).
   */
  stdinFrom?: (previousOutput: string) => Promise<string>;
  /** Short human label for progress lines and errors, e.g. "write /etc/mail/access". */
  label: string;
  /**
   * The step says things worth reporting (a lock it waited for, a package it upgraded): each
   * `mailprov-note: ...` line of its stdout becomes an info finding with this code.
   */
  notes?: string;
}

/** A file as it would look after the change, and before it, for diffs. */
export interface FileDiff {
  path: string;
  /** null when the file does not exist on that side. */
  before: string | null;
  after: string | null;
  /** Texts are already masked when the file holds secrets. */
  masked: boolean;
  /** The raw texts differ only in masked parts (e.g. "password changed"). */
  secretChanged: boolean;
  /** Owner/group/mode changes, e.g. ["mode 0644 -> 0600"]. */
  meta: string[];
}

/** A file a change writes: the journal copies it aside first, and a rollback puts the copy back. */
export interface WrittenFile {
  path: string;
  /** It holds secrets: rollback diffs mask it whole unless a resource knows how to mask it. */
  sensitive?: boolean;
  /** Copied aside but not put back on undo: the resource's own undo rewrites it (e.g. saved firewall rules). */
  keepOnUndo?: boolean;
}

/** How one kind of undo record is undone. Records come from the host: `parse` checks them first. */
export interface UndoHandler<R extends UndoRecord = UndoRecord> {
  readonly kind: R['kind'];
  /** Undone only when the user opts in (e.g. `rollback --packages`); otherwise left as it is. */
  readonly optIn?: 'packages';
  parse(record: UndoRecord): R;
  /** Read-only checks run before a rollback changes anything; a failing one refuses the rollback. */
  preflight?(record: R, os: OsFacts): Step[];
  /** The steps that undo it (each idempotent: undoing twice is harmless). */
  steps(record: R, os: OsFacts): Step[];
  /** What the rollback records so that it can be undone in turn. */
  inverse(record: R): UndoRecord;
  /** One line for plans and dry runs, e.g. "- iptables rule -A INPUT -p tcp ...". */
  describe(record: R): string;
}

/** Verbs of a change, as plans and reports print them; a new verb is added here first. */
export const CHANGE_ACTIONS = [
  'install',
  'remove',
  'repair',
  'create',
  'update',
  'run',
  'start',
  'restart',
  'reload',
  'add-rule',
  'change-rule',
  'persist-rule',
  'add-service',
] as const;

export type ChangeAction = (typeof CHANGE_ACTIONS)[number];

export interface Change {
  resourceId: string;
  /** Verb of the change: install, create, update, run, add-rule, start, restart, ... */
  action: ChangeAction;
  /** What will be done, e.g. "install sendmail, sendmail-cf (apt)". */
  summary: string;
  /** Why, e.g. "not installed", "content differs", "because /etc/mail/sendmail.mc changes". */
  reason: string;
  diff?: FileDiff;
  /** More lines for the plan, e.g. a package transaction: every package installed, upgraded, removed. */
  details?: string[];
  steps: Step[];
  /** Files the steps write (backed up by the journal before the first step). */
  files?: WrittenFile[];
  /** What else the steps do, as records their resource kind knows how to undo. */
  undo: UndoRecord[];
  /**
   * The change could cut the controller off (a firewall rule): the host undoes it by itself unless
   * a fresh SSH connection confirms it in time.
   */
  confirm?: boolean;
}

export interface NoChange {
  resourceId: string;
  reason: string;
}

export interface PlanContext {
  /** Ids of resources that have a change planned so far (in order). */
  readonly changed: ReadonlySet<string>;
  /** 'rollback': rebuilding after files were restored; start nothing that was not running. */
  readonly mode?: 'apply' | 'rollback';
}

export interface Resource {
  /** Unique per host: "file:/etc/mail/sendmail.mc", "packages:sendmail,sendmail-cf", ... */
  readonly id: string;
  /** Resource ids (handlers) to notify when this one changes. */
  readonly notify: readonly string[];
  /** A handler only acts when notified; it is planned after every ordinary resource. */
  readonly handler: boolean;
  /** It derives state from files (a command watching them): a rollback re-runs it when they are restored. */
  readonly rebuildsFromFiles?: boolean;
  /** For file resources: the path and how to mask its secrets, so rollback diffs mask them too. */
  readonly file?: { path: string; mask?: (text: string) => string; secret?: 'when-masked' };
  /** Other paths it writes (a map a command builds): with `file`, what the host's bound playbooks still manage. */
  readonly writes?: readonly string[];
  facts(): FactQuery[];
  plan(facts: HostFacts, ctx: PlanContext): Change | NoChange;
  /** Only for handlers: the change to make when notified (after `plan` found nothing else to do). */
  planNotified?(facts: HostFacts, notifiedBy: string[], ctx: PlanContext): Change | NoChange;
}

export function isChange(x: Change | NoChange): x is Change {
  return 'steps' in x;
}
