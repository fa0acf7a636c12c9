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

  it('skips a port handed out before', async () => {
    const first = await freePort(new Set());
    // the OS is likely to offer `first` again; remembered, it is passed over
    const taken = new Set([first]);
    expect(await freePort(taken)).not.toBe(first);
  });
});
