// In-memory facts for planner tests: a host as the fact script would describe it.
import { createHash } from 'node:crypto';
import type { Fact, FileFact, HostFacts, OsFacts } from '../../src/facts/types.ts';
import type { Generation } from '../../src/journal/records.ts';

export const centosOs = (major: number, systemd = major >= 7): OsFacts => ({
  family: 'rhel',
  id: 'centos',
  version: String(major),
  major,
  prettyName: `CentOS ${major}`,
  packageManager: major >= 8 ? 'dnf' : 'yum',
  serviceManager: systemd ? 'systemd' : 'sysv',
  fqdn: 'relay1.example.org',
  selinux: true,
});

export const debianOs: OsFacts = {
  family: 'debian',
  id: 'debian',
  version: '12',
  major: 12,
  prettyName: 'Debian GNU/Linux 12 (bookworm)',
  packageManager: 'apt',
  serviceManager: 'sysv',
  fqdn: 'relay1.example.org',
  selinux: false,
};

export function fileFact(content: string, owner = 'root', group = 'root', mode = '0644'): FileFact {
  return {
    exists: true,
    type: 'file',
    owner,
    group,
    mode,
    size: Buffer.byteLength(content),
    content,
    sha256: createHash('sha256').update(content).digest('hex'),
  };
}

export function hostFacts(
  over: Partial<{
    os: OsFacts;
    files: Record<string, FileFact>;
    packages: Record<string, boolean>;
    rules: string[];
    /** `ip6tables -S` lines (default: empty chains, policy ACCEPT). */
    rules6: string[];
    firewalld: { runtime: string[]; permanent: string[] };
    services: Record<string, boolean>;
    tests: Record<string, number>;
    /** Facts of a playbook's own, by name (the value the fact's parser would return). */
    extra: Record<string, unknown>;
  }> = {},
): HostFacts {
  // what the fact script would report: a file not listed is missing, a package not listed absent
  const answer = (name: string, arg: unknown): unknown => {
    switch (name) {
      case 'file':
        return over.files?.[arg as string] ?? { exists: false };
      case 'packages':
        return new Map((arg as string[]).map((n) => [n, { installed: over.packages?.[n] ?? false }]));
      case 'iptables':
        return {
          available: true,
          rules: over.rules ?? ['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT'],
          firewalld: over.firewalld,
        };
      case 'ip6tables':
        return { available: true, rules: over.rules6 ?? ['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT'] };
      case 'service': {
        // by name, or { name, pidFiles }
        const service = typeof arg === 'string' ? arg : (arg as { name: string }).name;
        return over.services?.[service] === undefined ? { known: false, running: false } : { known: true, running: over.services[service] };
      }
      case 'test':
        return over.tests?.[arg as string] ?? 1;
      case 'journal':
        return { generations: [], unreadable: [] };
      case 'package-manager-state':
        return over.extra?.[name] ?? { interrupted: false, detail: '' };
      case 'package-transaction': {
        if (over.extra?.[name]) return over.extra[name];
        // the names not installed, installed as they are: no dependencies, nothing upgraded or removed
        const q = arg as { apt: string[]; rpm: string[] };
        const names = ((over.os ?? debianOs).family === 'rhel' ? q.rpm : q.apt).filter((n) => !over.packages?.[n]);
        return {
          ok: true,
          requested: names,
          install: names.map((name) => ({ name, version: '1.0' })),
          upgrade: [],
          remove: [],
          recommendsLeftOut: [],
        };
      }
    }
    if (over.extra && name in over.extra) return over.extra[name];
    // a playbook's own fact not given: what a host without its files would say
    if (name === 'sendmail-queue') return { count: 0, now: 0, messages: [] };
    if (name === 'ipv6-bindv6only') return false;
    // which firewall decides: by default none (iptables with ACCEPT policies), as before the fact
    if (name === 'firewall')
      return over.firewalld
        ? { manager: 'firewalld', why: 'firewalld is running', richRules: { runtime: [], permanent: [] } }
        : { manager: 'none', why: 'no firewall drops input' };
    throw new Error(`fixture has no fact ${name}`);
  };
  return { os: over.os ?? debianOs, get: <T, A>(fact: Fact<T, A>, arg: A) => answer(fact.name, arg) as T };
}

/** A generation record as the journal writes it: a complete apply unless `over` says otherwise. */
export const generation = (id: number, over: Partial<Generation> = {}): Generation => ({
  id,
  kind: 'apply',
  status: 'complete',
  startedAt: `t${id}`,
  by: 'me',
  inventory: 'inv.ts',
  summary: [],
  files: [],
  kept: [],
  sensitive: [],
  undo: [],
  forgotten: [],
  ...over,
});
