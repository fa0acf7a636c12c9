// packages: present or absent, through the host's own package manager (apt or dnf/yum, from facts).
import { z } from 'zod';
import { packagesFact } from '../facts/builtin.ts';
import type { HostFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { shellJoin } from '../transport/quote.ts';
import { parseRecord } from './undo-record.ts';
import type { Change, NoChange, Resource, UndoHandler } from './types.ts';

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

/**
 * debconf answers given before an apt install, for packages whose defaults would do more than
 * install: iptables-persistent saves every live rule (fail2ban bans, Docker's chains: other
 * tools' runtime rules) as the boot-time rules. mailprov saves its own rule itself (firewall.ts).
 */
const DEBCONF_ANSWERS: Record<string, string[]> = {
  'iptables-persistent': [
    'iptables-persistent iptables-persistent/autosave_v4 boolean false',
    'iptables-persistent iptables-persistent/autosave_v6 boolean false',
  ],
};

export function installCommand(manager: string, names: string[]): string {
  const args = shellJoin(names);
  switch (manager) {
    case 'apt': {
      const install = `DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold ${args}`;
      const answers = names.flatMap((n) => DEBCONF_ANSWERS[n] ?? []);
      // Refresh the package lists only when the install cannot find what it needs.
      const command = `${install} || { apt-get update -q && ${install}; }`;
      return answers.length ? `printf '%s\\n' ${shellJoin(answers)} | debconf-set-selections && { ${command}; }` : command;
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

/**
 * Shell that asks the package manager what removing `names` would remove, and exits 3 naming
 * every other package it would take with it (packages installed since that depend on them):
 * mailprov removes only what it installed. apt simulates the removal (`apt-get -s remove`); rpm
 * tests it (`rpm -e --test`), whose "needed by" lines name the dependents. Names not installed
 * are left out (undoing twice is harmless).
 */
export function removalCheckCommand(manager: string, names: string[]): string {
  const message =
    'mailprov: refusing to remove %s: it would also remove %s, which mailprov did not install; remove those yourself first if they should go, or roll back without --packages\n';
  const refuse = `{ printf ${shellJoin([message, names.join(', ')])} "$others" >&2; exit 3; }`;
  // one name per line, separated by spaces for the message
  const join = `tr '\\n' ' ' | sed 's/ $//'`;
  if (manager === 'apt') {
    return [
      `out=$(LC_ALL=C apt-get -s remove -q ${shellJoin(names)} 2>&1) || { printf '%s\\n' "$out" >&2; exit 1; }`,
      `others=$(printf '%s\\n' "$out" | sed -n 's/^Remv \\([^ ]*\\) .*/\\1/p' | sed 's/:[^:]*$//' | grep -vxF ${names.map((n) => `-e ${shellJoin([n])}`).join(' ')} | ${join})`,
      `if [ -n "$others" ]; then ${refuse}; fi`,
    ].join('\n');
  }
  if (manager === 'dnf' || manager === 'yum') {
    return [
      'set --',
      `for p in ${shellJoin(names)}; do if rpm -q "$p" >/dev/null 2>&1; then set -- "$@" "$p"; fi; done`,
      'if [ "$#" -gt 0 ]; then',
      `  others=$(LC_ALL=C rpm -e --test "$@" 2>&1 | sed -n 's/.* is needed by (installed) \\(.*\\)$/\\1/p' | sort -u | ${join})`,
      `  if [ -n "$others" ]; then ${refuse}; fi`,
      'fi',
    ].join('\n');
  }
  throw new OperationError(`no supported package manager on this host (need apt, dnf or yum)`);
}

export function packages(opts: PackagesOptions): Resource {
  const listed = typeof opts.names === 'function' ? (opts.candidates ?? []) : opts.names;
  const state = opts.state ?? 'present';
  const id = `packages:${opts.name ?? listed.join(',')}`;
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    facts: () => [packagesFact.query(listed)],
    plan(facts): Change | NoChange {
      const names = typeof opts.names === 'function' ? opts.names(facts) : opts.names;
      const manager = facts.os.packageManager;
      const known = facts.get(packagesFact, listed);
      const unlisted = names.filter((n) => !known.has(n));
      if (unlisted.length)
        throw new OperationError(
          `packages ${id}: ${unlisted.join(', ')} not among its candidates (facts were gathered for ${listed.join(', ')})`,
        );
      const isInstalled = (n: string) => known.get(n)?.installed === true;
      const todo = names.filter((n) => (state === 'present' ? !isInstalled(n) : isInstalled(n)));
      if (todo.length === 0) return { resourceId: id, reason: `${names.join(', ')} ${state === 'present' ? 'installed' : 'absent'}` };
      const verb = state === 'present' ? 'install' : 'remove';
      return {
        resourceId: id,
        action: verb,
        summary: `${verb} ${todo.join(', ')} (${manager})`,
        reason: state === 'present' ? 'not installed' : 'installed',
        steps: [
          {
            label: `${verb} ${todo.join(', ')}`,
            command: state === 'present' ? installCommand(manager, todo) : removeCommand(manager, todo),
          },
        ],
        // Removing them again undoes the install, but not the dependencies they pulled in.
        undo: [state === 'present' ? { kind: 'packages', manager, installed: todo } : { kind: 'packages', manager, removed: todo }],
      };
    },
  };
}

const packagesRecord = z.object({
  kind: z.literal('packages'),
  manager: z.enum(['apt', 'dnf', 'yum']),
  installed: z.array(z.string().min(1)).optional(),
  removed: z.array(z.string().min(1)).optional(),
});
type PackagesRecord = z.infer<typeof packagesRecord>;

/**
 * Packages installed are removed again (not the dependencies they pulled in), removed ones
 * reinstalled; only with --packages. A removal that would take any other package with it is
 * refused before the rollback changes anything, and checked again right before it runs.
 */
export const packagesUndo: UndoHandler<PackagesRecord> = {
  kind: 'packages',
  optIn: 'packages',
  parse: (record) => parseRecord(packagesRecord, record),
  preflight: (r) =>
    r.installed?.length
      ? [{ label: `check what removing ${r.installed.join(', ')} would remove`, command: removalCheckCommand(r.manager, r.installed) }]
      : [],
  steps: (r) => [
    ...(r.installed?.length
      ? [
          {
            label: `remove ${r.installed.join(', ')}`,
            command: `${removalCheckCommand(r.manager, r.installed)}\n${removeInstalledCommand(r.manager, r.installed)}`,
          },
        ]
      : []),
    ...(r.removed?.length ? [{ label: `reinstall ${r.removed.join(', ')}`, command: installCommand(r.manager, r.removed) }] : []),
  ],
  inverse: (r) => ({ kind: 'packages', manager: r.manager, installed: r.removed ?? [], removed: r.installed ?? [] }),
  describe: (r) => [...(r.installed ?? []).map((p) => `- package ${p}`), ...(r.removed ?? []).map((p) => `+ package ${p}`)].join('\n'),
};

/** Removes those of `names` still installed (dnf refuses a name that is not installed; apt does not mind). */
function removeInstalledCommand(manager: string, names: string[]): string {
  if (manager === 'apt') return removeCommand(manager, names);
  return [
    'set --',
    `for p in ${shellJoin(names)}; do if rpm -q "$p" >/dev/null 2>&1; then set -- "$@" "$p"; fi; done`,
    `if [ "$#" -gt 0 ]; then ${manager} remove -y -q "$@"; fi`,
  ].join('\n');
}
