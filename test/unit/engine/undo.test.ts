// Undoing generations (engine/undo.ts), its shell run for real under dash on files in a temporary
// folder (test/unit/local-host.ts): files put back as the oldest undone generation saved them, records
// undone newest first with the opt-ins applied, an undo that stops halfway recorded as such, the
// rebuild of what watches a restored file, the repair of a run left in progress, and the dry run's
// diffs read from the host's own backups. Which generations a rollback undoes is pure: tested on records.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  chooseUndo,
  describeUndo,
  forgottenFiles,
  planRollback,
  repairIncomplete,
  rollbackStart,
  undoGenerations,
  type UndoOptions,
} from '../../../src/engine/undo.ts';
import { GenerationPrunedError, OperationError } from '../../../src/errors.ts';
import type { BoundPlaybook } from '../../../src/inventory/load.ts';
import { HostJournal } from '../../../src/journal/journal.ts';
import { type Generation, remainingUndo, type UndoRecord } from '../../../src/journal/records.ts';
import { command } from '../../../src/resources/command.ts';
import { fileId } from '../../../src/resources/ids.ts';
import { lineEntriesRecord } from '../../../src/resources/line-entries.ts';
import type { Resource } from '../../../src/resources/types.ts';
import { commandRunner, type Runner } from '../../../src/transport/runner.ts';
import { debianOs, generation } from '../fixtures.ts';
import { localConnection } from '../local-host.ts';

let root: string;
let gens: string;
let log: string[];
let runner: Runner;
let journal: HostJournal;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'mp-undo-'));
  gens = join(root, 'generations');
  log = [];
  runner = commandRunner(localConnection(gens), (l) => log.push(l));
  journal = new HostJournal(runner, [], []);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const at = (name: string) => join(root, name);
const read = (name: string) => readFileSync(at(name), 'utf8');
const opts = (over: Partial<UndoOptions> = {}): UndoOptions => ({
  optIn: new Set(),
  os: debianOs,
  reason: 'rolled back by the test',
  by: 'the rollback',
  ...over,
});
const playbook = (...resources: Resource[]): BoundPlaybook => ({ name: 'test', parts: { resources } });
/** The generation's record as the journal wrote it on the "host". */
const onDisk = (gen: Generation): Generation => JSON.parse(readFileSync(join(gens, String(gen.id), 'meta.json'), 'utf8'));

/** An apply as the engine makes it: recorded, each file backed up, then written; complete unless told. */
async function apply(files: Record<string, string>, more: { undo?: UndoRecord[]; sensitive?: string[]; complete?: boolean } = {}) {
  const paths = Object.keys(files).map(at);
  const gen = await journal.begin({
    kind: 'apply',
    inventory: 'inv.ts',
    summary: [],
    files: paths,
    undo: more.undo,
    sensitive: more.sensitive,
  });
  await journal.backup(gen, paths);
  for (const [name, content] of Object.entries(files)) writeFileSync(at(name), content);
  if (more.complete !== false) await journal.finish(gen, 'complete');
  return gen;
}

/** A line-entries record: the apply added `line` to the file (no line stood there before). */
const added = (name: string, line: string) =>
  lineEntriesRecord({ path: at(name), entries: [{ wrote: [line], before: [] }], created: false });
const packagesRecord: UndoRecord = { kind: 'packages', manager: 'apt', installed: ['sendmail'] };

