// Which playbooks verify after an apply (playbooksToVerify): every one, unless every change is of a
// self-contained playbook (mail-aliases), whose own verification is then the only one: an
// aliases-only change cannot affect the relay, so the smart-host probe does not run for it.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { mailAliases } from '../../../playbooks/mail-aliases.ts';
import { sendmailSettingsSchema, sendmailSmartHost } from '../../../playbooks/sendmail-smarthost.ts';
import { planHost } from '../../../src/engine/plan.ts';
import { playbooksToVerify } from '../../../src/engine/verify.ts';
import type { BoundPlaybook } from '../../../src/inventory/load.ts';
import { definePlaybook } from '../../../src/playbook/index.ts';
import { file } from '../../../src/resources/index.ts';
import { secret } from '../../../src/secrets/index.ts';
import { fileFact, hostFacts } from '../fixtures.ts';

const relay: BoundPlaybook = {
  name: 'sendmail-smarthost',
  parts: sendmailSmartHost.definition.build(
    sendmailSettingsSchema.parse({ smartHost: 'smtp.example.org', auth: { user: 'u@example.org', password: secret.value('pw-verify-1') } }),
  ),
};
const aliasesUse = mailAliases({ root: 'ops@example.org' });
const aliases: BoundPlaybook = {
  name: 'mail-aliases',
  parts: aliasesUse.playbook.build(aliasesUse.playbook.settings.parse(aliasesUse.settings)),
};
// a playbook that says nothing about its changes: they may touch what any verification proves
const motd: BoundPlaybook = {
  name: 'motd',
  parts: definePlaybook({
    name: 'motd',
    settings: z.object({}),
    build: () => ({ resources: [file({ path: '/etc/motd', content: 'hello\n' })], verify: async () => {} }),
  }).definition.build({}),
};
const playbooks = [relay, aliases, motd];
const names = (ps: BoundPlaybook[]) => ps.map((p) => p.name);

/** The changes of one playbook on a fresh host (its aliases file as Debian ships it). */
const changesOf = (p: BoundPlaybook) =>
  planHost(p.parts.resources, hostFacts({ files: { '/etc/aliases': fileFact('postmaster: root\n') } })).changes;

describe('playbooksToVerify', () => {
  it('is mail-aliases alone after an aliases-only change (no smart-host probe)', () => {
    const changes = changesOf(aliases);
    expect(changes.map((c) => c.resourceId)).toEqual(expect.arrayContaining(['file:/etc/aliases', 'command:newaliases']));
    expect(names(playbooksToVerify(playbooks, changes))).toEqual(['mail-aliases']);
  });

  it('is every playbook when anything else changed too: the relay, or a playbook that does not say its changes stay its own', () => {
    expect(names(playbooksToVerify(playbooks, [...changesOf(relay), ...changesOf(aliases)]))).toEqual(names(playbooks));
    expect(names(playbooksToVerify(playbooks, changesOf(relay)))).toEqual(names(playbooks));
    expect(names(playbooksToVerify(playbooks, [...changesOf(aliases), ...changesOf(motd)]))).toEqual(names(playbooks));
    // a change of a resource no playbook of the host owns (a saved plan, say) is never taken as contained
    expect(names(playbooksToVerify(playbooks, [{ ...changesOf(aliases)[0], resourceId: 'file:/etc/unknown' }]))).toEqual(names(playbooks));
  });

  it('is every playbook with --verify, and none without changes', () => {
    expect(names(playbooksToVerify(playbooks, changesOf(aliases), true))).toEqual(names(playbooks));
    expect(names(playbooksToVerify(playbooks, [], true))).toEqual(names(playbooks));
    expect(playbooksToVerify(playbooks, [])).toEqual([]);
  });
});
