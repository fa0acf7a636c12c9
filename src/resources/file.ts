// file: content, owner, group and mode. Written atomically: a temp file in the same directory gets
// the content over stdin, its owner and mode, an optional validate command, then a rename.
import { fileFact } from '../facts/builtin.ts';
import { journalFact } from '../journal/journal.ts';
import type { Generation } from '../journal/records.ts';
import type { FileFact, HostFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { sh } from '../transport/quote.ts';
import { script } from '../transport/script.ts';
import { fileId } from './ids.ts';
import type { Change, FileDiff, NoChange, PlanContext, Resource, UndoRecord } from './types.ts';

export interface FileOptions {
  path: string;
  /** The content, or a function of the host's facts (e.g. an mc rendered per distro). */
  content: string | ((facts: HostFacts) => string);
  owner?: string;
  group?: string;
  /** Octal string, e.g. "0644". */
  mode?: string;
  /** A shell command run on the temp file before it replaces the real one; `%s` (required) is its path. */
  validate?: string;
  /** Masks secrets in diffs (e.g. the authinfo password). Marks the content as sensitive. */
  mask?: (text: string) => string;
  /**
   * 'always' (the default with a mask): the file holds secrets. 'when-masked': only when the mask
   * hides something in it (the host's own access map may hold AuthInfo lines; mailprov's has none),
   * so that forget-secrets does not take the way back of a file that holds no secret.
   */
  sensitive?: 'always' | 'when-masked';
  /**
   * For a file others edit too (/etc/aliases): a rollback does not put the saved copy back (it
   * would undo their edits since), it runs these records instead, made from the text before (null:
   * no file) and after the change; e.g. a lineEntriesRecord of the entries this resource wrote.
   */
  undo?: (before: string | null, after: string) => UndoRecord[];
  notify?: string[];
}

const normMode = (m: string) => m.replace(/^0*/, '').padStart(3, '0').padStart(4, '0');

export function file(opts: FileOptions): Resource {
  // as Ansible's validate: a check that does not name the candidate would check the old file
  if (opts.validate !== undefined && !opts.validate.includes('%s')) {
    throw new OperationError(`file ${opts.path}: validate must contain %s (the candidate file's path): ${opts.validate}`);
  }
  const id = fileId(opts.path);
  const owner = opts.owner ?? 'root';
  const group = opts.group ?? owner;
  const mode = normMode(opts.mode ?? '0644');
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    file: { path: opts.path, mask: opts.mask, ...(opts.sensitive === 'when-masked' ? { secret: 'when-masked' as const } : {}) },
    facts: () => [fileFact.query(opts.path)],
    plan(facts: HostFacts, _ctx: PlanContext): Change | NoChange {
      const current = facts.get(fileFact, opts.path);
      const desired = typeof opts.content === 'function' ? opts.content(facts) : opts.content;
      if (current.exists && current.type !== 'file') {
        return fileChange(id, opts, current, desired, owner, group, mode, `${opts.path} exists but is a ${current.type}`, [], 'update');
      }
      if (!current.exists) {
        return fileChange(id, opts, current, desired, owner, group, mode, 'does not exist', [], 'create');
      }
      const meta: string[] = [];
      if (current.owner !== owner || current.group !== group) meta.push(`owner ${current.owner}:${current.group} -> ${owner}:${group}`);
      if (normMode(current.mode) !== mode) meta.push(`mode ${normMode(current.mode)} -> ${mode}`);
      const contentDiffers = current.content !== desired;
      if (!contentDiffers && meta.length === 0) return { resourceId: id, reason: `${opts.path} is up to date` };
      const reason = contentDiffers ? (meta.length ? `content and ${meta.join(', ')} differ` : 'content differs') : meta.join(', ');
      return fileChange(id, opts, current, desired, owner, group, mode, reason, meta, 'update', !contentDiffers);
    },
  };
}

function fileChange(
  id: string,
  opts: FileOptions,
  current: FileFact,
  desired: string,
  owner: string,
  group: string,
  mode: string,
  reason: string,
  meta: string[],
  action: 'create' | 'update',
  metaOnly = false,
): Change {
  const before = current.exists && current.type === 'file' ? (current.content ?? null) : null;
  const mask = opts.mask ?? ((t: string) => t);
  const maskedBefore = before === null ? null : mask(before);
  const maskedAfter = mask(desired);
  const diff: FileDiff = {
    path: opts.path,
    before: maskedBefore,
    after: maskedAfter,
    masked: opts.mask !== undefined,
    secretChanged: opts.mask !== undefined && before !== desired && maskedBefore === maskedAfter,
    meta,
  };
  if (!current.exists) diff.meta = [`new file ${owner}:${group} ${mode}`];
  const steps = metaOnly
    ? [{ label: `set owner/mode of ${opts.path}`, command: sh`chown ${owner}:${group} ${opts.path} && chmod ${mode} ${opts.path}` }]
    : [{ label: `write ${opts.path}`, command: atomicWriteCommand(opts.path, owner, group, mode, opts.validate), stdin: desired }];
  return {
    resourceId: id,
    action,
    summary: `${action} ${opts.path}${diff.secretChanged ? ' (a secret value changed)' : ''}`,
    reason,
    diff,
    steps,
    // a file with its own undo is still copied aside (the journal keeps it), never put back whole
    files: [{ path: opts.path, sensitive: holdsSecrets(opts, before, desired), ...(opts.undo ? { keepOnUndo: true } : {}) }],
    undo: opts.undo && !metaOnly ? opts.undo(before, desired) : [],
  };
}

