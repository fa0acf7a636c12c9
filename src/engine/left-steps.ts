// What the next run knows about a generation left in progress: its steps ran detached on the host
// (transport/detached.ts), so their folders say whether the last one finished (when, with which exit),
// still runs, or died. The messages say which, and never guess a cause the host cannot tell: from
// there, a controller that died and a connection that dropped look the same (the session ended).
import { ConnectionLostError } from '../errors.ts';
import type { Generation } from '../journal/index.ts';
import { genDir } from '../journal/index.ts';
import { clockTime, type LeftStep, parseStepsStatus, runDetached, stepsStatusScript } from '../transport/detached.ts';
import type { Runner } from '../transport/runner.ts';

/** Per generation id, its step folders in the order they started. Read-only, one round trip. */
export async function readLeftSteps(runner: Runner, gens: Generation[]): Promise<Map<number, LeftStep[]>> {
  const byGen = new Map<number, LeftStep[]>();
  if (!gens.length) return byGen;
  const out = await runner.run(stepsStatusScript(gens.map((g) => ({ id: g.id, dir: genDir(g.id) }))), 'read the steps left on the host', {
    what: 'journal read',
  });
  for (const s of parseStepsStatus(out)) {
    if (!byGen.has(s.gen)) byGen.set(s.gen, []);
    byGen.get(s.gen)!.push(s);
  }
  return byGen;
}

/** The step a generation was at when its run was cut off: the last one started. */
const lastStep = (steps: LeftStep[]) => steps.at(-1);

/** One message for a generation left in progress: where its run was cut off, what its step did, what happens now. */
export function describeIncomplete(g: Generation, steps: LeftStep[], dry: boolean): string {
  if (g.kind === 'rollback')
    return (
      `generation ${g.id}, a rollback, was left incomplete (its run, ${g.by}, lost its connection or stopped)` +
      `${dry ? '; the next apply or rollback records it as failed' : ': recorded as failed, not undone'}; ` +
      'what it had not undone yet stays with the generations it was undoing, for the next rollback'
    );
  const last = lastStep(steps);
  const then = dry ? '; the next apply or rollback rolls the generation back first' : ': rolling the generation back first';
  const head = `generation ${g.id} was left incomplete: the connection of its run (${g.by}) was lost`;
  if (!last) return `${head} before its first step ran${then}`;
  const o = last.outcome;
  switch (o.state) {
    case 'finished':
      return `${head} during "${last.label}"; it finished on the host at ${clockTime(o.at)} with exit ${o.code}${
        o.code === 0 ? ' (done)' : ' (failed)'
      }${then}, as an apply that did not complete is`;
    case 'running':
      return `${head} during "${last.label}", which still runs on the host${dry ? '; the next apply or rollback waits for it, then rolls the generation back' : ': waiting for it, then rolling the generation back'}`;
    case 'died':
      return `${head} during "${last.label}", which died on the host without an exit status (killed, or the host restarted)${then}`;
    case 'not-started':
      return `${head} before "${last.label}" started${then}`;
  }
}

/**
 * Waits for the steps of `g` still running on the host (a reconnecting wait, as the run that started
 * them would have), so that nothing is rolled back under a step that is not over. Returns what each did.
 */
export async function waitForLeftSteps(runner: Runner, g: Generation, steps: LeftStep[]): Promise<string[]> {
  const said: string[] = [];
  for (const s of steps.filter((x) => x.outcome.state === 'running')) {
    runner.log(`waiting for "${s.label}" of generation ${g.id}, still running on the host`);
    let finished = '';
    const onFinished = (code: number, at: string) => (finished = `finished on the host at ${clockTime(at)} with exit ${code}`);
    try {
      await runDetached(runner, { dir: `${genDir(g.id)}/steps/${s.name}`, command: '', label: s.label, resumeOnly: true, onFinished });
    } catch (err) {
      // a non-zero exit or a death is what the step did, not a failure of this run: the generation is
      // rolled back either way; a connection that cannot be brought back is this run's failure
      if (err instanceof ConnectionLostError) throw err;
      if (!finished) finished = `ended on the host without finishing (${(err as Error).message})`;
    }
    said.push(`"${s.label}" of generation ${g.id}, which was still running, ${finished}`);
  }
  return said;
}
