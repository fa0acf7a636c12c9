// What a package install would do on this host, asked of its own package manager without changing
// anything (apt-get -s, dnf --assumeno), and whether the package manager was left interrupted.
// Both are facts, so a dry run shows the same transaction the apply checks and runs.
import { shellQuote } from '../transport/quote.ts';
import { DPKG_STATUS_SCRIPT } from './builtin.ts';
import { defineFact } from './fact.ts';

export interface PackageVersion {
  name: string;
  version: string;
}

export interface PackageUpgrade {
  name: string;
  from: string;
  to: string;
}

export interface PackageRemoval {
  name: string;
  version: string;
  /** The virtual packages it provides (apt), e.g. mail-transport-agent. */
  provides?: string[];
  /** Why the package manager removes it, when the host said: "ufw breaks iptables-persistent". */
  cause?: string;
}

/** The transaction of one install, as the package manager plans it. */
export interface PackageTransaction {
  /** false: the package manager could not plan it (a name unknown, unmet dependencies); see `error`. */
  ok: boolean;
  error?: string;
  /** Names asked for that are not installed yet (the ones the install names). */
  requested: string[];
  install: PackageVersion[];
  upgrade: PackageUpgrade[];
  remove: PackageRemoval[];
  /** apt: what the packages recommend that this install leaves out (recommends off). */
  recommendsLeftOut: string[];
}

export interface TransactionQuery {
  /** The names on apt hosts and on dnf/yum hosts. */
  apt: readonly string[];
  rpm: readonly string[];
  /** Install what the packages recommend (apt's Recommends, dnf's weak dependencies). */
  recommends: boolean;
}

const MARK = 'MAILPROV_TX';

/**
 * apt-get's options that make a simulation write nothing on the host: as root, `apt-get -s` still
 * writes its planner log (/var/log/apt/eipp.log.xz) and its package caches (/var/cache/apt/*.bin),
 * and a dry run changes nothing on any host.
 */
export const APT_SIMULATE = "apt-get -s -o Dir::Log::Planner=/dev/null -o Dir::Cache::pkgcache='' -o Dir::Cache::srcpkgcache=''";

/** apt-get's flags for recommends, the same in the simulation and the install. */
export function aptRecommendsFlag(recommends: boolean): string {
  return recommends ? '-o APT::Install-Recommends=true' : '--no-install-recommends';
}

/** dnf's option for weak dependencies, the same in the simulation and the install. */
export function dnfRecommendsFlag(recommends: boolean): string {
  return `--setopt=install_weak_deps=${recommends ? 'True' : 'False'}`;
}

/**
 * Shell run on the host: keeps the names not installed yet, simulates their install and prints
 * the package manager's own output between markers. For apt, also what each removed package
 * depends on and provides and what each new one conflicts with or breaks (the removal's cause),
 * and the simulation with recommends, to name what is left out.
 */
