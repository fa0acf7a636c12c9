// The journal's shell: every script the journal runs on a host, as pure functions of their inputs
// (unit-tested under dash and bash in a temp folder: see test/unit/journal/scripts.test.ts). Every
// value is quoted with sh``; ids are integers from validated records.
import { sh } from '../transport/quote.ts';

export const JOURNAL_DIR = '/var/lib/mailprov';
export const GENERATIONS_DIR = `${JOURNAL_DIR}/generations`;

export function genDir(id: number, root = GENERATIONS_DIR): string {
  if (!Number.isInteger(id) || id < 1) throw new TypeError(`not a generation id: ${id}`);
  return `${root}/${id}`;
}

/** Prints "<folder>\t<meta.json on one line>" for every generation folder. */
export function journalFactScript(root = GENERATIONS_DIR): string {
  return sh`for f in ${root}/*/meta.json; do [ -f "$f" ] || continue; d=\${f%/meta.json}; printf '%s\\t' "\${d##*/}"; tr -d '\\n' < "$f"; echo; done; true`;
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

/** Restores files, newest write first: the copy back, or removal where the file was absent. Prints what it did. */
export function restoreFilesCommand(dir: string, files: string[]): string {
  const lines = ['set -e'];
  for (const path of [...files].reverse()) {
    const copy = `${dir}/files${path}`;
    lines.push(
      // identical content, owner and mode: nothing to restore, and nothing to rebuild or restart
      sh`if [ -f ${copy} ] && [ -f ${path} ] && cmp -s ${copy} ${path} && [ "$(stat -c %a:%U:%G ${copy})" = "$(stat -c %a:%U:%G ${path})" ]; then :;`,
      // touched after the copy: make rebuilds from sources newer than their targets, and the
      // copy's old mtime would make `make` keep the sendmail.cf being rolled back
      sh`elif [ -e ${copy} ] || [ -L ${copy} ]; then cp -a ${copy} ${`${path}.mailprov-restore`} && touch ${`${path}.mailprov-restore`} && mv -f ${`${path}.mailprov-restore`} ${path}; echo ${`restored ${path}`};`,
      sh`elif grep -qxF ${path} ${`${dir}/absent`} 2>/dev/null && { [ -e ${path} ] || [ -L ${path} ]; }; then rm -f ${path}; echo ${`removed ${path}`}; fi`,
    );
  }
  return lines.join('\n');
}

/** Reads what restoreFilesCommand printed: the files it put back or removed. */
export function parseRestored(output: string): string[] {
  return output.split('\n').flatMap((line) => {
    const m = /^(restored|removed) (\/.*)$/.exec(line);
    return m ? [m[2]] : [];
  });
}
