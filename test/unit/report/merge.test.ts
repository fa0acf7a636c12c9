// report merge: the --json results of shards, checked to fit together and merged into one document
// of the same shape, with the exit code one run over all the hosts would have had.
import { describe, expect, it } from 'vitest';
import type { HostResult, HostStatus } from '../../../src/engine/events.ts';
import { MergeError } from '../../../src/errors.ts';
import { resultsToJson } from '../../../src/report/json.ts';
import { shardHosts } from '../../../src/inventory/shard.ts';
import { entryToResult, mergeRunDocs, normalizeLimit, parseRunDoc, type RunDoc, selectionRecord } from '../../../src/report/merge.ts';

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
  shard?: { index: number; count: number; selected: number; [k: string]: unknown },
): RunDoc {
  return parseRunDoc(file, resultsToJson(command, results, { inventory: '/srv/inv.ts', logs: null, ...(shard ? { shard } : {}) }));
}

/** An inventory as the shard runs see it: its file's text and each host's groups. */
interface Inv {
  text: string;
  hosts: Record<string, string[]>;
}

const FLEET: Inv = {
  text: 'export default defineInventory({ hosts: { web1: ..., db1: ... } })\n',
  hosts: Object.fromEntries([1, 2, 3, 4].flatMap((i) => [[`web${i}`, ['web']] as const, [`db${i}`, ['db']] as const])),
};

/**
 * What `plan|apply --json --limit L --shard i/n` prints over `inv`, as run.ts builds it (limitHosts's
 * rule, shardHosts, selectionRecord), every host with `status`; `edit` changes the host list after.
 */
