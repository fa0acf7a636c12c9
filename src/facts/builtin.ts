// The facts every resource kind of mailprov reads: the OS, files, packages, iptables, services and
// the exit code of a read-only check. Each is one declaration (see fact.ts).
import { createHash } from 'node:crypto';
import { decode as decodeIni } from 'ini';
import { FactError } from '../errors.ts';
import { shellQuote } from '../transport/quote.ts';
import { defineFact } from './fact.ts';
import { MAX_CONTENT_BYTES, type FileFact, type IptablesFacts, type OsFacts, type PackageFact, type ServiceFact } from './types.ts';

const OS_SCRIPT = [
  'cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null',
  'echo "MAILPROV_FQDN=$(hostname -f 2>/dev/null || hostname 2>/dev/null || cat /etc/hostname)"',
  '[ -r /etc/redhat-release ] && echo "MAILPROV_REDHAT_RELEASE=$(head -n1 /etc/redhat-release)"',
  // the name as the key says it (apt-get: apt_get), without a tr process per tool
  'for t in apt-get:apt_get dnf:dnf yum:yum systemctl:systemctl service:service; do command -v "${t%%:*}" >/dev/null 2>&1 && echo "MAILPROV_HAS_${t#*:}=1"; done',
  '[ -d /run/systemd/system ] && echo MAILPROV_SYSTEMD_RUNNING=1',
  'command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled && echo MAILPROV_SELINUX=1',
  'true',
].join('\n');

/** Gathered on every host, first: every other plan depends on the distro. */
export const osFact = defineFact<OsFacts>({ name: 'os', script: () => OS_SCRIPT, parse: parseOs });

export function parseOs(text: string): OsFacts {
  const kv = decodeIni(text) as Record<string, unknown>;
  const str = (k: string) => (typeof kv[k] === 'string' ? (kv[k] as string).replace(/^"(.*)"$/, '$1') : '');
  let id = str('ID').toLowerCase();
  let version = str('VERSION_ID');
  const idLike = `${id} ${str('ID_LIKE').toLowerCase()}`;
  const redhatRelease = str('MAILPROV_REDHAT_RELEASE');
  let family: OsFacts['family'] = /debian|ubuntu/.test(idLike)
    ? 'debian'
    : /rhel|centos|fedora|rocky|almalinux/.test(idLike)
      ? 'rhel'
      : 'unknown';
  // CentOS 6 has no /etc/os-release: /etc/redhat-release ("CentOS release 6.10 (Final)") tells.
  if (family === 'unknown' && redhatRelease) {
    family = 'rhel';
    id ||= /centos/i.test(redhatRelease) ? 'centos' : 'rhel';
    version ||= /release (\d+(?:\.\d+)?)/.exec(redhatRelease)?.[1] ?? '';
  }
  const has = (t: string) => kv[`MAILPROV_HAS_${t}`] !== undefined;
  return {
    family,
    id: id || 'unknown',
    version,
    major: Number.parseInt(version, 10),
    prettyName: str('PRETTY_NAME') || redhatRelease || id || 'unknown',
    packageManager: has('apt_get') ? 'apt' : has('dnf') ? 'dnf' : has('yum') ? 'yum' : 'none',
    serviceManager: kv.MAILPROV_SYSTEMD_RUNNING !== undefined ? 'systemd' : has('service') || family !== 'unknown' ? 'sysv' : 'none',
    fqdn: str('MAILPROV_FQDN'),
    selinux: kv.MAILPROV_SELINUX !== undefined,
  };
}

/** A file's type, owner, group and mode, and its content (base64) when it is a regular file of reasonable size. */
export const fileFact = defineFact<FileFact, string>({
  name: 'file',
  script(path) {
    const p = shellQuote(path);
    // one stat: its size (the last field) decides whether the content is read
    return [
      `if [ -e ${p} ] || [ -L ${p} ]; then`,
      `  mp_stat=$(stat -c '%F|%U|%G|%a|%s' ${p}) && printf '%s\\n' "$mp_stat"`,
      `  if [ -f ${p} ] && [ "\${mp_stat##*|}" -le ${MAX_CONTENT_BYTES} ]; then base64 -w0 < ${p}; echo; fi`,
      'else echo MISSING; fi',
    ].join('\n');
  },
  parse: parseFile,
});

