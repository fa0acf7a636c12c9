// Facts are small, named queries about a host. Resources say which they need; the engine gathers
// all of them in one remote command (see gather.ts) and hands the parsed result to every planner.

export type FactQuery =
  | { kind: 'os' }
  | { kind: 'package'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'iptables' }
  | { kind: 'service'; name: string }
  /** mailprov's own journal on the host (generations under /var/lib/mailprov). */
  | { kind: 'journal' }
  /** Exit code of a read-only guard command (a command resource's `unless`). */
  | { kind: 'test'; command: string };

export type OsFamily = 'debian' | 'rhel' | 'unknown';

export interface OsFacts {
  family: OsFamily;
  /** ID from /etc/os-release, e.g. debian, centos, rocky. */
  id: string;
  /** VERSION_ID, e.g. "12", "7", "9.3"; "" when unknown. */
  version: string;
  /** Major release number, NaN when unknown. */
  major: number;
  prettyName: string;
  packageManager: 'apt' | 'dnf' | 'yum' | 'none';
  /** How services are driven: systemd, sysv init scripts (incl. `service`), or none known. */
  serviceManager: 'systemd' | 'sysv' | 'none';
  /** The host's fully qualified name, as `hostname -f` says. */
  fqdn: string;
  /** SELinux enforcing or permissive: files moved into /etc/mail need `restorecon`. */
  selinux: boolean;
}

export interface PackageFact {
  installed: boolean;
  version?: string;
}

export type FileFact =
  | { exists: false }
  | {
      exists: true;
      type: 'file' | 'directory' | 'symlink' | 'other';
      owner: string;
      group: string;
      /** Octal permission bits as four digits, e.g. "0644". */
      mode: string;
      size: number;
      /** UTF-8 content for regular files up to MAX_CONTENT_BYTES; undefined beyond. */
      content?: string;
      sha256: string;
    };

export interface IptablesFacts {
  available: boolean;
  /** `iptables -S` lines of the filter table, e.g. "-A INPUT -p tcp ... -j ACCEPT". */
  rules: string[];
  /** Set when firewalld runs: the services it allows, now and after a reload. */
  firewalld?: { runtime: string[]; permanent: string[] };
}

export interface ServiceFact {
  /** Whether the host knows the service at all (unit file or init script). */
  known: boolean;
  running: boolean;
}

export interface HostFacts {
  os: OsFacts;
  packages: Map<string, PackageFact>;
  files: Map<string, FileFact>;
  iptables: IptablesFacts;
  services: Map<string, ServiceFact>;
  tests: Map<string, number>;
  /** Raw journal lines (one generation's meta.json per line); parsed by src/journal. */
  journal: string;
}

export const MAX_CONTENT_BYTES = 1024 * 1024;

export function factKey(q: FactQuery): string {
  switch (q.kind) {
    case 'os':
    case 'iptables':
    case 'journal':
      return q.kind;
    case 'package':
      return `package:${q.name}`;
    case 'file':
      return `file:${q.path}`;
    case 'service':
      return `service:${q.name}`;
    case 'test':
      return `test:${q.command}`;
  }
}
