// The package step planned from the package manager's transaction (captured outputs, see
// test/unit/facts/transactions/): what the plan shows, what it refuses, and the commands it runs.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTransactionFact } from '../../../src/facts/package-transaction.ts';
import { installCommand, packages, packagesUndo, repairCommand } from '../../../src/resources/packages.ts';
import { isChange, type Change } from '../../../src/resources/types.ts';
import { centosOs, debianOs, hostFacts } from '../fixtures.ts';

const captured = (name: string) => parseTransactionFact(readFileSync(join(import.meta.dirname, '../facts/transactions', name), 'utf8'));
const withTx = (file: string, over: Parameters<typeof hostFacts>[0] = {}) =>
  hostFacts({ ...over, extra: { 'package-transaction': captured(file), ...over.extra } });
const sendmail = (opts: Partial<Parameters<typeof packages>[0]> = {}) =>
  packages({
    name: 'sendmail',
    names: { debian: ['sendmail', 'sendmail-cf', 'iptables-persistent'], rhel: ['sendmail', 'sendmail-cf'] },
    replaces: { provides: ['mail-transport-agent'], packages: ['exim4', 'exim4-base', 'exim4-config'], by: 'sendmail' },
    ...opts,
  });
const plan = (r: ReturnType<typeof packages>, facts: ReturnType<typeof hostFacts>) => {
  const out = r.plan(facts, { changed: new Set() });
  if (!isChange(out)) throw new Error(`no change: ${out.reason}`);
  return out as Change;
};

describe('a package step never removes a package it was not told to', () => {
  it('refuses, before any change, an install that would remove ufw, naming it and the cause', () => {
    expect(() => sendmail().plan(withTx('apt-ufw.txt'), { changed: new Set() })).toThrow(
      /refusing to install: installing sendmail, sendmail-cf, iptables-persistent would remove ufw, which nobody asked to remove; nothing was changed on this host\n {2}remove ufw 0\.36\.2-1: ufw breaks netfilter-persistent\n/,
    );
  });

  it('plans a removal named in allowRemove, saying it was allowed, and lets the install remove exactly it', () => {
    const ch = plan(sendmail({ allowRemove: ['ufw'] }), withTx('apt-ufw.txt'));
    expect(ch.details).toContain('remove ufw 0.36.2-1: allowed by allowRemove (ufw breaks netfilter-persistent)');
    const install = ch.steps.at(-1)!.command;
    expect(install).not.toContain('--no-remove');
    expect(install).toContain("grep -vxF -e '' -e 'ufw'");
    expect(ch.undo).toEqual([expect.objectContaining({ kind: 'packages', removed: ['ufw'] })]);
  });

  it("replaces the host's MTA as the playbook declares: named in the plan, undone by rollback --packages", () => {
    const ch = plan(sendmail(), withTx('apt-exim.txt'));
    expect(ch.details).toEqual([
      'install m4 1.4.19-3, make 4.3-4.1, liblockfile-bin 1.17-1+b1, liblockfile1 1.17-1+b1, lockfile-progs 0.1.19, sendmail-base 8.17.1.9-2+deb12u2, sendmail-cf 8.17.1.9-2+deb12u2, sendmail-bin 8.17.1.9-2+deb12u2, procmail 3.22-27, sensible-mda 8.17.1.9-2+deb12u2, sendmail 8.17.1.9-2+deb12u2',
      'remove exim4: replaced by sendmail',
      'remove exim4-daemon-light: replaced by sendmail',
      'remove exim4-base: replaced by sendmail',
      'remove exim4-config: replaced by sendmail',
      'recommended packages not installed (none left out)',
    ]);
    const [record] = ch.undo;
    expect(record).toMatchObject({ removed: ['exim4', 'exim4-daemon-light', 'exim4-base', 'exim4-config'] });
    // the undo: one apt transaction putting exim4 back and taking what this generation installed out
    const undo = packagesUndo.steps(packagesUndo.parse(record), debianOs);
    expect(undo).toHaveLength(1);
    expect(undo[0].command).toContain("'exim4' 'exim4-daemon-light' 'exim4-base' 'exim4-config' 'm4-' 'make-'");
  });

  it('with nothing to remove, apt installs with --no-remove, and without recommends unless the playbook asks', () => {
    const ch = plan(sendmail(), hostFacts());
    const last = ch.steps.at(-1)!.command.split('\n').at(-1);
    expect(last).toBe(
      `apt-get install -y -q -o DPkg::Lock::Timeout="$lock_left" -o Dpkg::Options::=--force-confold --no-install-recommends --no-remove 'sendmail' 'sendmail-cf' 'iptables-persistent'`,
    );
    expect(plan(sendmail({ recommends: true }), hostFacts()).steps.at(-1)!.command).toContain(
      '-o APT::Install-Recommends=true --no-remove',
    );
  });

  it('shows an upgrade the install pulls in, and refuses it with refuseUpgrades', () => {
    const want = (o = {}) => packages({ names: ['mailprov-want'], ...o });
    expect(plan(want(), withTx('apt-upgrade.txt')).details).toContain('upgrade mailprov-dep 1.0 -> 2.0: a dependency of the install');
    expect(() => want({ refuseUpgrades: true }).plan(withTx('apt-upgrade.txt'), { changed: new Set() })).toThrow(
      /would upgrade mailprov-dep 1\.0 -> 2\.0, and upgrades are refused \(refuseUpgrades\)/,
    );
  });

  it('dnf: the transaction in the plan, a conflicting package refused, --allowerasing only for a planned removal', () => {
    const rhel = (file: string) => withTx(file, { os: centosOs(8) });
    const ch = plan(sendmail(), rhel('dnf-fresh.txt'));
    expect(ch.details?.[0]).toBe(
      'install cyrus-sasl-plain 2.1.28-1.mailprov.el8, sendmail 8.17.1.9-1.mailprov.el8, sendmail-cf 8.17.1.9-1.mailprov.el8',
    );
    expect(ch.steps.at(-1)!.command).not.toContain('--allowerasing');
    expect(() => sendmail().plan(rhel('dnf-conflict.txt'), { changed: new Set() })).toThrow(/would remove mailprov-old-mta/);
    expect(plan(sendmail({ allowRemove: ['mailprov-old-mta'] }), rhel('dnf-conflict.txt')).steps.at(-1)!.command).toContain(
      'dnf install -y -q --allowerasing',
    );
  });
});

