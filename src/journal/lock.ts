// One run per host: a flock held by an SSH channel for as long as the run lives. The kernel
// releases it when the holder dies, so it cannot go stale.
import { LockError } from '../errors.ts';
import { shellQuote } from '../transport/quote.ts';
import type { Connection } from '../transport/ssh.ts';
import { JOURNAL_DIR } from './scripts.ts';

/** Holds the host's lock for as long as the returned release() is not called (or we live). */
export async function acquireLock(conn: Connection, info: string): Promise<{ release(): void }> {
  const channel = await conn.openChannel(
    `mkdir -p ${JOURNAL_DIR} && chmod 0700 ${JOURNAL_DIR} && exec flock -n ${JOURNAL_DIR}/lock sh -c 'printf "%s\\n" "$1" > ${JOURNAL_DIR}/lock.info; echo LOCKED; exec cat >/dev/null' sh ${shellQuote(info)}`,
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
  if (outcome === 'timeout') {
    channel.close();
    throw new LockError(
      `${conn.target.name}: taking the host's lock did not answer within 30 s (a sudo prompt mailprov did not recognise?)`,
    );
  }
  if (outcome === 'busy') {
    const holder = (await conn.exec(`cat ${JOURNAL_DIR}/lock.info 2>/dev/null`)).stdout.trim();
    throw new LockError(
      `${conn.target.name}: another mailprov run holds the host's lock (${holder || 'holder unknown'}); try again when it has finished`,
    );
  }
  return { release: () => channel.end() };
}
