// The package transaction fact read back from what the package managers really printed: each file
// in transactions/ is the fact's output captured on a sandbox host (Debian 12's apt, the
// CentOS-like host's dnf 4.14), as the fact script prints it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageManagerStateFact, parseTransactionFact } from '../../../src/facts/package-transaction.ts';

const captured = (name: string) => parseTransactionFact(readFileSync(join(import.meta.dirname, 'transactions', name), 'utf8'));

describe('the package transaction fact', () => {
  it('apt: a fresh install lists every new package with its version, nothing upgraded or removed', () => {
    const tx = captured('apt-exim.txt');
    expect(tx.ok).toBe(true);
    expect(tx.requested).toEqual(['sendmail', 'sendmail-cf']);
    expect(tx.install.map((p) => p.name)).toEqual([
      'm4',
      'make',
      'liblockfile-bin',
      'liblockfile1',
      'lockfile-progs',
      'sendmail-base',
      'sendmail-cf',
      'sendmail-bin',
      'procmail',
      'sensible-mda',
      'sendmail',
    ]);
    expect(tx.install.find((p) => p.name === 'sendmail')?.version).toBe('8.17.1.9-2+deb12u2');
    expect(tx.upgrade).toEqual([]);
  });

  it('apt: ufw, which breaks iptables-persistent, is removed, with the cause', () => {
    const tx = captured('apt-ufw.txt');
    expect(tx.remove).toEqual([{ name: 'ufw', version: '0.36.2-1', provides: [], cause: 'ufw breaks netfilter-persistent' }]);
    // the recommends left out by --no-install-recommends
    expect(tx.recommendsLeftOut).toEqual(['libsasl2-modules']);
  });

  it('apt: exim4 replaced by sendmail: each package removed, with what it provides and why it goes', () => {
    const tx = captured('apt-exim.txt');
    expect(tx.remove.map((r) => [r.name, r.cause])).toEqual([
      ['exim4', 'exim4 depends on exim4-base, which is removed'],
      ['exim4-daemon-light', 'sendmail-bin conflicts with mail-transport-agent (which exim4-daemon-light provides)'],
      ['exim4-base', 'exim4-base depends on exim4-config, which is removed'],
      ['exim4-config', 'exim4-config conflicts with sendmail-bin'],
    ]);
    expect(tx.remove.find((r) => r.name === 'exim4-daemon-light')?.provides).toContain('mail-transport-agent');
  });

  it('apt: an upgrade of an installed dependency is an upgrade, from and to', () => {
    const tx = captured('apt-upgrade.txt');
    expect(tx.install).toEqual([{ name: 'mailprov-want', version: '1.0' }]);
    expect(tx.upgrade).toEqual([{ name: 'mailprov-dep', from: '1.0', to: '2.0' }]);
    expect(tx.recommendsLeftOut).toEqual([]);
  });

  it("apt: a package it cannot find fails the transaction with apt's words", () => {
    const tx = captured('apt-missing.txt');
    expect(tx.ok).toBe(false);
    expect(tx.error).toBe('Unable to locate package mailprov-no-such-package');
  });

  it("dnf: the transaction table's installs", () => {
    const tx = captured('dnf-fresh.txt');
    expect(tx.ok).toBe(true);
    expect(tx.install).toEqual([
      { name: 'cyrus-sasl-plain', version: '2.1.28-1.mailprov.el8' },
      { name: 'sendmail', version: '8.17.1.9-1.mailprov.el8' },
      { name: 'sendmail-cf', version: '8.17.1.9-1.mailprov.el8' },
    ]);
    expect(tx.remove).toEqual([]);
  });

  it('dnf: a package that conflicts with the install is a removal (seen with --allowerasing)', () => {
    const tx = captured('dnf-conflict.txt');
    expect(tx.install.map((p) => p.name)).toEqual(['sendmail', 'sendmail-cf']);
    expect(tx.remove).toMatchObject([{ name: 'mailprov-old-mta', version: '1.0-1' }]);
  });

  it('nothing to install: an empty transaction', () => {
    expect(parseTransactionFact('MAILPROV_TX requested \n')).toMatchObject({ ok: true, requested: [], install: [], remove: [] });
  });
});

describe('the package manager state fact', () => {
  it("dpkg's journal or dpkg --audit's complaint is an interrupted dpkg", () => {
    expect(packageManagerStateFact.parse('', undefined)).toEqual({ interrupted: false, detail: '' });
    expect(packageManagerStateFact.parse('interrupted\n', undefined).interrupted).toBe(true);
    const audit = 'The following packages are only half configured, probably due to problems\nconfiguring them the first time.\n';
    expect(packageManagerStateFact.parse(audit, undefined)).toMatchObject({ interrupted: true });
    // dpkg --audit's whole output comes back: the detail is made of its first 6 lines
    const many = `The following packages are only half configured, probably due to problems\n${['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((n) => ` ${n}  a package`).join('\n')}\n`;
    expect(packageManagerStateFact.parse(`interrupted\n${many}`, undefined)).toEqual({
      interrupted: true,
      detail: 'The following packages are only half configured: a, b, c, d, e',
    });
  });

  it("sees an entry of dpkg's journal whatever its name, and nothing in an empty one (run under dash)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'dpkg-updates-'));
    const script = packageManagerStateFact.script(undefined).replaceAll('/var/lib/dpkg/updates', dir);
    // without dpkg and apt-get on PATH the fact says nothing: stand-ins that say nothing either
    const bin = mkdtempSync(join(tmpdir(), 'bin-'));
    for (const tool of ['dpkg', 'apt-get']) writeFileSync(join(bin, tool), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const run = () => execFileSync('/bin/dash', ['-c', script], { env: { PATH: `${bin}:/usr/bin:/bin` } }).toString();
    expect(run()).toBe('');
    for (const name of ['0001', '.hidden', '..x']) {
      writeFileSync(join(dir, name), '');
      expect(run()).toBe('interrupted\n');
      rmSync(join(dir, name));
    }
  });
});
