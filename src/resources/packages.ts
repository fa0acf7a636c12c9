// packages: present or absent, through the host's own package manager (apt or dnf/yum, from facts).
// An install is planned from the package manager's own read-only answer (the transaction fact):
// the plan shows every package it installs, upgrades and removes, a removal nobody named is
// refused before the host changes, and the install runs so that apt and dnf cannot remove
// anything else on their own.
import { z } from 'zod';
import { packagesFact, serviceFact } from '../facts/builtin.ts';
import {
  APT_SIMULATE,
  aptRecommendsFlag,
  dnfRecommendsFlag,
  packageManagerStateFact,
  packageTransactionFact,
  type PackageTransaction,
  type TransactionQuery,
} from '../facts/package-transaction.ts';
import type { HostFacts, OsFacts } from '../facts/types.ts';
import { OperationError } from '../errors.ts';
import { shellJoin, shellQuote } from '../transport/quote.ts';
import { serviceCommand } from './service.ts';
import { packagesId } from './ids.ts';
import { parseRecord } from './undo-record.ts';
import type { Change, NoChange, Resource, Step, UndoHandler } from './types.ts';

export interface PackagesOptions {
  /** Names the resource (its id is `packages:<name>`); default: the listed names. */
  name?: string;
  /** Package names, or per distro family (e.g. cyrus-sasl-plain on RHEL, libsasl2-modules on Debian). */
  names: string[] | { debian: string[]; rhel: string[] };
  state?: 'present' | 'absent';
  notify?: string[];
  /**
   * Install what the packages recommend too (apt's Recommends, dnf's weak dependencies). Default
   * false: the install is exactly the named packages and what they depend on, whatever the host's
   * apt configuration says; name a recommended package to have it.
   */
  recommends?: boolean;
  /**
   * The install's declared job of replacing packages the host has (the sendmail playbook replaces
   * the host's MTA): a package that goes is replaced when it provides one of `provides` (a virtual
   * package such as mail-transport-agent) or is one of `packages`. The plan names each
   * ("remove exim4-daemon-light: replaced by sendmail"); `rollback --packages` puts them back.
   */
  replaces?: {
    provides?: string[];
    packages?: string[];
    by: string;
    /**
     * The services of what is replaced (exim4, postfix): one running is stopped before the install
     * (its port is sendmail's) and started again when a rollback puts it back.
     */
    services?: string[];
    /** The service of what replaces them, stopped by that rollback before they come back. */
    service?: string;
  };
  /** Other packages the install may remove, each by name (the plan says it was allowed). */
  allowRemove?: string[];
  /** Refuse an install that would upgrade a package the host has (default: shown, not refused). */
  refuseUpgrades?: boolean;
  /** How long to wait for another process holding the package manager's lock (default 600 s). */
  lockWaitSeconds?: number;
  /**
   * Install only where this holds (iptables-persistent only where iptables decides); otherwise the
   * plan says why. The transaction is still asked (read-only), since facts are gathered at once.
   */
  when?: { test: (facts: HostFacts) => boolean; otherwise: string };
}

