// --shard i/n: a deterministic slice of the selected hosts, so a CI matrix or a Kubernetes Indexed
// Job can fan a fleet out over runners. Rendezvous hashing: each host goes to the shard whose
// sha256(shard, name) scores highest. A host's shard depends only on its own name and n, so adding or
// removing hosts moves no other host, going from n to n+1 shards moves about 1/(n+1) of them, and
// --limit and --shard give the same hosts in either order.
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.ts';

export interface Shard {
  /** 1-based: shard 1 of 3 is the first. */
  index: number;
  count: number;
}

/** Kubernetes Indexed Jobs set this in every pod, from 0 to completions - 1. */
export const SHARD_INDEX_ENV = 'JOB_COMPLETION_INDEX';

const FORMS = `expected i/n with 1 <= i <= n (e.g. 2/3, the second of 3 shards) or auto/n (i from $${SHARD_INDEX_ENV}, 0-based, plus 1)`;

/** "2/3" -> { index: 2, count: 3 }; "auto/3" takes the index from $JOB_COMPLETION_INDEX (0-based). */
export function parseShard(spec: string, env: Record<string, string | undefined> = process.env): Shard {
  const m = /^\s*(auto|\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new UsageError(`--shard ${spec}: ${FORMS}`);
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1) throw new UsageError(`--shard ${spec}: n must be at least 1`);
  if (m[1] === 'auto') return { index: indexFromEnv(spec, count, env), count };
  const index = Number(m[1]);
  if (index < 1 || index > count)
    throw new UsageError(`--shard ${spec}: there is no shard ${index} of ${count}; i goes from 1 to ${count}`);
  return { index, count };
}

/** The --shard option as given: none means every host. */
export const shardOption = (spec: string | undefined): Shard | undefined => (spec === undefined ? undefined : parseShard(spec));

function indexFromEnv(spec: string, count: number, env: Record<string, string | undefined>): number {
  const raw = env[SHARD_INDEX_ENV];
  if (raw === undefined || raw.trim() === '')
    throw new UsageError(
      `--shard ${spec}: ${SHARD_INDEX_ENV} is not set (a Kubernetes Indexed Job sets it); give the shard as i/n instead`,
    );
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--shard ${spec}: ${SHARD_INDEX_ENV}=${raw} is not a whole number`);
  const zeroBased = Number(raw.trim());
  if (zeroBased >= count)
    throw new UsageError(`--shard ${spec}: ${SHARD_INDEX_ENV}=${zeroBased} is outside 0..${count - 1}: the Job's completions must equal n`);
  return zeroBased + 1;
}

/** The shard (1..count) a host name belongs to. */
export function shardOf(name: string, count: number): number {
  let best = 1;
  let bestScore = -1n;
  for (let i = 1; i <= count; i++) {
    const score = createHash('sha256').update(`${i}\0${name}`).digest().readBigUInt64BE(0);
    // ties (2^-64) go to the lower index, so the result is still a function of the name alone
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}

/** The hosts of one shard, in their order; every host is in exactly one shard of a given n. */
export function shardHosts<H extends { name: string }>(hosts: H[], shard: Shard | undefined): H[] {
  if (!shard || shard.count === 1) return hosts;
  return hosts.filter((h) => shardOf(h.name, shard.count) === shard.index);
}

/** "2/3", as the JSON and the messages write a shard. */
export const shardLabel = (s: Shard) => `${s.index}/${s.count}`;
