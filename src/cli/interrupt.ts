// Ctrl-C during an apply (of an inventory or a plan file): the first is a request to stop, the
// second leaves at once; after the first, where each host stopped and what to run next.
import type { StopRequest } from '../engine/host.ts';
import type { HostResult } from '../engine/index.ts';

/**
 * Runs the hosts with Ctrl-C as a request (apply only): the first stops what has not started, the
 * second leaves at once. `interrupted`: the first came.
 */
export async function runInterruptibly(
  again: string,
  dryRun: boolean,
  run: (stop: StopRequest) => Promise<HostResult[]>,
): Promise<{ results: HostResult[]; interrupted: boolean }> {
  const stop: StopRequest = { requested: false };
  const onInterrupt = () => {
    if (!stop.requested) {
      stop.requested = true;
      process.stderr.write(
        '\ninterrupted: no new host or step starts; each running step finishes on its host, then each host that changed is rolled back. ' +
          'Press Ctrl-C again to leave at once.\n',
      );
      return;
    }
    process.stderr.write(
      '\nleaving at once: the steps already started keep running on the hosts (detached from this connection); ' +
        `the next \`mailprov apply ${again}\` waits for them and takes over.\n`,
    );
    process.exit(EXIT_INTERRUPTED);
  };
  if (!dryRun) process.on('SIGINT', onInterrupt);
  try {
    const results = await run(stop);
    return { results, interrupted: stop.requested };
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** 128 + SIGINT, as a shell reports a command Ctrl-C ended. */
export const EXIT_INTERRUPTED = 130;

/** After a first Ctrl-C: per host, where it stopped and what to run next. */
export function interruptedReport(results: HostResult[], inventoryFile: string): string {
  const again = `mailprov apply ${inventoryFile}`;
  const lines = results.map((r) => {
    const where = r.stopped ? `stopped ${r.stopped}` : 'failed on its own';
    switch (r.status) {
      case 'rolled-back':
        return `  ${r.host}: ${where}; generation ${r.rolledBack?.generation} was rolled back, the host is as it was before this run (packages installed stay). Next: ${again}`;
      case 'skipped':
        return `  ${r.host}: ${r.stopped === 'not started' ? 'not started' : `stopped ${r.stopped}`}; nothing was changed. Next: ${again}`;
      case 'failed':
        return `  ${r.host}: ${where}, and it failed (see its error above). Next: ${again}`;
      default:
        return `  ${r.host}: finished (${r.status}); nothing more to do`;
    }
  });
  return `\ninterrupted (Ctrl-C): every host is consistent, where each stopped:\n${lines.join('\n')}\n`;
}
