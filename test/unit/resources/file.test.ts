// The file resource: diffs with secrets masked, and the atomic write run for real under dash.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileFact as builtinFileFact } from '../../../src/facts/builtin.ts';
import type { HostFacts } from '../../../src/facts/types.ts';
import { atomicWriteCommand, file } from '../../../src/resources/file.ts';
import { isChange } from '../../../src/resources/types.ts';
import { fileFact, hostFacts } from '../fixtures.ts';

const mask = (t: string) => t.replace(/"P:[^"]*"/g, '"P:********"');

describe('file plan', () => {
  it('masks secrets in diffs and still reports a changed secret', () => {
    const r = file({ path: '/etc/mail/authinfo', content: 'AuthInfo:x "P:new-secret"\n', mode: '0600', mask });
    const c = r.plan(hostFacts({ files: { '/etc/mail/authinfo': fileFact('AuthInfo:x "P:old-secret"\n', 'root', 'root', '0600') } }), {
      changed: new Set(),
    });
    if (!isChange(c)) throw new Error('expected a change');
    expect(c.diff).toMatchObject({
      before: 'AuthInfo:x "P:********"\n',
      after: 'AuthInfo:x "P:********"\n',
      secretChanged: true,
      masked: true,
    });
    expect(c.summary).toBe('update /etc/mail/authinfo (a secret value changed)');
    expect(JSON.stringify(c.diff)).not.toMatch(/(new|old)-secret/);
    // the content travels on stdin, never in the command
    expect(c.steps[0].command).not.toContain('new-secret');
    expect(c.steps[0].stdin).toContain('new-secret');
  });

  it("lets content() edit the file's current content: the resource asks for the file's own fact", () => {
    const content = (facts: HostFacts) => {
      const current = facts.get(builtinFileFact, '/etc/aliases');
      return `${current.exists ? (current.content ?? '') : ''}root: ops\n`;
    };
    const r = file({ path: '/etc/aliases', content });
    expect(r.facts().map((q) => q.key)).toEqual([builtinFileFact.query('/etc/aliases').key]);
    const c = r.plan(hostFacts({ files: { '/etc/aliases': fileFact('postmaster: root\n') } }), { changed: new Set() });
    if (!isChange(c)) throw new Error('expected a change');
    expect(c.diff).toMatchObject({ before: 'postmaster: root\n', after: 'postmaster: root\nroot: ops\n' });
  });

  it('refuses a validate command that does not name the candidate (%s), as Ansible does', () => {
    expect(() => file({ path: '/etc/x', content: 'x\n', validate: 'm4 /etc/x' })).toThrow(/validate must contain %s/);
    expect(() => file({ path: '/etc/x', content: 'x\n', validate: 'm4 %s' })).not.toThrow();
  });

  it('shows a new file as all added, with its owner and mode', () => {
    const c = file({ path: '/etc/new', content: 'x\n', owner: 'root', group: 'smmsp', mode: '640' }).plan(hostFacts(), {
      changed: new Set(),
    });
    if (!isChange(c)) throw new Error('expected a change');
    expect(c.diff).toMatchObject({ before: null, after: 'x\n', meta: ['new file root:smmsp 0640'] });
    expect([c.files, c.undo]).toEqual([[{ path: '/etc/new', sensitive: false }], []]);
  });
});

describe('atomicWriteCommand', () => {
  const me = execFileSync('id', ['-un']).toString().trim();
  const group = execFileSync('id', ['-gn']).toString().trim();

  it('writes content from stdin with the mode, leaving no temp file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aw-'));
    const path = join(dir, "sub dir/it's $x");
    execFileSync('/bin/dash', ['-c', atomicWriteCommand(path, me, group, '0640')], { input: 'line 1\n$HOME `id`\n' });
    expect(readFileSync(path, 'utf8')).toBe('line 1\n$HOME `id`\n');
    expect((statSync(path).mode & 0o777).toString(8)).toBe('640');
    expect(readdirSync(join(dir, 'sub dir'))).toEqual(["it's $x"]);
  });

  it('keeps the old file when the validate command fails', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aw-'));
    const path = join(dir, 'conf');
    execFileSync('/bin/dash', ['-c', atomicWriteCommand(path, me, group, '0644')], { input: 'good\n' });
    expect(() =>
      execFileSync('/bin/dash', ['-c', atomicWriteCommand(path, me, group, '0644', 'grep -q good %s')], { input: 'bad\n', stdio: 'pipe' }),
    ).toThrow();
    expect(readFileSync(path, 'utf8')).toBe('good\n');
    expect(readdirSync(dir)).toEqual(['conf']);
  });
});
