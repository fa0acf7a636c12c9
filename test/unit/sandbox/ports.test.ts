// The forwarders' ports: the OS offers a just-closed port again, so without a memory of what was
// handed out two hosts of one sandbox could be given the same port (seen at 200 hosts).
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../src/sandbox/ports.ts';

describe('freePort', () => {
  it('never hands out the same port twice, even when nothing binds them in between', async () => {
    const taken = new Set<number>();
    const ports: number[] = [];
    for (let i = 0; i < 400; i++) ports.push(await freePort(taken));
    expect(new Set(ports).size).toBe(400);
    for (const p of ports) expect(p).toBeGreaterThan(0);
  });

  it('skips a port handed out before, when the OS offers it again', async () => {
    const first = await freePort(new Set());
    const taken = new Set([first]);
    // an OS that offers the just-closed port twice more before another (Linux may, or may not: not left to chance)
    const offers = [first, first, 40001];
    const offered: number[] = [];
    const again = async () => {
      const port = offers.shift();
      if (port === undefined) throw new Error('asked for more ports than offered');
      offered.push(port);
      return port;
    };
    expect(await freePort(taken, again)).toBe(40001);
    expect(offered).toEqual([first, first, 40001]);
    expect(taken).toEqual(new Set([first, 40001]));
  });

  it('gives up, saying so, when the OS offers only ports handed out before', async () => {
    const taken = new Set([40002]);
    await expect(freePort(taken, async () => 40002)).rejects.toThrow(
      /no free loopback port that was not already handed out, after 1000 tries/,
    );
  });
});
