// packages: present or absent, through the host's own package manager (apt or dnf/yum, from facts).
import type { HostFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { shellJoin } from '../transport/quote.ts';
import type { Change, NoChange, Resource } from './types.ts';

export interface PackagesOptions {
  /** Names the resource (its id is `packages:<name>`); default: the listed names. */
  name?: string;
  /** Package names; a function of facts picks per distro (e.g. cyrus-sasl-plain only on RHEL). */
  names: string[] | ((facts: HostFacts) => string[]);
  state?: 'present' | 'absent';
  /** Names for all distros, to gather facts for before the OS is known. */
  candidates?: string[];
  notify?: string[];
}

export function installCommand(manager: string, names: string[]): string {
  const args = shellJoin(names);
  switch (manager) {
    case 'apt': {
      const install = `DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold ${args}`;
      // Refresh the package lists only when the install cannot find what it needs.
      return `${install} || { apt-get update -q && ${install}; }`;
    }
    case 'dnf':
    case 'yum':
      return `${manager} install -y -q ${args}`;
    default:
      throw new OperationError(`no supported package manager on this host (need apt, dnf or yum)`);
  }
}

export function removeCommand(manager: string, names: string[]): string {
  const args = shellJoin(names);
  return manager === 'apt' ? `DEBIAN_FRONTEND=noninteractive apt-get remove -y -q ${args}` : `${manager} remove -y -q ${args}`;
}

export function packages(opts: PackagesOptions): Resource {
  const listed = typeof opts.names === 'function' ? (opts.candidates ?? []) : opts.names;
  const state = opts.state ?? 'present';
  const id = `packages:${opts.name ?? listed.join(',')}`;
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    facts: () => listed.map((name) => ({ kind: 'package' as const, name })),
    plan(facts): Change | NoChange {
      const names = typeof opts.names === 'function' ? opts.names(facts) : opts.names;
      const manager = facts.os.packageManager;
      const isInstalled = (n: string) => facts.packages.get(n)?.installed === true;
      const todo = names.filter((n) => (state === 'present' ? !isInstalled(n) : isInstalled(n)));
      if (todo.length === 0) return { resourceId: id, reason: `${names.join(', ')} ${state === 'present' ? 'installed' : 'absent'}` };
      const verb = state === 'present' ? 'install' : 'remove';
      return {
        resourceId: id,
        action: verb,
        summary: `${verb} ${todo.join(', ')} (${manager})`,
        reason: state === 'present' ? 'not installed' : 'installed',
        steps: [{ label: `${verb} ${todo.join(', ')}`, command: state === 'present' ? installCommand(manager, todo) : removeCommand(manager, todo) }],
        // Removing them again undoes the install, but not the dependencies they pulled in.
        undo: state === 'present' ? [{ kind: 'packages', manager, installed: todo }] : [],
      };
    },
  };
}