describe('undoGenerations', () => {
  it('puts each file back as the oldest undone generation saved it, removes what they created, and records each rolled back', async () => {
    writeFileSync(at('sendmail.mc'), 'v0\n');
    const first = await apply({ 'sendmail.mc': 'v1\n', authinfo: 'new\n' });
    const second = await apply({ 'sendmail.mc': 'v2\n' });
    const { undo } = chooseUndo(journal.generations, 0);
    expect(undo.map((g) => g.id)).toEqual([second.id, first.id]);

    const result = await undoGenerations(runner, journal, undo, [], opts());

    expect(read('sendmail.mc')).toBe('v0\n');
    expect(existsSync(at('authinfo'))).toBe(false);
    expect(result.restored.sort()).toEqual([at('authinfo'), at('sendmail.mc')]);
    expect(result.notRestored).toEqual([]);
    for (const gen of [first, second]) {
      expect(onDisk(gen)).toMatchObject({ status: 'rolled-back', reason: 'rolled back by the test', undone: [] });
    }
  });

  it('undoes records newest first, leaves an opt-in not given live, and records their inverse in the rollback generation', async () => {
    writeFileSync(at('aliases'), 'root: admin\n');
    writeFileSync(at('aliases'), 'root: admin\npostmaster: ops\nabuse: ops\n');
    const gen = await apply({}, { undo: [packagesRecord, added('aliases', 'postmaster: ops'), added('aliases', 'abuse: ops')] });
    const into = await journal.begin({ kind: 'rollback', inventory: 'inv.ts', summary: [], files: [at('aliases')], undid: [gen.id] });

    await undoGenerations(runner, journal, [gen], [], opts({ recordInto: into }));

    expect(read('aliases')).toBe('root: admin\n');
    // the packages record waits for --packages: still the generation's own, not undone
    expect(onDisk(gen).undone).toEqual([1, 2]);
    expect(remainingUndo(onDisk(gen)).map((r) => r.record)).toEqual([packagesRecord]);
    // the rollback generation saved the file as it was, and holds the inverse of each record it undid, last undone last
    expect(readFileSync(join(gens, String(into.id), 'files', at('aliases')), 'utf8')).toBe('root: admin\npostmaster: ops\nabuse: ops\n');
    expect(onDisk(into).undo).toEqual([
      lineEntriesRecord({ path: at('aliases'), entries: [{ wrote: [], before: ['abuse: ops'] }], created: false }),
      lineEntriesRecord({ path: at('aliases'), entries: [{ wrote: [], before: ['postmaster: ops'] }], created: false }),
    ]);
    // with --packages the record would be undone: it is one of the pending ones
    expect(
      describeUndo(
        remainingUndo(onDisk(gen)).map((r) => r.record),
        new Set(['packages']),
      ),
    ).toEqual(['- package sendmail']);
  });

  it('an undo that stops halfway records what it undid, leaves the rest to the generation, and says both', async () => {
    writeFileSync(at('aliases'), 'root: admin\nabuse: ops\n');
    // undone second: it puts a line back into a file whose folder is gone, which cannot be written
    const stuck = lineEntriesRecord({ path: at('gone/aliases'), entries: [{ wrote: [], before: ['x: y'] }], created: false });
    const gen = await apply({}, { undo: [stuck, added('aliases', 'abuse: ops')] });

    const err = await undoGenerations(runner, journal, [gen], [], opts()).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(OperationError);
    const text = (err as OperationError).message;
    expect(text).toContain(`the rollback of generation ${gen.id} stopped halfway`);
    expect(text).toContain(`records undone: - ${at('aliases')}: remove "abuse: ops"`);
    expect(text).toContain(
      `records still live, kept in generation ${gen.id} for the next rollback: + ${at('gone/aliases')}: put back "x: y"`,
    );
    expect(read('aliases')).toBe('root: admin\n');
    expect(onDisk(gen)).toMatchObject({ status: 'rollback-failed', undone: [1] });
    expect(remainingUndo(onDisk(gen)).map((r) => r.record)).toEqual([stuck]);
  });

  it('rebuilds what watches a restored file, and neither what watches another nor a generator whose outputs were put back', async () => {
    writeFileSync(at('access'), 'old\n');
    writeFileSync(at('sendmail.mc'), 'old mc\n');
    writeFileSync(at('sendmail.cf'), 'old cf\n');
    writeFileSync(at('aliases'), 'root: admin\n');
    const gen = await apply({ access: 'new\n', 'sendmail.mc': 'new mc\n', 'sendmail.cf': 'new cf\n' });
    const ran = at('ran');
    const makemap = command({ name: 'makemap access', run: `echo makemap >> '${ran}'`, onChangeOf: [fileId(at('access'))] });
    const newaliases = command({ name: 'newaliases', run: `echo newaliases >> '${ran}'`, onChangeOf: [fileId(at('aliases'))] });
    const make = command({
      name: 'make sendmail.cf',
      run: `echo make >> '${ran}'`,
      onChangeOf: [fileId(at('sendmail.mc'))],
      files: [{ path: at('sendmail.cf') }],
    });

    const result = await undoGenerations(runner, journal, [gen], [playbook(makemap, newaliases, make)], opts());

    expect(read('ran')).toBe('makemap\n');
    expect(result.rebuilt.map((c) => c.resourceId)).toEqual([makemap.id]);
    // make's output was saved and put back byte for byte: it is not run again
    expect(read('sendmail.cf')).toBe('old cf\n');
    expect(read('access')).toBe('old\n');
  });

  it('says the files were put back when what depends on them fails to rebuild', async () => {
    writeFileSync(at('access'), 'old\n');
    const gen = await apply({ access: 'new\n' });
    const broken = command({ name: 'makemap access', run: 'exit 3', onChangeOf: [fileId(at('access'))] });

    const err = await undoGenerations(runner, journal, [gen], [playbook(broken)], opts()).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(OperationError);
    expect((err as OperationError).message.split('\n')[0]).toBe(
      `the rollback of generation ${gen.id}: the files were put back (${at('access')}), but what depends on them failed to rebuild or restart`,
    );
    expect((err as OperationError).evidence).toEqual(['  local: rollback failed (exit 3): makemap access']);
    expect(read('access')).toBe('old\n');
    // the generation's own undo was done before the rebuild: it is recorded so
    expect(onDisk(gen).status).toBe('rolled-back');
  });

  it('leaves a file whose saved copy forget-secrets removed, and says so', async () => {
    writeFileSync(at('authinfo'), 'old secret\n');
    const gen = await apply({ authinfo: 'new secret\n' }, { sensitive: [at('authinfo')] });
    gen.forgotten = [{ path: at('authinfo'), at: '2026-12-07T00:00:00Z' }];

    const result = await undoGenerations(runner, journal, [gen], [], opts());

    expect(read('authinfo')).toBe('new secret\n');
    expect(result.notRestored).toEqual([{ path: at('authinfo'), generations: [gen.id] }]);
    expect(log).toContain(
      `${at('authinfo')}: not restored, its saved copy was removed by forget-secrets (generation ${gen.id}); the current file stays`,
    );
  });
});

