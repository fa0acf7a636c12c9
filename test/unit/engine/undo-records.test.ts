// Who owns an undo record after an undo that stopped halfway: the generation keeps every record it
// did not undo, a rollback to before it undoes exactly those, and what is left is said record by
// record. Records of an older mailprov ('failed' applies) are read the same way.
import { describe, expect, it } from 'vitest';
import { chooseUndo, describeHalfUndone, describeUndo, undoProgress } from '../../../src/engine/undo.ts';
import { parseJournal, remainingUndo, type Generation } from '../../../src/journal/records.ts';
import { generation } from '../fixtures.ts';

const rule = (port: number) => ({
  kind: 'iptables-rule',
  chain: 'INPUT',
  rule: `-p tcp -m tcp --dport ${port} -j ACCEPT`,
  added: true,
  persistFile: '/etc/iptables/rules.v4',
});
const gen = (id: number, over: Partial<Generation> = {}): Generation => generation(id, { undone: [], ...over });

describe('a generation an undo left halfway', () => {
  const half = gen(2, {
    status: 'rollback-failed',
    undo: [rule(25), rule(2626)],
    undone: [1],
    reason: 'the automatic rollback stopped halfway: mv: cannot move: Device or resource busy',
  });

  it('keeps the records it did not undo, and a rollback to before it undoes them', () => {
    expect(remainingUndo(half)).toEqual([{ index: 0, record: rule(25) }]);
    // `rollback --to 0` with only that generation left: it is still live
    expect(chooseUndo([gen(1, { status: 'rolled-back' }), half], 0).undo.map((g) => g.id)).toEqual([2]);
    // the default target (the complete generation before the last) goes past it too
    const three = [gen(1), half, gen(3)];
    expect(chooseUndo(three)).toEqual({ target: 1, undo: [gen(3), half], files: [], closed: [], reapplies: false });
    // and --to a generation after it leaves it alone
    expect(chooseUndo([...three, gen(4)], 3).undo.map((g) => g.id)).toEqual([4]);
    // the dry run names only what is left
    expect(
      describeUndo(
        remainingUndo(half).map((r) => r.record),
        new Set(),
      ),
    ).toEqual(['- iptables rule -A INPUT -p tcp -m tcp --dport 25 -j ACCEPT']);
  });

  it('says exactly what was undone and what is still live, and why', () => {
    expect(undoProgress(half)).toEqual({
      undone: ['- iptables rule -A INPUT -p tcp -m tcp --dport 2626 -j ACCEPT'],
      remaining: ['- iptables rule -A INPUT -p tcp -m tcp --dport 25 -j ACCEPT'],
    });
    const line = describeHalfUndone(half);
    expect(line).toMatch(/^generation 2 was not fully undone \(the automatic rollback stopped halfway: mv: cannot move/);
    expect(line).toContain('Records undone: - iptables rule -A INPUT -p tcp -m tcp --dport 2626 -j ACCEPT.');
    expect(line).toContain('Records still live and still its own: - iptables rule -A INPUT -p tcp -m tcp --dport 25 -j ACCEPT');
    expect(line).not.toMatch(/died/);
  });

  it('is not a target, and a failed rollback generation is not undone by the next rollback', () => {
    expect(() => chooseUndo([gen(1), half], 2)).toThrow('--to 2: no complete generation 2 on this host (complete: 1)');
    const failedRollback = gen(3, { kind: 'rollback', status: 'failed', undo: [{ ...rule(25), added: false }] });
    expect(chooseUndo([gen(1), half, failedRollback], 0).undo.map((g) => g.id)).toEqual([2, 1]);
  });
});

describe('journal records', () => {
  const line = (g: object) => `${(g as Generation).id}\t${JSON.stringify(g)}`;

  it("reads an apply an older mailprov recorded 'failed' (its automatic rollback failed) as left halfway, with nothing undone", () => {
    const old = { ...gen(1, { undo: [rule(25)] }), status: 'failed' } as Record<string, unknown>;
    delete old.undone;
    const { generations } = parseJournal(line(old));
    expect(generations[0]).toMatchObject({ status: 'rollback-failed', undone: [] });
    expect(chooseUndo(generations, 0).undo.map((g) => g.id)).toEqual([1]);
    // a failed rollback generation stays what it was
    expect(parseJournal(line({ ...gen(2, { kind: 'rollback' }), status: 'failed' })).generations[0].status).toBe('failed');
  });

  it('keeps a pruned generation that was left halfway as one that cannot be gone past', () => {
    const { pruned } = parseJournal(`/pruned\t2\trollback-failed\t10\tt\n${line(gen(3))}`);
    expect(pruned).toEqual([{ id: 2, status: 'rollback-failed', keep: 10, at: 't' }]);
    expect(() => chooseUndo([gen(3)], 0, pruned)).toThrow(/would undo generation\(s\) 2, which were pruned/);
  });
});
