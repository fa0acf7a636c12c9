import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { eachLimit } from '../../../src/sandbox/limit.ts';

describe('eachLimit', () => {
  it('runs every item, never more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await eachLimit([...Array(50).keys()], 7, async (i) => {
      running++;
      most = Math.max(most, running);
      await sleep(i % 3);
      done.push(i);
      running--;
    });
    expect(most).toBe(7);
    expect(done.sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
  });

  it('rejects with the first failure and starts nothing after it', async () => {
    const started: number[] = [];
    const run = eachLimit([1, 2, 3, 4, 5], 1, async (i) => {
      started.push(i);
      if (i === 2) throw new Error('host 2 did not start');
    });
    await expect(run).rejects.toThrow('host 2 did not start');
    expect(started).toEqual([1, 2]);
  });
});
