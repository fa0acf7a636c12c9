// The `defines` and `features` settings: each name must be one cf/README knows (a typo is an error
// naming the closest known name), and none may be one mailprov writes itself, since a second
// define of it would silently win over the setting that is meant to control it.
import type { Finding } from 'mailprov';
import { DEPRECATED_DEFINES, KNOWN_DEFINES, KNOWN_FEATURES } from './cf-names.ts';
import type { SendmailSettings } from './settings.ts';

/** Defines the generated mc holds, and where to set them instead. */
export const RESERVED_DEFINES: ReadonlyMap<string, string> = new Map([
  ['SMART_HOST', 'mailprov sets it from smartHost'],
  ['RELAY_MAILER_ARGS', 'mailprov sets it from smartHostPort'],
  ['ESMTP_MAILER_ARGS', 'mailprov sets it from smartHostPort'],
  ['confCACERT', "mailprov sets it from trustedCa (the CA bundle the smart host's certificate is checked against)"],
  ['confCACERT_PATH', "mailprov sets it to the distro's CA directory, next to trustedCa"],
  ['confAUTH_MECHANISMS', 'mailprov sets it from auth.mechanisms'],
  ['confPRIVACY_FLAGS', "mailprov sets it, with goaway, which keeps the smart host's credentials out of verbose SMTP output"],
  ['confDEF_USER_ID', "mailprov sets it on RHEL as RHEL's own mc does"],
  ['confHOST_STATUS_DIRECTORY', "mailprov undefines it on Debian as Debian's own mc does"],
]);

/** FEATUREs the generated mc holds or that would turn it into something else. */
export const RESERVED_FEATURES: ReadonlyMap<string, string> = new Map([
  ['no_default_msa', 'mailprov sets it and declares the submission daemon itself (127.0.0.1:587)'],
  ['use_cw_file', 'mailprov sets it'],
  ['access_db', 'mailprov sets it: relayFrom and the TLS requirement for the smart host are read from /etc/mail/access'],
  ['authinfo', 'mailprov sets it from auth (/etc/mail/authinfo)'],
  ['genericstable', 'use the genericsTable setting'],
  ['masquerade_envelope', 'use masquerade.envelope'],
  ['allmasquerade', 'use masquerade.recipients'],
  ['nullclient', 'it makes a null client that forwards everything to its argument, not to smartHost with AUTH; use your own mc for that'],
  ['msp', "it builds a submission program's configuration (submit.mc), not a relay's"],
]);

/** Edit distance (insertions, deletions, substitutions), one row at a time. */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * The known name closest to `name`, ignoring case, when it is close enough to be what was meant
 * (at most a third of its letters differ); the first in the list wins a tie.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const k of known) {
    const distance = levenshtein(name.toUpperCase(), k.toUpperCase());
    if (!best || distance < best.distance) best = { name: k, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

function unknown(kind: 'define' | 'feature', name: string, known: readonly string[]): Finding {
  const near = closestName(name, known);
  const what = kind === 'define' ? 'a conf* option' : 'a FEATURE';
  const hint =
    kind === 'define' && !name.startsWith('conf') && !near
      ? '; defines takes the conf* options of cf/README (other m4 macros have settings of their own, or need your own mc)'
      : '';
  return {
    level: 'error',
    code: `unknown-${kind}`,
    message: `${kind === 'define' ? 'defines' : 'features'}: ${name} is not ${what} sendmail's cf/README knows${near ? `; did you mean ${near}?` : ''}${hint}`,
  };
}

export function lintKnobs(settings: Pick<SendmailSettings, 'defines' | 'features'>): Finding[] {
  const findings: Finding[] = [];
  for (const name of Object.keys(settings.defines)) {
    const reserved = RESERVED_DEFINES.get(name);
    if (reserved) findings.push({ level: 'error', code: 'reserved-define', message: `defines: ${name} cannot be set here: ${reserved}` });
    else if (!KNOWN_DEFINES.includes(name)) findings.push(unknown('define', name, KNOWN_DEFINES));
    else if (DEPRECATED_DEFINES.has(name)) {
      findings.push({ level: 'warning', code: 'deprecated-define', message: `defines: ${name} is marked deprecated in cf/README` });
    }
  }
  for (const { name } of settings.features) {
    const reserved = RESERVED_FEATURES.get(name);
    if (reserved) findings.push({ level: 'error', code: 'reserved-feature', message: `features: ${name} cannot be set here: ${reserved}` });
    else if (!KNOWN_FEATURES.includes(name)) findings.push(unknown('feature', name, KNOWN_FEATURES));
  }
  return findings;
}
