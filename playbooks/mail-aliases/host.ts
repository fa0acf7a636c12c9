// What the mail aliases playbook runs on a host: newaliases (whose exit code says nothing of whether
// it rebuilt anything), and the post-apply proof that sendmail's own database holds the aliases.
import { OperationError, script, shellQuote, type VerifyContext } from 'mailprov';
import { rhsMatches } from './edit.ts';

export const ALIASES = '/etc/aliases';
const SENDMAIL = '/usr/sbin/sendmail';

/**
 * Rebuilds the aliases database. sendmail's newaliases exits 0 even when it cannot open its alias
 * file (as on a RHEL host whose sendmail.mc lacks ALIAS_FILE: it then reads /etc/mail/aliases), so
 * success is its "<file>: N aliases" line for a file that is /etc/aliases. With no sendmail yet (a
 * playbook bound before the one that installs it), the package's install builds the database from
 * the file, and verification proves it.
 */
export function newaliasesCommand(aliases = ALIASES): string {
  const path = shellQuote(aliases);
  return script([
    'if ! command -v newaliases >/dev/null 2>&1; then echo "newaliases not found: the aliases database is left to the MTA\'s installation"; exit 0; fi',
    // a rollback may have removed the file (it did not exist before): nothing to build from
    `if [ ! -f ${path} ]; then echo ${shellQuote(`${aliases} does not exist: nothing to rebuild`)}; exit 0; fi`,
    'out=$(newaliases 2>&1); rc=$?',
    'printf "%s\\n" "$out"',
    'if [ "$rc" -ne 0 ]; then exit "$rc"; fi',
    `want=$(readlink -f ${path})`,
    `for f in $(printf "%s\\n" "$out" | sed -n 's/^\\(\\/[^:]*\\): [0-9][0-9]* aliases, longest .*/\\1/p'); do if [ "$(readlink -f "$f")" = "$want" ]; then exit 0; fi; done`,
    `echo ${shellQuote(`newaliases did not rebuild the database of ${aliases}: sendmail reads its aliases from elsewhere (ALIAS_FILE in sendmail.mc)`)} >&2`,
    'exit 1',
  ]);
}

/** sendmail -bt input that looks each name up in the aliases map (keys are stored in lower case). */
export const lookupScript = (names: string[]) => names.map((n) => `/map aliases ${n.toLowerCase()}\n`).join('');

/** sendmail -bt's answers: name -> the stored right-hand side, or null for no match. */
export function parseLookups(output: string): Map<string, string | null> {
  const found = new Map<string, string | null>();
  for (const m of output.matchAll(/map_lookup: aliases \(([^)]*)\) (?:returns (.*) \(\d+\)|no match)/g)) {
    found.set(m[1], m[2] ?? null);
  }
  return found;
}

/**
 * After a changing apply: each managed name, looked up by sendmail itself in its aliases database,
 * says what the settings say. After a rollback the restored file is what counts, and the rollback
 * rebuilt the database from it: nothing to compare with the settings.
 */
export async function verifyAliases(ctx: VerifyContext, aliases: Record<string, string[]>): Promise<void> {
  if (ctx.mode === 'rollback') return;
  const names = Object.keys(aliases);
  const r = await ctx.exec(`${SENDMAIL} -bt`, lookupScript(names));
  if (r.code === 127) throw new OperationError(`verification failed: ${SENDMAIL} is not installed (mailAliases needs sendmail)`);
  const found = parseLookups(r.stdout);
  const wrong = names.filter((n) => {
    const rhs = found.get(n.toLowerCase());
    return rhs === undefined || rhs === null || !rhsMatches(rhs, aliases[n]);
  });
  if (wrong.length) {
    const said = (n: string) => `${n}: ${found.get(n.toLowerCase()) ?? 'no entry'}`;
    throw new OperationError(
      `verification failed: sendmail's aliases database does not hold what ${ALIASES} says for ${wrong.join(', ')}`,
      wrong.map(said),
    );
  }
  ctx.log(`sendmail's aliases database holds ${names.map((n) => `${n} -> ${aliases[n].join(', ')}`).join('; ')}`);
}
