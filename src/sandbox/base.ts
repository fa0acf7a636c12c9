// The sandbox's Debian root filesystems (one per release: 13 trixie, 12 bookworm), each built once
// with mmdebstrap and cached. Each holds
// an OpenSSH server, iptables and a small resolver, but not sendmail: installing that is mailprov's
// job. Instead it carries a local apt repository (/srv/mailprov-repo) with sendmail and everything
// it depends on, because a sandbox host has no route out.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withBuildLock } from './build-lock.ts';
import { local } from './local.ts';

/** Installed in every host: what a minimal server has, plus the sandbox's own plumbing. */
export const BASE_PACKAGES = [
  'openssh-server',
  'iproute2',
  'iptables',
  'dnsmasq-base',
  'tini',
  'ca-certificates',
  'netbase',
  'procps',
  'python3',
  'sudo',
  'init-system-helpers',
];

/** Downloaded into the local repository (with their dependencies), not installed. */
export const REPO_PACKAGES = [
  'sendmail',
  'sendmail-cf',
  'sendmail-bin',
  'libsasl2-modules',
  // saslpasswd2 and sasldblistusers2, for the submission users (issue 32)
  'sasl2-bin',
  'mailutils',
  'python3-apt',
  'iptables-persistent',
  'netfilter-persistent',
];

/**
 * What a host may already have that conflicts with the above, for the package step's tests: ufw
 * (iptables-persistent breaks it: mailprov must refuse to remove it) and the MTAs the sendmail
 * playbook replaces. Each set conflicts with the others, so each is downloaded by an apt run of its own.
 */
export const REPO_CONFLICTING = [['ufw'], ['exim4-daemon-light', 'exim4'], ['postfix']];

/**
 * Debian 13 hosts also carry nftables, its default firewall, installed; and firewalld in the local
 * repository (ufw is there for both releases), so that a test installs the one it needs as an
 * administrator would.
 */
export const TRIXIE_BASE_PACKAGES = ['nftables'];
export const TRIXIE_REPO_PACKAGES = [['firewalld']];

/**
 * Debian hosts also carry what a standard Debian server has installed before anyone adds an MTA:
 * perl (priority "standard"; sendmail's scripts need it). Without it every first apply unpacked
 * perl's thousands of files, most of a fresh host's install time.
 */
export const DEBIAN_STANDARD_PACKAGES = ['perl'];

/**
 * dpkg as container images of Debian run it: no fsync per unpacked file (the host's upper folder
 * is thrown away with the host anyway), and no manuals, documentation or translations, which no
 * test reads. Written to /etc/dpkg/dpkg.cfg.d/99mmdebstrap, so mailprov's installs on the host
 * run the same way.
 */
export const DPKG_OPTIONS = [
  'force-unsafe-io',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/info/*',
];

export const REPO_DIR = '/srv/mailprov-repo';

/** The Debian releases the sandbox builds; 13 (trixie, Debian's stable since August 2025) is the default. */
export const DEBIAN_RELEASES = { 12: 'bookworm', 13: 'trixie' } as const;
export type DebianRelease = keyof typeof DEBIAN_RELEASES;
export const DEFAULT_RELEASE: DebianRelease = 13;

export const SSHD_CONFIG = [
  '# mailprov sandbox: key-only root login, one host key per host, no DNS stalls',
  'HostKey /etc/ssh/ssh_host_ed25519_key',
  'PermitRootLogin prohibit-password',
  'PasswordAuthentication no',
  'KbdInteractiveAuthentication no',
  'UseDNS no',
  'MaxStartups 200',
  'MaxSessions 200',
  '',
].join('\n');

// PID 1 of every host is tini; this script starts the resolver and then becomes sshd.
// dnsmasq answers names from /etc/hosts and NXDOMAIN for everything else, at once: without an
// answer sendmail's canonicalisation would wait for timeouts and mail would sit in the queue.
const INIT_SCRIPT = [
  '#!/bin/sh',
  'dnsmasq --no-resolv --no-poll --listen-address=127.0.0.1 --bind-interfaces --address=/#/ --user=root --pid-file=/run/dnsmasq.pid',
  'mkdir -p /run/sshd',
  'exec /usr/sbin/sshd -D -e',
  '',
].join('\n');

/** What goes into a release's base; its hash names the cache folder, so a changed recipe builds anew. */
function recipe(release: DebianRelease) {
  const codename = DEBIAN_RELEASES[release];
  if (release === 12)
    return { codename, base: [...BASE_PACKAGES, ...DEBIAN_STANDARD_PACKAGES], repo: REPO_PACKAGES, alone: REPO_CONFLICTING };
  return {
    codename,
    base: [...BASE_PACKAGES, ...DEBIAN_STANDARD_PACKAGES, ...TRIXIE_BASE_PACKAGES],
    repo: REPO_PACKAGES,
    alone: [...REPO_CONFLICTING, ...TRIXIE_REPO_PACKAGES],
  };
}

export function recipeHash(release: DebianRelease = DEFAULT_RELEASE): string {
  const { codename, base, repo, alone } = recipe(release);
  const key = { codename, base, repo, alone, SSHD_CONFIG, INIT_SCRIPT, DPKG_OPTIONS, v: 4 };
  return createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 12);
}