export function parseFile(text: string): FileFact {
  const lines = text.split('\n');
  if (lines[0] === 'MISSING') return { exists: false };
  const [kind, owner, group, mode, size] = lines[0].split('|');
  // the raw line is not quoted in the error: a file's stat line is harmless, but keep facts out of errors
  if (size === undefined) throw new FactError('cannot parse file facts (unexpected stat output)');
  const type =
    kind === 'regular file' || kind === 'regular empty file'
      ? 'file'
      : kind === 'directory'
        ? 'directory'
        : kind === 'symbolic link'
          ? 'symlink'
          : 'other';
  let content: string | undefined;
  let sha256 = '';
  if (type === 'file' && lines.length > 1 && Number(size) <= MAX_CONTENT_BYTES) {
    const buf = Buffer.from(lines[1] ?? '', 'base64');
    content = buf.toString('utf8');
    sha256 = createHash('sha256').update(buf).digest('hex');
  }
  return { exists: true, type, owner, group, mode: mode.padStart(4, '0'), size: Number(size), content, sha256 };
}

/**
 * Shell that reads dpkg's list of packages (name, state, version; every package it knows but the
 * never-installed ones) into $mp_dpkg_status, once per fact script: the sections run in one shell,
 * and dpkg-query parses the whole status database however few packages it is asked about.
 */
export const DPKG_STATUS_SCRIPT = `[ -n "\${mp_dpkg_status+set}" ] || mp_dpkg_status=$(dpkg-query -W -f='\${Package}\\t\${db:Status-Abbrev}\\t\${Version}\\n' 2>/dev/null)`;

/** Whether each listed package is installed (dpkg or rpm), in one query per list. */
export const packagesFact = defineFact<Map<string, PackageFact>, readonly string[]>({
  name: 'packages',
  script(names) {
    const args = names.map(shellQuote).join(' ');
    // One line per package: name, state (ii = installed), version. Missing packages print nothing.
    // dpkg: the lines of the named packages from the host's whole list, read once per fact script
    // (DPKG_STATUS_SCRIPT), so that every packages and transaction fact costs one dpkg-query in all.
    return [
      'if command -v dpkg-query >/dev/null 2>&1; then',
      `  ${DPKG_STATUS_SCRIPT}`,
      `  printf '%s\\n' "$mp_dpkg_status" | awk -F '\\t' 'BEGIN { for (i = 1; i < ARGC; i++) want[ARGV[i]]; ARGC = 1 } $1 in want' ${args}`,
      'elif command -v rpm >/dev/null 2>&1; then',
      `  for p in ${args}; do rpm -q --qf '%{NAME}\\tii \\t%{VERSION}-%{RELEASE}\\n' "$p" 2>/dev/null | grep -v 'is not installed'; done`,
      'fi',
      'true',
    ].join('\n');
  },
  parse(text, names) {
    const found = parsePackages(text);
    return new Map(names.map((n) => [n, found.get(n) ?? { installed: false }]));
  },
});

export function parsePackages(text: string): Map<string, PackageFact> {
  const map = new Map<string, PackageFact>();
  for (const line of text.split('\n')) {
    const [name, status, version] = line.split('\t');
    if (!name || status === undefined) continue;
    // dpkg's abbreviated status "ii " = desired install, installed; anything else is not usable
    map.set(name, { installed: status.startsWith('ii'), version: version || undefined });
  }
  return map;
}

// With firewalld running (RHEL 7+), rules are managed through it: its services, runtime and permanent.
const FIREWALLD_SCRIPT = [
  'if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then',
  '  echo "MAILPROV_FIREWALLD runtime $(firewall-cmd --list-services)"',
  '  echo "MAILPROV_FIREWALLD permanent $(firewall-cmd --permanent --list-services)"',
  'fi',
].join('\n');

// iptables' rules are kept in $mp_iptables for the rest of the fact script: the firewall fact
// reads its INPUT chain from them instead of running iptables again (see firewall.ts)
const rulesScript = (cmd: 'iptables' | 'ip6tables') =>
  cmd === 'iptables'
    ? 'if command -v iptables >/dev/null 2>&1; then if mp_iptables=$(iptables -S 2>/dev/null); then printf \'%s\\n\' "$mp_iptables"; else unset mp_iptables; echo MAILPROV_IPTABLES_FAILED; fi; else echo MAILPROV_NO_IPTABLES; fi'
    : `if command -v ${cmd} >/dev/null 2>&1; then ${cmd} -S 2>/dev/null || echo MAILPROV_IPTABLES_FAILED; else echo MAILPROV_NO_IPTABLES; fi`;

