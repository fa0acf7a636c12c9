// The journal's shell: every script the journal runs on a host, as pure functions of their inputs
// (unit-tested under dash and bash in a temp folder: see test/unit/journal/scripts.test.ts). Every
// value is quoted with sh``; ids are integers from validated records.
import { sh } from '../transport/quote.ts';
import { script } from '../transport/script.ts';
import { PRUNED_MARK, type PrunedRecord } from './records.ts';

export const JOURNAL_DIR = '/var/lib/mailprov';
export const GENERATIONS_DIR = `${JOURNAL_DIR}/generations`;
/** One line per pruned generation (see records.ts, PrunedRecord). */
export const PRUNED_FILE = `${JOURNAL_DIR}/pruned`;

export function genDir(id: number, root = GENERATIONS_DIR): string {
  if (!Number.isInteger(id) || id < 1) throw new TypeError(`not a generation id: ${id}`);
  return `${root}/${id}`;
}

/**
 * Prints "<folder>\t<meta.json on one line>" for every generation folder, then "/pruned\t<line>"
 * for every line of the pruned list.
 */
export function journalFactScript(root = GENERATIONS_DIR, pruned = PRUNED_FILE): string {
  return [
    sh`for f in ${root}/*/meta.json; do [ -f "$f" ] || continue; d=\${f%/meta.json}; printf '%s\\t' "\${d##*/}"; tr -d '\\n' < "$f"; echo; done`,
    sh`if [ -f ${pruned} ]; then while IFS= read -r l || [ -n "$l" ]; do printf '%s\\t%s\\n' ${PRUNED_MARK} "$l"; done < ${pruned}; fi; true`,
  ].join('; ');
}

/** Writes a generation's meta.json (content on stdin) through a temp file and a rename. */
export function writeMetaCommand(dir: string): string {
  return sh`umask 077 && mkdir -p ${`${dir}/files`} && cat > ${`${dir}/meta.json.tmp`} && mv -f ${`${dir}/meta.json.tmp`} ${`${dir}/meta.json`}`;
}

/**
 * Copies files aside before their first write in this generation (or notes that they were absent).
 * Fail-stop: a copy goes to a temp file and is renamed, and if anything cannot be written (disk
 * full, read-only journal) the script exits 97 before the change it protects runs.
 */
export function backupCommand(dir: string, paths: string[]): string {
  const lines = ['if ! ('];
  for (const path of paths) {
    const copy = `${dir}/files${path}`;
    lines.push(
      sh`if [ ! -e ${copy} ] && ! grep -qxF ${path} ${`${dir}/absent`} 2>/dev/null; then`,
      sh`  if [ -e ${path} ] || [ -L ${path} ]; then mkdir -p "$(dirname ${copy})" && cp -a ${path} ${`${copy}.tmp`} && mv -f ${`${copy}.tmp`} ${copy};`,
      sh`  else printf '%s\\n' ${path} >> ${`${dir}/absent`}; fi || exit 1`,
      'fi',
    );
  }
  lines.push(
    sh`); then echo ${`mailprov: cannot back up into ${dir} (disk full or read-only?): the change was not made`} >&2; exit 97; fi`,
  );
  return lines.join('\n');
}

/**
 * Restores files in the order the generation wrote them: the copy back, or removal where the file
 * was absent. Each copy put back is touched, so the outputs of a generator (sendmail.cf, the .db
 * maps, written after their sources) come out newer than their sources, as they were: a `make` at
 * the next start (Debian's init script runs one) keeps them rather than rebuilding them from a
 * source that may never have built. Each file put back is compared with its copy. Prints what it
 * did, file by file, and stops at the first file it cannot put back (what it printed before is what
 * was restored; the rest was not).
 */
export function restoreFilesCommand(dir: string, files: string[]): string {
  const steps = files.map((path) => {
    const copy = `${dir}/files${path}`;
    const run = [
      // identical content, owner and mode: nothing to restore, and nothing to rebuild or restart
      sh`if [ -f ${copy} ] && [ -f ${path} ] && cmp -s ${copy} ${path} && [ "$(stat -c %a:%U:%G ${copy})" = "$(stat -c %a:%U:%G ${path})" ]; then :;`,
      // touched (see above); -T: a directory in the file's place is replaced or refused, never
      // moved into; a copy that is a directory (the host's own) is put back as one
      sh`elif [ -e ${copy} ] || [ -L ${copy} ]; then rm -f ${`${path}.mailprov-restore`} && cp -a ${copy} ${`${path}.mailprov-restore`} && touch ${`${path}.mailprov-restore`} && mv -fT ${`${path}.mailprov-restore`} ${path} && { [ -d ${copy} ] || cmp -s ${copy} ${path}; } && echo ${`restored ${path}`};`,
      sh`elif grep -qxF ${path} ${`${dir}/absent`} 2>/dev/null && { [ -e ${path} ] || [ -L ${path} ]; }; then rm -f ${path} && echo ${`removed ${path}`}; fi`,
    ].join('\n');
    return { run, name: `put back ${path}` };
  });
  return script(steps);
}