/**
 * A rollback as `mailprov rollback` records it: a generation of its own that backs up the files it
 * puts back and keeps the inverse of each record it undoes; 'failed' when its undo stops.
 */
async function rollback(to?: number, optIn: ReadonlySet<string> = new Set()) {
  const plan = chooseUndo(journal.generations, to, journal.pruned, optIn);
  const gen = await journal.begin(rollbackStart(plan, 'inv.ts'));
  try {
    await undoGenerations(
      runner,
      journal,
      plan.undo,
      [],
      opts({ recordInto: gen, optIn, reason: `undone by generation ${gen.id}`, files: plan.files, closes: plan.closed }),
    );
  } catch (err) {
    await journal.finish(gen, 'failed', 'the rollback failed');
    throw err;
  }
  await journal.finish(gen, 'complete');
  return gen;
}

describe('rollback across rollback generations', () => {
  // an apply that puts a firewall-like rule in a file the journal does not back up (as iptables'
  // live rules): only the records take it back out
  const rule = (line: string) => lineEntriesRecord({ path: at('rules'), entries: [{ wrote: [line], before: [] }], created: false });
  const replace = (from: string, to: string) =>
    lineEntriesRecord({ path: at('rules'), entries: [{ wrote: [to], before: [from] }], created: false });
  const rules = () => read('rules');
  async function applyRules(content: string, undo: UndoRecord[], files: Record<string, string> = {}) {
    writeFileSync(at('rules'), content);
    return apply(files, { undo });
  }
  beforeEach(() => writeFileSync(at('rules'), 'policy\n'));

  it('apply, apply, rollback, rollback --to 0: what the first rollback undid stays undone', async () => {
    writeFileSync(at('sendmail.mc'), 'v0\n');
    await applyRules('policy\nallow /24\n', [rule('allow /24')], { 'sendmail.mc': 'v1\n' });
    // the second apply narrows the rule, and creates a file of its own
    await applyRules('policy\nallow /32\n', [replace('allow /24', 'allow /32')], { 'sendmail.mc': 'v2\n', mailertable: 'corp\n' });
    await rollback();
    expect([rules(), read('sendmail.mc'), existsSync(at('mailertable'))]).toEqual(['policy\nallow /24\n', 'v1\n', false]);

    await rollback(0);

    expect(rules()).toBe('policy\n');
    expect(read('sendmail.mc')).toBe('v0\n');
    expect(existsSync(at('mailertable'))).toBe(false);
  });

  it('apply, rollback, apply, rollback --to 0: the first apply is not put back', async () => {
    await applyRules('policy\nallow /24\n', [rule('allow /24')], { mailertable: 'corp\n' });
    await rollback();
    expect([rules(), existsSync(at('mailertable'))]).toEqual(['policy\n', false]);
    await applyRules('policy\nallow /16\n', [rule('allow /16')]);

    const plan = chooseUndo(journal.generations, 0, journal.pruned);
    expect([plan.undo.map((g) => g.id), plan.closed.map((g) => g.id)]).toEqual([[3], [2]]);
    const back = await rollback(0);

    expect(rules()).toBe('policy\n');
    expect(existsSync(at('mailertable'))).toBe(false);
    // the rollback of generation 1 went with it: neither is a state to return to any more
    expect(onDisk(journal.generations[1])).toMatchObject({ status: 'rolled-back' });
    expect(onDisk(back).undid).toEqual([3]);
  });

  it('a rollback of a rollback puts back exactly what it undid, and a rollback of that undoes it again', async () => {
    await applyRules('policy\nallow /24\n', [rule('allow /24')]);
    await applyRules('policy\nallow /32\n', [replace('allow /24', 'allow /32')], { mailertable: 'corp\n' });
    await rollback();
    expect(rules()).toBe('policy\nallow /24\n');

    const redo = await rollback();
    expect([rules(), read('mailertable')]).toEqual(['policy\nallow /32\n', 'corp\n']);
    expect(onDisk(redo).summary).toEqual(['roll back to generation 2: undo 3']);

    await rollback();
    expect([rules(), existsSync(at('mailertable'))]).toEqual(['policy\nallow /24\n', false]);

    await rollback(0);
    expect(rules()).toBe('policy\n');
    expect(existsSync(at('mailertable'))).toBe(false);
  });

  it('--to a generation that a later rollback already returned to has nothing to do', async () => {
    await applyRules('policy\nallow /24\n', [rule('allow /24')]);
    await applyRules('policy\nallow /32\n', [replace('allow /24', 'allow /32')]);
    await rollback();
    expect(() => chooseUndo(journal.generations, 1, journal.pruned)).toThrow(
      'nothing to roll back: the host is as it was after generation 1 (generation 3 undid every change since)',
    );
  });

  it('a rollback of a rollback that stopped halfway is finished by rollback --to 0, its half put back taken out again', async () => {
    mkdirSync(at('conf.d'));
    writeFileSync(at('conf.d/extra'), 'base\n');
    await applyRules('policy\nallow /24\n', [rule('allow /24')]);
    writeFileSync(at('conf.d/extra'), 'base\nextra\n');
    await applyRules('policy\nallow /32\n', [
      replace('allow /24', 'allow /32'),
      lineEntriesRecord({ path: at('conf.d/extra'), entries: [{ wrote: ['extra'], before: [] }], created: false }),
    ]);
    await rollback();
    expect([rules(), read('conf.d/extra')]).toEqual(['policy\nallow /24\n', 'base\n']);
    // the undo of that rollback puts the rule back, then cannot write into a folder that is gone
    rmSync(at('conf.d'), { recursive: true });
    const err = await rollback().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect(rules()).toBe('policy\nallow /32\n');
    expect(journal.generations.map((g) => [g.id, g.status])).toEqual([
      [1, 'complete'],
      [2, 'rolled-back'],
      [3, 'rollback-failed'],
      [4, 'failed'],
    ]);
    mkdirSync(at('conf.d'));
    writeFileSync(at('conf.d/extra'), 'base\n');

    await rollback(0);

    expect(rules()).toBe('policy\n');
    expect(read('conf.d/extra')).toBe('base\n');
  });

  it('a rollback past an older one whose undone generation was pruned takes nothing of it back', async () => {
    await applyRules('policy\nallow /24\n', [rule('allow /24')], { mailertable: 'corp\n' });
    await rollback();
    await applyRules('policy\nallow /16\n', [rule('allow /16')]);
    // pruned as keepGenerations=2 does it: the folder gone, a line in the pruned list
    rmSync(join(gens, '1'), { recursive: true });
    journal.generations.shift();
    journal.pruned.push({ id: 1, status: 'rolled-back', keep: 2, at: 't' });

    await rollback(0);

    expect(rules()).toBe('policy\n');
    expect(existsSync(at('mailertable'))).toBe(false);
  });
});

