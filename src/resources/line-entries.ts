// Undo of edits to a file that others edit too (/etc/aliases): instead of putting the whole saved
// copy back, which would throw away what an admin or a package added since, a rollback takes back
// only the entries the resource wrote. Each entry is the exact lines the resource wrote and the
// lines that stood there before (none for an entry it added). An entry is an entry as aliases-like
// files have them: it starts a line (the previous one does not end in a backslash) and is not
// continued (the next line does not start with a space or a tab, its last does not end in one).
// An entry whose lines were edited since is someone else's now: it is left as it is, and said.
import { z } from 'zod';
import { sh } from '../transport/quote.ts';
import { script } from '../transport/script.ts';
import type { UndoRecord } from '../journal/records.ts';
import { parseRecord } from './undo-record.ts';
import type { Step, UndoHandler } from './types.ts';

const line = z.string().regex(/^[^\n]*$/, 'one line, without its line break');

const lineEntriesSchema = z.object({
  kind: z.literal('line-entries'),
  path: z.string().regex(/^\/[^\0\n]*$/, 'an absolute path'),
  /** In the order they were written; undone in that order (they do not overlap). */
  entries: z.array(z.object({ wrote: z.array(line), before: z.array(line) })),
  /** The file did not exist before: once nothing but blank lines is left, it is removed. */
  created: z.boolean().default(false),
  /** What rebuilds the file's database afterwards: a closed list, never a command from the host. */
  rebuild: z.enum(['newaliases']).optional(),
});

export type LineEntriesRecord = z.infer<typeof lineEntriesSchema>;

/** The undo record of a resource that wrote entries into a shared file (checked as the host's records are). */
export function lineEntriesRecord(record: Omit<LineEntriesRecord, 'kind'>): UndoRecord {
  return parseRecord(lineEntriesSchema, { kind: 'line-entries', ...record }) as UndoRecord;
}

/**
 * The awk half: reads the entries (stdin, one tagged line each: W wrote, B before, E end of
 * entry), then the file, and prints the file with each entry's written lines replaced by its
 * previous ones; an entry that wrote nothing appends its lines. Entries it could not find are
 * named on stderr. `created`: nothing but blank lines left prints nothing at all.
 */
const AWK = String.raw`
BEGIN {
  n = 1
  while ((getline l < "/dev/stdin") > 0) {
    t = substr(l, 1, 1); v = substr(l, 2)
    if (t == "W") w[n, ++nw[n]] = v
    else if (t == "B") b[n, ++nb[n]] = v
    else if (t == "E") n++
  }
  n--
}
{ L[++N] = $0 }
END {
  for (k = 1; k <= n; k++) {
    if (nw[k] == 0) { appended[++na] = k; continue }
    found = 0
    for (i = 1; i + nw[k] - 1 <= N && !found; i++) {
      if (i > 1 && L[i - 1] ~ /\\$/) continue
      ok = 1
      for (j = 1; j <= nw[k] && ok; j++) if (claimed[i + j - 1] || L[i + j - 1] != w[k, j]) ok = 0
      last = i + nw[k] - 1
      if (ok && (L[last] ~ /\\$/ || (last < N && L[last + 1] ~ /^[ \t]/))) ok = 0
      if (ok) { found = 1; at[i] = k; for (j = 0; j < nw[k]; j++) claimed[i + j] = 1 }
    }
    if (!found) printf "left as it is (edited since mailprov wrote it): %s\n", w[k, 1] > "/dev/stderr"
  }
  out = 0
  for (i = 1; i <= N; i++) {
    if (i in at) { k = at[i]; for (j = 1; j <= nb[k]; j++) O[++out] = b[k, j]; continue }
    if (claimed[i]) continue
    O[++out] = L[i]; from[out] = i
  }
  for (a = 1; a <= na; a++) { k = appended[a]; for (j = 1; j <= nb[k]; j++) O[++out] = b[k, j] }
  if (created) { blank = 1; for (i = 1; i <= out; i++) if (O[i] !~ /^[ \t]*$/) blank = 0; if (blank) exit }
  # the file's own last line keeps its lack of a line break, if it had none
  for (i = 1; i <= out; i++) printf "%s%s", O[i], (i < out || finalnl || from[i] != N ? "\n" : "")
}`;

