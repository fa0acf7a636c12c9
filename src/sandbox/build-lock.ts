// One build of a cached base at a time on this machine. Two processes that need the same base (two
// integration test files starting side by side, or two `sandbox up`) would otherwise both run
// mmdebstrap for minutes: each build is safe (built beside the target and renamed), but one is
// wasted. The lock is a folder (mkdir is atomic) holding the builder's pid; a lock whose builder
// has died is taken over, so a killed build never blocks the next.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';

/** A lock folder without its pid yet is its builder's first instant; older than this, its builder died there. */
const PID_GRACE_MS = 10_000;

function holderAlive(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    try {
      return Date.now() - statSync(lock).mtimeMs < PID_GRACE_MS;
    } catch {
      return false; // gone meanwhile
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `build` holding the lock `<dir>/build.lock`; `build` checks first whether a builder before it
 * has done the work meanwhile. Waits (saying so once) while another live process holds the lock.
 */
export async function withBuildLock<T>(dir: string, log: (line: string) => void, build: () => Promise<T>): Promise<T> {
  const lock = join(dir, 'build.lock');
  let said = false;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!holderAlive(lock)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (!said) log(`waiting for another process building in ${dir}`);
    said = true;
    await pause(500);
  }
  try {
    writeFileSync(join(lock, 'pid'), String(process.pid));
    return await build();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