describe('repairIncomplete', () => {
  it('does nothing on a journal with nothing left in progress', async () => {
    await apply({ 'sendmail.mc': 'v1\n' });
    expect(await repairIncomplete(runner, journal, [], debianOs)).toBe(false);
    expect(read('sendmail.mc')).toBe('v1\n');
  });

  it('rolls back an apply left in progress, and records a rollback left in progress as failed without undoing it', async () => {
    writeFileSync(at('sendmail.mc'), 'v0\n');
    writeFileSync(at('access'), 'a0\n');
    await apply({ 'sendmail.mc': 'v1\n' });
    const cut = await apply({ 'sendmail.mc': 'v2\n' }, { complete: false });
    const rollback = await journal.begin({ kind: 'rollback', inventory: 'inv.ts', summary: [], files: [at('access')] });
    await journal.backup(rollback, [at('access')]);
    writeFileSync(at('access'), 'a1\n');

    expect(await repairIncomplete(runner, journal, [], debianOs)).toBe(true);

    expect(read('sendmail.mc')).toBe('v1\n');
    expect(onDisk(cut).status).toBe('rolled-back');
    // undoing a rollback would re-apply what the operator rolled back from
    expect(read('access')).toBe('a1\n');
    expect(onDisk(rollback)).toMatchObject({ status: 'failed' });
    expect(onDisk(rollback).reason).toMatch(/^left incomplete: /);
  });
});

