// Jump host specifications as ssh -J / ProxyJump write them, and the shared, counted connections.
import { describe, expect, it } from 'vitest';
import { parseJumpSpec } from '../../../src/transport/jump.ts';
import { SharedConnections } from '../../../src/transport/pool.ts';

describe('parseJumpSpec', () => {
  it('reads [user@]host[:port] and ssh:// hops, first hop first', () => {
    expect(parseJumpSpec('bastion')).toEqual([{ spec: 'bastion', host: 'bastion' }]);
    expect(parseJumpSpec('ops@jump1.example.org:2222, ssh://root@10.0.0.1/ ,[fd00::5]:2200,fd00::6')).toEqual([
      { spec: 'ops@jump1.example.org:2222', user: 'ops', host: 'jump1.example.org', port: 2222 },
      { spec: 'ssh://root@10.0.0.1/', user: 'root', host: '10.0.0.1' },
      { spec: '[fd00::5]:2200', host: 'fd00::5', port: 2200 },
      { spec: 'fd00::6', host: 'fd00::6' },
    ]);
    expect(parseJumpSpec('none')).toEqual([]);
    expect(parseJumpSpec('NONE')).toEqual([]);
  });

  it('says what is wrong with a hop', () => {
    expect(() => parseJumpSpec('a,,b')).toThrow('jump host "" in "a,,b": empty (two commas, or one at an end)');
    expect(() => parseJumpSpec('a:ssh')).toThrow('"ssh" is not a port number');
    expect(() => parseJumpSpec('a:70000')).toThrow('"70000" is not a port number');
    expect(() => parseJumpSpec('@a')).toThrow('no user before @');
    expect(() => parseJumpSpec('a b')).toThrow('expected [user@]host[:port]');
  });
});

/** A fake connection: records opens and closes. */
function fakeOpener(log: string[], fail?: Error) {
  let n = 0;
  return (key: string) => async () => {
    await new Promise((r) => setTimeout(r, 5));
    if (fail) throw fail;
    const id = `${key}#${++n}`;
    log.push(`open ${id}`);
    return { value: id, close: () => log.push(`close ${id}`) };
  };
}

describe('SharedConnections', () => {
  it('opens one connection for concurrent users of a key, and closes it when the last one releases', async () => {
    const log: string[] = [];
    const pool = new SharedConnections<string>();
    const open = fakeOpener(log);
    const leases = await Promise.all([pool.acquire('b', open('b')), pool.acquire('b', open('b')), pool.acquire('c', open('c'))]);
    expect(leases.map((l) => l.value)).toEqual(['b#1', 'b#1', 'c#2']);
    expect(pool.users('b')).toBe(2);
    expect(pool.opened.get('b')).toBe(1);
    leases[0].release();
    leases[0].release(); // a second release of the same lease counts once
    expect(log).toEqual(['open b#1', 'open c#2']);
    expect(pool.users('b')).toBe(1);
    leases[1].release();
    expect(log).toContain('close b#1');
    expect(pool.users('b')).toBe(0);
    // released to nobody: the next user opens a new one
    const again = await pool.acquire('b', open('b'));
    expect(again.value).toBe('b#3');
    expect(pool.opened.get('b')).toBe(2);
    again.release();
    leases[2].release();
    expect(pool.size).toBe(0);
  });

  it('forgets a failed opening: every waiter gets the error, the next user tries again', async () => {
    const log: string[] = [];
    const pool = new SharedConnections<string>();
    const boom = new Error('refused');
    const results = await Promise.allSettled([pool.acquire('b', fakeOpener(log, boom)('b')), pool.acquire('b', fakeOpener(log)('b'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(pool.size).toBe(0);
    const lease = await pool.acquire('b', fakeOpener(log)('b'));
    expect(lease.value).toBe('b#1');
    lease.release();
  });

  it('after a connection died, hands out a new one while the old one closes with its last user', async () => {
    const log: string[] = [];
    const pool = new SharedConnections<string>();
    const open = fakeOpener(log);
    const old = await pool.acquire('b', open('b'));
    pool.evict('b', 'b#other'); // not this connection: nothing happens
    await Promise.resolve();
    expect(pool.users('b')).toBe(1);
    pool.evict('b', old.value);
    await new Promise((r) => setTimeout(r, 0));
    const fresh = await pool.acquire('b', open('b'));
    expect(fresh.value).toBe('b#2');
    old.release();
    expect(log).toEqual(['open b#1', 'open b#2', 'close b#1']);
    expect(pool.users('b')).toBe(1);
    fresh.release();
    expect(log.at(-1)).toBe('close b#2');
  });
});
