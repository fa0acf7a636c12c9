// The line-entries undo (issue 24, defect 5): a rollback of a file others edit too takes back only
// the entries mailprov wrote. The generated shell runs here under dash, on real files.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aliasEdits, editAliases } from '../../../playbooks/mail-aliases/edit.ts';
import { lineEntriesRecord, lineEntriesUndo, type LineEntriesRecord } from '../../../src/resources/line-entries.ts';
import { debianOs } from '../fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'mailprov-line-entries-'));
let n = 0;

/** Runs the record's first step (the file edit; the rebuild is newaliases) under dash; returns its stderr. */
function run(record: LineEntriesRecord): { stderr: string } {
  const [step] = lineEntriesUndo.steps(record, debianOs);
  const out = spawnSync('dash', ['-c', step.command], { input: step.stdin, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`exit ${out.status}: ${out.stderr}`);
  return { stderr: out.stderr };
}

/** A file with `before`, edited as mailAliases edits it, then changed by hand; the undo, run for real. */
function scenario(before: string | null, aliases: Record<string, string[]>, byHand: (text: string) => string) {
  const path = join(dir, `aliases-${++n}`);
  if (before !== null) writeFileSync(path, before, { mode: 0o640 });
  const record = lineEntriesUndo.parse(
    lineEntriesRecord({ path, ...aliasEdits(before, aliases), rebuild: 'newaliases' }),
  ) as LineEntriesRecord;
  const applied = editAliases(before, aliases);
  writeFileSync(path, byHand(applied));
  const { stderr } = run(record);
  return { path, record, after: existsSync(path) ? readFileSync(path, 'utf8') : null, stderr };
}

const STOCK = '# See man 5 aliases for format\npostmaster:    root\n';

describe('line-entries undo of mailAliases', () => {
  it('removes the alias mailprov added and keeps the one an admin added since', () => {
    const { after } = scenario(STOCK, { root: ['ops@example.org'] }, (t) => `${t}backup: \\root, /var/backups/mail\n`);
    expect(after).toBe(`${STOCK}backup: \\root, /var/backups/mail\n`);
  });

  it('puts back the old entry (continuation lines and the later duplicates it removed) where mailprov replaced it', () => {
    const before = '# head\nroot: admin,\n\tother\nwww: root\nROOT: second\n';
    const { after } = scenario(before, { root: ['ops@example.org'] }, (t) => t.replace('www: root\n', 'www: root\ncron: root\n'));
    expect(after).toBe('# head\nroot: admin,\n\tother\nROOT: second\nwww: root\ncron: root\n');
  });

  it('leaves an entry that was edited since mailprov wrote it, and says so', () => {
    const { after, stderr } = scenario(STOCK, { root: ['ops@example.org'] }, (t) =>
      t.replace('root: ops@example.org', 'root: someone@example.org'),
    );
    expect(after).toBe(`${STOCK}root: someone@example.org\n`);
    expect(stderr).toContain('left as it is (edited since mailprov wrote it): root: ops@example.org');
  });

  it('leaves an entry someone continued on the next line (it is theirs now)', () => {
    const { after } = scenario(STOCK, { root: ['ops@example.org'] }, (t) =>
      t.replace('root: ops@example.org\n', 'root: ops@example.org,\n  more@example.org\n'),
    );
    expect(after).toBe(`${STOCK}root: ops@example.org,\n  more@example.org\n`);
  });

  it("removes a file mailprov created when nothing else is in it, and keeps it with the others' entries otherwise", () => {
    expect(scenario(null, { root: ['ops@example.org'] }, (t) => t).after).toBeNull();
    const kept = scenario(null, { root: ['ops@example.org'] }, (t) => `${t}backup: root\n`);
    expect(kept.after).toBe('backup: root\n');
  });

  it('keeps owner, mode and a last line without a line break', () => {
    const { path, after } = scenario('postmaster: root', { root: ['ops@example.org'] }, (t) => t);
    expect(after).toBe('postmaster: root\n'); // editAliases added the break before appending; the entry goes
    chmodSync(path, 0o640);
    writeFileSync(path, 'postmaster: root\nroot: ops@example.org\nlast: x');
    run(
      lineEntriesUndo.parse(
        lineEntriesRecord({ path, created: false, entries: [{ wrote: ['root: ops@example.org'], before: [] }] }),
      ) as LineEntriesRecord,
    );
    expect(readFileSync(path, 'utf8')).toBe('postmaster: root\nlast: x');
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('is undone in turn by its inverse (a rollback of the rollback writes the entries again)', () => {
    const { path, record } = scenario(STOCK, { root: ['ops@example.org'] }, (t) => t);
    expect(readFileSync(path, 'utf8')).toBe(STOCK);
    run(lineEntriesUndo.parse(lineEntriesUndo.inverse(record)) as LineEntriesRecord);
    expect(readFileSync(path, 'utf8')).toBe(`${STOCK}root: ops@example.org\n`);
  });

  it('says what it will do, for the rollback plan, and runs newaliases after', () => {
    const rec = lineEntriesUndo.parse(
      lineEntriesRecord({
        path: '/etc/aliases',
        ...aliasEdits('root: admin\n', { root: ['ops@example.org'], www: ['root'] }),
        rebuild: 'newaliases',
      }),
    ) as LineEntriesRecord;
    expect(lineEntriesUndo.describe(rec)).toBe(
      '~ /etc/aliases: "root: ops@example.org" back to "root: admin"\n- /etc/aliases: remove "www: root"\n  then newaliases',
    );
    expect(lineEntriesUndo.steps(rec, debianOs).map((s) => s.label)).toEqual(['take back 2 entries of /etc/aliases', 'newaliases']);
  });

  it('refuses a record from the host that is not one (a line break in a line, a rebuild that is a command)', () => {
    expect(() => lineEntriesUndo.parse({ kind: 'line-entries', path: '/etc/aliases', entries: [{ wrote: ['a\nb'], before: [] }] })).toThrow(
      /not valid/,
    );
    expect(() => lineEntriesUndo.parse({ kind: 'line-entries', path: '/etc/aliases', entries: [], rebuild: 'rm -rf /' })).toThrow(
      /not valid/,
    );
  });
});