export function parseFilterRules(body: string): IptablesFacts {
  const failed = /MAILPROV_(NO_IPTABLES|IPTABLES_FAILED)/.test(body);
  const services = (kind: string) =>
    body
      .split('\n')
      .find((l) => l.startsWith(`MAILPROV_FIREWALLD ${kind}`))
      ?.split(' ')
      .slice(2)
      .filter(Boolean);
  const runtime = services('runtime');
  return {
    available: !failed,
    rules: failed ? [] : body.split('\n').filter((l) => l.startsWith('-')),
    firewalld: runtime ? { runtime, permanent: services('permanent') ?? [] } : undefined,
  };
}

/** The filter table's rules (`iptables -S`), and firewalld's services where it runs. */
export const iptablesFact = defineFact<IptablesFacts>({
  name: 'iptables',
  script: () => `${FIREWALLD_SCRIPT}\n${rulesScript('iptables')}`,
  parse: parseFilterRules,
});

/**
 * The IPv6 filter table's rules (`ip6tables -S`), a table of its own. firewalld (one set of services
 * for both families) is read once, with iptablesFact: here it is always undefined.
 */
export const ip6tablesFact = defineFact<IptablesFacts>({
  name: 'ip6tables',
  script: () => rulesScript('ip6tables'),
  parse: parseFilterRules,
});

/** A service asked about by name, with the pid files its daemon writes (see ServiceQuery.pidFiles). */
export interface ServiceQuery {
  name: string;
  /**
   * Hosts without systemd: the daemon's pid files (every place it writes one, on any distro). The
   * service runs exactly when one of them names a live process, read in place of the init script's
   * `status`: Debian's sendmail script runs its whole helper and a perl status check for it (50 ms
   * of the fact script), and exits 0 when the daemon is stopped.
   */
  pidFiles?: readonly string[];
  /**
   * With pidFiles: how the daemon's process name (its comm, as in /proc/<pid>/stat) begins, e.g.
   * 'sendmail' (Debian's is sendmail-mta). A stale pid file whose number the kernel gave to another
   * program since then does not read as running.
   */
  processName?: string;
}

/**
 * Shell printing "running" when one of the pid files names a live process (not a zombie) whose name
 * begins with `processName` (when given); no process is spawned. A pid file left by a daemon that
 * died (stale) reads as not running, and so does one whose pid another program has since.
 */
export function pidFileRunningScript(pidFiles: readonly string[], processName?: string): string {
  return [
    `for f in ${pidFiles.map(shellQuote).join(' ')}; do`,
    '  pid=; { read -r pid < "$f"; } 2>/dev/null',
    '  case $pid in ""|*[!0-9]*) continue ;; esac',
    // /proc/<pid>/stat: "pid (comm) state ...": Z (zombie) and X (dead) are gone already
    '  st=; { read -r st < "/proc/$pid/stat"; } 2>/dev/null',
    '  case ${st##*") "} in ""|Z*|X*) continue ;; esac',
    // the comm lies between the first "(" and the last ") " (it may hold either itself)
    ...(processName ? ['  c=${st%") "*}; c=${c#*"("}', `  case $c in ${shellQuote(processName)}*) ;; *) continue ;; esac`] : []),
    '  echo running; break',
    'done',
  ].join('\n');
}

/** Whether a service is known (unit file or init script) and running. */
export const serviceFact = defineFact<ServiceFact, string | ServiceQuery>({
  name: 'service',
  script(arg) {
    const { name, pidFiles, processName } = typeof arg === 'string' ? { name: arg, pidFiles: undefined, processName: undefined } : arg;
    const n = shellQuote(name);
    const script = shellQuote(`/etc/init.d/${name}`);
    // systemd when it runs; otherwise the daemon's pid files when given, else the init script's
    // status (LSB: 0 = running)
    return [
      'if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then',
      `  if systemctl cat ${n}.service >/dev/null 2>&1; then echo known; systemctl is-active --quiet ${n} && echo running; fi`,
      `elif [ -x ${script} ]; then`,
      pidFiles?.length
        ? `  echo known\n${pidFileRunningScript(pidFiles, processName)}`
        : `  echo known; ${script} status >/dev/null 2>&1 </dev/null && echo running`,
      'fi',
      'true',
    ].join('\n');
  },
  parse(body) {
    const words = body.split('\n');
    return { known: words.includes('known'), running: words.includes('running') };
  },
});

/** The exit code of a read-only check (a command resource's `unless`). */
export const testFact = defineFact<number, string>({
  name: 'test',
  script: (command) => `(${command}) </dev/null >/dev/null 2>&1; echo "$?"`,
  parse: (body) => Number.parseInt(body.trim(), 10),
});