/** What the plan decided about one package the transaction removes. */
interface PlannedRemoval {
  name: string;
  version: string;
  /** replaced: the install's declared job; allowed: named in allowRemove. */
  why: 'replaced' | 'allowed' | 'refused';
  cause?: string;
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

/** The locks apt and dpkg take (fcntl), rpm's (fcntl), and dnf's pid files. */
const APT_LOCKS = ['/var/lib/dpkg/lock-frontend', '/var/lib/dpkg/lock', '/var/lib/apt/lists/lock', '/var/cache/apt/archives/lock'];
const RPM_LOCKS = ['/var/lib/rpm/.rpm.lock'];
const DNF_PID_LOCKS = ['/var/lib/dnf/rpmdb_lock.pid', '/var/cache/dnf/download_lock.pid', '/var/cache/dnf/metadata_lock.pid'];

export const DEFAULT_LOCK_WAIT_SECONDS = 600;

/**
 * Shell that waits up to `seconds` while another process holds the package manager's lock,
 * naming the holder (its /proc/<pid>/comm, from /proc/locks or dnf's pid file) when it starts
 * waiting, and failing with that name when the time is up (exit 75). A wait that happened is
 * said on stdout as a `mailprov-note:` line, which the run reports. Sets `$lock_left` to the
 * seconds left, for apt's own DPkg::Lock::Timeout against a process that takes the lock just after.
 */
export function lockWaitCommand(manager: string, seconds: number): string {
  const apt = manager === 'apt';
  const fcntl = shellJoin(apt ? APT_LOCKS : RPM_LOCKS);
  const pids = apt ? '' : shellJoin(DNF_PID_LOCKS);
  const what = apt ? "dpkg's lock" : "rpm's lock";
  return [
    'mailprov_lock_holder() {',
    `  for f in ${fcntl}; do`,
    '    ino=$(stat -c %i "$f" 2>/dev/null) || continue',
    // fcntl locks (apt, dpkg and rpm take no other kind); a waiter's line has "->" in the second field
    `    pid=$(awk -v ino="$ino" '($2 == "POSIX" || $2 == "OFDLCK") { n = split($6, a, ":"); if (a[n] == ino) { print $5; exit } }' /proc/locks)`,
    '    if [ -n "$pid" ]; then echo "$(cat "/proc/$pid/comm" 2>/dev/null || echo "a process") (pid $pid, $f)"; return 0; fi',
    '  done',
    ...(pids
      ? [
          `  for f in ${pids}; do`,
          '    pid=$(cat "$f" 2>/dev/null) || continue',
          '    if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then echo "$(cat "/proc/$pid/comm" 2>/dev/null || echo "a process") (pid $pid, $f)"; return 0; fi',
          '  done',
        ]
      : []),
    '  return 1',
    '}',
    'lock_waited=0; lock_first=',
    'while lock_holder=$(mailprov_lock_holder); do',
    `  if [ -z "$lock_first" ]; then lock_first=$lock_holder; echo "mailprov: waiting up to ${seconds} s for ${what}, held by $lock_holder" >&2; fi`,
    `  if [ "$lock_waited" -ge ${seconds} ]; then echo "mailprov: gave up after waiting ${seconds} s for ${what}, held by $lock_holder" >&2; exit 75; fi`,
    '  sleep 1; lock_waited=$((lock_waited + 1))',
    'done',
    `if [ -n "$lock_first" ]; then echo "mailprov-note: waited $lock_waited s for ${what}, held by $lock_first"; fi`,
    `lock_left=$((${seconds} - lock_waited)); if [ "$lock_left" -lt 1 ]; then lock_left=1; fi`,
  ].join('\n');
}

export interface InstallOptions {
  recommends?: boolean;
  /** Packages the install may remove (the planned replacements and allowed removals); none by default. */
  mayRemove?: string[];
  lockWaitSeconds?: number;
}

/** `grep -vxF` arguments keeping the lines that are none of `names` (and not empty). */
const notAmong = (names: string[]) => ['-e', "''", ...names.flatMap((n) => ['-e', shellQuote(n)])].join(' ');

/**
 * The install. apt: simulated first in the same command (after `apt-get update` when the lists
 * lack a package), refused (exit 3) when the transaction would remove anything but `mayRemove`,
 * its upgrades and removals said as `mailprov-note:` lines; then installed with `--no-remove`
 * unless removals were planned, so apt cannot remove anything on its own. dnf never removes
 * unless given --allowerasing, which it gets only for planned removals, after the same check.
 */
export function installCommand(manager: string, names: string[], opts: InstallOptions = {}): string {
  const args = shellJoin(names);
  const mayRemove = opts.mayRemove ?? [];
  const wait = lockWaitCommand(manager, opts.lockWaitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS);
  const refuse = (tool: string) =>
    `{ printf 'mailprov: refusing to install: %s would remove %s, which nobody asked it to remove\\n' ${shellQuote(tool)} "$(printf '%s\\n' "$others" | tr '\\n' ' ' | sed 's/ *$//')" >&2; exit 3; }`;
  switch (manager) {
    case 'apt': {
      const rec = aptRecommendsFlag(opts.recommends ?? false);
      const lock = '-o DPkg::Lock::Timeout="$lock_left"';
      const sim = `LC_ALL=C ${APT_SIMULATE} -q ${rec} install ${args} 2>&1`;
      const answers = names.flatMap((n) => DEBCONF_ANSWERS[n] ?? []);
      return [
        ...(answers.length ? [`printf '%s\\n' ${shellJoin(answers)} | debconf-set-selections || exit 1`] : []),
        wait,
        'export DEBIAN_FRONTEND=noninteractive',
        // the lists are refreshed only when the install cannot find what it needs
        `if ! out=$(${sim}); then apt-get update -q ${lock} >&2 || exit 1; out=$(${sim}) || { printf '%s\\n' "$out" >&2; exit 1; }; fi`,
        `others=$(printf '%s\\n' "$out" | sed -n 's/^\\(Remv\\|Purg\\) \\([^ ]*\\).*/\\2/p' | sed 's/:[^:]*$//' | grep -vxF ${notAmong(mayRemove)} || true)`,
        `if [ -n "$others" ]; then ${refuse('apt')}; fi`,
        `printf '%s\\n' "$out" | sed -n -e 's/^Inst \\([^ ]*\\) \\[\\([^]]*\\)\\] (\\([^ ]*\\).*/mailprov-note: upgrading \\1 from \\2 to \\3/p' -e 's/^Remv \\([^ ]*\\).*/mailprov-note: removing \\1/p'`,
        `apt-get install -y -q ${lock} -o Dpkg::Options::=--force-confold ${rec}${mayRemove.length ? '' : ' --no-remove'} ${args}`,
      ].join('\n');
    }
    case 'dnf':
    case 'yum': {
      // yum 3 (EL6, EL7) knows no weak dependencies
      const weak = manager === 'dnf' ? dnfRecommendsFlag(opts.recommends ?? false) : '';
      if (!mayRemove.length) return `${wait}\n${manager} install -y -q ${weak ? `${weak} ` : ''}${args}`;
      // the packages in the "Removing..." sections of dnf's table (a long name is alone on its line)
      const removing = `awk '/^[A-Z][A-Za-z ]*:[[:space:]]*$/ { sec = $0; next } /^Transaction Summary/ { sec = "" } sec ~ /^Removing/ && /^ [^ ]/ { print $1 }'`;
      return [
        wait,
        // --assumeno always exits 1: the table is what counts
        `out=$(LC_ALL=C ${manager} install --assumeno --allowerasing ${weak} ${args} 2>&1 || true)`,
        `others=$(printf '%s\\n' "$out" | ${removing} | grep -vxF ${notAmong(mayRemove)} || true)`,
        `if [ -n "$others" ]; then ${refuse(manager)}; fi`,
        `printf '%s\\n' "$out" | ${removing} | sed 's/^/mailprov-note: removing /'`,
        `${manager} install -y -q --allowerasing ${weak} ${args}`,
      ].join('\n');
    }
    default:
      throw new OperationError(`no supported package manager on this host (need apt, dnf or yum)`);
  }
}

/** Finishes a dpkg run that was cut short (apt refuses to work until it is done). */
export function repairCommand(manager: string, lockWaitSeconds = DEFAULT_LOCK_WAIT_SECONDS): string {
  if (manager !== 'apt') throw new OperationError(`no repair known for ${manager}`);
  return `${lockWaitCommand(manager, lockWaitSeconds)}\nDEBIAN_FRONTEND=noninteractive dpkg --force-confold --configure -a`;
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
      `out=$(LC_ALL=C ${APT_SIMULATE} remove -q ${shellJoin(names)} 2>&1) || { printf '%s\\n' "$out" >&2; exit 1; }`,
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
  const perFamily = Array.isArray(opts.names) ? { debian: opts.names, rhel: opts.names } : opts.names;
  const listed = [...new Set([...perFamily.debian, ...perFamily.rhel])];
  const state = opts.state ?? 'present';
  const id = packagesId(opts.name ?? listed.join(','));
  const recommends = opts.recommends ?? false;
  const lockWait = opts.lockWaitSeconds ?? DEFAULT_LOCK_WAIT_SECONDS;
  const query: TransactionQuery = { apt: perFamily.debian, rpm: perFamily.rhel, recommends };
  return {
    id,
    notify: opts.notify ?? [],
    handler: false,
    facts: () => [
      packagesFact.query(listed),
      packageManagerStateFact.query(),
      ...(state === 'present' ? [packageTransactionFact.query(query)] : []),
      ...(opts.replaces?.services ?? []).map((s) => serviceFact.query(s)),
    ],
    plan(facts): Change | NoChange {
      if (opts.when && !opts.when.test(facts)) return { resourceId: id, reason: opts.when.otherwise };
      const names = facts.os.family === 'rhel' ? perFamily.rhel : perFamily.debian;
      const manager = facts.os.packageManager;
      const known = facts.get(packagesFact, listed);
      const isInstalled = (n: string) => known.get(n)?.installed === true;
      const todo = names.filter((n) => (state === 'present' ? !isInstalled(n) : isInstalled(n)));
      // a dpkg run cut short (by anyone): apt refuses to work until `dpkg --configure -a` finishes it
      const pm = facts.get(packageManagerStateFact, undefined);
      const repair: Step[] =
        pm.interrupted && manager === 'apt'
          ? [{ label: 'dpkg --configure -a (finish the interrupted dpkg run)', command: repairCommand(manager, lockWait) }]
          : [];
      const repairReason = `dpkg was interrupted${pm.detail ? ` (${pm.detail.slice(0, 200)})` : ''}: dpkg --configure -a finishes it first`;
      if (todo.length === 0) {
        const reason = `${names.join(', ')} ${state === 'present' ? 'installed' : 'absent'}`;
        if (!repair.length) return { resourceId: id, reason };
        return { resourceId: id, action: 'repair', summary: 'dpkg --configure -a', reason: repairReason, steps: repair, undo: [] };
      }
      if (state === 'absent') {
        return {
          resourceId: id,
          action: 'remove',
          summary: `remove ${todo.join(', ')} (${manager})`,
          reason: repair.length ? `installed; ${repairReason}` : 'installed',
          steps: [...repair, { label: `remove ${todo.join(', ')}`, command: removeCommand(manager, todo) }],
          undo: [{ kind: 'packages', manager, removed: todo }],
        };
      }
      const tx = facts.get(packageTransactionFact, query);
      const removals = planRemovals(tx, opts);
      const refused = removals.filter((r) => r.why === 'refused');
      const upgrades = tx.upgrade;
      if (refused.length || (opts.refuseUpgrades && upgrades.length)) throw refusal(id, todo, tx, refused);
      const details = describeTransaction(manager, tx, removals, opts);
      const mayRemove = removals.map((r) => r.name);
      // the replaced MTA's daemon holds port 25: stopped before the install, started again by its undo
      const stopped = removals.some((r) => r.why === 'replaced')
        ? (opts.replaces?.services ?? []).filter((s) => facts.get(serviceFact, s).running)
        : [];
      const stops: Step[] = stopped.map((s) => ({
        label: `stop ${s} (replaced by ${opts.replaces?.by})`,
        command: serviceCommand(facts.os, s, 'stop'),
      }));
      // what this generation installs (dependencies too), so that a rollback removes exactly that;
      // when the package manager could not plan it, the named packages
      const installed = tx.ok ? tx.install.map((p) => p.name) : todo;
      return {
        resourceId: id,
        action: 'install',
        summary: `install ${todo.join(', ')} (${manager})`,
        reason: repair.length ? `not installed; ${repairReason}` : 'not installed',
        details,
        steps: [
          ...repair,
          ...stops,
          {
            label: `install ${todo.join(', ')}`,
            command: installCommand(manager, todo, { recommends, mayRemove, lockWaitSeconds: lockWait }),
            notes: 'packages',
          },
        ],
        undo: [
          {
            kind: 'packages',
            manager,
            installed,
            ...(mayRemove.length ? { removed: mayRemove } : {}),
            ...(stopped.length ? { stopped, ...(opts.replaces?.service ? { replacedBy: opts.replaces.service } : {}) } : {}),
          },
        ],
      };
    },
  };
}

/** Each removal of the transaction: the install's declared replacement, allowed by name, or refused. */
function planRemovals(tx: PackageTransaction, opts: PackagesOptions): PlannedRemoval[] {
  const replaces = opts.replaces;
  return tx.remove.map((r) => {
    const provides = r.provides ?? [];
    const replaced = replaces && (replaces.packages?.includes(r.name) || provides.some((p) => replaces.provides?.includes(p)));
    const why = replaced ? 'replaced' : opts.allowRemove?.includes(r.name) ? 'allowed' : 'refused';
    return { name: r.name, version: r.version, why, cause: r.cause };
  });
}

/** The plan's lines for the transaction: every package installed, upgraded and removed, and why. */
function describeTransaction(manager: string, tx: PackageTransaction, removals: PlannedRemoval[], opts: PackagesOptions): string[] {
  const recommends = opts.recommends ?? false;
  if (!tx.ok)
    return [
      `${manager} cannot plan this install yet: ${tx.error ?? 'no reason given'}`,
      manager === 'apt'
        ? 'the install refreshes the package lists and checks the transaction again; it removes nothing'
        : `${manager} says why when the install runs; it removes nothing (no --allowerasing)`,
    ];
  const lines = [
    `install ${tx.install.map((p) => `${p.name} ${p.version}`).join(', ') || 'nothing new'}`,
    ...tx.upgrade.map((u) => `upgrade ${u.name}${u.from ? ` ${u.from} ->` : ''} ${u.to}: a dependency of the install`),
    ...removals.map(
      (r) =>
        `remove ${r.name}${r.why === 'replaced' ? '' : ` ${r.version}`}: ${
          r.why === 'replaced' ? `replaced by ${opts.replaces?.by}` : `allowed by allowRemove${r.cause ? ` (${r.cause})` : ''}`
        }`,
    ),
  ];
  if (manager === 'apt')
    lines.push(
      recommends
        ? 'recommended packages installed too'
        : `recommended packages not installed${tx.recommendsLeftOut.length ? `: ${tx.recommendsLeftOut.join(', ')}` : ' (none left out)'}`,
    );
  else lines.push(recommends ? 'weak dependencies installed too' : 'weak dependencies not installed');
  return lines;
}

function refusal(id: string, todo: string[], tx: PackageTransaction, refused: PlannedRemoval[]): OperationError {
  const what = `installing ${todo.join(', ')}`;
  if (refused.length)
    return new OperationError(
      `${id}: refusing to install: ${what} would remove ${refused.map((r) => r.name).join(', ')}, which nobody asked to remove; nothing was changed on this host`,
      [
        ...refused.map((r) => `  remove ${r.name} ${r.version}: ${r.cause ?? 'the package manager removes it to make room'}`),
        `  the whole transaction: install ${tx.install.map((p) => p.name).join(', ')}${tx.upgrade.length ? `; upgrade ${tx.upgrade.map((u) => u.name).join(', ')}` : ''}; remove ${tx.remove.map((r) => r.name).join(', ')}`,
        `  to let it go, name it in the playbook's allowRemove (${refused.map((r) => `'${r.name}'`).join(', ')}); otherwise resolve the conflict on the host first`,
      ],
    );
  return new OperationError(
    `${id}: refusing to install: ${what} would upgrade ${tx.upgrade.map((u) => `${u.name} ${u.from} -> ${u.to}`).join(', ')}, and upgrades are refused (refuseUpgrades); nothing was changed on this host`,
    ['  to take the upgrades, set refuseUpgrades to false; otherwise upgrade the host first'],
  );
}

const packagesRecord = z.object({
  kind: z.literal('packages'),
  manager: z.enum(['apt', 'dnf', 'yum']),
  installed: z.array(z.string().min(1)).optional(),
  removed: z.array(z.string().min(1)).optional(),
  /** Services the change stopped (a replaced MTA's): started again by its undo. */
  stopped: z.array(z.string().min(1)).optional(),
  /** The service that took their place: stopped by the undo before they start. */
  replacedBy: z.string().min(1).optional(),
});
type PackagesRecord = z.infer<typeof packagesRecord>;

/**
 * What a generation installed (its dependencies too, as the plan's transaction listed them) is
 * removed again, what it removed (a replaced MTA) reinstalled; only with --packages. On apt a
 * replacement is undone in one transaction (the old MTA in, sendmail out), so the host is never
 * without one. A removal that would take any other package with it is refused before the rollback
 * changes anything, and checked again right before it runs.
 */
export const packagesUndo: UndoHandler<PackagesRecord> = {
  kind: 'packages',
  optIn: 'packages',
  parse: (record) => parseRecord(packagesRecord, record),
  preflight: (r) =>
    isSwap(r)
      ? [{ label: `check what reinstalling ${r.removed!.join(', ')} would remove`, command: swapCheckCommand(r.installed!, r.removed!) }]
      : r.installed?.length
        ? [{ label: `check what removing ${r.installed.join(', ')} would remove`, command: removalCheckCommand(r.manager, r.installed) }]
        : [],
  steps: (r, os) => [...stopReplacing(r, os), ...packageSteps(r), ...startStopped(r, os)],
  inverse: (r) => ({
    kind: 'packages',
    manager: r.manager,
    installed: r.removed ?? [],
    removed: r.installed ?? [],
    // undoing the undo stops what it started and starts what it stopped
    ...(r.stopped?.length && r.replacedBy ? { stopped: [r.replacedBy], replacedBy: r.stopped[0] } : {}),
  }),
  describe: (r) => [...(r.installed ?? []).map((p) => `- package ${p}`), ...(r.removed ?? []).map((p) => `+ package ${p}`)].join('\n'),
};

/** The replacing service goes down before the replaced one comes back (one port 25). Not installed any more: nothing to stop. */
function stopReplacing(r: PackagesRecord, os: OsFacts): Step[] {
  if (!r.stopped?.length || !r.replacedBy) return [];
  const known =
    os.serviceManager === 'systemd'
      ? `systemctl cat ${shellQuote(`${r.replacedBy}.service`)} >/dev/null 2>&1`
      : `[ -x ${shellQuote(`/etc/init.d/${r.replacedBy}`)} ]`;
  return [{ label: `stop ${r.replacedBy}`, command: `if ${known}; then ${serviceCommand(os, r.replacedBy, 'stop')}; fi` }];
}

const startStopped = (r: PackagesRecord, os: OsFacts): Step[] =>
  (r.stopped ?? []).map((s) => ({ label: `start ${s}`, command: serviceCommand(os, s, 'start') }));

function packageSteps(r: PackagesRecord): Step[] {
  return isSwap(r)
    ? [
        {
          label: `reinstall ${r.removed!.join(', ')}, removing ${r.installed!.join(', ')}`,
          command: `${swapCheckCommand(r.installed!, r.removed!)}\n${lockWaitCommand('apt', DEFAULT_LOCK_WAIT_SECONDS)}\nDEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout="$lock_left" -o Dpkg::Options::=--force-confold --no-install-recommends ${swapArgs(r.installed!, r.removed!)}`,
        },
      ]
    : [
        ...(r.installed?.length
          ? [
              {
                label: `remove ${r.installed.join(', ')}`,
                command: `${removalCheckCommand(r.manager, r.installed)}\n${removeInstalledCommand(r.manager, r.installed)}`,
              },
            ]
          : []),
        ...(r.removed?.length ? [{ label: `reinstall ${r.removed.join(', ')}`, command: installCommand(r.manager, r.removed) }] : []),
      ];
}

/** apt, with packages to put back and packages to take out: one transaction. */
const isSwap = (r: PackagesRecord) => r.manager === 'apt' && Boolean(r.installed?.length) && Boolean(r.removed?.length);

/** `apt-get install` arguments that install `removed` and remove `installed` (apt's `name-`). */
const swapArgs = (installed: string[], removed: string[]) => shellJoin([...removed, ...installed.map((n) => `${n}-`)]);

/**
 * Shell that simulates putting `removed` back while taking `installed` out, and exits 3 naming any
 * other package the transaction would remove (one installed since, that needs what goes).
 */
function swapCheckCommand(installed: string[], removed: string[]): string {
  const message =
    'mailprov: refusing to reinstall %s: it would also remove %s, which mailprov did not install; remove those yourself first if they should go, or roll back without --packages\n';
  return [
    `out=$(LC_ALL=C ${APT_SIMULATE} -q --no-install-recommends install ${swapArgs(installed, removed)} 2>&1) || { printf '%s\\n' "$out" >&2; exit 1; }`,
    `others=$(printf '%s\\n' "$out" | sed -n 's/^Remv \\([^ ]*\\) .*/\\1/p' | sed 's/:[^:]*$//' | grep -vxF ${notAmong(installed)} | tr '\\n' ' ' | sed 's/ $//')`,
    `if [ -n "$others" ]; then printf ${shellJoin([message, removed.join(', ')])} "$others" >&2; exit 3; fi`,
  ].join('\n');
}

/** Removes those of `names` still installed (dnf refuses a name that is not installed; apt does not mind). */
function removeInstalledCommand(manager: string, names: string[]): string {
  if (manager === 'apt') return removeCommand(manager, names);
  return [
    'set --',
    `for p in ${shellJoin(names)}; do if rpm -q "$p" >/dev/null 2>&1; then set -- "$@" "$p"; fi; done`,
    `if [ "$#" -gt 0 ]; then ${manager} remove -y -q "$@"; fi`,
  ].join('\n');
}
