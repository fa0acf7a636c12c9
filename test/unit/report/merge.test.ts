// report merge: the --json results of shards, checked to fit together and merged into one document
// of the same shape, with the exit code one run over all the hosts would have had.
import { describe, expect, it } from 'vitest';
import type { HostResult, HostStatus } from '../../../src/engine/events.ts';
import { MergeError } from '../../../src/errors.ts';
import { resultsToJson } from '../../../src/report/json.ts';
import { entryToResult, mergeRunDocs, parseRunDoc, type RunDoc } from '../../../src/report/merge.ts';

function host(name: string, status: HostStatus, changes = status === 'pending' || status === 'changed' ? 1 : 0): HostResult {
  return {
    host: name,
    address: `127.0.0.1:${1000 + name.length}`,
    os: 'debian 12',
    status,
    changes: Array.from({ length: changes }, (_, i) => ({
      resourceId: `file:/etc/f${i}`,
      action: 'update',
      summary: `write /etc/f${i}`,
      reason: 'content differs',
      diff: { path: `/etc/f${i}`, before: 'a\n', after: 'b\n', masked: false, secretChanged: false, meta: [] },
      steps: [{ label: `write /etc/f${i}`, command: 'cat > /etc/f', stdin: 'b\n' }],
      undo: [],
    })),
    applied: 0,
    error: status === 'failed' ? 'relay: connection refused\nmore' : undefined,
    findings: [{ level: 'warning', code: 'w', message: 'a warning' }],
    durationMs: 1234,
  };
}

/** What `plan|apply --json [--shard i/n]` prints, as read back by `report merge`. */
function doc(
  file: string,
  command: 'plan' | 'apply',
  results: HostResult[],
  shard?: { index: number; count: number; selected: number },
): RunDoc {
  return parseRunDoc(file, resultsToJson(command, results, { inventory: '/srv/inv.ts', logs: null, ...(shard ? { shard } : {}) }));
}

const mergeError = (fn: () => unknown): MergeError => {
  try {
    fn();
  } catch (e) {
    if (e instanceof MergeError) return e;
    throw e;
  }
  throw new Error('expected a MergeError');
};

