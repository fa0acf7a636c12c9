// Retention as pure choices: which generations a prune deletes, which copies forget-secrets removes,
// what a rollback can no longer reach or restore; and how history and rollback say so.
import { describe, expect, it } from 'vitest';
import { chooseUndo, forgottenFiles } from '../../../src/engine/undo.ts';
import { GenerationPrunedError } from '../../../src/errors.ts';
import type { Generation, PrunedRecord } from '../../../src/journal/records.ts';
import { generation } from '../fixtures.ts';
import { choosePrune, planForget, withForgotten } from '../../../src/journal/retention.ts';
import { renderHistory, renderRollback } from '../../../src/report/rollback.ts';

const gen = (id: number, over: Partial<Generation> = {}): Generation =>
  generation(id, { files: ['/etc/mail/authinfo', '/etc/mail/access'], sensitive: ['/etc/mail/authinfo'], ...over });
const gens = (...ids: number[]) => ids.map((id) => gen(id));
const pruned = (ids: number[], keep = 10, status: PrunedRecord['status'] = 'complete'): PrunedRecord[] =>
  ids.map((id) => ({ id, status, keep, at: 'x' }));

describe('choosePrune', () => {
  it('keeps the newest N, whatever their status, and prunes the older ones oldest first', () => {
    const all = [...gens(3, 1, 2), gen(4, { status: 'rolled-back' }), gen(5, { kind: 'rollback' })];
    expect(choosePrune(all, 2, 'now')).toEqual([
      { id: 1, status: 'complete', keep: 2, at: 'now' },
      { id: 2, status: 'complete', keep: 2, at: 'now' },
      { id: 3, status: 'complete', keep: 2, at: 'now' },
    ]);
    expect(choosePrune(all, 5, 'now')).toEqual([]);
    expect(choosePrune(all, 10, 'now')).toEqual([]);
  });

  it('never prunes a generation left in progress (the next run repairs the host from it)', () => {
    expect(choosePrune([gen(1, { status: 'in-progress' }), ...gens(2, 3)], 1, 'now').map((p) => p.id)).toEqual([2]);
  });

  it('refuses a keep below 1', () => {
    expect(() => choosePrune(gens(1), 0, 'now')).toThrow(/at least 1/);
  });
});

describe('planForget', () => {
  const copies = (entries: [number, string[]][]) => new Map(entries.map(([id, p]) => [id, new Set(p)]));

  it('removes only copies of sensitive files that are there; the other copies stay', () => {
    const held = copies([
      [1, ['/etc/mail/authinfo', '/etc/mail/access']],
      [2, ['/etc/mail/access']], // authinfo was absent before 2
      [3, ['/etc/mail/authinfo.tmp']], // an interrupted backup's leftover
    ]);
    expect(planForget(gens(1, 2, 3), held).map((e) => [e.generation.id, e.paths])).toEqual([
      [1, ['/etc/mail/authinfo']],
      [3, ['/etc/mail/authinfo']],
    ]);
  });

  it("also counts the playbooks' secret files, but only in generations that backed them up", () => {
    const old = [gen(1, { sensitive: [] }), gen(2, { sensitive: [], files: ['/etc/motd'] })];
    const held = copies([
      [1, ['/etc/mail/authinfo']],
      [2, ['/etc/motd', '/etc/mail/authinfo']],
    ]);
    expect(planForget(old, held, ['/etc/mail/authinfo']).map((e) => [e.generation.id, e.paths])).toEqual([[1, ['/etc/mail/authinfo']]]);
  });

  it('notes each forgotten path once', () => {
    const once = withForgotten(gen(1), ['/etc/mail/authinfo'], 'a');
    expect(withForgotten(once, ['/etc/mail/authinfo'], 'b').forgotten).toEqual([{ path: '/etc/mail/authinfo', at: 'a' }]);
  });
});

describe('chooseUndo with pruned generations', () => {
  it('refuses a pruned target, naming the setting and the oldest generation left', () => {
    const err = (() => {
      try {
        chooseUndo(gens(3, 4, 5), 1, pruned([1, 2]));
      } catch (e) {
        return e as GenerationPrunedError;
      }
    })();
    expect(err).toBeInstanceOf(GenerationPrunedError);
    expect(err?.generations).toEqual([1]);
    expect(err?.message).toMatch(/^generation 1 was pruned \(keepGenerations=10\): .*the oldest generation to return to is 3/);
  });

  it('refuses to go back past a pruned complete generation, but not past a pruned one that was already undone', () => {
    expect(() => chooseUndo(gens(5), undefined, pruned([1, 2, 3, 4], 1))).toThrow(
      /rolling back to before the first generation would undo generation\(s\) 1, 2, 3, 4, which were pruned \(keepGenerations=1\); no older generation is left/,
    );
    expect(() => chooseUndo(gens(3, 4), 0, pruned([1, 2]))).toThrow(GenerationPrunedError);
    // the rolled-back generations before 5 need no undoing: undoing 5 alone is the way back
    expect(chooseUndo(gens(5), undefined, pruned([1, 2], 10, 'rolled-back')).undo.map((g) => g.id)).toEqual([5]);
    // rolling back within the kept generations is as before
    expect(chooseUndo(gens(3, 4, 5), undefined, pruned([1, 2]))).toMatchObject({ target: 4 });
    expect(chooseUndo(gens(3, 4, 5), 3, pruned([1, 2])).undo.map((g) => g.id)).toEqual([5, 4]);
  });
});

describe('forgottenFiles', () => {
  it('lists the files an undone generation would put back but no longer can', () => {
    const undo = [
      gen(5),
      gen(4, { forgotten: [{ path: '/etc/mail/authinfo', at: 'a' }] }),
      gen(3, { forgotten: [{ path: '/etc/mail/authinfo', at: 'a' }] }),
      gen(2, { files: ['/etc/x'], forgotten: [{ path: '/etc/mail/kept-only', at: 'a' }] }),
    ];
    expect(forgottenFiles(undo)).toEqual([{ path: '/etc/mail/authinfo', generations: [4, 3] }]);
  });
});

describe('history and rollback rendering', () => {
  it('history counts the pruned generations and notes forgotten copies', () => {
    const text = renderHistory('relay1', {
      generations: [gen(3, { forgotten: [{ path: '/etc/mail/authinfo', at: 'T' }] }), gen(4)],
      unreadable: [],
      pruned: pruned([1, 2]),
    });
    expect(text).toContain('2 older generations pruned (1-2; keepGenerations=10)');
    expect(text).toContain('saved copy of /etc/mail/authinfo removed by forget-secrets (T)');
  });

  it('a rollback says which file it kept because its copy was forgotten', () => {
    const text = renderRollback(
      {
        host: 'relay1',
        ok: true,
        generation: 6,
        restored: ['/etc/mail/access'],
        plan: {
          target: 3,
          undo: gens(5, 4),
          files: [],
          closed: [],
          diffs: [],
          actions: [],
          notRestored: [{ path: '/etc/mail/authinfo', generations: [4] }],
        },
      },
      false,
    );
    expect(text).toContain(
      '! /etc/mail/authinfo: not restored: its saved copy in generation 4 was removed by forget-secrets; the current file (the newest credentials) stays',
    );
  });
});
