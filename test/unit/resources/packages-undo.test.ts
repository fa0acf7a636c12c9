// The undo of a package install removes only what mailprov installed: the removal is asked of the
// package manager first, and a package it would take along (installed since, depending on it) is
// named and refused. Here apt-get and rpm are stand-ins printing what the real tools print, so the
// parsing and quoting run under dash; test/integration/undo-faults.test.ts runs the real apt.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { installCommand, packagesUndo, removalCheckCommand } from '../../../src/resources/packages.ts';
import { debianOs } from '../fixtures.ts';

/** A folder with fake tools: each prints `output` and records its arguments. */
function fakeTools(tools: Record<string, string>): { path: string; args: (tool: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'pkgs-'));
  for (const [name, script] of Object.entries(tools)) {
    writeFileSync(join(dir, name), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${dir}/${name}.args"\n${script}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  return { path: dir, args: (tool) => readFileSync(join(dir, `${tool}.args`), 'utf8') };
}
const run = (script: string, path: string) =>
  spawnSync('/bin/dash', ['-c', script], { encoding: 'utf8', env: { PATH: `${path}:/usr/bin:/bin` } });

describe('what removing the packages mailprov installed would remove', () => {
  it('apt: passes when only those go, refuses naming every other package', () => {
    const only = fakeTools({ 'apt-get': "echo 'Remv sendmail [8.17.1.9-2]'; echo 'Remv sendmail-cf [8.17.1.9-2]'" });
    expect(run(removalCheckCommand('apt', ['sendmail', 'sendmail-cf']), only.path).status).toBe(0);
    // a simulation that writes nothing on the host (no planner log, no package caches)
    expect(only.args('apt-get')).toBe(
      '-s -o Dir::Log::Planner=/dev/null -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= remove -q sendmail sendmail-cf\n',
    );
    const more = fakeTools({
      'apt-get': "echo 'Remv mailprov-needs-sendmail [1.0]'; echo 'Remv libfoo:amd64 [2]'; echo 'Remv sendmail [8.17.1.9-2]'",
    });
    const r = run(removalCheckCommand('apt', ['sendmail']), more.path);
    expect(r.status).toBe(3);
    expect(r.stderr).toBe(
      'mailprov: refusing to remove sendmail: it would also remove mailprov-needs-sendmail libfoo, which mailprov did not install; remove those yourself first if they should go, or roll back without --packages\n',
    );
  });

  it('apt: a simulation that fails fails the check, with its output', () => {
    const broken = fakeTools({ 'apt-get': "echo 'E: Could not open lock file' >&2; exit 100" });
    const r = run(removalCheckCommand('apt', ['sendmail']), broken.path);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('E: Could not open lock file');
  });

  it('rpm: names the installed packages that need them; names not installed are left out', () => {
    const tools = fakeTools({
      rpm: [
        'if [ "$1" = -q ]; then [ "$2" = sendmail ]; exit; fi',
        "printf 'error: Failed dependencies:\\n\\tsendmail is needed by (installed) needs-sendmail-1.0-1.noarch\\n\\t/usr/sbin/sendmail is needed by (installed) needs-sendmail-1.0-1.noarch\\n' >&2; exit 1",
      ].join('\n'),
    });
    const r = run(removalCheckCommand('dnf', ['sendmail', 'cyrus-sasl-plain']), tools.path);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain('refusing to remove sendmail, cyrus-sasl-plain: it would also remove needs-sendmail-1.0-1.noarch, which');
    expect(tools.args('rpm').split('\n')).toContain('-e --test sendmail');
  });

  it('quotes hostile names and never runs them', () => {
    const tools = fakeTools({ 'apt-get': "echo 'Remv x [1]'" });
    const canary = join(tools.path, 'pwned');
    const r = run(removalCheckCommand('apt', [`x'; touch ${canary}; '`, '$(touch /tmp/x)']), tools.path);
    // "x" is not one of the names: refused, the names printed as they are
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`refusing to remove x'; touch ${canary}; ', $(touch /tmp/x): it would also remove x,`);
    expect(spawnSync('ls', [canary]).status).not.toBe(0);
  });

  it('is a check before the rollback changes anything, and again right before the removal', () => {
    const r = packagesUndo.parse({ kind: 'packages', manager: 'apt', installed: ['sendmail'] });
    const check = removalCheckCommand('apt', ['sendmail']);
    expect(packagesUndo.preflight?.(r, debianOs)).toEqual([{ label: 'check what removing sendmail would remove', command: check }]);
    expect(packagesUndo.steps(r, debianOs)[0].command.startsWith(`${check}\n`)).toBe(true);
  });
});

describe('installing iptables-persistent', () => {
  it('tells debconf not to save the live rules (other tools runtime rules) as boot-time rules first', () => {
    const lines = installCommand('apt', ['sendmail', 'iptables-persistent']).split('\n');
    expect(lines[0]).toBe(
      "printf '%s\\n' 'iptables-persistent iptables-persistent/autosave_v4 boolean false' 'iptables-persistent iptables-persistent/autosave_v6 boolean false' | debconf-set-selections || exit 1",
    );
    expect(lines.at(-1)).toMatch(/^apt-get install .* 'sendmail' 'iptables-persistent'$/);
    // any other install is as it was
    expect(installCommand('apt', ['sendmail'])).not.toContain('debconf');
  });
});
