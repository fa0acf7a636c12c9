// The resource contract every resource follows (pyinfra's operation, Ansible's module):
//   facts()  -> which facts it reads
//   plan()   -> pure: desired state vs facts -> a Change (what, why, diff, the steps that make it so,
//               and what to record so it can be undone), or a NoChange with the reason
// The engine executes the steps of a plan; a dry run renders the same plan and executes nothing.
import type { FactQuery, FileFact, HostFacts } from '../facts/types.ts';

/** One remote execution. Content travels on stdin, never inside the command line. */
export interface Step {
  command: string;
  stdin?: string;
  /** Short human label for progress lines and errors, e.g. "write /etc/mail/access". */
  label: string;
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

/** What to record before a change so that it can be undone later (rollback). */
export type UndoRecord =
  | { kind: 'file'; path: string; before: FileFact; sensitive?: boolean }
  | { kind: 'packages'; manager: string; installed: string[] }
  | { kind: 'iptables-rule'; chain: string; rule: string; persistFile?: string }
  | { kind: 'firewalld-service'; service: string };

export interface Change {
  resourceId: string;
  /** Verb of the change: install, create, update, run, add-rule, start, restart, ... */
  action: string;
  /** What will be done, e.g. "install sendmail, sendmail-cf (apt)". */
  summary: string;
  /** Why, e.g. "not installed", "content differs", "because /etc/mail/sendmail.mc changes". */
  reason: string;
  diff?: FileDiff;
  steps: Step[];
  undo: UndoRecord[];
}

export interface NoChange {
  resourceId: string;
  reason: string;
}

export interface PlanContext {
  /** Ids of resources that have a change planned so far (in order). */
  readonly changed: ReadonlySet<string>;
}

export interface Resource {
  /** Unique per host: "file:/etc/mail/sendmail.mc", "packages:sendmail,sendmail-cf", ... */
  readonly id: string;
  /** Resource ids (handlers) to notify when this one changes. */
  readonly notify: readonly string[];
  /** A handler only acts when notified; it is planned after every ordinary resource. */
  readonly handler: boolean;
  /** For file resources: the path and how to mask its secrets, so rollback diffs mask them too. */
  readonly file?: { path: string; mask?: (text: string) => string };
  facts(): FactQuery[];
  plan(facts: HostFacts, ctx: PlanContext): Change | NoChange;
  /** Only for handlers: the change to make when notified (after `plan` found nothing else to do). */
  planNotified?(facts: HostFacts, notifiedBy: string[], ctx: PlanContext): Change | NoChange;
}

export function isChange(x: Change | NoChange): x is Change {
  return 'steps' in x;
}
