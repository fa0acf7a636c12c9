// The firewall watcher and its confirmation, run for real under dash in a temp folder: one atomic
// decision, a late confirmation loses, a timely one stops the watcher, a reused pid is never killed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { confirmCommand, newWatch, settleWatchersCommand, watcherCommand } from '../../../src/engine/revert-watcher.ts';
import { genDir } from '../../../src/journal/scripts.ts';
import { sh } from '../../../src/transport/quote.ts';

const dash = (script: string) => spawnSync('/bin/dash', ['-c', script], { encoding: 'utf8' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Running, and not a zombie waiting for a parent that does not reap (the watcher is orphaned on purpose). */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'confirm-'));
  mkdirSync(genDir(1, root), { recursive: true });
  const reverted = join(root, 'reverted');
  const w = newWatch(1, 1, root);
  return { root, w, reverted, revert: [{ label: 'revert', command: sh`echo undone > ${reverted}` }] };
}

/** Waits for an event (polled every 20 ms); the deadline is only for a hang, never a decision. */
async function until(what: string, happened: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!happened()) {
    if (Date.now() > deadline) throw new Error(`${what}: not seen within 20 s`);
    await sleep(20);
  }
}

/** Whether a SIGTERM waits to be delivered to the process (/proc/<pid>/status, SigPnd and ShdPnd). */
const termPending = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const masks = [...status.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$/gm)].map((m) => BigInt(`0x${m[1]}`));
  expect(masks).toHaveLength(2);
  return masks.some((m) => (m & (1n << 14n)) !== 0n); // SIGTERM is signal 15
};

/** The watcher runs in a session of its own (setsid): ends it and its sleep, once the test is done. */
const endSession = (pid: number) => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // gone already
  }
};

// No test here races the watcher's clock: a watcher that must not fire has a deadline (120 s) no
// test comes near (a test gives up waiting at 20 s), and one that must fire is waited for (its
// revert is seen) before anyone confirms.
describe('firewall watcher and confirmation', () => {
  it('a confirmation in time wins: the watcher is stopped and reverts nothing', async () => {
    const { w, reverted, revert } = setup();
    expect(dash(watcherCommand(w, revert, 120)).status).toBe(0);
    const pid = Number(readFileSync(`${w.base}.pid`, 'utf8'));
    try {
      expect(alive(pid)).toBe(true);
      const r = dash(confirmCommand(w));
      expect([r.status, r.stdout.trim()]).toEqual([0, 'confirmed']);
      // stopped: it is gone, so it can revert nothing, ever
      await until('the watcher ending', () => !alive(pid));
      expect(existsSync(reverted)).toBe(false);
      expect(readFileSync(`${w.base}.decided/outcome`, 'utf8')).toBe('confirmed\n');
    } finally {
      endSession(pid);
    }
  });

  it('a late confirmation loses to the watcher: the change is reverted and the confirmation says so', async () => {
    const { w, reverted, revert } = setup();
    dash(watcherCommand(w, revert, 1));
    // late: the watcher has decided and reverted (seen, not assumed after some time)
    await until('the revert', () => existsSync(reverted) && readFileSync(reverted, 'utf8') === 'undone\n');
    expect(readFileSync(`${w.base}.decided/outcome`, 'utf8')).toBe('reverted\n');
    const r = dash(confirmCommand(w));
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/decided already: reverted/);
    expect(readFileSync(reverted, 'utf8')).toBe('undone\n');
  });

  it('never kills a process that is not the watcher, though its pid is in the file', () => {
    const { w, root } = setup();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(`${w.base}.pid`, `${other.pid}\n`);
      expect(dash(confirmCommand(w)).status).toBe(0);
      expect(dash(settleWatchersCommand(1, root)).status).toBe(0);
      // a kill sent by either would be delivered or still pending now (kill(1) returned before dash
      // did): alive, with no SIGTERM waiting, means none was sent; no waiting to see
      expect(alive(other.pid!)).toBe(true);
      expect(termPending(other.pid!)).toBe(false);
    } finally {
      other.kill();
    }
  });

  it('a rollback takes the pending decisions of its generation: the watcher acts no more', async () => {
    const { w, reverted, revert, root } = setup();
    dash(watcherCommand(w, revert, 120));
    const pid = Number(readFileSync(`${w.base}.pid`, 'utf8'));
    try {
      expect(dash(settleWatchersCommand(1, root)).status).toBe(0);
      await until('the watcher ending', () => !alive(pid));
      expect(existsSync(reverted)).toBe(false);
      expect(readFileSync(`${w.base}.decided/outcome`, 'utf8')).toBe('rolled-back\n');
      expect(dash(confirmCommand(w)).status).toBe(3);
    } finally {
      endSession(pid);
    }
  });
});
