// The sandbox needs root, Linux namespaces and a few tools. Missing tools are installed with apt
// (as root); anything else that is missing is a clear SandboxError, not a stack trace.
import { execFileSync, spawnSync } from 'node:child_process';
import { SandboxError } from '../errors.ts';

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

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

export function missingTools(): string[] {
  return Object.keys(TOOLS).filter((t) => !has(t));
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
    const install = () => spawnSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'pipe', env });
    let r = install();
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { stdio: 'pipe', env });
      r = install();
    }
    if (r.status !== 0) throw new SandboxError(`could not install ${pkgs.join(', ')} with apt:\n${r.stderr.toString().slice(-2000)}`);
  }
  try {
    execFileSync('unshare', ['--net', '--pid', '--fork', '--mount', '--uts', 'true'], { stdio: 'pipe' });
  } catch (err) {
    throw new SandboxError(
      `Linux namespaces are not available here (unshare --net --pid --mount --uts failed): ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? err}`,
    );
  }
}