describe('planRollback', () => {
  it('diffs each file against the copy the rollback would put back, masks secrets, and changes nothing', async () => {
    writeFileSync(at('sendmail.mc'), 'v0\n');
    writeFileSync(at('authinfo'), 'AuthInfo: "P:old"\n');
    writeFileSync(at('same'), 'same\n');
    await apply({ 'sendmail.mc': 'v1\n', created: 'made\n', same: 'same\n' });
    await apply({ 'sendmail.mc': 'v2\n', authinfo: 'AuthInfo: "P:new"\n' }, { sensitive: [at('authinfo')] });

    const plan = await planRollback(runner, journal.generations, [], 0, new Set());

    expect(plan.target).toBe(0);
    expect(plan.undo.map((g) => g.id)).toEqual([2, 1]);
    const byPath = new Map(plan.diffs.map((d) => [d.path, d]));
    expect([...byPath.keys()].sort()).toEqual([at('authinfo'), at('created'), at('sendmail.mc')]);
    expect(byPath.get(at('sendmail.mc'))).toMatchObject({ before: 'v2\n', after: 'v0\n', masked: false, meta: [] });
    expect(byPath.get(at('created'))).toMatchObject({ before: 'made\n', after: null, meta: ['file removed (it did not exist before)'] });
    expect(byPath.get(at('authinfo'))).toMatchObject({
      before: '(content hidden: it holds secrets)\n',
      after: '(content hidden: it holds secrets)\n',
      masked: true,
      secretChanged: true,
    });
    // a dry run: every file as it was
    expect([read('sendmail.mc'), read('created'), read('authinfo')]).toEqual(['v2\n', 'made\n', 'AuthInfo: "P:new"\n']);
  });

  it('names what the records would undo, with the opt-ins applied', async () => {
    writeFileSync(at('aliases'), 'root: admin\n');
    await apply({ aliases: 'root: admin\n' });
    await apply({}, { undo: [packagesRecord, added('aliases', 'abuse: ops')] });

    expect((await planRollback(runner, journal.generations, [], undefined, new Set())).actions).toEqual([
      `- ${at('aliases')}: remove "abuse: ops"`,
    ]);
    expect((await planRollback(runner, journal.generations, [], undefined, new Set(['packages']))).actions).toEqual([
      `- ${at('aliases')}: remove "abuse: ops"`,
      '- package sendmail',
    ]);
  });
});

