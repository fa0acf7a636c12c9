// The sandbox runs as root and `down` stops the processes its state names: whoever can write that
// state chooses what root kills. So the folder and its state files must be root's alone (owned by the
// user running mailprov, which is root, mode 0700 and 0600), checked before every use. A folder
// someone else owns, even an empty one in /tmp (the default ./.sandbox run from there), is refused.
import { lstatSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { SandboxError } from '../errors.ts';

/** The files of a sandbox that say what `down` stops: state.json and the process log. */
export const STATE_FILES = ['state.json', 'processes.jsonl'] as const;

const mode = (st: Stats) => `0${(st.mode & 0o7777).toString(8).padStart(3, '0')}`;
const me = () => process.getuid?.() ?? 0;
const owner = (uid: number) => `uid ${uid}${uid === 0 ? ' (root)' : ''}`;

function lstat(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SandboxError(`${path}: cannot read its owner and mode (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * Checks a sandbox folder and its state files before any use; 'absent' when there is no folder.
 * Throws a SandboxError naming the path, its owner and mode, and why that is refused.
 */
export function checkSandboxFolder(dir: string): 'absent' | 'present' {
  const st = lstat(dir);
  if (!st) {
    checkParent(dir);
    return 'absent';
  }
  const refuse = (why: string) =>
    new SandboxError(
      `${dir} (owner ${owner(st.uid)}, mode ${mode(st)}): ${why}: refusing to use it as a sandbox folder, ` +
        `whose state says which processes root stops (a sandbox folder is ${owner(me())}'s alone, mode 0700)`,
    );
  if (st.isSymbolicLink()) throw refuse('a symbolic link, which whoever can change it points elsewhere');
  if (!st.isDirectory()) throw refuse('not a directory');
  if (st.uid !== me()) throw refuse(`owned by ${owner(st.uid)}, not by ${owner(me())} who runs mailprov`);
  if (st.mode & 0o077) throw refuse(`mode ${mode(st)} lets others read or change it`);
  checkParent(dir);
  for (const name of STATE_FILES) checkStateFile(join(dir, name));
  return 'present';
}

/** A state file, when there is one: a plain file of ours, mode 0600. */
export function checkStateFile(path: string): void {
  const st = lstat(path);
  if (!st) return;
  const refuse = (why: string) =>
    new SandboxError(
      `${path} (owner ${owner(st.uid)}, mode ${mode(st)}): ${why}: refusing to read it, since it says which processes root stops ` +
        `(a sandbox state file is ${owner(me())}'s alone, mode 0600)`,
    );
  if (!st.isFile()) throw refuse(st.isSymbolicLink() ? 'a symbolic link' : 'not a plain file');
  if (st.uid !== me()) throw refuse(`owned by ${owner(st.uid)}, not by ${owner(me())} who runs mailprov`);
  if (st.mode & 0o077) throw refuse(`mode ${mode(st)} lets others read or change it`);
}

/**
 * A folder in a parent that others may write, without the sticky bit (/tmp has it), can be renamed
 * away and replaced by theirs between two uses: refused, naming the parent.
 */
function checkParent(dir: string): void {
  const parent = dirname(dir);
  const st = lstat(parent);
  if (!st || parent === dir) return;
  if (st.mode & 0o002 && !(st.mode & 0o1000))
    throw new SandboxError(
      `${dir}: its folder ${parent} (owner ${owner(st.uid)}, mode ${mode(st)}) lets others replace it (writable by others, not sticky): ` +
        'refusing to use it as a sandbox folder; chmod go-w it, or choose another folder',
    );
}
