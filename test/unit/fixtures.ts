// In-memory facts for planner tests: a host as the fact script would describe it.
import { createHash } from 'node:crypto';
import type { FileFact, HostFacts, OsFacts } from '../../src/facts/types.ts';

export const centosOs = (major: number, systemd = major >= 7): OsFacts => ({
  family: 'rhel', id: 'centos', version: String(major), major, prettyName: `CentOS ${major}`,
  packageManager: major >= 8 ? 'dnf' : 'yum', serviceManager: systemd ? 'systemd' : 'sysv', fqdn: 'relay1.example.org', selinux: true,
});

export const debianOs: OsFacts = {
  family: 'debian', id: 'debian', version: '12', major: 12, prettyName: 'Debian GNU/Linux 12 (bookworm)',
  packageManager: 'apt', serviceManager: 'sysv', fqdn: 'relay1.example.org', selinux: false,
};

export function fileFact(content: string, owner = 'root', group = 'root', mode = '0644'): FileFact {
  return { exists: true, type: 'file', owner, group, mode, size: Buffer.byteLength(content), content, sha256: createHash('sha256').update(content).digest('hex') };
}

export function hostFacts(over: Partial<{ os: OsFacts; files: Record<string, FileFact>; packages: Record<string, boolean>; rules: string[]; firewalld: { runtime: string[]; permanent: string[] }; services: Record<string, boolean>; tests: Record<string, number> }> = {}): HostFacts {
  return {
    os: over.os ?? debianOs,
    files: new Map(Object.entries(over.files ?? {})),
    packages: new Map(Object.entries(over.packages ?? {}).map(([k, v]) => [k, { installed: v }])),
    iptables: { available: true, rules: over.rules ?? ['-P INPUT ACCEPT', '-P FORWARD ACCEPT', '-P OUTPUT ACCEPT'], firewalld: over.firewalld },
    services: new Map(Object.entries(over.services ?? {}).map(([k, v]) => [k, { known: true, running: v }])),
    tests: new Map(Object.entries(over.tests ?? {})),
    journal: '',
  };
}
