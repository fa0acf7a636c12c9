// Checks run side by side overlap in time, yet read as if run one by one: what each says comes in
// the order written, and the first failure in that order is the one thrown, whichever ends first.
import { describe, expect, it } from 'vitest';
import type { ProbeContext } from '../../../../src/index.ts';
import { sideBySide } from '../../../../playbooks/sendmail-smarthost/side-by-side.ts';

function context() {
  const said: string[] = [];
  const ctx = {
    hostName: 'h',
    exec: async (command: string) => ({ command, code: 0, stdout: '', stderr: '' }),
    connect: async () => {
      throw new Error('no');
    },
    facts: {} as ProbeContext['facts'],
    log: (l: string) => said.push(`log ${l}`),
    warn: (m: string, code?: string) => said.push(`warn ${m} ${code ?? ''}`.trim()),
    info: (m: string, code?: string) => said.push(`info ${m} ${code ?? ''}`.trim()),
  } as ProbeContext;
  return { ctx, said };
}

/** A promise and the function that settles it: the test decides which check ends first. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

describe('sideBySide', () => {
  it('runs the checks at the same time', async () => {
    const { ctx } = context();
    const started: number[] = [];
    const g = gate();
    const done = sideBySide(
      ctx,
      [0, 1, 2].map((i) => async () => {
        started.push(i);
        await g.opened;
      }),
    );
    // every check has begun before any could end: none waits for the one before it
    await Promise.resolve();
    expect(started).toEqual([0, 1, 2]);
    g.open();
    await done;
  });

  it('gives what each check said in the order written, though the last ended first', async () => {
    const { ctx, said } = context();
    const first = gate();
    await Promise.all([
      sideBySide(ctx, [
        async (c) => {
          c.log('one starts');
          await first.opened;
          c.warn('one warns', 'w1');
          c.log('one ends');
        },
        async (c) => {
          c.info('two notes');
          first.open();
        },
      ]),
    ]);
    expect(said).toEqual(['log one starts', 'warn one warns w1', 'log one ends', 'info two notes']);
  });

  it('throws the first failure in the order written, after what the checks before it said, and nothing of the checks after it', async () => {
    const { ctx, said } = context();
    const second = gate();
    const run = sideBySide(ctx, [
      async (c) => {
        c.log('one holds');
      },
      async (c) => {
        c.log('two looked');
        await second.opened;
        throw new Error('two failed');
      },
      async (c) => {
        c.log('three said this before failing');
        second.open();
        throw new Error('three failed');
      },
    ]);
    await expect(run).rejects.toThrow('two failed');
    expect(said).toEqual(['log one holds', 'log two looked']);
  });

  it('waits for every check before throwing, so none is left running on the host', async () => {
    const { ctx } = context();
    const slow = gate();
    let slowEnded = false;
    const run = sideBySide(ctx, [
      async () => {
        throw new Error('fails at once');
      },
      async () => {
        await slow.opened;
        slowEnded = true;
      },
    ]);
    let settled = false;
    run
      .catch(() => {})
      .finally(() => {
        settled = true;
      });
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    slow.open();
    await expect(run).rejects.toThrow('fails at once');
    expect(slowEnded).toBe(true);
  });
});