/** Whether the change's texts hold secrets (see FileOptions.sensitive). */
function holdsSecrets(opts: FileOptions, before: string | null, after: string): boolean {
  if (!opts.mask) return false;
  if (opts.sensitive !== 'when-masked') return true;
  return [before, after].some((t) => t !== null && opts.mask!(t) !== t);
}

/**
 * The remote half of an atomic write: content arrives on stdin into a temp file created with a
 * private umask in the target directory; owner and mode are set before the rename, so the file
 * never appears with the wrong permissions or half written.
 */
export function atomicWriteCommand(path: string, owner: string, group: string, mode: string, validate?: string): string {
  const dir = path.replace(/\/[^/]*$/, '') || '/';
  const base = path.slice(dir.length + 1);
  const lines = [
    'umask 077',
    sh`mkdir -p ${dir}`,
    sh`tmp=$(mktemp ${`${dir}/.${base}.mailprov.XXXXXX`})`,
    `trap 'rm -f "$tmp"' EXIT`,
    'cat > "$tmp"',
    sh`chown ${owner}:${group} "$tmp"`,
    sh`chmod ${mode} "$tmp"`,
  ];
  if (validate) lines.push(validate.split('%s').join('"$tmp"'));
  lines.push(sh`mv -f "$tmp" ${path}`, 'trap - EXIT');
  return script(lines);
}

export interface AbsentFileOptions {
  path: string;
  /** Masks secrets in the diff of the removal (the text it removes), as file() does. */
  mask?: (text: string) => string;
  /**
   * Remove it only when mailprov wrote it (a complete generation in the host's journal wrote it),
   * never a file the host had of its own: for a file an inventory stopped asking for.
   */
  onlyIfWritten?: boolean;
  /**
   * Remove it only while its content holds this (a password): a file the distro recreates empty
   * (Debian's Makefile touches every map it once knew) holds nothing, and stays.
   */
  holds?: (content: string) => boolean;
  notify?: string[];
}

/**
 * The newest apply generation, still in force (complete: neither rolled back nor failed), that wrote
 * the path. Rollback generations do not count: what they put back may be the host's own file.
 */
export function writtenByMailprov(generations: Generation[], path: string): Generation | undefined {
  return generations
    .filter((g) => g.kind === 'apply' && g.status === 'complete' && (g.files.includes(path) || g.kept.includes(path)))
    .at(-1);
}

/**
 * A file that must not exist: removed (and copied aside by the journal first, so a rollback puts it
 * back), its diff the masked text it removes. Its id is the file's (`file:<path>`): commands that
 * watch the file run when it goes, and a rollback that restores it rebuilds what derives from it.
 */
export function absentFile(opts: AbsentFileOptions): Resource {
  const id = fileId(opts.path);
  const mask = opts.mask ?? ((t: string) => t);
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    file: { path: opts.path, mask: opts.mask },
    facts: () => [fileFact.query(opts.path), ...(opts.onlyIfWritten ? [journalFact.query()] : [])],
    plan(facts: HostFacts): Change | NoChange {
      const current = facts.get(fileFact, opts.path);
      if (!current.exists) return { resourceId: id, reason: `${opts.path} does not exist` };
      const wrote = opts.onlyIfWritten ? writtenByMailprov(facts.get(journalFact, undefined).generations, opts.path) : undefined;
      if (opts.onlyIfWritten && !wrote) return { resourceId: id, reason: `${opts.path} was not written by mailprov: left as it is` };
      const before = current.type === 'file' ? (current.content ?? null) : null;
      // a file too large to read (no content) is not known to hold nothing: it goes
      if (opts.holds && before !== null && !opts.holds(before)) return { resourceId: id, reason: `${opts.path} holds nothing to remove` };
      return {
        resourceId: id,
        action: 'remove',
        summary: `remove ${opts.path}`,
        reason: wrote ? `mailprov wrote it (generation ${wrote.id}) and the inventory no longer asks for it` : 'it must not exist',
        diff: {
          path: opts.path,
          before: before === null ? null : mask(before),
          after: null,
          masked: opts.mask !== undefined,
          secretChanged: false,
          meta: ['file removed'],
        },
        steps: [{ label: `remove ${opts.path}`, command: sh`rm -f ${opts.path}` }],
        files: [{ path: opts.path, sensitive: opts.mask !== undefined }],
        undo: [],
      };
    },
  };
}
