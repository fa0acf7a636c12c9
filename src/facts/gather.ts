// Gathers every fact a host's resources need in ONE remote command: a small sh script with one
// section per query, each introduced by a marker line carrying a random nonce (so no file content
// can forge a section). The parser turns the sections back into HostFacts.
import { createHash, randomBytes } from 'node:crypto';
import { decode as decodeIni } from 'ini';
import { FactError } from '../errors.ts';
import { JOURNAL_FACT_SCRIPT } from '../journal/index.ts';
import { shellQuote } from '../transport/quote.ts';
import {
  factKey,
  MAX_CONTENT_BYTES,
  type FactQuery,
  type FileFact,
  type HostFacts,
  type OsFacts,
  type PackageFact,
  type ServiceFact,
} from './types.ts';

/** De-duplicates queries (several resources may read the same file). `os` is always included. */
export function uniqueQueries(queries: FactQuery[]): FactQuery[] {
  const seen = new Map<string, FactQuery>([['os', { kind: 'os' }]]);
  for (const q of queries) if (!seen.has(factKey(q))) seen.set(factKey(q), q);
  return [...seen.values()];
}

function section(marker: string, key: string, body: string): string {
  return `echo ${shellQuote(`${marker} ${key}`)}\n${body}\n`;
}

const OS_SCRIPT = [
  'cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null',
  'echo "MAILPROV_FQDN=$(hostname -f 2>/dev/null || hostname 2>/dev/null || cat /etc/hostname)"',
  '[ -r /etc/redhat-release ] && echo "MAILPROV_REDHAT_RELEASE=$(head -n1 /etc/redhat-release)"',
  'for t in apt-get dnf yum systemctl service; do command -v "$t" >/dev/null 2>&1 && echo "MAILPROV_HAS_$t=1" | tr - _; done',
  '[ -d /run/systemd/system ] && echo MAILPROV_SYSTEMD_RUNNING=1',
  'command -v selinuxenabled >/dev/null 2>&1 && selinuxenabled && echo MAILPROV_SELINUX=1',
  'true',
].join('\n');

function packageScript(names: string[]): string {
  const args = names.map(shellQuote).join(' ');
  // One line per package: name, state (ii = installed), version. Missing packages print nothing.
  return [
    'if command -v dpkg-query >/dev/null 2>&1; then',
    `  dpkg-query -W -f='\${Package}\\t\${db:Status-Abbrev}\\t\${Version}\\n' ${args} 2>/dev/null`,
    'elif command -v rpm >/dev/null 2>&1; then',
    `  for p in ${args}; do rpm -q --qf '%{NAME}\\tii \\t%{VERSION}-%{RELEASE}\\n' "$p" 2>/dev/null | grep -v 'is not installed'; done`,
    'fi',
    'true',
  ].join('\n');
}

function fileScript(path: string): string {
  const p = shellQuote(path);
  return [
    `if [ -e ${p} ] || [ -L ${p} ]; then`,
    `  stat -c '%F|%U|%G|%a|%s' ${p}`,
    `  if [ -f ${p} ] && [ "$(stat -c %s ${p})" -le ${MAX_CONTENT_BYTES} ]; then base64 -w0 < ${p}; echo; fi`,
    'else echo MISSING; fi',
  ].join('\n');
}

// With firewalld running (RHEL 7+), rules are managed through it: its services, runtime and permanent.
const IPTABLES_SCRIPT = [
  'if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then',
  '  echo "MAILPROV_FIREWALLD runtime $(firewall-cmd --list-services)"',
  '  echo "MAILPROV_FIREWALLD permanent $(firewall-cmd --permanent --list-services)"',
  'fi',
  'if command -v iptables >/dev/null 2>&1; then iptables -S 2>/dev/null || echo MAILPROV_IPTABLES_FAILED; else echo MAILPROV_NO_IPTABLES; fi',
].join('\n');

function serviceScript(name: string): string {
  const n = shellQuote(name);
  const script = shellQuote(`/etc/init.d/${name}`);
  // systemd when it runs; otherwise the init script's status (LSB: 0 = running).
  return [
    'if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then',
    `  if systemctl cat ${n}.service >/dev/null 2>&1; then echo known; systemctl is-active --quiet ${n} && echo running; fi`,
    `elif [ -x ${script} ]; then`,
    `  echo known; ${script} status >/dev/null 2>&1 </dev/null && echo running`,
    'fi',
    'true',
  ].join('\n');
}

export interface FactScript {
  script: string;
  marker: string;
  queries: FactQuery[];
}

