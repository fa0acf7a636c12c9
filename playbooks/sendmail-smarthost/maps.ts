// The proof that sendmail reads what was rendered: the maps as sendmail itself looks them up
// (`sendmail -bt`, `/map authinfo AuthInfo:<smart host>`, the access entries), compared by digest
// with the rendered text, and the running daemon as the one started on the sendmail.cf just built.
// The password never leaves the host: each value is hashed there, only the digests come back, and
// the command line holds keys only.
import { createHash } from 'node:crypto';
import { OperationError, sh, shellQuote, type VerifyContext } from 'mailprov';
import { renderAccessFor, renderAuthinfoFor } from './render.ts';
import type { SendmailSettings } from './settings.ts';

const MAIL_DIR = '/etc/mail';

const SENDMAIL = '/usr/sbin/sendmail';

export interface MapEntry {
  map: 'authinfo' | 'access';
  key: string;
  value: string;
}

/** The entries of a rendered map text, as makemap stores them: the key up to the first blank, the value after the blanks. */
export function mapEntries(map: MapEntry['map'], text: string): MapEntry[] {
  return text.split('\n').flatMap((line) => {
    const m = /^([^\s#][^\s]*)\s+(.*?)\s*$/.exec(line);
    return m ? [{ map, key: m[1], value: m[2] }] : [];
  });
}

export const digest = (value: string) => createHash('sha256').update(value).digest('hex');

/**
 * Looks each entry up with sendmail -bt and prints, per lookup in order, the sha256 of the value it
 * returns or "none". Keys travel in the command (they hold no secret); values never come back.
 */
export function mapDigestsCommand(entries: MapEntry[]): string {
  const lookups = entries.map((e) => `/map ${e.map} ${e.key}`);
  // -bt prints its prompt ("> ") before each answer, with no line break of its own
  const extract = String.raw`s/^.*map_lookup: [^ ]* (.*) returns \(.*\) ([0-9]*)$/v \1/p; s/^.*map_lookup: [^ ]* (.*) no match.*$/none/p`;
  return (
    sh`printf '%s\\n' ${lookups} | ${SENDMAIL} -bt 2>&1 | sed -n ${extract}` +
    ` | while IFS= read -r l; do if [ "$l" = none ]; then echo none; else printf '%s' "\${l#v }" | sha256sum | cut -d' ' -f1; fi; done`
  );
}

/** Which entries sendmail does not return as rendered (by digest), named by map and key only. */
export function staleEntries(entries: MapEntry[], output: string): string[] {
  const got = output.split('\n').filter((l) => /^([0-9a-f]{64}|none)$/.test(l));
  return entries.flatMap((e, i) => {
    if (got[i] === digest(e.value)) return [];
    const said = got[i] === undefined ? 'no answer' : got[i] === 'none' ? 'no entry' : 'a different value';
    return [`${e.map} ${e.key}: sendmail reads ${said}`];
  });
}

/** The texts of authinfo (with the password) and access as the playbook renders them from the settings. */
export function renderedMaps(settings: SendmailSettings): { authinfo?: string; access: string } {
  const authinfo = renderAuthinfoFor(settings);
  return { ...(authinfo ? { authinfo } : {}), access: renderAccessFor(settings) };
}

/**
 * After an apply: every rendered entry of authinfo (the password's line) and access is what
 * sendmail itself looks up. Fails the host otherwise, which rolls it back.
 */
export async function verifyMaps(ctx: VerifyContext, settings: SendmailSettings): Promise<void> {
  const rendered = renderedMaps(settings);
  const entries = [...(rendered.authinfo ? mapEntries('authinfo', rendered.authinfo) : []), ...mapEntries('access', rendered.access)];
  const r = await ctx.exec(mapDigestsCommand(entries));
  const stale = staleEntries(entries, r.stdout);
  if (stale.length) {
    throw new OperationError(
      'verification failed: the maps sendmail reads do not hold what was rendered (compared by digest: a map rebuilt by hand, or a makemap that failed?)',
      stale.map((x) => `  ${x}`),
    );
  }
  ctx.log(
    `sendmail's own lookups return the ${entries.length} rendered entries of ${rendered.authinfo ? 'authinfo and ' : ''}access (by digest)`,
  );
}

/**
 * A read-only check for plan's drift detection: exits 0 when the .db holds exactly the entries of
 * its text (keys folded to lower case, as makemap stores them), non-zero when it does not (a map
 * rebuilt or emptied by hand, or a makemap that failed). Compared on the host, inside one awk: the
 * entries stay out of every command line, and the check costs two processes (it runs in every plan).
 */
export function mapInSyncCommand(map: 'authinfo' | 'access'): string {
  const path = `${MAIL_DIR}/${map}`;
  // key<TAB>value per entry: the text's lines without comments and blanks, then makemap -u's dump
  // (stdin, after `dump=1`); each entry counted up in the text and down in the dump: equal as
  // multisets when every count is back to 0
  const awk = String.raw`awk '/^[ \t]*#/ || NF == 0 { next } { k = tolower($1); v = $0; sub(/^[ \t]*[^ \t]+[ \t]+/, "", v); sub(/[ \t]+$/, "", v); n[k "\t" v] += dump ? -1 : 1 } END { for (e in n) if (n[e]) exit 1 }'`;
  const [p, db] = [shellQuote(path), shellQuote(`${path}.db`)];
  return `[ -f ${p} ] && [ -f ${db} ] && makemap -u hash ${p} 2>/dev/null | ${awk} ${p} dump=1 -`;
}