/** The data the awk program reads on stdin. */
export function lineEntriesInput(entries: LineEntriesRecord['entries']): string {
  return entries.map((e) => [...e.wrote.map((l) => `W${l}\n`), ...e.before.map((l) => `B${l}\n`), 'E\n'].join('')).join('');
}

/** The shell that rewrites the file in place of the old one, owner and mode kept (0644 root for a new one). */
export function lineEntriesCommand(r: LineEntriesRecord): string {
  const f = r.path;
  const dir = f.replace(/\/[^/]*$/, '') || '/';
  return script([
    sh`f=${f}`,
    // nothing to take back from a file that is gone, unless entries are to be put back in it
    ...(r.entries.some((e) => e.wrote.length === 0 && e.before.length > 0) ? [] : ['[ -e "$f" ] || exit 0']),
    sh`tmp=$(mktemp ${`${dir}/.mailprov-entries.XXXXXX`})`,
    `trap 'rm -f "$tmp"' EXIT`,
    'if [ -e "$f" ]; then src="$f"; finalnl=$(tail -c 1 "$f" | wc -l); else src=/dev/null; finalnl=1; fi',
    `awk -v created=${r.created ? 1 : 0} -v finalnl="$finalnl" ${sh`${AWK}`} "$src" > "$tmp"`,
    `if [ ${r.created ? 1 : 0} = 1 ] && [ ! -s "$tmp" ]; then rm -f "$f"; echo "$f removed: mailprov created it and nothing else is in it"; exit 0; fi`,
    'if [ -e "$f" ]; then chown --reference="$f" "$tmp" && chmod --reference="$f" "$tmp"; else chown root:root "$tmp" && chmod 0644 "$tmp"; fi',
    'mv -f "$tmp" "$f"',
    'trap - EXIT',
    // a file moved into place keeps the label of the temp file (RHEL, SELinux)
    'if command -v restorecon >/dev/null 2>&1; then restorecon "$f" 2>/dev/null || true; fi',
  ]);
}

const REBUILD: Record<NonNullable<LineEntriesRecord['rebuild']>, Step> = {
  newaliases: {
    label: 'newaliases',
    command: 'if command -v newaliases >/dev/null 2>&1 && [ -f /etc/aliases ]; then newaliases; fi',
  },
};

const first = (lines: string[]) => (lines.length ? JSON.stringify(lines[0]) : 'nothing');

export const lineEntriesUndo: UndoHandler<LineEntriesRecord> = {
  kind: 'line-entries',
  parse: (record) => parseRecord(lineEntriesSchema, record),
  steps: (r) => [
    {
      label: `take back ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'} of ${r.path}`,
      command: lineEntriesCommand(r),
      stdin: lineEntriesInput(r.entries),
    },
    ...(r.rebuild ? [REBUILD[r.rebuild]] : []),
  ],
  // undoing the undo writes the entries again where their previous lines stand, or appends them
  inverse: (r) => ({ ...r, created: false, entries: r.entries.map((e) => ({ wrote: e.before, before: e.wrote })) }),
  describe: (r) =>
    r.entries
      .map((e) =>
        e.before.length === 0
          ? `- ${r.path}: remove ${first(e.wrote)}${e.wrote.length > 1 ? ` (+${e.wrote.length - 1} line(s))` : ''}`
          : e.wrote.length === 0
            ? `+ ${r.path}: put back ${first(e.before)}`
            : `~ ${r.path}: ${first(e.wrote)} back to ${first(e.before)}`,
      )
      .concat(r.created ? [`  ${r.path} is removed if nothing else is left in it`] : [], r.rebuild ? [`  then ${r.rebuild}`] : [])
      .join('\n'),
};
