// The CentOS-like sandbox base: the closest honest stand-in for a CentOS 8 host that can be built
// here, where no CentOS package can be downloaded. It is a Debian bookworm root (the Debian base's
// tools plus Debian's rpm and dnf) given RHEL's layout: os-release and redhat-release saying
// CentOS, rpm and dnf as the package tools (apt and dpkg are off PATH), dnf with only a local
// repository, SysV `service`, the stock /etc/sysconfig/iptables and ip6tables and RHEL's CA bundle path.
// The local repository (/srv/mailprov-rpms) holds sendmail, sendmail-cf, cyrus-sasl and cyrus-sasl-plain,
// built with rpmbuild from the programs Debian ships, in RHEL's layout (see build.sh and the specs
// beside it). Built once with mmdebstrap, cached next to the Debian base, keyed by a recipe hash.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../paths.ts';
import { BASE_PACKAGES, SSHD_CONFIG, defaultCacheDir, mirrorArg, runMmdebstrap } from '../base.ts';
import { withBuildLock } from '../build-lock.ts';
import { local } from '../local.ts';

/** Installed besides the Debian base's tools: the rpm tool chain, and what Debian's sendmail programs link against. */
export const CENTOS_PACKAGES = [
  'm4',
  'make',
  'rpm',
  'dnf',
  'createrepo-c',
  'passwd',
  'libdb5.3',
  'libldap-2.5-0',
  'liblockfile1',
  'libnsl2',
  'libsasl2-2',
  'libssl3',
  'libwrap0',
];

export const RPM_REPO_DIR = '/srv/mailprov-rpms';

/** The build script, spec files and RHEL files (this folder), as shipped in the package. */
function recipeDir(): string {
  return join(packageRoot(), 'src/sandbox/centos');
}

function recipeFiles(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel))
    .sort()
    .flatMap((f) => {
      const r = join(rel, f);
      if (statSync(join(dir, r)).isDirectory()) return recipeFiles(dir, r);
      return f.endsWith('.ts') ? [] : [r];
    });
}

export function centosRecipeHash(): string {
  const dir = recipeDir();
  const h = createHash('sha256').update(JSON.stringify({ BASE_PACKAGES, CENTOS_PACKAGES, SSHD_CONFIG, v: 1 }));
  for (const f of recipeFiles(dir)) h.update(`\0${f}\0`).update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 12);
}

export function centosBasePath(cacheDir = defaultCacheDir()): string {
  return join(cacheDir, `centos-like-bookworm-${centosRecipeHash()}`, 'rootfs');
}

const MARKER = 'etc/mailprov-sandbox-centos';

/** Returns the cached CentOS-like root filesystem, building it first if needed (about a minute). */
export async function ensureCentosBase(cacheDir = defaultCacheDir(), log: (line: string) => void = () => {}): Promise<string> {
  const target = centosBasePath(cacheDir);
  const built = () => existsSync(join(target, MARKER));
  if (built()) return target;
  const parent = join(target, '..');
  mkdirSync(parent, { recursive: true });
  // one build at a time: a process that waited for another's uses its base
  return withBuildLock(parent, log, async () => (built() ? target : buildCentosBase(target, log)));
}

async function buildCentosBase(target: string, log: (line: string) => void): Promise<string> {
  const parent = join(target, '..');
  // Build beside the target and rename: a crashed or concurrent build never leaves half a base.
  const tmp = join(parent, `rootfs.building-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  log(`building the CentOS-like sandbox base (Debian bookworm with rpm and dnf, mmdebstrap) in ${parent}`);
  const t0 = Date.now();
  const hooks = [
    'mkdir -p "$1/tmp/mailprov-centos" && cp -R "$MAILPROV_CENTOS_RECIPE/." "$1/tmp/mailprov-centos/"',
    // in the root, while mmdebstrap gives it network: download, rpmbuild, createrepo, then RHEL's layout
    'chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 sh /tmp/mailprov-centos/build.sh',
    'rm -rf "$1/tmp/mailprov-centos"',
  ];
  const args = [
    '--variant=minbase',
    '--mode=root',
    '--quiet',
    // no fsync per file (slow disks): the root is synced once before it goes live
    '--dpkgopt=force-unsafe-io',
    `--include=${[...BASE_PACKAGES, ...CENTOS_PACKAGES].join(',')}`,
    // apt and dpkg are hidden by then; build.sh removes the package lists itself
    '--skip=cleanup/apt',
    ...hooks.map((h) => `--customize-hook=${h}`),
    'bookworm',
    tmp,
    mirrorArg(),
  ];
  try {
    await runMmdebstrap(args, { ...process.env, MAILPROV_CENTOS_RECIPE: recipeDir() });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(join(tmp, 'etc/ssh/sshd_config.d/mailprov-sandbox.conf'), SSHD_CONFIG);
  writeFileSync(join(tmp, MARKER), `${centosRecipeHash()}\n`);
  const rpms = readdirSync(join(tmp, RPM_REPO_DIR.slice(1))).filter((f) => f.endsWith('.rpm'));
  await local()`sync -f ${join(tmp, MARKER)}`;
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(target)) throw err; // another build won the race: use it
  }
  log(`CentOS-like base built in ${((Date.now() - t0) / 1000).toFixed(1)} s (${rpms.join(', ')} in the local repository)`);
  return target;
}

export function removeCentosBase(cacheDir = defaultCacheDir()): void {
  rmSync(join(centosBasePath(cacheDir), '..'), { recursive: true, force: true });
}
