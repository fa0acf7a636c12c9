// One run per host: a flock held by an SSH channel for as long as the run lives. The kernel
// releases it when the holder dies, so it cannot go stale.
import { LockError } from '../errors.ts';
import { shellQuote } from '../transport/quote.ts';
import type { Connection } from '../transport/ssh.ts';
import { JOURNAL_DIR } from './scripts.ts';

/**
 * Holds the host's lock for as long as the returned release() is not called (or we live). With
 * `reclaim`, a lock held under this very `info` is this run's own, from a connection that dropped
 * (the host has not noticed yet that its session is gone): its holder is ended and the lock taken.
 */
export async function acquireLock(conn: Connection, info: string, opts: { reclaim?: boolean } = {}): Promise<{ release(): void }> {
  const held = await tryLock(conn, info, 'flock -n');
  if (held !== 'busy' || !opts.reclaim) return lockOutcome(conn, held);
  const holder = (await conn.exec(`cat ${JOURNAL_DIR}/lock.info 2>/dev/null`)).stdout.trim();
  if (holder !== info) return lockOutcome(conn, held);
  // the holder is `cat`, exec'd by the shell that wrote its pid: end it only if it still is
  await conn.exec(`pid=$(cat ${JOURNAL_DIR}/lock.pid 2>/dev/null) && [ "$(cat /proc/$pid/comm 2>/dev/null)" = cat ] && kill "$pid"; true`);
  return lockOutcome(conn, await tryLock(conn, info, 'flock -w 10'));
}

async function lockOutcome(conn: Connection, held: { release(): void } | 'busy' | 'timeout'): Promise<{ release(): void }> {
  if (held === 'timeout')
    throw new LockError(
      `${conn.target.name}: taking the host's lock did not answer within 30 s (a sudo prompt mailprov did not recognise?)`,
    );
  if (held === 'busy') {
    const holder = (await conn.exec(`cat ${JOURNAL_DIR}/lock.info 2>/dev/null`)).stdout.trim();
    throw new LockError(
      `${conn.target.name}: another mailprov run holds the host's lock (${holder || 'holder unknown'}); try again when it has finished`,
    );
  }
  return held;
}

async function tryLock(conn: Connection, info: string, flock: string): Promise<{ release(): void } | 'busy' | 'timeout'> {
  const channel = await conn.openChannel(
    `mkdir -p ${JOURNAL_DIR} && chmod 0700 ${JOURNAL_DIR} && exec ${flock} ${JOURNAL_DIR}/lock sh -c 'printf "%s\\n" "$1" > ${JOURNAL_DIR}/lock.info; echo $$ > ${JOURNAL_DIR}/lock.pid; echo LOCKED; exec cat >/dev/null' sh ${shellQuote(info)}`,
  );
  const outcome = await new Promise<'locked' | 'busy' | 'timeout'>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve('timeout'), 30_000);
    channel.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('LOCKED')) {
        clearTimeout(timer);
        resolve('locked');
      }
    });
    channel.on('close', () => {
      clearTimeout(timer);
      resolve('busy');
    });
  });
  if (outcome === 'timeout') channel.close();
  return outcome === 'locked' ? { release: () => channel.end() } : outcome;
}