function transactionScript(q: TransactionQuery): string {
  const apt = q.apt.map(shellQuote).join(' ');
  const rpm = q.rpm.map(shellQuote).join(' ');
  return [
    'set --',
    'if command -v apt-get >/dev/null 2>&1; then',
    // dpkg's list, read once per fact script (the packages fact reads the same): a name it lists
    // as installed needs no other process; one it does not (an arch-qualified one, a pattern) is
    // asked on its own, as before
    `  ${DPKG_STATUS_SCRIPT}`,
    `  for p in ${apt}; do case "\n$mp_dpkg_status\n" in *"\n$p\t"ii*) continue ;; esac`,
    `    dpkg-query -W -f='\${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || set -- "$@" "$p"; done`,
    `  echo "${MARK} requested $*"`,
    '  if [ "$#" -gt 0 ]; then',
    `    out=$(${APT_SIMULATE} -q ${aptRecommendsFlag(q.recommends)} install "$@" 2>&1); echo "${MARK} exit $?"`,
    `    echo "${MARK} sim"; printf '%s\\n' "$out"`,
    "    removed=$(printf '%s\\n' \"$out\" | sed -n 's/^Remv \\([^ ]*\\) .*/\\1/p')",
    "    new=$(printf '%s\\n' \"$out\" | sed -n 's/^Inst \\([^ ]*\\) .*/\\1/p')",
    `    echo "${MARK} removed"; [ -z "$removed" ] || dpkg-query -W -f='\${Package}\\t\${Provides}\\t\${Depends}\\t\${Pre-Depends}\\t\${Conflicts}\\t\${Breaks}\\n' $removed 2>/dev/null`,
    `    echo "${MARK} new"; [ -z "$removed" ] || for p in $new; do apt-cache show --no-all-versions "$p" 2>/dev/null | grep -E '^(Package|Provides|Conflicts|Breaks):'; done`,
    q.recommends
      ? `    echo "${MARK} recommends"`
      : `    echo "${MARK} recommends"; ${APT_SIMULATE} -q -o APT::Install-Recommends=true install "$@" 2>/dev/null | sed -n 's/^Inst \\([^ ]*\\) .*/\\1/p'`,
    '  fi',
    'elif command -v dnf >/dev/null 2>&1 || command -v yum >/dev/null 2>&1; then',
    '  pm=dnf; command -v dnf >/dev/null 2>&1 || pm=yum',
    // rpm -q exits 0 only when every name is installed: then no name is asked on its own
    `  ${q.rpm.length ? `rpm -q ${rpm} >/dev/null 2>&1 || ` : ''}for p in ${rpm}; do rpm -q "$p" >/dev/null 2>&1 || set -- "$@" "$p"; done`,
    `  echo "${MARK} requested $*"`,
    '  if [ "$#" -gt 0 ]; then',
    // --allowerasing only here, to see what a conflict would remove; the install never passes it unasked
    // yum 3 (EL6, EL7) has neither --allowerasing nor weak dependencies: a conflict fails its plan
    `    if [ "$pm" = dnf ]; then opts="--allowerasing ${dnfRecommendsFlag(q.recommends)}"; else opts=; fi`,
    `    out=$("$pm" install --assumeno $opts "$@" 2>&1); echo "${MARK} exit $?"`,
    `    echo "${MARK} dnf"; printf '%s\\n' "$out"`,
    '  fi',
    'fi',
    'true',
  ].join('\n');
}

/** The transaction installing the names not installed yet would run (nothing when all are installed). */
export const packageTransactionFact = defineFact<PackageTransaction, TransactionQuery>({
  name: 'package-transaction',
  script: transactionScript,
  parse: (text) => parseTransactionFact(text),
});