function shardRun(
  file: string,
  inv: Inv,
  opts: {
    limit?: string;
    index: number;
    count: number;
    command?: 'plan' | 'apply';
    status?: HostStatus;
    edit?: (names: string[]) => string[];
  },
): RunDoc {
  const wanted = opts.limit?.split(',').map((s) => s.trim());
  const names = Object.keys(inv.hosts);
  const selected = wanted ? names.filter((n) => wanted.some((w) => n === w || inv.hosts[n].includes(w))) : names;
  const own = shardHosts(
    selected.map((name) => ({ name })),
    { index: opts.index, count: opts.count },
  ).map((h) => h.name);
  const shard = {
    index: opts.index,
    count: opts.count,
    selected: selected.length,
    ...selectionRecord(inv.text, names, opts.limit, selected),
  };
  const results = (opts.edit ? opts.edit(own) : own).map((n) => host(n, opts.status ?? 'changed'));
  return parseRunDoc(file, resultsToJson(opts.command ?? 'apply', results, { inventory: '/srv/inv.ts', logs: null, shard }));
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
    const names = ['relay1', 'relay2', 'relay10'];
    const sel = selectionRecord('inv', names, undefined, names);
    // relay10 is in shard 1/2 by its hash, relay1 and relay2 in 2/2
    const a = doc('a.json', 'plan', [host('relay10', 'pending')], { index: 1, count: 2, selected: 3, ...sel });
    const b = doc('b.json', 'plan', [host('relay1', 'pending'), host('relay2', 'unchanged')], { index: 2, count: 2, selected: 3, ...sel });
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
        { file: 'b.json', shard: '2/2', hosts: 2 },
        { file: 'a.json', shard: '1/2', hosts: 1 },
      ],
    });
    expect(Object.keys(m.doc)).toEqual(['command', 'ok', 'summary', 'inventory', 'logs', 'merged', 'hosts']);
  });

  it('exits as apply and plan would for all hosts: 1 on a failure, 2 only for a plan with changes pending', () => {
    const run = (command: 'plan' | 'apply', first: HostStatus, s: HostStatus) =>
      mergeRunDocs([
        shardRun('a.json', FLEET, { index: 1, count: 2, command, status: first }),
        shardRun('b.json', FLEET, { index: 2, count: 2, command, status: s }),
      ]);
    expect(run('plan', 'unchanged', 'unchanged').exitCode).toBe(0);
    expect(run('plan', 'unchanged', 'pending').exitCode).toBe(2);
    expect(run('plan', 'unchanged', 'failed').exitCode).toBe(1);
    expect(run('plan', 'unchanged', 'failed').doc.ok).toBe(false);
    expect(run('apply', 'changed', 'changed').exitCode).toBe(0);
    expect(run('apply', 'changed', 'skipped').exitCode).toBe(0);
    expect(run('apply', 'changed', 'rolled-back').exitCode).toBe(1);
    // shard 1/2 of the fleet: web1, web2, db3, db4; 2/2: web3, web4, db1, db2
    expect(run('apply', 'changed', 'rolled-back').doc.summary).toEqual({
      hosts: 8,
      changes: 4,
      changed: 4,
      unchanged: 0,
      failed: 4,
      rolledBack: 4,
    });
  });

  it('exits 4 for shards of apply PLANFILE where a host was refused as stale and none failed', () => {
    const names = ['relay1', 'relay2', 'relay10'];
    const sel = selectionRecord('inv', names, undefined, names);
    const refused: HostResult = { ...host('relay1', 'skipped'), refused: ['/etc/mail/access changed since the plan: sha256 a -> b'] };
    const shards = (second: HostResult) => [
      doc('a.json', 'apply', [host('relay10', 'changed')], { index: 1, count: 2, selected: 3, ...sel }),
      doc('b.json', 'apply', [refused, second], { index: 2, count: 2, selected: 3, ...sel }),
    ];
    expect(mergeRunDocs(shards(host('relay2', 'changed'))).exitCode).toBe(4);
    // a failure wins over a refusal, as in one run
    expect(mergeRunDocs(shards(host('relay2', 'failed'))).exitCode).toBe(1);
  });

  it('merges one whole run (no --shard) alone, as it is', () => {
    const m = mergeRunDocs([doc('eu.json', 'apply', [host('eu1', 'changed'), host('eu2', 'failed')])]);
    expect(m.hosts.map((h) => h.host)).toEqual(['eu1', 'eu2']);
    expect(m.exitCode).toBe(1);
    expect(m.doc.merged).toEqual([{ file: 'eu.json', shard: null, hosts: 2 }]);
  });

  it('refuses runs without --shard (one --limit each): nothing shows they cover a fleet', () => {
    const e = mergeError(() =>
      mergeRunDocs([doc('eu.json', 'apply', [host('eu1', 'changed')]), doc('us.json', 'apply', [host('us1', 'unchanged')])]),
    );
    expect(e.message).toMatch(/^eu\.json, us\.json are not the result of a --shard run: report merge takes the shards of one selection/);
    const mixed = mergeError(() =>
      mergeRunDocs([shardRun('a.json', FLEET, { index: 1, count: 2 }), doc('b.json', 'apply', [host('web3', 'changed')])]),
    );
    expect(mixed.message).toMatch(/^b\.json is not the result of a --shard run/);
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
        shardRun('a.json', FLEET, { index: 1, count: 2 }),
        shardRun('b.json', FLEET, { index: 2, count: 2, edit: (names) => [...names, 'web1'] }),
      ]),
    );
    expect(e.message).toMatch(/^a host is in more than one result: web1 \(a\.json and b\.json\); each host must be in exactly one shard/);
    expect(e.files).toEqual(['a.json', 'b.json']);
    const many = mergeError(() =>
      mergeRunDocs([
        shardRun('a.json', FLEET, { index: 1, count: 2, edit: (names) => [...names, 'web3', 'web4', 'db1', 'db2'] }),
        shardRun('b.json', FLEET, { index: 2, count: 2, edit: (names) => [...names, 'web1', 'web2', 'db3'] }),
      ]),
    );
    expect(many.message).toMatch(/^7 hosts are in more than one result: .*, and 2 more;/);
  });

  it('refuses a file given twice', () => {
    const a = shardRun('a.json', FLEET, { index: 1, count: 1 });
    expect(mergeError(() => mergeRunDocs([a, a])).message).toBe('a.json is given twice');
  });

  it('refuses shards of different n, a shard twice, a missing shard', () => {
    const run = (file: string, index: number, count: number) => shardRun(file, FLEET, { index, count });
    expect(mergeError(() => mergeRunDocs([run('a.json', 1, 2), run('b.json', 1, 2)])).message).toBe('a.json and b.json are both shard 1/2');
    expect(mergeError(() => mergeRunDocs([run('a.json', 1, 3), run('b.json', 2, 3)])).message).toMatch(
      /^shard 3\/3 is missing \(given: a\.json 1\/3 with \d hosts, b\.json 2\/3 with \d hosts\): without every shard/,
    );
    expect(mergeError(() => mergeRunDocs([run('a.json', 1, 2), run('b.json', 2, 3)])).message).toMatch(
      /^the shards are of different counts \(a\.json 1\/2 with 4 hosts, b\.json 2\/3 with \d hosts\)/,
    );
  });

  // issue 24: shard 1/2 of --limit web and shard 2/2 of --limit db merged as 4 of the 8 hosts, exit 0
  it("refuses shards of different --limit, naming each file's", () => {
    const web = shardRun('web.json', FLEET, { limit: 'web', index: 1, count: 2 });
    const db = shardRun('db.json', FLEET, { limit: 'db', index: 2, count: 2 });
    expect(web.hosts.length + db.hosts.length).toBe(4); // each selection holds 4 hosts: the counts alone agree
    const e = mergeError(() => mergeRunDocs([web, db]));
    expect(e.message).toBe(
      'the shards were run with different --limit (web.json: --limit web; db.json: --limit db): merge the shards of one selection',
    );
    expect(e.files).toEqual(['web.json', 'db.json']);
    expect(e).toBeInstanceOf(MergeError);
    // no --limit is a selection too; the same names in another order are the same --limit
    expect(mergeError(() => mergeRunDocs([shardRun('a.json', FLEET, { index: 1, count: 2 }), db])).message).toMatch(
      /^the shards were run with different --limit \(a\.json: no --limit; db\.json: --limit db\)/,
    );
    const both = mergeRunDocs([
      shardRun('a.json', FLEET, { limit: 'web, db', index: 1, count: 2 }),
      shardRun('b.json', FLEET, { limit: 'db,web', index: 2, count: 2 }),
    ]);
    expect(both.hosts).toHaveLength(8);
    expect(normalizeLimit(' web,db ,web,')).toBe('db,web');
    expect(normalizeLimit(undefined)).toBeNull();
  });

  it('refuses shards of different inventories, even with the same host names', () => {
    const other: Inv = { ...FLEET, text: `${FLEET.text}// staging\n` };
    const e = mergeError(() =>
      mergeRunDocs([shardRun('prod.json', FLEET, { index: 1, count: 2 }), shardRun('staging.json', other, { index: 2, count: 2 })]),
    );
    expect(e.message).toMatch(
      /^the shards come from different inventories \(prod\.json: inventory sha256:[0-9a-f]{12}\.\.\.; staging\.json: inventory sha256:[0-9a-f]{12}\.\.\.\): merge the shards of one run/,
    );
    // the same file giving other hosts (an inventory that reads them from elsewhere) is another inventory too
    const more: Inv = { ...FLEET, hosts: { ...FLEET.hosts, web5: ['web'] } };
    expect(
      mergeError(() => mergeRunDocs([shardRun('a.json', FLEET, { index: 1, count: 2 }), shardRun('b.json', more, { index: 2, count: 2 })]))
        .message,
    ).toMatch(/^the shards come from different inventories/);
  });

  it('refuses a host its hash puts in another shard, and names a selected host no result holds', () => {
    // db3 is in shard 1/2 by its hash: a document claiming it for shard 2/2 is not what run.ts writes
    const claims = mergeError(() =>
      mergeRunDocs([
        shardRun('a.json', FLEET, { index: 1, count: 2, edit: (names) => names.filter((n) => n !== 'db3') }),
        shardRun('b.json', FLEET, { index: 2, count: 2, edit: (names) => [...names, 'db3'] }),
      ]),
    );
    expect(claims.message).toBe(
      'a host does not belong where it is: db3 in b.json (shard 2/2) belongs to shard 1/2 by its hash: ' +
        'these results are not the shards of one run over the 8 hosts it selected',
    );
    expect(claims.files).toEqual(['b.json']);
    const lost = mergeError(() =>
      mergeRunDocs([
        shardRun('a.json', FLEET, { index: 1, count: 2 }),
        shardRun('b.json', FLEET, { index: 2, count: 2, edit: (names) => names.filter((n) => n !== 'web4').concat('app1') }),
      ]),
    );
    expect(lost.message).toBe(
      'a selected host is in no result: web4 (shard 2/2, b.json); a host does not belong where it is: app1 in b.json (shard 2/2) ' +
        'was not selected by the run: these results are not the shards of one run over the 8 hosts it selected',
    );
  });

  it('refuses shards whose runs selected different hosts from one inventory file and --limit, naming them', () => {
    // an inventory module that reads its hosts from elsewhere (the environment, a file) at each run
    const rec = (selected: string[]) => ({ selected: selected.length, ...selectionRecord('inv', ['r1', 'r2', 'r3'], undefined, selected) });
    const e = mergeError(() =>
      mergeRunDocs([
        doc('a.json', 'apply', [host('r2', 'changed'), host('r3', 'changed')], { index: 1, count: 2, ...rec(['r1', 'r2', 'r3']) }),
        doc('b.json', 'apply', [host('r1', 'changed')], { index: 2, count: 2, ...rec(['r1', 'r2']) }),
      ]),
    );
    expect(e.message).toBe(
      'the shards selected different hosts before sharding (a.json: 3, b.json: 2; not selected by every run: r3): ' +
        'were they run with different inventories or --limit?',
    );
  });

  it('refuses a shard that cannot exist, and a document whose selection does not add up', () => {
    const two = shardRun('b.json', FLEET, { index: 2, count: 2 });
    const three = { ...two, file: 'c.json', shard: { ...two.shard!, index: 3 } };
    expect(mergeError(() => mergeRunDocs([shardRun('a.json', FLEET, { index: 1, count: 2 }), two, three])).message).toBe(
      'c.json claims shard 3/2, which does not exist',
    );
    const short = { ...two, shard: { ...two.shard!, selected: 7 } };
    expect(mergeError(() => mergeRunDocs([shardRun('a.json', FLEET, { index: 1, count: 2 }), short])).message).toBe(
      'b.json says its run selected 7 hosts but lists 8: not what mailprov writes',
    );
  });

  it('refuses results that do not say their selection (an older mailprov)', () => {
    const old = (file: string, index: number) => doc(file, 'apply', [host(`r${index}`, 'changed')], { index, count: 2, selected: 2 });
    expect(mergeError(() => mergeRunDocs([old('a.json', 1), old('b.json', 2)])).message).toBe(
      'a.json, b.json do not say which selection their shards were cut from (written by a mailprov from before report merge checked it): run the shards again',
    );
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
