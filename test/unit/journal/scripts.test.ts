// The journal's shell scripts, run for real under dash and bash in a temp folder: backup before a
// change (fail-stop), restore, the journal fact, meta.json writes, pruning, forgetting saved
// secrets. No root, no sandbox host.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJournal, type Generation } from '../../../src/journal/records.ts';
import { generation } from '../fixtures.ts';
import { choosePrune, planForget, withForgotten } from '../../../src/journal/retention.ts';
import {
  backupCommand,
  copiesScript,
  forgetCommand,
  genDir,
  journalFactScript,
  parseCopies,
  parseForgetOutput,
  parsePruneOutput,
  parseRestored,
  pruneCommand,
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
    // made to fail by what is in the way, not by file modes (which root ignores): the test runs as any user
    const { gens, etc } = setup();
    const dir = genDir(1, gens);
    const f = join(etc, 'x.conf');
    writeFileSync(f, 'old\n');
    mkdirSync(dir, { recursive: true });
    // a file where the copies' folder must go
    writeFileSync(join(dir, 'files'), 'not a folder');
    const r = run(shell, `${backupCommand(dir, [f])}\necho changed > ${JSON.stringify(f)}`);
    expect(r.status).toBe(97);
    expect(r.stderr).toMatch(/cannot back up into .* the change was not made/);
    expect(readFileSync(f, 'utf8')).toBe('old\n');
    // an absent file whose note cannot be written stops the change too: a folder where the notes go
    const g = join(etc, 'absent.conf');
    mkdirSync(join(dir, 'absent'));
    const r2 = run(shell, `${backupCommand(dir, [g])}\necho created > ${JSON.stringify(g)}`);
    expect(r2.status).toBe(97);
    expect(r2.stderr).toMatch(/cannot back up into .* the change was not made/);
    expect(existsSync(g)).toBe(false);
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

describe.each(shells)('retention scripts under %s', (shell) => {
  const gen = (id: number, over: Partial<Generation> = {}): Generation => generation(id, { summary: [`change ${id}`], ...over });
  /** A journal of generations 1..n, each holding copies of these files (content "<path> before <id>"). */
  const journalWith = (n: number, files: string[], over: (id: number) => Partial<Generation> = () => ({})) => {
    const root = mkdtempSync(join(tmpdir(), 'journal-'));
    const gens = join(root, 'generations');
    const pruned = join(root, 'pruned');
    const records = Array.from({ length: n }, (_, i) =>
      gen(i + 1, { files, sensitive: files.filter((f) => f.includes('auth')), ...over(i + 1) }),
    );
    for (const g of records) {
      const dir = genDir(g.id, gens);
      expect(run(shell, writeMetaCommand(dir), JSON.stringify(g, null, 1)).status).toBe(0);
      for (const f of files) {
        mkdirSync(join(dir, 'files', f, '..'), { recursive: true });
        writeFileSync(join(dir, 'files', f), `${f} before ${g.id}\n`);
      }
    }
    const read = () => parseJournal(run(shell, journalFactScript(gens, pruned)).stdout);
    return { root, gens, pruned, records, read };
  };

  it('prunes the oldest generations: folders gone, each remembered in the pruned list, ids never reused', () => {
    const j = journalWith(5, ['/etc/mail/authinfo', "/etc/it's a.conf"]);
    const doomed = choosePrune(j.read().generations, 3, '2026-01-01T00:00:00Z');
    expect(doomed.map((d) => d.id)).toEqual([1, 2]);
    const r = run(shell, pruneCommand(doomed, j.gens, j.pruned));
    expect(r.status).toBe(0);
    expect(parsePruneOutput(r.stdout)).toEqual({ pruned: [1, 2], failed: [] });
    expect(readdirSync(j.gens).sort()).toEqual(['3', '4', '5']);
    expect(readFileSync(j.pruned, 'utf8')).toBe('1\tcomplete\t3\t2026-01-01T00:00:00Z\n2\tcomplete\t3\t2026-01-01T00:00:00Z\n');
    const after = j.read();
    expect(after.generations.map((g) => g.id)).toEqual([3, 4, 5]);
    expect(after.pruned).toEqual([
      { id: 1, status: 'complete', keep: 3, at: '2026-01-01T00:00:00Z' },
      { id: 2, status: 'complete', keep: 3, at: '2026-01-01T00:00:00Z' },
    ]);
    expect(after.unreadable).toEqual([]);
    // pruning again finds nothing beyond the newest 3
    expect(choosePrune(after.generations, 3, 'x')).toEqual([]);
  });

  it('a prune that cannot write its list leaves the generation in place and says so, without failing', () => {
    const j = journalWith(2, ['/etc/a']);
    mkdirSync(j.pruned); // a folder where the list must go: the append fails
    const r = run(shell, pruneCommand(choosePrune(j.read().generations, 1, 'x'), j.gens, j.pruned));
    expect(r.status).toBe(0);
    expect(parsePruneOutput(r.stdout)).toEqual({ pruned: [], failed: [1] });
    expect(existsSync(genDir(1, j.gens))).toBe(true);
  });

  it('a folder still there wins over its pruned line (a prune interrupted between the two)', () => {
    const j = journalWith(2, ['/etc/a']);
    writeFileSync(j.pruned, '1\tcomplete\t1\tx\n1\tcomplete\t1\tx\nnot a line\n');
    const { generations, pruned, unreadable } = j.read();
    expect(generations.map((g) => g.id)).toEqual([1, 2]);
    expect(pruned).toEqual([]);
    expect(unreadable).toEqual([{ dir: 'pruned', problem: expect.stringMatching(/not "<id> <status> <keep> <time>"/) }]);
  });

  it('forgets the saved copies of sensitive files, recording it first in each generation, and keeps the others', () => {
    const auth = "/etc/mail/auth info's";
    const j = journalWith(3, [auth, '/etc/mail/access']);
    // a leftover of an interrupted backup, and an older record that did not list its sensitive files
    writeFileSync(join(genDir(2, j.gens), 'files', `${auth}.tmp`), 'partial\n');
    const legacy = { ...j.records[2], sensitive: [] };
    writeFileSync(join(genDir(3, j.gens), 'meta.json'), JSON.stringify(legacy));
    const copies = parseCopies(run(shell, copiesScript(j.gens)).stdout);
    expect([...copies.get(2)!].sort()).toEqual(['/etc/mail/access', auth, `${auth}.tmp`].sort());
    const entries = planForget(j.read().generations, copies, [auth]);
    expect(entries.map((e) => [e.generation.id, e.paths])).toEqual([
      [1, [auth]],
      [2, [auth]],
      [3, [auth]],
    ]);
    const metas = entries.map((e) => `${JSON.stringify(withForgotten(e.generation, e.paths, 'now'))}\n`).join('');
    const r = run(
      shell,
      forgetCommand(
        entries.map((e) => ({ id: e.generation.id, paths: e.paths })),
        j.gens,
      ),
      metas,
    );
    expect(r.status).toBe(0);
    expect(parseForgetOutput(r.stdout)).toEqual({ forgot: [1, 2, 3].map((id) => ({ id, path: auth })), failed: [] });
    const left = parseCopies(run(shell, copiesScript(j.gens)).stdout);
    for (const id of [1, 2, 3]) expect([...left.get(id)!]).toEqual(['/etc/mail/access']);
    const after = j.read();
    expect(after.unreadable).toEqual([]);
    expect(after.generations.map((g) => g.forgotten)).toEqual([1, 2, 3].map(() => [{ path: auth, at: 'now' }]));
    // nothing left to forget
    expect(planForget(after.generations, left, [auth])).toEqual([]);
  });

  it('removes no copy whose generation record could not be written', () => {
    const j = journalWith(1, ['/etc/mail/authinfo']);
    const entries = planForget(j.read().generations, parseCopies(run(shell, copiesScript(j.gens)).stdout));
    const r = run(shell, forgetCommand([{ id: 1, paths: entries[0].paths }], j.gens), ''); // no record on stdin
    expect(parseForgetOutput(r.stdout)).toEqual({ forgot: [], failed: [{ id: 1, path: '/etc/mail/authinfo' }] });
    expect(existsSync(join(genDir(1, j.gens), 'files/etc/mail/authinfo'))).toBe(true);
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