export function buildFactScript(queries: FactQuery[], nonce = randomBytes(8).toString('hex')): FactScript {
  const marker = `@@mailprov-${nonce}@@`;
  const unique = uniqueQueries(queries);
  const packages = unique.filter((q) => q.kind === 'package').map((q) => (q as { name: string }).name);
  let script = 'export LC_ALL=C\n';
  for (const q of unique) {
    switch (q.kind) {
      case 'os':
        script += section(marker, 'os', OS_SCRIPT);
        break;
      case 'file':
        script += section(marker, factKey(q), fileScript(q.path));
        break;
      case 'iptables':
        script += section(marker, 'iptables', IPTABLES_SCRIPT);
        break;
      case 'journal':
        script += section(marker, 'journal', JOURNAL_FACT_SCRIPT);
        break;
      case 'service':
        script += section(marker, factKey(q), serviceScript(q.name));
        break;
      case 'test':
        script += section(marker, factKey(q), `(${q.command}) </dev/null >/dev/null 2>&1; echo "$?"`);
        break;
      case 'package':
        break; // batched below
    }
  }
  if (packages.length) script += section(marker, 'packages', packageScript(packages));
  script += section(marker, 'end', 'true');
  return { script, marker, queries: unique };
}

export function parseOs(text: string): OsFacts {
  const kv = decodeIni(text) as Record<string, unknown>;
  const str = (k: string) => (typeof kv[k] === 'string' ? (kv[k] as string).replace(/^"(.*)"$/, '$1') : '');
  let id = str('ID').toLowerCase();
  let version = str('VERSION_ID');
  const idLike = `${id} ${str('ID_LIKE').toLowerCase()}`;
  const redhatRelease = str('MAILPROV_REDHAT_RELEASE');
  let family: OsFacts['family'] = /debian|ubuntu/.test(idLike) ? 'debian' : /rhel|centos|fedora|rocky|almalinux/.test(idLike) ? 'rhel' : 'unknown';
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

export function parseFile(text: string): FileFact {
  const lines = text.split('\n');
  if (lines[0] === 'MISSING') return { exists: false };
  const [kind, owner, group, mode, size] = lines[0].split('|');
  if (size === undefined) throw new FactError(`cannot parse file facts: ${JSON.stringify(lines[0])}`);
  const type = kind === 'regular file' || kind === 'regular empty file' ? 'file' : kind === 'directory' ? 'directory' : kind === 'symbolic link' ? 'symlink' : 'other';
  let content: string | undefined;
  let sha256 = '';
  if (type === 'file' && lines.length > 1 && Number(size) <= MAX_CONTENT_BYTES) {
    const buf = Buffer.from(lines[1] ?? '', 'base64');
    content = buf.toString('utf8');
    sha256 = createHash('sha256').update(buf).digest('hex');
  }
  return { exists: true, type, owner, group, mode: mode.padStart(4, '0'), size: Number(size), content, sha256 };
}

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

export function parseFacts(output: string, built: FactScript): HostFacts {
  const sections = new Map<string, string>();
  let current: string | undefined;
  let buf: string[] = [];
  for (const line of output.split('\n')) {
    if (line.startsWith(built.marker + ' ')) {
      if (current !== undefined) sections.set(current, buf.join('\n'));
      current = line.slice(built.marker.length + 1);
      buf = [];
    } else if (current !== undefined) {
      buf.push(line);
    }
  }
  if (current !== undefined) sections.set(current, buf.join('\n'));
  if (!sections.has('end')) throw new FactError('fact gathering output was cut short (no end marker)');

  const facts: HostFacts = {
    os: parseOs(sections.get('os') ?? ''),
    packages: new Map(),
    files: new Map(),
    iptables: { available: false, rules: [] },
    services: new Map(),
    tests: new Map(),
    journal: sections.get('journal') ?? '',
  };
  const pkgs = parsePackages(sections.get('packages') ?? '');
  for (const q of built.queries) {
    const body = sections.get(factKey(q)) ?? '';
    switch (q.kind) {
      case 'package':
        facts.packages.set(q.name, pkgs.get(q.name) ?? { installed: false });
        break;
      case 'file':
        facts.files.set(q.path, parseFile(body));
        break;
      case 'iptables': {
        const failed = /MAILPROV_(NO_IPTABLES|IPTABLES_FAILED)/.test(body);
        const services = (kind: string) => body.split('\n').find((l) => l.startsWith(`MAILPROV_FIREWALLD ${kind}`))?.split(' ').slice(2).filter(Boolean);
        const runtime = services('runtime');
        facts.iptables = {
          available: !failed,
          rules: failed ? [] : body.split('\n').filter((l) => l.startsWith('-')),
          firewalld: runtime ? { runtime, permanent: services('permanent') ?? [] } : undefined,
        };
        break;
      }
      case 'service': {
        const words = body.split('\n');
        const fact: ServiceFact = { known: words.includes('known'), running: words.includes('running') };
        facts.services.set(q.name, fact);
        break;
      }
      case 'test':
        facts.tests.set(q.command, Number.parseInt(body.trim(), 10));
        break;
      case 'os':
      case 'journal':
        break;
    }
  }
  return facts;
}