describe('mergeRunDocs', () => {
  it('merges shards into the shape of one run, hosts in natural order, with its exit code', () => {
    const a = doc('a.json', 'plan', [host('relay10', 'pending'), host('relay2', 'unchanged')], { index: 1, count: 2, selected: 3 });
    const b = doc('b.json', 'plan', [host('relay1', 'pending')], { index: 2, count: 2, selected: 3 });
    const m = mergeRunDocs([b, a]);
    expect(m.exitCode).toBe(2);
    const one = JSON.parse(
      resultsToJson('plan', [host('relay1', 'pending'), host('relay2', 'unchanged'), host('relay10', 'pending')], {
        inventory: '/srv/inv.ts',
        logs: null,
      }),
    );
    // everything one unsharded run would print, plus where it came from
    expect(m.doc).toEqual({
      ...one,
      merged: [
        { file: 'b.json', shard: '2/2', hosts: 1 },
        { file: 'a.json', shard: '1/2', hosts: 2 },
      ],
    });
    expect(Object.keys(m.doc)).toEqual(['command', 'ok', 'summary', 'inventory', 'logs', 'merged', 'hosts']);
  });

  it('exits as apply and plan would for all hosts: 1 on a failure, 2 only for a plan with changes pending', () => {
    const plan = (s: HostStatus) =>
      mergeRunDocs([doc('a.json', 'plan', [host('r1', 'unchanged')]), doc('b.json', 'plan', [host('r2', s)])]);
    expect(plan('unchanged').exitCode).toBe(0);
    expect(plan('pending').exitCode).toBe(2);
    expect(plan('failed').exitCode).toBe(1);
    expect(plan('failed').doc.ok).toBe(false);
    const apply = (s: HostStatus) =>
      mergeRunDocs([doc('a.json', 'apply', [host('r1', 'changed')]), doc('b.json', 'apply', [host('r2', s)])]);
    expect(apply('changed').exitCode).toBe(0);
    expect(apply('skipped').exitCode).toBe(0);
    expect(apply('rolled-back').exitCode).toBe(1);
    expect(apply('rolled-back').doc.summary).toEqual({ hosts: 2, changes: 1, changed: 1, unchanged: 0, failed: 1, rolledBack: 1 });
  });

  it('merges runs without --shard (one --limit each) as long as no host is in two', () => {
    const m = mergeRunDocs([doc('eu.json', 'apply', [host('eu1', 'changed')]), doc('us.json', 'apply', [host('us1', 'unchanged')])]);
    expect(m.hosts.map((h) => h.host)).toEqual(['eu1', 'us1']);
    expect(m.doc.merged).toEqual([
      { file: 'eu.json', shard: null, hosts: 1 },
      { file: 'us.json', shard: null, hosts: 1 },
    ]);
  });

  it('refuses results of different commands, naming the files', () => {
    const e = mergeError(() =>
      mergeRunDocs([
        doc('a.json', 'plan', [host('r1', 'pending')]),
        doc('b.json', 'apply', [host('r2', 'changed')]),
        doc('c.json', 'plan', []),
      ]),
    );
    expect(e.message).toBe(
      'the results are of different commands: plan in a.json, c.json; apply in b.json: merge the shards of one command',
    );
    expect(e.files).toEqual(['a.json', 'c.json', 'b.json']);
  });

  it('refuses a host in two results, naming it and the files', () => {
    const e = mergeError(() =>
      mergeRunDocs([
        doc('a.json', 'plan', [host('r1', 'pending'), host('r2', 'unchanged')]),
        doc('b.json', 'plan', [host('r2', 'unchanged')]),
      ]),
    );
    expect(e.message).toMatch(/^a host is in more than one result: r2 \(a\.json and b\.json\); each host must be in exactly one shard/);
    expect(e.files).toEqual(['a.json', 'b.json']);
    const many = mergeError(() =>
      mergeRunDocs([
        doc(
          'a.json',
          'plan',
          ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'].map((n) => host(n, 'unchanged')),
        ),
        doc(
          'b.json',
          'plan',
          ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'h7'].map((n) => host(n, 'unchanged')),
        ),
      ]),
    );
    expect(many.message).toMatch(/^7 hosts are in more than one result: h1 \(a\.json and b\.json\), .*h5 .*, and 2 more;/);
  });

  it('refuses a file given twice', () => {
    const a = doc('a.json', 'plan', [host('r1', 'pending')], { index: 1, count: 1, selected: 1 });
    expect(mergeError(() => mergeRunDocs([a, a])).message).toBe('a.json is given twice');
  });

  it('refuses shards that are not the shards of one run', () => {
    const shard = (file: string, index: number, count: number, names: string[], selected = 4) =>
      doc(
        file,
        'apply',
        names.map((n) => host(n, 'changed')),
        { index, count, selected },
      );
    expect(mergeError(() => mergeRunDocs([shard('a.json', 1, 2, ['r1', 'r2']), shard('b.json', 1, 2, ['r3', 'r4'])])).message).toBe(
      'a.json and b.json are both shard 1/2',
    );
    expect(mergeError(() => mergeRunDocs([shard('a.json', 1, 3, ['r1']), shard('b.json', 2, 3, ['r2'])])).message).toMatch(
      /^shard 3\/3 is missing \(given: a\.json 1\/3 with 1 hosts, b\.json 2\/3 with 1 hosts\): without every shard/,
    );
    expect(mergeError(() => mergeRunDocs([shard('a.json', 1, 2, ['r1', 'r2']), shard('b.json', 2, 3, ['r3'])])).message).toMatch(
      /^the shards are of different counts \(a\.json 1\/2 with 2 hosts, b\.json 2\/3 with 1 hosts\)/,
    );
    expect(mergeError(() => mergeRunDocs([shard('a.json', 1, 2, ['r1', 'r2']), shard('b.json', 2, 2, ['r3'], 5)])).message).toMatch(
      /^the shards selected different numbers of hosts before sharding \(a\.json: 4, b\.json: 5\): were they run with different inventories or --limit\?/,
    );
    expect(mergeError(() => mergeRunDocs([shard('a.json', 1, 2, ['r1', 'r2']), shard('b.json', 2, 2, ['r3'])])).message).toMatch(
      /^the shards hold 3 hosts, but each run selected 4:/,
    );
    expect(
      mergeError(() => mergeRunDocs([shard('a.json', 1, 2, ['r1', 'r2']), doc('b.json', 'apply', [host('r3', 'changed')])])).message,
    ).toBe('b.json is not the result of a --shard run, but a.json is (shard 1/2): merge the shards of one run');
  });
});

describe('parseRunDoc', () => {
  it('names the file and what is wrong with it', () => {
    expect(() => parseRunDoc('a.json', '')).toThrow(/^a\.json: empty: the run that wrote it printed no JSON/);
    expect(() => parseRunDoc('a.json', '{"command":')).toThrow(/^a\.json: not JSON \(/);
    expect(() => parseRunDoc('h.json', JSON.stringify({ relay1: { generations: [] } }))).toThrow(
      /^h\.json: not the --json result of mailprov plan or apply \(command: /,
    );
    expect(() => parseRunDoc('a.json', JSON.stringify({ command: 'plan', hosts: [{ host: 'r1' }] }))).toThrow(
      /^a\.json: not the --json result of mailprov plan or apply \(hosts\.0\.address: /,
    );
    expect(() => parseRunDoc('a.json', '[]')).toThrow(MergeError);
  });

  it('reads back what the console reporter prints, the secrets masked as they were written', () => {
    const r = host('relay1', 'failed', 1);
    const back = entryToResult(doc('a.json', 'plan', [r]).hosts[0]);
    expect(back).toEqual({
      ...r,
      changes: r.changes.map((c) => ({ ...c, steps: c.steps.map(({ label, command }) => ({ label, command })) })),
      rolledBack: undefined,
      logFile: undefined,
      pruned: [],
    });
  });
});
