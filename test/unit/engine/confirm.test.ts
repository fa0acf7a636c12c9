// The firewall watcher and its confirmation, run for real under dash in a temp folder: one atomic
// decision, a late confirmation loses, a timely one stops the watcher, a reused pid is never killed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { confirmCommand, newWatch, settleWatchersCommand, watcherCommand } from '../../../src/engine/confirm.ts';
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

describe('firewall watcher and confirmation', () => {
  it('a confirmation in time wins: the watcher is stopped and reverts nothing', async () => {
    const { w, reverted, revert } = setup();
    expect(dash(watcherCommand(w, revert, 2)).status).toBe(0);
    const pid = Number(readFileSync(`${w.base}.pid`, 'utf8'));
    expect(alive(pid)).toBe(true);
    const r = dash(confirmCommand(w));
    expect([r.status, r.stdout.trim()]).toEqual([0, 'confirmed']);
    await sleep(300);
    expect(alive(pid)).toBe(false);
    await sleep(2200);
    expect(existsSync(reverted)).toBe(false);
    expect(readFileSync(`${w.base}.decided/outcome`, 'utf8')).toBe('confirmed\n');
  });

  it('a late confirmation loses to the watcher: the change is reverted and the confirmation says so', async () => {
    const { w, reverted, revert } = setup();
    dash(watcherCommand(w, revert, 1));
    await sleep(1800);
    const r = dash(confirmCommand(w));
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/decided already: reverted/);
    expect(readFileSync(reverted, 'utf8')).toBe('undone\n');
  });

  it('never kills a process that is not the watcher, though its pid is in the file', async () => {
    const { w, root } = setup();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(`${w.base}.pid`, `${other.pid}\n`);
      expect(dash(confirmCommand(w)).status).toBe(0);
      expect(dash(settleWatchersCommand(1, root)).status).toBe(0);
      await sleep(200);
      expect(alive(other.pid!)).toBe(true);
    } finally {
      other.kill();
    }
  });

  it('a rollback takes the pending decisions of its generation: the watcher acts no more', async () => {
    const { w, reverted, revert, root } = setup();
    dash(watcherCommand(w, revert, 1));
    const pid = Number(readFileSync(`${w.base}.pid`, 'utf8'));
    expect(dash(settleWatchersCommand(1, root)).status).toBe(0);
    await sleep(1500);
    expect(alive(pid)).toBe(false);
    expect(existsSync(reverted)).toBe(false);
    expect(readFileSync(`${w.base}.decided/outcome`, 'utf8')).toBe('rolled-back\n');
    expect(dash(confirmCommand(w)).status).toBe(3);
  });
});
