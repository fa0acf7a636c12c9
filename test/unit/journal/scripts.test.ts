// The journal's shell scripts, run for real under dash and bash in a temp folder: backup before a
// change (fail-stop), restore, the journal fact, meta.json writes. No root, no sandbox host.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJournal } from '../../../src/journal/records.ts';
import {
  backupCommand,
  genDir,
  journalFactScript,
  parseRestored,
  restoreFilesCommand,
  writeMetaCommand,
} from '../../../src/journal/scripts.ts';

const shells = ['/bin/dash', '/bin/bash'];
const run = (shell: string, script: string, input?: string) => spawnSync(shell, ['-c', script], { input, encoding: 'utf8' });

describe.each(shells)('journal scripts under %s', (shell) => {
  const setup = () => {
    const root = mkdtempSync(join(tmpdir(), 'journal-'));
    const etc = join(root, "etc dir/it's");
    mkdirSync(etc, { recursive: true });
    return { root, gens: join(root, 'generations'), etc };
  };

  it('backs up a file before its first write, notes an absent one, and restores both', () => {
    const { gens, etc } = setup();
    const dir = genDir(1, gens);
    const present = join(etc, 'a $x.conf');
    const absent = join(etc, 'new.conf');
    writeFileSync(present, 'old\n', { mode: 0o640 });
    expect(run(shell, writeMetaCommand(dir), '{"id":1}\n').status).toBe(0);
    expect(run(shell, backupCommand(dir, [present, absent])).status).toBe(0);
    // a second backup in the same generation keeps the first copy (the state before the generation)
    writeFileSync(present, 'newer\n');
    writeFileSync(absent, 'created\n');
    expect(run(shell, backupCommand(dir, [present, absent])).status).toBe(0);
    expect(readFileSync(join(dir, 'files', present), 'utf8')).toBe('old\n');

    const r = run(shell, restoreFilesCommand(dir, [present, absent]));
    expect(r.status).toBe(0);
    expect(parseRestored(r.stdout).sort()).toEqual([absent, present].sort());
    expect(readFileSync(present, 'utf8')).toBe('old\n');
    expect(existsSync(absent)).toBe(false);
    expect(execFileSync('stat', ['-c', '%a', present]).toString().trim()).toBe('640');
    // restoring again finds nothing to do
    expect(parseRestored(run(shell, restoreFilesCommand(dir, [present, absent])).stdout)).toEqual([]);
  });

  it('stops before the change when the backup cannot be written (read-only journal)', () => {
    if (process.getuid?.() === 0) {
      // root ignores file modes: make the copy fail by putting a file where the folder must go
      const { gens, etc } = setup();
      const dir = genDir(1, gens);
      const f = join(etc, 'x.conf');
      writeFileSync(f, 'old\n');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'files'), 'not a folder');
      const change = `${backupCommand(dir, [f])}\necho changed > ${JSON.stringify(f)}`;
      const r = run(shell, change);
      expect(r.status).toBe(97);
      expect(r.stderr).toMatch(/cannot back up into .* the change was not made/);
      expect(readFileSync(f, 'utf8')).toBe('old\n');
      // an absent file whose note cannot be written stops the change too
      const g = join(etc, 'absent.conf');
      chmodSync(dir, 0o500);
      writeFileSync(join(dir, 'absent'), '');
      execFileSync('chattr', ['+i', join(dir, 'absent')], { stdio: 'ignore' });
      try {
        const r2 = run(shell, `${backupCommand(dir, [g])}\necho created > ${JSON.stringify(g)}`);
        expect(r2.status).toBe(97);
        expect(existsSync(g)).toBe(false);
      } finally {
        execFileSync('chattr', ['-i', join(dir, 'absent')], { stdio: 'ignore' });
      }
    }
  });

  it('lists every generation with its folder, and a damaged record is reported, not fatal', () => {
    const { gens } = setup();
    for (const id of [1, 2, 3]) mkdirSync(genDir(id, gens), { recursive: true });
    const good = {
      id: 1,
      kind: 'apply',
      status: 'complete',
      startedAt: 'x',
      by: 'me',
      inventory: 'inv.ts',
      summary: ['a'],
      files: ['/etc/a'],
    };
    writeFileSync(join(genDir(1, gens), 'meta.json'), JSON.stringify(good, null, 1));
    writeFileSync(join(genDir(2, gens), 'meta.json'), '{"id": 2, "kind": "ap');
    writeFileSync(join(genDir(3, gens), 'meta.json'), JSON.stringify({ ...good, id: 3, files: ['relative; rm -rf /'] }));
    const r = run(shell, journalFactScript(gens));
    expect(r.status).toBe(0);
    const { generations, unreadable } = parseJournal(r.stdout);
    expect(generations.map((g) => g.id)).toEqual([1]);
    expect(generations[0]).toMatchObject({ sensitive: [], undo: [], kept: [] });
    expect(unreadable.map((u) => u.dir)).toEqual(['2', '3']);
    expect(unreadable[0].problem).toMatch(/not valid JSON/);
    expect(unreadable[1].problem).toMatch(/files\.0: an absolute path/);
  });
});

describe('parseJournal', () => {
  it('reads a record of an older mailprov as undo records of the kinds that own them', () => {
    const legacy = {
      id: 4,
      kind: 'apply',
      status: 'complete',
      startedAt: 'x',
      by: 'me',
      inventory: 'i',
      summary: [],
      files: [],
      sensitive: [],
      packageManager: 'apt',
      packagesInstalled: ['sendmail'],
      packagesRemoved: [],
      rulesAdded: [{ chain: 'INPUT', rule: '-p tcp --dport 25 -j ACCEPT' }],
      rulesRemoved: [],
    };
    const { generations } = parseJournal(`4\t${JSON.stringify(legacy)}\n`);
    expect(generations[0].undo).toEqual([
      { kind: 'packages', manager: 'apt', installed: ['sendmail'] },
      { kind: 'iptables-rule', chain: 'INPUT', rule: '-p tcp --dport 25 -j ACCEPT', added: true, marked: false },
    ]);
  });

  it('refuses a record whose id is not its folder', () => {
    const rec = { id: 9, kind: 'apply', status: 'complete', startedAt: 'x', by: 'me', inventory: 'i', summary: [], files: [] };
    expect(parseJournal(`2\t${JSON.stringify(rec)}\n`).unreadable[0].problem).toMatch(/claims generation 9/);
  });
});
