// The values the settings write into the mc and the access map, checked for what would change the
// file rather than fill it: m4 quote characters, words m4 would run as macros, line breaks, and
// argument syntax inside a FEATURE's arguments. These are never forced (lint.ts, UNFORCEABLE).
import type { Finding } from 'mailprov';
import { m4MacroWords } from './m4.ts';
import { senderValues } from './sender-lint.ts';
import type { SendmailSettings } from './settings.ts';

/** Each value the mc or the access map gets from the settings, with the field it comes from. */
export function lintValues(settings: SendmailSettings): Finding[] {
  const findings: Finding[] = [];
  // m4 quotes are `...': a value cannot carry an apostrophe or a backtick
  const mcValues: [string, string | undefined][] = [
    ['smartHost', settings.smartHost],
    ...(settings.fallbackSmartHosts ?? []).flatMap((f, i): [string, string][] => [
      [`fallbackSmartHosts[${i}].smartHost`, f.smartHost],
      ...(f.auth?.mechanisms ?? []).map((m, j): [string, string] => [`fallbackSmartHosts[${i}].auth.mechanisms[${j}]`, m]),
    ]),
    ...Object.entries(settings.routes ?? {}).map(([d, r]): [string, string] => [`routes['${d}'].smartHost`, r.smartHost]),
    ['localDomain', settings.localDomain],
    ['trustedCa', settings.trustedCa],
    ...settings.listen.map((l, i): [string, string] => [`listen[${i}]`, l]),
    ...(settings.auth?.mechanisms ?? []).map((m, i): [string, string] => [`auth.mechanisms[${i}]`, m]),
    ...senderValues(settings),
    ...Object.entries(settings.defines)
      .filter((e): e is [string, string] => typeof e[1] === 'string')
      .map(([name, v]): [string, string] => [`defines.${name}`, v]),
    ...settings.features.flatMap(({ args }, i) => args.map((a, j): [string, string] => [`features[${i}].args[${j}]`, a])),
  ];
  for (const [field, value] of mcValues) {
    if (value !== undefined && /['`]/.test(value)) {
      findings.push({
        level: 'error',
        code: 'apostrophe-in-value',
        message: `${field} "${value}" contains an apostrophe or backtick, which m4 quoting cannot carry`,
      });
    }
  }
  // A value is quoted once in the mc, and m4 reads it again where cf.m4 expands the macro holding it:
  // a word in it that m4 runs without arguments changes the cf (`/etc/ssl/dnl/ca.pem` deletes the
  // rest of its line, `m4exit` ends the file)
  for (const [field, value] of mcValues) {
    const words = value === undefined ? [] : m4MacroWords(value);
    if (words.length) {
      findings.push({
        level: 'error',
        code: 'm4-macro-in-value',
        message: `${field} "${value}" contains ${words.map((w) => `"${w}"`).join(', ')}, which m4 runs as a macro when it builds sendmail.cf`,
      });
    }
  }
  // The schema refuses these already; settings that reach here some other way are checked again,
  // since a line break in a value written into the mc or the access map adds lines of its own.
  const lineValues: [string, string | undefined][] = [
    ...mcValues,
    ...settings.relayFrom.map((n, i): [string, string] => [`relayFrom[${i}]`, n]),
    ...Object.entries(settings.genericsTable ?? {}).flatMap(([k, v]): [string, string][] => [
      [`genericsTable key ${JSON.stringify(k)}`, k],
      [`genericsTable.${k}`, v],
    ]),
  ];
  for (const [field, value] of lineValues) {
    if (value !== undefined && /[\x00-\x1f\x7f]/.test(value)) {
      findings.push({
        level: 'error',
        code: 'line-break-in-value',
        message: `${field} ${JSON.stringify(value)} contains a line break or another control character, which would add lines of its own to the file it is written into`,
      });
    }
  }
  return findings;
}

/**
 * A FEATURE's arguments reach m4 again inside the feature's own macro calls, unquoted: a comma
 * there splits one argument in two, and a parenthesis closes (or opens) an argument list.
 */
export function lintFeatureArgs(settings: SendmailSettings): Finding[] {
  return settings.features.flatMap(({ name, args }, i) =>
    args
      .map((a, j) => ({ a, j }))
      .filter(({ a }) => /[,()]/.test(a))
      .map(
        ({ a, j }): Finding => ({
          level: 'error',
          code: 'feature-argument',
          message: `features[${i}].args[${j}] ${JSON.stringify(a)} of FEATURE(${name}) contains a comma or a parenthesis, which m4 reads as argument syntax when the feature uses it (give each argument as its own element)`,
        }),
      ),
  );
}
