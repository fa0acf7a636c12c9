// Pure editing of /etc/aliases: the entries for the managed names are put in place, everything else
// (other entries, comments, blank lines, continuation lines of other entries) is kept byte for byte.
// The file is read as sendmail's readaliases() reads it (alias.c): a line ending in a backslash goes
// on in the next line; an entry goes on in the lines that follow it starting with a space or a tab;
// lines starting with '#' and empty lines are comments; alias names are folded to lower case.

/** A run of whole lines of the file (each with its own line break, if it has one). */
export type Block = { kind: 'entry'; name: string; rhs: string; lines: string[]; line: number } | { kind: 'other'; lines: string[] };

/** The header and required aliases of an /etc/aliases that did not exist (as sendmail's own example has them). */
export const NEW_FILE_HEADER = [
  '# Mail aliases: created by mailprov (mailAliases), which manages only the entries it is given.',
  '# Run newaliases after editing this file.',
];
const REQUIRED: [string, string][] = [
  ['postmaster', 'root'],
  ['MAILER-DAEMON', 'postmaster'],
];

/** The file's lines, each keeping its line break: joined, they are the file again. */
export function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

const bare = (line: string) => line.replace(/\n$/, '');
const continues = (line: string | undefined) => line !== undefined && (line.startsWith(' ') || line.startsWith('\t'));

/** Splits the file into entries (with their continuation lines) and everything else. */
export function parseAliases(text: string): Block[] {
  const lines = splitLines(text);
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    let end = i;
    let logical = bare(lines[i]);
    // a backslash at the end of a line joins the next line to it, before anything else is read
    while (logical.endsWith('\\') && end + 1 < lines.length) {
      end++;
      logical = logical.slice(0, -1) + bare(lines[end]);
    }
    // comments, blank lines, and stray continuation lines (sendmail complains of them and skips them)
    if (logical === '' || logical.startsWith('#') || continues(logical)) {
      blocks.push({ kind: 'other', lines: lines.slice(i, end + 1) });
      i = end + 1;
      continue;
    }
    while (continues(lines[end + 1])) {
      end++;
      logical += bare(lines[end]);
    }
    const taken = lines.slice(i, end + 1);
    const colon = logical.indexOf(':');
    if (colon < 0) blocks.push({ kind: 'other', lines: taken });
    else blocks.push({ kind: 'entry', name: logical.slice(0, colon).trim(), rhs: logical.slice(colon + 1), lines: taken, line: i + 1 });
    i = end + 1;
  }
  return blocks;
}

/** The targets of a right-hand side: split at commas outside double quotes, trimmed, empties dropped. */
export function splitTargets(rhs: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of rhs) {
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  out.push(current);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

/** A target as written in the file: a program is quoted, as its arguments may hold spaces and commas. */
export const writtenTarget = (target: string) => (target.startsWith('|') ? `"${target}"` : target);

export function renderAlias(name: string, targets: string[]): string {
  return `${name}: ${targets.map(writtenTarget).join(', ')}\n`;
}

/** Whether a right-hand side (from the file, or from sendmail's database) says what the settings say, however spaced. */
export function rhsMatches(rhs: string, targets: string[]): boolean {
  const have = splitTargets(rhs);
  const want = targets.map(writtenTarget);
  return have.length === want.length && have.every((t, i) => t === want[i]);
}

/**
 * The file with the managed aliases in place: an entry of the same name (any case) that says
 * something else is replaced where it stands, continuation lines included; later entries of that
 * name are removed (sendmail would warn of them); a name the file lacks is appended. An entry that
 * already says the same, however spaced, is left as it is. `current` null: the file does not exist.
 */
export function editAliases(current: string | null, aliases: Record<string, string[]>): string {
  if (current === null) return newFile(aliases);
  const wanted = new Map(Object.entries(aliases).map(([name, targets]) => [name.toLowerCase(), { name, targets }]));
  const placed = new Set<string>();
  let out = '';
  for (const block of parseAliases(current)) {
    const want = block.kind === 'entry' ? wanted.get(block.name.toLowerCase()) : undefined;
    if (!want) {
      out += block.lines.join('');
      continue;
    }
    const key = want.name.toLowerCase();
    if (placed.has(key)) continue; // a later entry of a managed name
    placed.add(key);
    out += block.kind === 'entry' && rhsMatches(block.rhs, want.targets) ? block.lines.join('') : renderAlias(want.name, want.targets);
  }
  const missing = [...wanted.entries()].filter(([key]) => !placed.has(key)).map(([, w]) => renderAlias(w.name, w.targets));
  if (!missing.length) return out;
  return (out === '' || out.endsWith('\n') ? out : `${out}\n`) + missing.join('');
}

/** A new file: a header, the aliases sendmail's own example starts with (unless given), then the managed ones. */
function newFile(aliases: Record<string, string[]>): string {
  const given = new Set(Object.keys(aliases).map((n) => n.toLowerCase()));
  const required = REQUIRED.filter(([name]) => !given.has(name.toLowerCase())).map(([name, target]) => renderAlias(name, [target]));
  const managed = Object.entries(aliases).map(([name, targets]) => renderAlias(name, targets));
  return [...NEW_FILE_HEADER.map((l) => `${l}\n`), ...required, ...managed].join('');
}

/** Managed names the file holds more than once, with the lines of their entries (all but the first are removed). */
export function duplicateEntries(text: string, names: string[]): { name: string; lines: number[] }[] {
  const entries = parseAliases(text).filter((b) => b.kind === 'entry');
  return names.flatMap((name) => {
    const lines = entries.filter((e) => e.name.toLowerCase() === name.toLowerCase()).map((e) => e.line);
    return lines.length > 1 ? [{ name, lines }] : [];
  });
}

/** What editAliases changed, entry by entry, for the undo record (see lineEntriesRecord in mailprov). */
export interface AliasEdits {
  created: boolean;
  /** Lines without their line breaks: what was written, and what stood there before (none: added). */
  entries: { wrote: string[]; before: string[] }[];
}

/**
 * The entries editAliases(current, aliases) writes, with what stood there before, so that a
 * rollback takes back exactly those and leaves every other line as it is then. A replaced entry
 * gets back its old lines, and the later entries of its name that the edit removed come back right
 * after it. A new file is all mailprov's: each of its lines is an entry of its own, so that lines
 * others add in between do not keep the rest from going, and the file goes once nothing else is in it.
 */
export function aliasEdits(current: string | null, aliases: Record<string, string[]>): AliasEdits {
  if (current === null) return { created: true, entries: splitLines(newFile(aliases)).map((l) => ({ wrote: [bare(l)], before: [] })) };
  const blocks = parseAliases(current).filter((b) => b.kind === 'entry');
  const entries: AliasEdits['entries'] = [];
  for (const [name, targets] of Object.entries(aliases)) {
    const [first, ...later] = blocks.filter((b) => b.name.toLowerCase() === name.toLowerCase());
    const rendered = bare(renderAlias(name, targets));
    if (!first) {
      entries.push({ wrote: [rendered], before: [] });
      continue;
    }
    const old = [first, ...later].flatMap((b) => b.lines.map(bare));
    if (!rhsMatches(first.rhs, targets)) entries.push({ wrote: [rendered], before: old });
    else if (later.length) entries.push({ wrote: first.lines.map(bare), before: old });
  }
  return { created: false, entries };
}
