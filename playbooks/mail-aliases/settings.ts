// The mail aliases playbook's settings: alias name -> target(s), validated when the inventory loads.
// A value becomes part of a line of /etc/aliases, so what could add lines, start a comment or
// split a target in two is refused here rather than written.
import { z } from 'mailprov';

/** Local names as sendmail's aliases take them unquoted: root, postmaster, MAILER-DAEMON, www-data. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const LOCAL_PART = /^[A-Za-z0-9_+=-]+(\.[A-Za-z0-9_+=-]+)*$/;
const DOMAIN = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const PATH = /^\/[A-Za-z0-9._+/-]*$/;

export const NAME_RULE =
  'expected an alias name: letters, digits and . _ - (starting with a letter or digit), such as root or MAILER-DAEMON';

/**
 * Why a target cannot be written into /etc/aliases, or undefined when it can. Allowed: an address
 * (ops@example.org), a local name (root, or \root for "deliver here, alias no further"), a program
 * (|/usr/local/bin/ticket --queue ops, written quoted), :include:/path and a /path to append to.
 */
export function targetProblem(target: string): string | undefined {
  if (target === '') return 'an empty target';
  if (/[\x00-\x1f\x7f]/.test(target)) return 'a control character (a line break would add lines of its own to /etc/aliases)';
  if (target.includes('#')) return "a '#' (it starts comments in /etc/aliases)";
  if (target.includes('"')) return 'a double quote (programs are quoted by mailprov; other targets need none)';
  if (target.trim() !== target) return 'spaces around it';
  if (target.startsWith('|')) {
    if (!target.startsWith('|/')) return 'a program that is not an absolute path (|/usr/local/bin/...)';
    if (target.includes('\\')) return 'a backslash in a program';
    return /^\|[\x20-\x7e]+$/.test(target) ? undefined : 'a program with characters other than printable ASCII';
  }
  if (target.includes(',')) return "a comma: give several targets as a list, e.g. ['ops@example.org', 'oncall@example.org']";
  if (target.startsWith(':include:')) {
    return PATH.test(target.slice(':include:'.length)) ? undefined : ':include: without an absolute path of letters, digits and . _ + - /';
  }
  if (target.startsWith('/')) return PATH.test(target) ? undefined : 'a file path with characters other than letters, digits and . _ + - /';
  const at = target.lastIndexOf('@');
  if (at >= 0) {
    const local = target.slice(0, at);
    const domain = target.slice(at + 1);
    if (!LOCAL_PART.test(local)) return 'an address whose local part has characters other than letters, digits and . _ + = -';
    if (!DOMAIN.test(domain) || domain.length > 253) return 'an address whose domain is not a host name';
    return undefined;
  }
  if (NAME.test(target.replace(/^\\/, ''))) return undefined;
  return 'neither an address, a local name, |/program, :include:/file nor a /file';
}

const targets = z
  .union([z.string(), z.array(z.string()).min(1, 'at least one target')], {
    error: 'a target (an address, a local name, |/program, :include:/file or /file) or a list of them',
  })
  .transform((v) => (typeof v === 'string' ? [v] : v))
  .superRefine((list, ctx) => {
    list.forEach((t, i) => {
      const problem = targetProblem(t);
      if (problem) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(t)}: ${problem}`, path: list.length > 1 ? [i] : [] });
    });
  })
  .describe(
    'one target or a list of them: an address (`ops@example.org`), a local name (`root`; `\\root` delivers to root itself, no further aliasing), a program (`|/usr/local/bin/ticket --queue ops`), an include file (`:include:/etc/mail/lists/ops`) or a file (`/dev/null`); see "Targets" below',
  );

export const mailAliasesSettingsSchema = z
  .record(z.string(), targets)
  .superRefine((aliases, ctx) => {
    const names = Object.keys(aliases);
    if (!names.length) ctx.addIssue({ code: 'custom', message: 'at least one alias, such as { root: "ops@example.org" }' });
    for (const name of names.filter((n) => !NAME.test(n))) ctx.addIssue({ code: 'custom', message: NAME_RULE, path: [name] });
    // sendmail folds alias names to lower case: Root and root are one alias
    const seen = new Map<string, string>();
    for (const name of names) {
      const other = seen.get(name.toLowerCase());
      if (other) ctx.addIssue({ code: 'custom', message: `${other} and ${name} are the same alias (sendmail ignores case)`, path: [name] });
      seen.set(name.toLowerCase(), name);
    }
  })
  .describe(
    'an alias name (`root`, `postmaster`, `MAILER-DAEMON`): letters, digits and `. _ -`, starting with a letter or digit; one spelling per name, since sendmail folds names to lower case; at least one alias',
  );

/** Alias name -> its targets, in the order given. */
export type MailAliasesSettings = z.output<typeof mailAliasesSettingsSchema>;
export type MailAliasesSettingsInput = z.input<typeof mailAliasesSettingsSchema>;