export function defaultCacheDir(): string {
  return process.env.MAILPROV_CACHE_DIR ?? '/var/cache/mailprov';
}

export function basePath(cacheDir = defaultCacheDir(), release: DebianRelease = DEFAULT_RELEASE): string {
  return join(cacheDir, `debian-${DEBIAN_RELEASES[release]}-${recipeHash(release)}`, 'rootfs');
}

/** Where mmdebstrap gets a release's packages: this machine's own apt sources when they are that release's. */
export function mirrorArg(release: DebianRelease = DEFAULT_RELEASE): string {
  const codename = DEBIAN_RELEASES[release];
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    // the machine's own sources name this release: use them as they are (keys, components)
    if (new RegExp(`\\b${codename}\\b`).test(text)) return f;
    // another release: the same archive (the only package source reachable here), this codename
    const archive = archiveUri(text);
    if (archive) return archive;
  }
  return 'http://deb.debian.org/debian';
}

/** The main archive's URI in an apt sources file (deb822 `URIs:` or one-line `deb URI suite`), not -security. */
export function archiveUri(text: string): string | undefined {
  const uris = [...text.matchAll(/^\s*(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)/gm)].map((m) => m[1]);
  return uris.find((u) => /^https?:/.test(u) && !/security/.test(u));
}

/** Runs mmdebstrap; its output's tail becomes the error when it fails. */
export async function runMmdebstrap(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await local({ env, what: 'building a sandbox base' })`mmdebstrap ${args}`;
}

/** Returns the cached base root filesystem, building it first if needed. */
export async function ensureBase(
  cacheDir = defaultCacheDir(),
  log: (line: string) => void = () => {},
  release: DebianRelease = DEFAULT_RELEASE,
): Promise<string> {
  const target = basePath(cacheDir, release);
  const built = () => existsSync(join(target, 'etc', 'mailprov-sandbox-base'));
  if (built()) return target;
  const parent = join(target, '..');
  mkdirSync(parent, { recursive: true });
  // one build at a time: a process that waited for another's uses its base
  return withBuildLock(parent, log, async () => (built() ? target : buildBase(target, release, log)));
}

async function buildBase(target: string, release: DebianRelease, log: (line: string) => void): Promise<string> {
  const { codename, base, repo, alone } = recipe(release);
  const parent = join(target, '..');
  // Build beside the target and rename: a crashed or concurrent build never leaves half a base.
  const tmp = join(parent, `rootfs.building-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  log(`building the sandbox base (Debian ${release} ${codename}, mmdebstrap) in ${parent}`);
  const t0 = Date.now();
  const hooks = [
    // the local repository: sendmail and its dependencies, downloaded but not installed; each set
    // that conflicts with the others by an apt run of its own (ufw Breaks iptables-persistent)
    `chroot "$1" apt-get install --download-only -y -q ${repo.join(' ')}`,
    ...alone.map((set) => `chroot "$1" apt-get install --download-only -y -q ${set.join(' ')}`),
    `mkdir -p "$1${REPO_DIR}" && mv "$1"/var/cache/apt/archives/*.deb "$1${REPO_DIR}/"`,
    `cd "$1${REPO_DIR}" && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null`,
    `rm -f "$1"/etc/apt/sources.list.d/* && echo "deb [trusted=yes] file:${REPO_DIR} ./" > "$1/etc/apt/sources.list"`,
    'chroot "$1" apt-get update -q',
    // per-host keys are written at `up`; never share the base's
    'rm -f "$1"/etc/ssh/ssh_host_*',
  ];
  const args = [
    '--variant=minbase',
    '--mode=root',
    '--quiet',
    `--include=${base.join(',')}`,
    '--skip=cleanup/apt/lists',
    ...DPKG_OPTIONS.map((o) => `--dpkgopt=${o}`),
    ...hooks.map((h) => `--customize-hook=${h}`),
    codename,
    tmp,
    mirrorArg(release),
  ];
  await runMmdebstrap(args);
  writeFileSync(join(tmp, 'etc/ssh/sshd_config.d/mailprov-sandbox.conf'), SSHD_CONFIG);
  writeFileSync(join(tmp, 'usr/local/sbin/mailprov-sandbox-init'), INIT_SCRIPT, { mode: 0o755 });
  writeFileSync(join(tmp, 'etc/mailprov-sandbox-base'), `${recipeHash(release)}\n`);
  const debs = readdirSync(join(tmp, REPO_DIR.slice(1))).filter((f) => f.endsWith('.deb')).length;
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(target)) throw err; // another build won the race: use it
  }
  log(`base built in ${((Date.now() - t0) / 1000).toFixed(1)} s (${debs} packages in the local repository)`);
  return target;
}

export function removeBase(cacheDir = defaultCacheDir(), release: DebianRelease = DEFAULT_RELEASE): void {
  rmSync(join(basePath(cacheDir, release), '..'), { recursive: true, force: true });
}
