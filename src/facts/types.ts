// The shapes of the built-in facts (see builtin.ts for how each is gathered).
import type { Fact } from './fact.ts';

export type { Fact, FactQuery } from './fact.ts';

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
  /** `iptables -S` (or `ip6tables -S`) lines of the filter table, e.g. "-A INPUT -p tcp ... -j ACCEPT". */
  rules: string[];
  /** Set when firewalld runs: the services it allows, now and after a reload. */
  firewalld?: { runtime: string[]; permanent: string[] };
}

export interface ServiceFact {
  /** Whether the host knows the service at all (unit file or init script). */
  known: boolean;
  running: boolean;
}

export const MAX_CONTENT_BYTES = 1024 * 1024;

/** The facts gathered from a host; `os` is always there, the rest is what the resources asked for. */
export interface HostFacts {
  readonly os: OsFacts;
  /** The value of a fact that was gathered; throws FactError for one that was not asked for (a bug). */
  get<T, A>(fact: Fact<T, A>, arg: A): T;
}
