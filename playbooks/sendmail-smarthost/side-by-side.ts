// Read-only checks that do not depend on one another run at the same time, each on its own channel
// of the host's one connection: their round trips overlap instead of adding up (on one host, the
// checks after a restart took ~0.5 s one after another). What they say (log lines, warnings,
// notes) is held back and given in the order the checks are written, and the first failure in
// that order is the one thrown, so a report reads as if they had run one by one.
import type { ProbeContext } from 'mailprov';

type Said = { say: 'log'; line: string } | { say: 'warn' | 'info'; message: string; code?: string };

export async function sideBySide<C extends ProbeContext>(ctx: C, checks: ((ctx: C) => Promise<unknown>)[]): Promise<void> {
  const held = checks.map(() => [] as Said[]);
  const outcomes = await Promise.allSettled(
    checks.map((check, i) =>
      check({
        ...ctx,
        log: (line) => held[i].push({ say: 'log', line }),
        warn: (message, code) => held[i].push({ say: 'warn', message, code }),
        info: (message, code) => held[i].push({ say: 'info', message, code }),
      }),
    ),
  );
  for (const [i, outcome] of outcomes.entries()) {
    for (const s of held[i]) {
      if (s.say === 'log') ctx.log(s.line);
      else ctx[s.say](s.message, s.code);
    }
    if (outcome.status === 'rejected') throw outcome.reason;
  }
}
