// --shard i/n: which hosts a shard runs. Deterministic, balanced, stable when hosts come and go,
// and every host in exactly one shard.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/errors.ts';
import { limitHosts, resolveInventory } from '../../../src/inventory/load.ts';
import { parseShard, shardHosts, shardOf } from '../../../src/inventory/shard.ts';

const names = (n: number, prefix = 'relay') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const hosts = (list: string[]) => list.map((name) => ({ name }));

describe('parseShard', () => {
  it('reads i/n, 1-based', () => {
    expect(parseShard('2/3', {})).toEqual({ index: 2, count: 3 });
    expect(parseShard('1/1', {})).toEqual({ index: 1, count: 1 });
    expect(parseShard(' 3 / 3 ', {})).toEqual({ index: 3, count: 3 });
  });

  it('refuses what is no shard, naming the flag', () => {
    for (const [spec, why] of [
      ['3/2', /^--shard 3\/2: there is no shard 3 of 2; i goes from 1 to 2$/],
      ['0/2', /^--shard 0\/2: there is no shard 0 of 2/],
      ['1/0', /^--shard 1\/0: n must be at least 1$/],
      ['2', /^--shard 2: expected i\/n/],
      ['a/b', /^--shard a\/b: expected i\/n/],
      ['-1/2', /^--shard -1\/2: expected i\/n/],
      ['1.5/2', /^--shard 1\.5\/2: expected i\/n/],
      ['', /^--shard : expected i\/n/],
    ] as const) {
      expect(() => parseShard(spec, {}), spec).toThrow(UsageError);
      expect(() => parseShard(spec, {}), spec).toThrow(why);
    }
  });

  it('auto/n takes the index from JOB_COMPLETION_INDEX, which Kubernetes counts from 0', () => {
    expect(parseShard('auto/3', { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, count: 3 });
    expect(parseShard('auto/3', { JOB_COMPLETION_INDEX: '2' })).toEqual({ index: 3, count: 3 });
    expect(() => parseShard('auto/3', {})).toThrow(/^--shard auto\/3: JOB_COMPLETION_INDEX is not set .*give the shard as i\/n instead$/);
    expect(() => parseShard('auto/3', { JOB_COMPLETION_INDEX: '3' })).toThrow(
      /^--shard auto\/3: JOB_COMPLETION_INDEX=3 is outside 0\.\.2: the Job's completions must equal n$/,
    );
    expect(() => parseShard('auto/3', { JOB_COMPLETION_INDEX: 'x1' })).toThrow(/JOB_COMPLETION_INDEX=x1 is not a whole number/);
  });
});

describe('shardOf', () => {
  it('is a function of the name and n alone', () => {
    expect(shardOf('relay1', 2)).toBe(shardOf('relay1', 2));
    // pinned: a change of the hash would move every fleet's hosts between runners
    expect(names(3).map((n) => shardOf(n, 2))).toEqual([2, 2, 1]);
    expect(names(8).map((n) => shardOf(n, 1))).toEqual(new Array(8).fill(1));
  });

  it('puts every host in exactly one shard', () => {
    const all = hosts(names(200));
    for (const n of [1, 2, 3, 5]) {
      const seen = Array.from({ length: n }, (_, i) => shardHosts(all, { index: i + 1, count: n }).map((h) => h.name)).flat();
      expect(seen.sort()).toEqual(names(200).sort());
    }
  });

  it('spreads 1000 hosts evenly within reason', () => {
    for (const n of [2, 3, 4, 7, 10]) {
      const sizes = new Array(n).fill(0);
      for (const name of names(1000)) sizes[shardOf(name, n) - 1]++;
      const fair = 1000 / n;
      for (const s of sizes) expect(Math.abs(s - fair) / fair, `n=${n}: ${sizes}`).toBeLessThan(0.2);
    }
  });

  it('moves no host when hosts are added or removed, and only about 1/(n+1) when a shard is added', () => {
    const before = new Map(names(1000).map((n) => [n, shardOf(n, 3)]));
    const after = names(1100)
      .concat(names(50, 'mx'))
      .filter((n) => n !== 'relay7');
    for (const n of after) if (before.has(n)) expect(shardOf(n, 3)).toBe(before.get(n));
    // 3 -> 4 shards: a host moves only to the new shard (rendezvous hashing), about a quarter of them
    const moved = names(1000).filter((n) => shardOf(n, 4) !== before.get(n));
    for (const n of moved) expect(shardOf(n, 4)).toBe(4);
    expect(moved.length).toBeGreaterThan(180);
    expect(moved.length).toBeLessThan(320);
  });

  it('keeps the inventory order within a shard, and commutes with --limit', () => {
    const inv = resolveInventory(
      {
        hosts: Object.fromEntries(names(40).map((n, i) => [n, { address: `10.0.0.${i + 1}`, groups: i % 2 ? ['odd'] : ['even'] }])),
      },
      '/srv/inv.ts',
    );
    const shard = { index: 2, count: 3 };
    const limitFirst = shardHosts(limitHosts(inv, 'odd'), shard).map((h) => h.name);
    const shardFirst = shardHosts(inv.hosts, shard)
      .filter((h) => h.groups.includes('odd'))
      .map((h) => h.name);
    expect(limitFirst).toEqual(shardFirst);
    expect(limitFirst.length).toBeGreaterThan(0);
    const order = names(40);
    expect([...limitFirst].sort((a, b) => order.indexOf(a) - order.indexOf(b))).toEqual(limitFirst);
  });
});