/** Splits the fact's output at its marker lines: `MARK key value` is one value, `MARK key` starts lines. */
function sections(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${MARK} `)) {
      const [key, ...rest] = line.slice(MARK.length + 1).split(' ');
      const value = rest.join(' ');
      current = value ? undefined : [];
      map.set(key, current ?? [value]);
    } else {
      current?.push(line);
    }
  }
  return map;
}

export function parseTransactionFact(text: string): PackageTransaction {
  const s = sections(text);
  const requested = (s.get('requested')?.[0] ?? '').split(' ').filter(Boolean);
  const empty: PackageTransaction = { ok: true, requested, install: [], upgrade: [], remove: [], recommendsLeftOut: [] };
  if (!requested.length) return empty;
  if (s.has('dnf')) return { ...parseDnfTransaction((s.get('dnf') ?? []).join('\n')), requested };
  const sim = (s.get('sim') ?? []).join('\n');
  const exit = Number(s.get('exit')?.[0] ?? '1');
  const tx = parseAptSimulation(sim);
  if (exit !== 0 || !tx.ok) return { ...tx, ok: false, error: tx.error ?? aptErrors(sim), requested, recommendsLeftOut: [] };
  const causes = removalCauses(s.get('removed') ?? [], s.get('new') ?? [], tx);
  const planned = new Set([...tx.install, ...tx.upgrade].map((p) => p.name));
  const recommendsLeftOut = (s.get('recommends') ?? []).filter((n) => n && !planned.has(n));
  return {
    ...tx,
    requested,
    remove: tx.remove.map((r) => ({ ...r, provides: causes.get(r.name)?.provides ?? [], cause: causes.get(r.name)?.cause })),
    recommendsLeftOut,
  };
}

const stripArch = (name: string) => name.replace(/:[a-z0-9-]+$/, '');

/**
 * apt-get -s prints one line per action: `Inst name (new-version ...)` for a new package,
 * `Inst name [old] (new ...)` for an upgrade (or downgrade), `Remv name [version]`, `Purg ...`.
 */
export function parseAptSimulation(text: string): Omit<PackageTransaction, 'requested' | 'recommendsLeftOut'> {
  const tx = { ok: true, install: [] as PackageVersion[], upgrade: [] as PackageUpgrade[], remove: [] as PackageRemoval[] };
  for (const line of text.split('\n')) {
    let m = /^Inst (\S+) \[([^\]]+)\] \((\S+)/.exec(line);
    if (m) {
      tx.upgrade.push({ name: stripArch(m[1]), from: m[2], to: m[3] });
      continue;
    }
    m = /^Inst (\S+) \((\S+)/.exec(line);
    if (m) {
      tx.install.push({ name: stripArch(m[1]), version: m[2] });
      continue;
    }
    m = /^(?:Remv|Purg) (\S+)(?: \[([^\]]+)\])?/.exec(line);
    if (m) tx.remove.push({ name: stripArch(m[1]), version: m[2] ?? '' });
  }
  const error = aptErrors(text);
  return error ? { ...tx, ok: false, error } : tx;
}

/** apt's own explanation when it cannot plan: its E: lines and the unmet dependencies above them. */
function aptErrors(text: string): string | undefined {
  const lines = text.split('\n');
  const errors = lines.filter((l) => l.startsWith('E: '));
  if (!errors.length) return undefined;
  const unmet = lines.filter(
    (l) => /^ \S.*: (Depends|Conflicts|Breaks|PreDepends|Pre-Depends):/.test(l) || /^\s+(Depends|Breaks|Conflicts):/.test(l),
  );
  return [...unmet.map((l) => l.trim()), ...errors.map((l) => l.slice(3))].join('\n');
}

/** A dependency field's package names (versions, alternatives and architectures dropped). */
function fieldNames(field: string | undefined): string[] {
  return (field ?? '')
    .split(/[,|]/)
    .map((d) => stripArch(d.trim().split(/[\s(]/)[0]))
    .filter(Boolean);
}

/**
 * Why apt removes each package: a new package conflicts with or breaks it (or something it
 * provides, such as mail-transport-agent), it conflicts with or breaks a new package (or what
 * one provides), or it depends on a package that goes.
 */
function removalCauses(
  removedLines: string[],
  newLines: string[],
  tx: { remove: PackageRemoval[] },
): Map<string, { provides: string[]; cause?: string }> {
  interface Relations {
    provides: string[];
    depends: string[];
    against: { kind: 'conflicts with' | 'breaks'; names: string[] }[];
  }
  const removedInfo = new Map<string, Relations>();
  for (const line of removedLines) {
    const [name, provides, depends, pre, conflicts, breaks] = line.split('\t');
    if (name)
      removedInfo.set(name, {
        provides: fieldNames(provides),
        depends: [...fieldNames(depends), ...fieldNames(pre)],
        against: [
          { kind: 'conflicts with', names: fieldNames(conflicts) },
          { kind: 'breaks', names: fieldNames(breaks) },
        ],
      });
  }
  const newInfo = new Map<string, Relations>();
  let current: Relations | undefined;
  for (const line of newLines) {
    const m = /^(Package|Provides|Conflicts|Breaks): (.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'Package') {
      current = { provides: [], depends: [], against: [] };
      newInfo.set(m[2].trim(), current);
    } else if (current && m[1] === 'Provides') current.provides = fieldNames(m[2]);
    else current?.against.push({ kind: m[1] === 'Breaks' ? 'breaks' : 'conflicts with', names: fieldNames(m[2]) });
  }
  // "a (which b provides)" when the relation names a virtual package
  const naming = (relation: string[], name: string, provides: string[]) => {
    const hit = relation.find((n) => n === name || provides.includes(n));
    return hit === undefined ? undefined : hit === name ? name : `${hit} (which ${name} provides)`;
  };
  const removed = new Set(tx.remove.map((r) => r.name));
  const causes = new Map<string, { provides: string[]; cause?: string }>();
  for (const r of tx.remove) {
    const own = removedInfo.get(r.name) ?? { provides: [], depends: [], against: [] };
    let cause: string | undefined;
    for (const [pkg, info] of newInfo) {
      for (const a of info.against) {
        const what = naming(a.names, r.name, own.provides);
        if (what) cause ??= `${pkg} ${a.kind} ${what}`;
      }
      for (const a of own.against) {
        const what = naming(a.names, pkg, info.provides);
        if (what) cause ??= `${r.name} ${a.kind} ${what}`;
      }
    }
    const gone = own.depends.find((d) => removed.has(d) && d !== r.name);
    cause ??= gone ? `${r.name} depends on ${gone}, which is removed` : undefined;
    causes.set(r.name, { provides: own.provides, cause });
  }
  return causes;
}

/**
 * dnf's transaction table: sections ("Installing:", "Upgrading:", "Installing dependencies:",
 * "Installing weak dependencies:", "Removing:", "Removing dependent packages:", "Downgrading:")
 * each followed by lines " name  arch  version  repo  size" (a long name wraps its columns onto
 * the next line). An error ("Error:", "Problem:", "No match for argument") fails the plan.
 */
export function parseDnfTransaction(text: string): Omit<PackageTransaction, 'requested'> {
  const tx = {
    ok: true,
    install: [] as PackageVersion[],
    upgrade: [] as PackageUpgrade[],
    remove: [] as PackageRemoval[],
    recommendsLeftOut: [] as string[],
  };
  let section: string | undefined;
  let pending: string | undefined;
  const add = (fields: string[]) => {
    const [name, , version] = fields;
    if (!name || !version || !section) return;
    if (/^Installing/.test(section)) tx.install.push({ name, version });
    else if (/^(Upgrading|Updating|Downgrading)/.test(section)) tx.upgrade.push({ name, from: '', to: version });
    else if (/^Removing/.test(section))
      tx.remove.push({ name, version, cause: 'dnf makes room for the install (a conflict or a dependency: dnf does not say which)' });
  };
  for (const line of text.split('\n')) {
    if (/^[A-Z][A-Za-z ]+:\s*$/.test(line)) {
      section = /^(Installing|Upgrading|Updating|Downgrading|Removing|Reinstalling)/.test(line) ? line.trim().slice(0, -1) : undefined;
      pending = undefined;
      continue;
    }
    if (/^Transaction Summary/.test(line)) section = undefined;
    if (!section || !line.startsWith(' ')) continue;
    if (/^\s+(replacing|upgrading)\s/.test(line)) continue;
    const fields = line.trim().split(/\s+/);
    if (pending !== undefined) {
      add([pending, ...fields]);
      pending = undefined;
    } else if (fields.length === 1) {
      pending = fields[0]; // a long name: its columns are on the next line
    } else {
      add(fields);
    }
  }
  const error = text
    .split('\n')
    .filter((l) => /^(Error|Problem|No match for argument| {2}- )/.test(l))
    .join('\n');
  return error && !tx.install.length && !tx.upgrade.length ? { ...tx, ok: false, error } : tx;
}

/** Whether the package manager was left interrupted (dpkg's updates, dpkg --audit). */
export interface PackageManagerState {
  interrupted: boolean;
  /** What the package manager says about it (dpkg --audit's first lines). */
  detail: string;
}

export const packageManagerStateFact = defineFact<PackageManagerState>({
  name: 'package-manager-state',
  script: () =>
    [
      'if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then',
      // apt refuses to run while dpkg's journal (updates/) holds entries: "dpkg was interrupted";
      // any entry (hidden ones too) is seen by the shell's globs, with no ls process
      '  for f in /var/lib/dpkg/updates/* /var/lib/dpkg/updates/.[!.]* /var/lib/dpkg/updates/..?*; do',
      '    if [ -e "$f" ] || [ -L "$f" ]; then echo interrupted; break; fi',
      '  done',
      // its first 6 lines are kept by the parser (no head process)
      '  dpkg --audit 2>/dev/null',
      'fi',
      'true',
    ].join('\n'),
  parse(text) {
    const all = text.split('\n');
    const interrupted = all[0] === 'interrupted';
    const lines = (interrupted ? all.slice(1) : all).slice(0, 6).filter(Boolean);
    // dpkg --audit: a sentence ("The following packages are only half configured, probably due
    // to ..."), then one indented line per package ("  name  description")
    const headline = lines.find((l) => !l.startsWith(' '))?.replace(/[,.].*$/, '') ?? '';
    const names = lines.filter((l) => l.startsWith(' ')).map((l) => l.trim().split(/\s/)[0]);
    const detail = names.length ? `${headline}: ${names.join(', ')}` : headline;
    return { interrupted: interrupted || lines.length > 0, detail };
  },
});
