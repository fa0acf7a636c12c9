// Remote scripts that stop at their first failing command. Every multi-command script mailprov
// sends is built here, so that no failure hides behind the commands after it (a makemap that could
// not write its map, followed by a chmod that could). `set -e` is not enough: it is off inside
// if/while conditions, on the left of && and ||, and in functions called from there, and a script
// used as one of those loses it without a word. Here each command's exit status is checked on the
// line after it, at the top level, and a failure is said on stderr (which step, what it ran, its
// exit status) before the script exits with that same status.
import { shellQuote } from './quote.ts';

/** What a failing step says on stderr; parseScriptFailure reads it back. */
const FAILED = 'mailprov: step';

/** The text a step is named by: its first line, shortened. Commands never hold secrets (content travels on stdin). */
function stepName(command: string): string {
  const first = command.trim().split('\n')[0];
  const lines = command.trim().split('\n').length;
  const short = first.length > 160 ? `${first.slice(0, 157)}...` : first;
  return lines > 1 ? `${short} ...` : short;
}

/** A command of a script, or one with the name its failure report gives it (default: its first line). */
export type ScriptStep = string | { run: string; name: string };

/**
 * Joins commands into one script that runs them in order and stops at the first that fails, with
 * its exit status. Each command must be one complete shell command (a pipeline, an `if ... fi`, a
 * subshell, a `for` loop): its own exit status is what counts, so a command whose failure is a
 * branch belongs in a condition (`if cmp -s ...; then`), and a tolerated one says so (`|| true`).
 * A command may `exit 0` to end the script early. Empty commands are left out.
 */
export function script(commands: readonly ScriptStep[]): string {
  const steps = commands.map((c) => (typeof c === 'string' ? { run: c, name: stepName(c) } : c)).filter((c) => c.run.trim() !== '');
  const n = steps.length;
  return steps
    .map((c, i) => {
      const said = shellQuote(`${FAILED} ${i + 1} of ${n} failed`);
      return `${c.run}\nmp_rc=$?; if [ "$mp_rc" -ne 0 ]; then printf '%s (exit %s): %s\\n' ${said} "$mp_rc" ${shellQuote(c.name)} >&2; exit "$mp_rc"; fi`;
    })
    .join('\n');
}

/** A script's failure report, if its stderr holds one: the step, the command's first line and its exit status. */
export function parseScriptFailure(stderr: string): { step: number; of: number; exit: number; command: string } | undefined {
  const m = /^mailprov: step (\d+) of (\d+) failed \(exit (\d+)\): (.*)$/m.exec(stderr);
  return m ? { step: Number(m[1]), of: Number(m[2]), exit: Number(m[3]), command: m[4] } : undefined;
}