describe('chooseUndo', () => {
  const gen = (id: number, over: Partial<Generation> = {}) => generation(id, { undone: [], ...over });

  it('by default returns to the complete generation before the last, undoing every live one after it, newest first', () => {
    const all = [gen(1), gen(2), gen(3, { status: 'rolled-back' }), gen(4)];
    // 3, undone by itself, gives its saved copies only
    expect(chooseUndo(all)).toEqual({
      target: 2,
      undo: [gen(4)],
      files: [gen(3, { status: 'rolled-back' })],
      closed: [],
      reapplies: false,
    });
    expect(chooseUndo(all, 1).undo.map((g) => g.id)).toEqual([4, 2]);
    expect(chooseUndo([gen(1)])).toEqual({ target: 0, undo: [gen(1)], files: [], closed: [], reapplies: false });
  });

  it('by default undoes a latest rollback alone; --to past it leaves it and what it undid as they are', () => {
    const all = [gen(1), gen(2, { status: 'rolled-back' }), gen(3, { kind: 'rollback', undid: [2] })];
    expect(chooseUndo(all)).toEqual({ target: 2, undo: [all[2]], files: [], closed: [], reapplies: true });
    expect(chooseUndo(all, 0)).toEqual({ target: 0, undo: [all[0]], files: [all[1]], closed: [all[2]], reapplies: false });
    // the rollback of that rollback made changes: --to 0 undoes it
    const redo = [
      ...all.slice(0, 2),
      gen(3, { kind: 'rollback', undid: [2], status: 'rolled-back' }),
      gen(4, { kind: 'rollback', undid: [3] }),
    ];
    expect(chooseUndo(redo, 0).undo.map((g) => g.id)).toEqual([4, 1]);
    expect(chooseUndo(redo, 0).closed).toEqual([]);
  });

  it('refuses to go past a rollback of an older version whose records cannot be told apart', () => {
    // an older mailprov's rollback --to 0 undid a rollback and an apply at once: its records both put back and take out
    const all = [
      gen(1, { status: 'rolled-back' }),
      gen(2, { status: 'rolled-back' }),
      gen(3, { kind: 'rollback', undid: [2], status: 'rolled-back' }),
      gen(4, { kind: 'rollback', undid: [3, 1] }),
    ];
    expect(() => chooseUndo([...all, gen(5)], 0)).toThrow(
      'generation 4 is a rollback recorded by an older mailprov whose undone generations (3, 1) are pruned or mix applies and rollbacks',
    );
    // undoing it alone needs no telling
    expect(chooseUndo(all).undo.map((g) => g.id)).toEqual([4]);
  });

  it('refuses what it cannot do, saying why', () => {
    expect(() => chooseUndo([])).toThrow('nothing to roll back: the host has no complete generation');
    expect(() => chooseUndo([gen(1), gen(2)], 2)).toThrow('nothing to roll back: generation 2 is the latest');
    expect(() => chooseUndo([gen(1), gen(3)], 2)).toThrow('--to 2: no complete generation 2 on this host (complete: 1, 3)');
  });

  it('refuses a pruned target, and a target past a pruned live generation', () => {
    const pruned = [{ id: 2, status: 'complete' as const, keep: 2, at: 't' }];
    const target = (() => chooseUndo([gen(3), gen(4)], 2, pruned)) as () => never;
    expect(target).toThrow(GenerationPrunedError);
    expect(target).toThrow('generation 2 was pruned (keepGenerations=2)');
    expect(() => chooseUndo([gen(3), gen(4)], 0, pruned)).toThrow(
      'rolling back to before the first generation would undo generation(s) 2, which were pruned (keepGenerations=2); the oldest generation to return to is 3',
    );
    // a pruned generation that was rolled back is no live state: nothing is lost past it
    expect(chooseUndo([gen(3), gen(4)], 0, [{ id: 2, status: 'rolled-back', keep: 2, at: 't' }]).undo.map((g) => g.id)).toEqual([4, 3]);
  });
});

describe('forgottenFiles', () => {
  it('lists each file whose saved copy was forgotten, with every generation that forgot it', () => {
    const forgot = (id: number, paths: string[]) => generation(id, { files: paths, forgotten: paths.map((path) => ({ path, at: 't' })) });
    expect(
      forgottenFiles([forgot(3, ['/etc/mail/authinfo']), forgot(2, ['/etc/mail/authinfo']), generation(1, { files: ['/x'] })]),
    ).toEqual([{ path: '/etc/mail/authinfo', generations: [3, 2] }]);
  });
});
