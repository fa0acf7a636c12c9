// The m4 side of the lint: a scanner that walks an mc as m4 reads it (quotes, comments, argument
// lists, dnl), and the words of a value that m4 would run as macros when it reads the value again.
import type { Finding } from 'mailprov';
import { CF_MACROS } from './cf-names.ts';

/**
 * Walks the mc as m4 reads it: `quotes' nest, # starts a comment outside quotes, and a `dnl`
 * outside quotes while an argument list is open swallows the rest of the line, closing paren
 * included. That is the classic one-line confPRIVACY_FLAGS mistake: m4 then fails with "end of file
 * in argument list" and sendmail.cf comes out truncated.
 */
export function scanMc(text: string): Finding[] {
  const findings: Finding[] = [];
  let quote = 0;
  let parens = 0;
  let openedAt = 0;
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    const lineNo = i + 1;
    for (let j = 0; j < line.length; j++) {
      const ch = line[j];
      if (quote > 0) {
        if (ch === '`') quote++;
        else if (ch === "'") quote--;
        continue;
      }
      if (ch === '`') quote++;
      else if (ch === '#')
        break; // comment to end of line
      else if (ch === '(') {
        if (parens === 0) openedAt = lineNo;
        parens++;
      } else if (ch === ')' && parens > 0) parens--;
      else if (line.startsWith('dnl', j) && !/[A-Za-z0-9_]/.test(line[j - 1] ?? ' ') && !/[A-Za-z0-9_]/.test(line[j + 3] ?? ' ')) {
        // `dnl' at the end of a line inside a list is Debian's own continuation idiom
        // (define(`confPRIVACY_FLAGS',dnl + next line); only text it swallows is lost.
        if (parens > 0 && line.slice(j + 3).trim() !== '') {
          findings.push({
            level: 'error',
            code: 'dnl-in-arguments',
            line: lineNo,
            message: `line ${lineNo}: \`dnl' inside an argument list (opened on line ${openedAt}) deletes the rest of the line, closing parenthesis included: m4 fails with "end of file in argument list" and sendmail.cf is truncated`,
          });
          parens = 0; // report once per statement
        }
        break; // dnl eats the rest of the line
      }
    }
  }
  if (quote !== 0)
    findings.push({
      level: 'error',
      code: 'unbalanced-quotes',
      message: "the mc ends inside a `quoted string' (a backtick without its closing apostrophe)",
    });
  if (parens !== 0)
    findings.push({
      level: 'error',
      code: 'unbalanced-parens',
      line: openedAt,
      message: `the argument list opened on line ${openedAt} is never closed`,
    });
  return findings;
}

/** GNU m4 builtins that run even without an argument list (the others need "name("). */
const M4_BARE_BUILTINS = new Set([
  'dnl',
  'divert',
  'undivert',
  'divnum',
  'changequote',
  'changecom',
  'm4exit',
  'traceon',
  'traceoff',
  'dumpdef',
  'sysval',
  '__file__',
  '__line__',
  '__program__',
  '__gnu__',
  '__unix__',
  'debugmode',
  'debugfile',
]);

/** GNU m4 builtins that run only when an argument list follows: `len(x)`, `define(a,b)`. */
const M4_CALL_BUILTINS = new Set([
  'builtin',
  'decr',
  'define',
  'defn',
  'errprint',
  'esyscmd',
  'eval',
  'format',
  'ifdef',
  'ifelse',
  'include',
  'incr',
  'index',
  'indir',
  'len',
  'm4wrap',
  'maketemp',
  'mkstemp',
  'patsubst',
  'popdef',
  'pushdef',
  'regexp',
  'shift',
  'sinclude',
  'substr',
  'syscmd',
  'translit',
  'undefine',
]);

/**
 * The words of a value that m4 would run when it reads the value again as it builds sendmail.cf:
 * builtins, the macros cf.m4 defines, and its naming schemes (internal `_NAMES_`, `conf...`
 * options, Debian's `sm_...`). m4 splits words as [A-Za-z_][A-Za-z0-9_]*, as this does.
 */
export function m4MacroWords(value: string): string[] {
  const words = new Set<string>();
  for (const m of value.matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) {
    const w = m[0];
    const call = value[m.index + w.length] === '(';
    if (M4_BARE_BUILTINS.has(w) || CF_MACROS.has(w) || /^(_[A-Za-z_]|conf[A-Z]|sm_)/.test(w) || (call && M4_CALL_BUILTINS.has(w))) {
      words.add(w);
    }
  }
  return [...words];
}
