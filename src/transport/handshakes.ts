// How many SSH handshakes (TCP connect, key exchange, authentication) run at once in this process,
// over every host and jump hop of a run. A connect timeout is for a host that does not answer, not
// for a controller busy with a thousand key exchanges: with `--forks 1000` every handshake started
// at once on a 2-core machine and 704 of 1,000 sandbox hosts passed the 10 s timeout waiting for CPU.
// A handshake waits here for a slot, and its timeout starts when it does. Commands on open
// connections are not limited: only the handshake's CPU burst is.
import pLimit from 'p-limit';

/** MAILPROV_MAX_HANDSHAKES, else 64: enough to keep a controller busy, few enough that each finishes in time. */
export const DEFAULT_MAX_HANDSHAKES = 64;

function fromEnv(): number {
  const n = Number(process.env.MAILPROV_MAX_HANDSHAKES);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_HANDSHAKES;
}

let limit = pLimit(fromEnv());

/** Runs `handshake` when a slot is free. Never nest: a hop's handshake takes its own slot, after its route is open. */
export function withHandshakeSlot<T>(handshake: () => Promise<T>): Promise<T> {
  return limit(handshake);
}

/** For tests and embedders: a new limit (handshakes already waiting keep the old one). */
export function setMaxHandshakes(n: number): void {
  limit = pLimit(n);
}

export const handshakesInFlight = () => ({ active: limit.activeCount, waiting: limit.pendingCount });
