// The settings: what can be written into a line of /etc/aliases, and what is refused.
import { describe, expect, it } from 'vitest';
import { mailAliasesSettingsSchema, targetProblem } from '../../../../playbooks/mail-aliases/index.ts';

const issues = (input: unknown) => {
  const r = mailAliasesSettingsSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('mail aliases settings', () => {
  it('takes one target or a list, in the order given', () => {
    expect(mailAliasesSettingsSchema.parse({ root: 'ops@example.org', postmaster: 'root', ops: ['a@x.org', '\\ops'] })).toEqual({
      root: ['ops@example.org'],
      postmaster: ['root'],
      ops: ['a@x.org', '\\ops'],
    });
  });

  it.each([
    'ops@example.org',
    'first.last+tag@mail.example.co.uk',
    'root',
    '\\root',
    'www-data',
    '|/usr/local/bin/ticket --queue ops',
    ':include:/etc/mail/lists/ops',
    '/dev/null',
    'user@localhost',
  ])('allows %s', (t) => {
    expect(targetProblem(t)).toBeUndefined();
  });

  it.each([
    ['ops@example.org\nevil: |/bin/sh', /control character/],
    ['ops@example.org\r', /control character/],
    ['a\tb', /control character/],
    ['ops@example.org # comment', /'#'/],
    ['"|/bin/x"', /double quote/],
    [' root', /spaces/],
    ['a@x.org, b@x.org', /comma: give several targets as a list/],
    ['|bin/x', /absolute path/],
    ['|/bin/x \\n', /backslash/],
    ['|/bin/caf\u00e9', /printable ASCII/],
    [':include:etc/list', /:include: without an absolute path/],
    ['/var/mail/a b', /file path/],
    ['a b@x.org', /local part/],
    ['a@-x.org', /domain/],
    ['a@x.org:25', /domain/],
    ['<a@x.org>', /local part/],
    ['', /empty/],
    ['@x.org', /local part/],
    ['r$oot', /neither an address/],
  ])('refuses %j', (t, why) => {
    expect(targetProblem(t)).toMatch(why);
  });

  it('names the alias and the target in errors', () => {
    expect(issues({ root: ['ops@example.org', 'a#b'] })).toEqual(['root.1: "a#b": a \'#\' (it starts comments in /etc/aliases)']);
    expect(issues({ root: 'a\nb' })).toEqual([
      'root: "a\\nb": a control character (a line break would add lines of its own to /etc/aliases)',
    ]);
    expect(issues({ root: [] })).toEqual(['root: at least one target']);
    expect(issues({ root: 5 })[0]).toMatch(/^root: a target \(an address/);
  });

  it('refuses bad names, names that differ only in case, and no alias at all', () => {
    expect(issues({ 'ro ot': 'x' })).toEqual([expect.stringMatching(/^ro ot: expected an alias name/)]);
    expect(issues({ 'evil\nname': 'x' })).toEqual([expect.stringMatching(/expected an alias name/)]);
    expect(issues({ '#root': 'x' })).toEqual([expect.stringMatching(/expected an alias name/)]);
    expect(issues({ root: 'a@x.org', Root: 'b' })).toEqual(['Root: root and Root are the same alias (sendmail ignores case)']);
    expect(issues({})).toEqual([': at least one alias, such as { root: "ops@example.org" }']);
  });
});
