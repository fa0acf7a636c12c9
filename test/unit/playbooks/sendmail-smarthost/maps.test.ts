// The map proof's shell and its reading: sendmail's own lookups hashed on the host (the password
// never in the command, never in what comes back), compared with the rendered entries; the drift
// check of a .db against its text. Run under dash and bash with stand-ins for sendmail and makemap.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { digest, mapDigestsCommand, mapEntries, mapInSyncCommand, staleEntries } from '../../../../playbooks/sendmail-smarthost/maps.ts';
import { renderAccess, renderAuthinfo } from '../../../../playbooks/sendmail-smarthost/render.ts';

const PASSWORD = 'pa"ss w0rd';
const authinfo = renderAuthinfo('smtp.example.org', { user: 'u@example.org', mechanisms: ['PLAIN', 'LOGIN'] }, PASSWORD);
const access = renderAccess(['192.168'], { smartHost: 'smtp.example.org', policy: 'verify' });
const entries = [...mapEntries('authinfo', authinfo), ...mapEntries('access', access)];

/** A folder with stand-ins on PATH; `sendmail` answers -bt lookups from a text map of its own. */
function withStubs(stubs: Record<string, string>): { bin: string; root: string } {
  const root = mkdtempSync(join(tmpdir(), 'mp-maps-'));
  const bin = join(root, 'bin');
  mkdirSync(bin);
  for (const [name, body] of Object.entries(stubs)) {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
  return { bin, root };
}

/** sendmail -bt as it answers `/map m key` (after its prompt): from "m<TAB>key<TAB>value" lines in $MAPS. */
const SENDMAIL_BT = String.raw`while IFS= read -r l; do
  set -- $l; m=$2; k=$3
  v=$(awk -F '\t' -v m="$m" -v k="$k" '$1 == m && tolower($2) == tolower(k) { print $3; exit }' "$MAPS")
  if [ -n "$v" ]; then printf '> map_lookup: %s (%s) returns %s (0)\n' "$m" "$k" "$v"; else printf '> map_lookup: %s (%s) no match (68)\n' "$m" "$k"; fi
done`;

const runProof = (shell: string, maps: string) => {
  const { bin, root } = withStubs({ sendmail: SENDMAIL_BT });
  writeFileSync(join(root, 'maps'), maps);
  const command = mapDigestsCommand(entries).replace('/usr/sbin/sendmail', 'sendmail');
  return spawnSync(shell, ['-c', command], { encoding: 'utf8', env: { PATH: `${bin}:/usr/bin:/bin`, MAPS: join(root, 'maps') } });
};

describe.each(['/bin/dash', '/bin/bash'])('the map proof under %s', (shell) => {
  const asStored = entries.map((e) => `${e.map}\t${e.key.toLowerCase()}\t${e.value}\n`).join('');

  it('finds every rendered entry in the maps as stored, and never sees the password', () => {
    expect(mapDigestsCommand(entries)).not.toContain(PASSWORD.slice(0, 4));
    const r = runProof(shell, asStored);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('w0rd');
    expect(r.stdout.trim().split('\n')).toHaveLength(entries.length);
    expect(staleEntries(entries, r.stdout)).toEqual([]);
  });

  it('names the entries a map does not hold (emptied, or an old password), by map and key only', () => {
    const old = asStored.replace(/"P[:=][^"]*"/, '"P:old"');
    const stale = staleEntries(entries, runProof(shell, old).stdout);
    expect(stale).toEqual(['authinfo AuthInfo:smtp.example.org: sendmail reads a different value']);
    const empty = staleEntries(entries, runProof(shell, asStored.split('\n').slice(1).join('\n')).stdout);
    expect(empty).toEqual(['authinfo AuthInfo:smtp.example.org: sendmail reads no entry']);
    expect(JSON.stringify([stale, empty])).not.toContain('w0rd');
  });
});

describe('the drift check of a .db against its text', () => {
  // makemap -u dumps "key<TAB>value" per entry, keys folded to lower case
  const MAKEMAP = String.raw`[ "$1" = -u ] || exit 64; cat "$MAKEMAP_DUMP"`;
  const check = (shell: string, text: string, dump: string | null) => {
    const { bin, root } = withStubs({ makemap: MAKEMAP });
    mkdirSync(join(root, 'mail'));
    writeFileSync(join(root, 'mail/authinfo'), text);
    if (dump !== null) writeFileSync(join(root, 'mail/authinfo.db'), '');
    writeFileSync(join(root, 'dump'), dump ?? '');
    const command = mapInSyncCommand('authinfo').replaceAll('/etc/mail', join(root, 'mail'));
    return spawnSync(shell, ['-c', command], { env: { PATH: `${bin}:/usr/bin:/bin`, MAKEMAP_DUMP: join(root, 'dump') } }).status;
  };
  const [key, value] = [authinfo.split(' ')[0], authinfo.slice(authinfo.indexOf(' ') + 1).trim()];

  it.each(['/bin/dash', '/bin/bash'])('under %s: in sync when the .db holds exactly the text, else not', (shell) => {
    expect(check(shell, `# a comment\n\n${authinfo}`, `${key.toLowerCase()}\t${value}\n`)).toBe(0);
    expect(check(shell, authinfo, '')).not.toBe(0); // emptied by hand
    expect(check(shell, authinfo, `${key.toLowerCase()}\t"P:old"\n`)).not.toBe(0);
    expect(check(shell, authinfo, null)).not.toBe(0); // no .db
    // every entry as often in both: an entry twice in the text and once in the .db is not in sync
    expect(check(shell, `${authinfo}\n${authinfo}`, `${key.toLowerCase()}\t${value}\n`)).not.toBe(0);
    expect(check(shell, authinfo, `${key.toLowerCase()}\t${value}\nother\tx\n`)).not.toBe(0);
    expect(check(shell, '# nothing\n', '')).toBe(0);
    expect(digest(value)).toMatch(/^[0-9a-f]{64}$/);
  });
});
