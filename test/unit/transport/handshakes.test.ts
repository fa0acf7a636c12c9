// SSH handshakes wait for a slot, and each one's connect timeout starts when its handshake does: a
// controller busy with many key exchanges must not time out hosts that were merely queued.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_HANDSHAKES, handshakesInFlight, setMaxHandshakes } from '../../../src/transport/handshakes.ts';
import { connect } from '../../../src/transport/ssh.ts';
import type { SshTarget } from '../../../src/transport/target.ts';

const dir = mkdtempSync(join(tmpdir(), 'mailprov-handshakes-'));
const key = join(dir, 'id');
execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);

// A server that takes connections and never says a word: every handshake runs to its timeout.
let server: Server;
let port: number;
const accepted: number[] = [];
const sockets: Socket[] = [];
beforeAll(async () => {
  server = createServer((s) => {
    accepted.push(Date.now());
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => setMaxHandshakes(DEFAULT_MAX_HANDSHAKES));

const target = (name: string, connectTimeoutMs: number): SshTarget => ({
  name,
  address: '127.0.0.1',
  port,
  user: 'root',
  privateKey: key,
  knownHosts: '/dev/null',
  hostKeyPolicy: 'accept-new',
  sudo: false,
  connectTimeoutMs,
});

describe('the handshake limit', () => {
  it('runs at most the limit at once; a queued host gets its whole timeout once its turn comes', async () => {
    setMaxHandshakes(2);
    accepted.length = 0;
    // the moment the server has taken the second connection (the event, not a guess at its time)
    const secondAccepted = new Promise<void>((done) => {
      const seen = () => {
        if (accepted.length < 2) return;
        server.off('connection', seen);
        done();
      };
      server.on('connection', seen);
    });
    const t0 = Date.now();
    const tries = ['a', 'b', 'c', 'd', 'e'].map((n) =>
      connect(target(n, 1000)).then(
        () => ({ n, ok: true, at: Date.now() - t0 }),
        (err: Error) => ({ n, ok: false, at: Date.now() - t0, why: err.message }),
      ),
    );
    await secondAccepted;
    // two handshakes under way, three waiting for a slot (not connected, no clock running); the
    // first two began their 1 s just before, which only a stall of this process that long could end
    expect(handshakesInFlight()).toEqual({ active: 2, waiting: 3 });
    expect(accepted).toHaveLength(2);
    const results = await Promise.all(tries);
    // every one failed on its own timeout, after the full 1 s of its own handshake
    for (const r of results)
      expect(r).toMatchObject({
        ok: false,
        why: expect.stringMatching(/^\w: cannot connect to 127\.0\.0\.1:\d+: .*(handshake|no answer)/i),
      });
    // in three waves: 2, 2, 1 (without the limit all five would have ended together at ~1 s)
    const ends = results.map((r) => r.at).sort((x, y) => x - y);
    expect(ends[4]).toBeGreaterThanOrEqual(3 * 1000);
    expect(accepted).toHaveLength(5);
    expect(accepted[4] - accepted[0]).toBeGreaterThanOrEqual(2 * 1000 - 50);
    expect(handshakesInFlight()).toEqual({ active: 0, waiting: 0 });
  });
});
