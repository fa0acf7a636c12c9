// The pure editing of /etc/aliases: managed entries put in place, every other byte kept.
import { describe, expect, it } from 'vitest';
import { duplicateEntries, editAliases, parseAliases, splitLines, splitTargets } from '../../../../playbooks/mail-aliases/index.ts';

const RHEL_HEAD = [
  '#',
  '#  Aliases in this file will NOT be expanded in the header from',
  '#  Mail, but WILL be visible over networks or from /bin/mail.',
  '',
  '# Basic system aliases -- these MUST be present.',
  'mailer-daemon:\tpostmaster',
  'postmaster:\troot',
  '',
  "# Person who should get root's mail",
  '#root:\t\tmarc',
  '',
].join('\n');

describe('splitLines / parseAliases', () => {
  it('gives back the file byte for byte, with or without a final line break', () => {
    for (const text of [RHEL_HEAD, 'a: b', 'a: b\n\n\n', '', '\n', 'a: b,\n  c\r\n# x']) {
      expect(splitLines(text).join('')).toBe(text);
      expect(
        parseAliases(text)
          .flatMap((b) => b.lines)
          .join(''),
      ).toBe(text);
    }
  });

  it("reads entries as sendmail's readaliases does: continuation lines, backslash-joined lines, comments", () => {
    const text = 'root: a,\n  b,\n\tc\n# ops:\n  stray\nops\\\n: d\nnocolon\nx : y\n';
    const blocks = parseAliases(text).map((b) =>
      b.kind === 'entry' ? [b.name, b.rhs, b.lines.length, b.line] : ['other', b.lines.join('')],
    );
    expect(blocks).toEqual([
      ['root', ' a,  b,\tc', 3, 1],
      ['other', '# ops:\n'],
      ['other', '  stray\n'], // a continuation after a comment continues nothing (sendmail complains)
      ['ops', ' d', 2, 6],
      ['other', 'nocolon\n'],
      ['x', ' y', 1, 9],
    ]);
  });

  it('joins a comment ending in a backslash with the next line, as sendmail does', () => {
    expect(parseAliases('# note \\\nroot: a\n').map((b) => b.kind)).toEqual(['other']);
  });
});

describe('splitTargets', () => {
  it('splits at commas outside quotes, trims, drops empties', () => {
    expect(splitTargets(' a@x.org,b ,\t"|/bin/t a,b",,  \\root ')).toEqual(['a@x.org', 'b', '"|/bin/t a,b"', '\\root']);
  });
});

describe('editAliases', () => {
  it("appends a name the file lacks, keeping every other line (the RHEL file's #root comment included)", () => {
    expect(editAliases(RHEL_HEAD, { root: ['ops@example.org'] })).toBe(`${RHEL_HEAD}root: ops@example.org\n`);
  });

  it('adds the missing final line break before appending', () => {
    expect(editAliases('postmaster: root', { root: ['ops@example.org'] })).toBe('postmaster: root\nroot: ops@example.org\n');
  });

  it('replaces an entry of the same name where it stands, its continuation lines too, whatever its case', () => {
    const before = '# top\nmailer-daemon: postmaster\nRoot: marc,\n  \tjane\n\t, joe\nnews: root\n  # a continuation of news, kept\n';
    expect(editAliases(before, { root: ['ops@example.org', 'oncall@example.org'] })).toBe(
      '# top\nmailer-daemon: postmaster\nroot: ops@example.org, oncall@example.org\nnews: root\n  # a continuation of news, kept\n',
    );
  });

  it('leaves an entry that already says the same as it is, however it is spaced or spelled', () => {
    const text = 'MAILER-DAEMON:\tpostmaster\nROOT :ops@example.org ,\n    oncall@example.org\n';
    expect(editAliases(text, { 'mailer-daemon': ['postmaster'], root: ['ops@example.org', 'oncall@example.org'] })).toBe(text);
  });

  it('removes later entries of a managed name (sendmail would warn of them), and says where they were', () => {
    const text = 'root: a\nother: b\nroot: c,\n  d\n# end\n';
    expect(editAliases(text, { root: ['a'] })).toBe('root: a\nother: b\n# end\n');
    expect(editAliases(text, { root: ['ops@example.org'] })).toBe('root: ops@example.org\nother: b\n# end\n');
    expect(duplicateEntries(text, ['Root', 'other'])).toEqual([{ name: 'Root', lines: [1, 3] }]);
  });

  it('is idempotent: its own output is left unchanged', () => {
    const aliases = { root: ['ops@example.org'], postmaster: ['root'], tickets: ['|/usr/local/bin/ticket --queue ops,mail'] };
    for (const start of [null, '', RHEL_HEAD, 'root: x\n  y\nroot: z']) {
      const once = editAliases(start, aliases);
      expect(editAliases(once, aliases)).toBe(once);
    }
  });

  it('quotes a program, whose arguments may hold spaces and commas', () => {
    expect(editAliases('', { tickets: ['|/usr/local/bin/ticket --queue a,b', 'ops'] })).toBe(
      'tickets: "|/usr/local/bin/ticket --queue a,b", ops\n',
    );
  });

  it('creates a missing file with a header and the aliases sendmail requires, unless they are given', () => {
    expect(editAliases(null, { root: ['ops@example.org'] })).toBe(
      [
        '# Mail aliases: created by mailprov (mailAliases), which manages only the entries it is given.',
        '# Run newaliases after editing this file.',
        'postmaster: root',
        'MAILER-DAEMON: postmaster',
        'root: ops@example.org',
        '',
      ].join('\n'),
    );
    expect(
      editAliases(null, { Postmaster: ['ops@example.org'] })
        .split('\n')
        .slice(2),
    ).toEqual(['MAILER-DAEMON: postmaster', 'Postmaster: ops@example.org', '']);
  });

  it('keeps CRLF lines and bytes it does not understand as they are', () => {
    const text = 'a: b\r\n\u00e9t\u00e9: x\r\nnocolon\r\n';
    expect(editAliases(text, { root: ['ops@example.org'] })).toBe(`${text}root: ops@example.org\n`);
  });
});
