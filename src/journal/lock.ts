// One run per host: a flock held by an SSH channel for as long as the run lives. The kernel
// releases it when the holder dies, so it cannot go stale. The host's facts may be gathered in the
// same channel, once the lock is held: one round trip for both (a no-op apply is lock + facts).
import { CommandError, ConnectionLostError, LockError } from '../errors.ts';
import type { FactQuery } from '../facts/fact.ts';
import { buildFactScript, parseFacts, type FactScript } from '../facts/gather.ts';
import type { HostFacts } from '../facts/types.ts';
import { redact } from '../secrets/index.ts';
import { shellQuote } from '../transport/quote.ts';
import type { Connection } from '../transport/ssh.ts';
import { JOURNAL_DIR } from './scripts.ts';

/** The held lock; `facts` when they were asked for with it. */
export interface HeldLock {
  release(): void;
  facts?: HostFacts;
}

/**
 * Holds the host's lock for as long as the returned release() is not called (or we live). With
 * `reclaim`, a lock held under this very `info` is this run's own, from a connection that dropped
 * (the host has not noticed yet that its session is gone): its holder is ended and the lock taken.
 */
export async function acquireLock(
  conn: Connection,
  info: string,
  opts: { reclaim?: boolean; facts?: FactQuery[] } = {},
): Promise<HeldLock> {
  const held = await tryLock(conn, info, 'flock -n', opts.facts && buildFactScript(opts.facts));
  if (held !== 'busy' || !opts.reclaim) return lockOutcome(conn, held);
  const holder = (await conn.exec(`cat ${JOURNAL_DIR}/lock.info 2>/dev/null`)).stdout.trim();
  if (holder !== info) return lockOutcome(conn, held);
  // the holder is `cat`, exec'd by the shell that wrote its pid: end it only if it still is
  await conn.exec(`pid=$(cat ${JOURNAL_DIR}/lock.pid 2>/dev/null) && [ "$(cat /proc/$pid/comm 2>/dev/null)" = cat ] && kill "$pid"; true`);
  return lockOutcome(conn, await tryLock(conn, info, 'flock -w 10', opts.facts && buildFactScript(opts.facts)));
}

async function lockOutcome(conn: Connection, held: HeldLock | 'busy' | 'timeout'): Promise<HeldLock> {
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

/**
 * Opens the holder's channel. With a fact script, the holder runs it once the lock is held (in a
 * subshell, stdin closed: the channel's stdin is the lock's life) and prints the marker's `done`
 * line with its exit code; the facts are what it printed between LOCKED and that line.
 */
async function tryLock(conn: Connection, info: string, flock: string, facts?: FactScript): Promise<HeldLock | 'busy' | 'timeout'> {
  const gather = facts ? `; ( eval "$2" ) </dev/null; echo "$3 $?"` : '';
  const channel = await conn.openChannel(
    `mkdir -p ${JOURNAL_DIR} && chmod 0700 ${JOURNAL_DIR} && exec ${flock} ${JOURNAL_DIR}/lock sh -c 'printf "%s\\n" "$1" > ${JOURNAL_DIR}/lock.info; echo $$ > ${JOURNAL_DIR}/lock.pid; echo LOCKED${gather}; exec cat >/dev/null' sh ${shellQuote(info)}${facts ? ` ${shellQuote(facts.script)} ${shellQuote(`${facts.marker} done`)}` : ''}`,
  );
  let out = '';
  let stderr = '';
  channel.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const outcome = await new Promise<'locked' | 'busy' | 'timeout'>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), 30_000);
    let locked = false;
    channel.on('data', (d: Buffer) => {
      out += d.toString();
      if (!locked && out.includes('LOCKED')) {
        locked = true;
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
  if (outcome !== 'locked') return outcome;
  const release = () => channel.end();
  if (!facts) return { release };
  try {
    return {
      release,
      facts: await factsFrom(
        conn,
        channel,
        facts,
        () => out,
        () => stderr,
      ),
    };
  } catch (err) {
    release();
    throw err;
  }
}

/** The facts the holder prints after LOCKED, once its done line (with the script's exit code) came. */
async function factsFrom(
  conn: Connection,
  channel: Awaited<ReturnType<Connection['openChannel']>>,
  facts: FactScript,
  out: () => string,
  stderr: () => string,
): Promise<HostFacts> {
  // the done line is the holder's last output (cat prints nothing): only the end is looked at
  const done = `${facts.marker} done `;
  const code = await new Promise<number | null>((resolve) => {
    const check = () => {
      const text = out();
      if (!text.endsWith('\n')) return false;
      const last = text.slice(text.lastIndexOf('\n', text.length - 2) + 1, -1);
      if (!last.startsWith(done) || !/^\d+$/.test(last.slice(done.length))) return false;
      resolve(Number(last.slice(done.length)));
      return true;
    };
    if (check()) return;
    const onData = () => {
      if (check()) channel.off('data', onData);
    };
    channel.on('data', onData);
    channel.on('close', () => resolve(null));
  });
  if (code === null) {
    if (conn.isOpen?.() === false)
      throw new ConnectionLostError(conn.target.name, 'the connection was lost while the facts were gathered (the lock went with it)');
    throw new CommandError(
      conn.target.name,
      'gather facts',
      null,
      '',
      redact(stderr()),
      'fact gathering (the lock holder ended before the facts did)',
    );
  }
  if (code !== 0) throw new CommandError(conn.target.name, 'gather facts', code, '', redact(stderr()), 'fact gathering');
  const text = out();
  return parseFacts(text.slice(text.indexOf('LOCKED\n') + 'LOCKED\n'.length), facts);
}
