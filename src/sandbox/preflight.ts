// The sandbox needs root, Linux namespaces and a few tools. Missing tools are installed with apt
// (as root); anything else that is missing is a clear SandboxError, not a stack trace.
import { SandboxError } from '../errors.ts';
import { localSync } from './local.ts';

/** Tool on the controller -> Debian package that provides it. */
const TOOLS: Record<string, string> = {
  mmdebstrap: 'mmdebstrap',
  socat: 'socat',
  ip: 'iproute2',
  unshare: 'util-linux',
  'dpkg-scanpackages': 'dpkg-dev',
  'ssh-keygen': 'openssh-client',
  openssl: 'openssl',
  iptables: 'iptables',
};

/** The tools not on PATH, in one shell rather than one per tool. */
export function missingTools(): string[] {
  const out = localSync()`for t in ${Object.keys(TOOLS)}; do command -v "$t" >/dev/null || echo "$t"; done`;
  return out.stdout.split('\n').filter(Boolean);
}

export function preflight(log: (line: string) => void = () => {}): void {
  if (process.platform !== 'linux') throw new SandboxError('the sandbox needs Linux (network, PID, mount and UTS namespaces)');
  if (process.getuid?.() !== 0) {
    throw new SandboxError('the sandbox needs root: it creates namespaces and overlay mounts (run as root, e.g. with sudo)');
  }
  const missing = missingTools();
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => TOOLS[t]))];
    log(`installing ${pkgs.join(', ')} with apt (missing: ${missing.join(', ')})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    // the package lists may be stale or missing: update once and try again
    if (!localSync({ env, nothrow: true })`apt-get install -y -q ${pkgs}`.ok) {
      localSync({ env, nothrow: true })`apt-get update -q`;
      localSync({ env, what: `could not install ${pkgs.join(', ')} with apt` })`apt-get install -y -q ${pkgs}`;
    }
  }
  localSync({ what: 'Linux namespaces are not available here' })`unshare --net --pid --fork --mount --uts true`;
}