describe('an interrupted dpkg', () => {
  const interrupted = { 'package-manager-state': { interrupted: true, detail: 'sendmail-bin is half configured' } };

  it('is finished first, by dpkg --configure -a, shown in the plan with its reason', () => {
    const ch = plan(sendmail(), hostFacts({ extra: interrupted }));
    expect(ch.steps[0].label).toBe('dpkg --configure -a (finish the interrupted dpkg run)');
    expect(ch.steps[0].command).toMatch(/\nDEBIAN_FRONTEND=noninteractive dpkg --force-confold --configure -a$/);
    expect(ch.reason).toMatch(/dpkg was interrupted \(sendmail-bin is half configured\): dpkg --configure -a finishes it first/);
  });

  it('is repaired even when every package is installed', () => {
    const all = { sendmail: true, 'sendmail-cf': true, 'iptables-persistent': true };
    expect(plan(sendmail(), hostFacts({ packages: all, extra: interrupted }))).toMatchObject({ action: 'repair', undo: [] });
    expect(isChange(sendmail().plan(hostFacts({ packages: all }), { changed: new Set() }))).toBe(false);
  });
});

describe('the commands', () => {
  // dash is /bin/sh on Debian: every command must at least parse there, and in bash
  it.each(['apt', 'dnf'])('%s: install commands parse in dash and bash', (manager) => {
    for (const mayRemove of [[], ["it's"]]) {
      const cmd = installCommand(manager, ['sendmail', 'iptables-persistent', "o'brien"], { mayRemove, lockWaitSeconds: 5 });
      for (const shell of ['dash', 'bash']) execFileSync(shell, ['-n', '-c', cmd]);
    }
  });

  it('the repair and the undo of a replacement parse in dash and bash', () => {
    const record = packagesUndo.parse({
      kind: 'packages',
      manager: 'apt',
      installed: ['sendmail', "it's"],
      removed: ['exim4-daemon-light'],
      stopped: ['exim4'],
      replacedBy: 'sendmail',
    });
    const commands = [repairCommand('apt'), ...packagesUndo.steps(record, debianOs).map((s) => s.command)];
    expect(packagesUndo.steps(record, debianOs).map((s) => s.label)).toEqual([
      'stop sendmail',
      "reinstall exim4-daemon-light, removing sendmail, it's",
      'start exim4',
    ]);
    for (const cmd of commands) for (const shell of ['dash', 'bash']) execFileSync(shell, ['-n', '-c', cmd]);
  });
});