/** Reads what restoreFilesCommand printed: the files it put back or removed. */
export function parseRestored(output: string): string[] {
  return output.split('\n').flatMap((line) => {
    const m = /^(restored|removed) (\/.*)$/.exec(line);
    return m ? [m[2]] : [];
  });
}

/**
 * Deletes generation folders, each as one step the journal never sees half done: its line goes to
 * the pruned list first (a folder still there wins over its line, so a crash loses nothing), then
 * the folder is renamed out of the journal's sight and removed. Never fails: prints "pruned <id>"
 * or "prune-failed <id>" per generation, so that finishing a run is not undone by a prune.
 */
export function pruneCommand(records: PrunedRecord[], root = GENERATIONS_DIR, pruned = PRUNED_FILE): string {
  const lines = ['umask 077'];
  for (const r of records) {
    const dir = genDir(r.id, root);
    const gone = `${root}/.pruned-${r.id}`;
    const line = `${r.id}\t${r.status}\t${r.keep}\t${r.at}`;
    lines.push(
      sh`if [ -d ${dir} ]; then`,
      sh`  if rm -rf ${gone} && printf '%s\\n' ${line} >> ${pruned} && mv ${dir} ${gone} && rm -rf ${gone}; then echo ${`pruned ${r.id}`}; else echo ${`prune-failed ${r.id}`}; fi`,
      'fi',
    );
  }
  return lines.join('\n');
}

/** Reads what pruneCommand printed. */
export function parsePruneOutput(output: string): { pruned: number[]; failed: number[] } {
  const pruned: number[] = [];
  const failed: number[] = [];
  for (const line of output.split('\n')) {
    const m = /^(pruned|prune-failed) (\d+)$/.exec(line);
    if (m) (m[1] === 'pruned' ? pruned : failed).push(Number(m[2]));
  }
  return { pruned, failed };
}

/** Lists every saved copy in every generation, as "./<id>/files/<path>". */
export function copiesScript(root = GENERATIONS_DIR): string {
  return sh`cd ${root} 2>/dev/null && find . \\( -type f -o -type l \\) -print; true`;
}

/** Reads copiesScript's output: per generation id, the paths it holds a copy of (with ".tmp" leftovers). */
export function parseCopies(output: string): Map<number, Set<string>> {
  const copies = new Map<number, Set<string>>();
  for (const line of output.split('\n')) {
    const m = /^\.\/([1-9][0-9]*)\/files(\/.+)$/.exec(line);
    if (!m) continue;
    const id = Number(m[1]);
    if (!copies.has(id)) copies.set(id, new Set());
    copies.get(id)!.add(m[2]);
  }
  return copies;
}

/**
 * Removes saved copies from generations, recording it in each generation first: its new meta.json
 * is one line of stdin per generation, in order. The record is written before the copy goes, so a
 * rollback never meets a missing copy it was not told about. Prints "forgot <id> <path>" per copy
 * removed and "forget-failed <id> <path>" per copy it could not remove (or not record).
 */
export function forgetCommand(entries: { id: number; paths: string[] }[], root = GENERATIONS_DIR): string {
  const lines = ['umask 077'];
  for (const { id, paths } of entries) {
    const dir = genDir(id, root);
    const removals = paths.map((p) => {
      const copy = `${dir}/files${p}`;
      return sh`  if rm -f ${copy} ${`${copy}.tmp`}; then echo ${`forgot ${id} ${p}`}; else echo ${`forget-failed ${id} ${p}`}; fi`;
    });
    lines.push(
      sh`if IFS= read -r meta && printf '%s\\n' "$meta" > ${`${dir}/meta.json.tmp`} && mv -f ${`${dir}/meta.json.tmp`} ${`${dir}/meta.json`}; then`,
      ...removals,
      'else',
      ...paths.map((p) => sh`  echo ${`forget-failed ${id} ${p}`}`),
      'fi',
    );
  }
  return lines.join('\n');
}

/** Reads what forgetCommand printed. */
export function parseForgetOutput(output: string): { forgot: { id: number; path: string }[]; failed: { id: number; path: string }[] } {
  const forgot: { id: number; path: string }[] = [];
  const failed: { id: number; path: string }[] = [];
  for (const line of output.split('\n')) {
    const m = /^(forgot|forget-failed) (\d+) (\/.*)$/.exec(line);
    if (m) (m[1] === 'forgot' ? forgot : failed).push({ id: Number(m[2]), path: m[3] });
  }
  return { forgot, failed };
}
