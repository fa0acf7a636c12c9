// Root's mail goes to a person: the alias lines it is given are put in /etc/aliases (Debian and
// RHEL keep it there alike), the rest of the file stays byte for byte, and newaliases runs only
// when the file changed. A rollback takes back only those lines, whatever others added since.
// Bind it after sendmailSmartHost: newaliases comes with sendmail.
import { createHash } from 'node:crypto';
// Like any user's playbook it takes the engine from 'mailprov' only; its parts are in ./mail-aliases/.
import {
  command,
  definePlaybook,
  file,
  fileId,
  fileFact,
  lineEntriesRecord,
  OperationError,
  type Finding,
  type HostFacts,
  type VerifyContext,
} from 'mailprov';
import { aliasEdits, duplicateEntries, editAliases } from './mail-aliases/edit.ts';
import { ALIASES, newaliasesCommand, verifyAliases } from './mail-aliases/host.ts';
import { mailAliasesSettingsSchema, type MailAliasesSettings } from './mail-aliases/settings.ts';

export { mailAliasesSettingsSchema, type MailAliasesSettings, type MailAliasesSettingsInput } from './mail-aliases/settings.ts';

/**
 * The file as it is on the host, or null when there is none; whatever cannot be edited as text and
 * written back byte for byte (not a regular file, too large to read, not UTF-8) is a reason instead.
 */
export function currentAliases(facts: HostFacts): { text: string | null } | { problem: string } {
  const f = facts.get(fileFact, ALIASES);
  if (!f.exists) return { text: null };
  if (f.type !== 'file') return { problem: `${ALIASES} is a ${f.type}, not a regular file: mailAliases edits only a regular file` };
  if (f.content === undefined) return { problem: `${ALIASES} is too large to edit (${f.size} bytes)` };
  // the fact decodes UTF-8: bytes that are not would be written back changed
  if (createHash('sha256').update(f.content).digest('hex') !== f.sha256) {
    return { problem: `${ALIASES} is not UTF-8 text: it could not be written back byte for byte` };
  }
  return { text: f.content };
}

export const mailAliases = definePlaybook({
  name: 'mail-aliases',
  settings: mailAliasesSettingsSchema,
  build(aliases: MailAliasesSettings) {
    const aliasesFile = fileId(ALIASES);
    const content = (facts: HostFacts) => {
      const current = currentAliases(facts);
      if ('problem' in current) throw new OperationError(current.problem);
      return editAliases(current.text, aliases);
    };
    return {
      resources: [
        // the file resource reads the file's fact itself; content() edits what it read. Others edit
        // the file too: a rollback takes back only the entries this wrote (then runs newaliases),
        // never the whole file
        file({
          path: ALIASES,
          content,
          owner: 'root',
          group: 'root',
          mode: '0644',
          undo: (before) => [lineEntriesRecord({ path: ALIASES, ...aliasEdits(before, aliases), rebuild: 'newaliases' })],
        }),
        // a file moved into /etc keeps the label of where it was written: relabel (RHEL, SELinux)
        command({
          name: `restorecon ${ALIASES}`,
          run: `restorecon ${ALIASES}`,
          onChangeOf: [aliasesFile],
          when: { test: (facts) => facts.os.selinux, otherwise: 'SELinux is not enabled' },
        }),
        // also after a rollback that restored the file: the database follows the text
        command({ name: 'newaliases', run: newaliasesCommand(), onChangeOf: [aliasesFile] }),
      ],
      checkFacts(facts: HostFacts): Finding[] {
        const current = currentAliases(facts);
        if ('problem' in current) return [{ level: 'error', code: 'aliases-unreadable', message: current.problem }];
        return duplicateEntries(current.text ?? '', Object.keys(aliases)).map(({ name, lines }) => ({
          level: 'warning',
          code: 'duplicate-alias',
          message: `${ALIASES} has ${lines.length} entries for ${name} (lines ${lines.join(', ')}): the first is managed, the others are removed`,
          line: lines[1],
        }));
      },
      verify: (ctx: VerifyContext) => verifyAliases(ctx, aliases),
      // an aliases change reaches nothing the relay sends with: the smart-host probe need not run for it
      selfContained: true,
    };
  },
});

export default mailAliases;
