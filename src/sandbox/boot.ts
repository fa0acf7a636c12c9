// A host's boot: its overlay's own files (name, keys, trusted CA), then the host itself started in
// its namespaces on that overlay, ready once its sshd answers.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { SandboxError } from '../errors.ts';
import { daemon } from './daemon.ts';
import { ed25519KeyPair } from './hostkey.ts';
import { SMART_HOST_ADDR, SMART_HOST_PORT } from './identity.ts';
import { LAN_PLUG, lanClientHostLines, lanPortName } from './lan.ts';
import { hostKind, hostRelease, type SandboxHost, type SandboxState } from './state.ts';

/** The base a host's overlay sits on: its Debian release's, or the CentOS-like one. */
function hostBase(state: SandboxState, host: SandboxHost): string {
  if (hostKind(host) === 'debian') {
    const base = state.bases?.[hostRelease(host)!] ?? (state.bases ? undefined : state.base);
    if (!base) throw new SandboxError(`sandbox host ${host.name} is Debian ${hostRelease(host)} but the sandbox has no base for it`);
    return base;
  }
  if (!state.centosBase) throw new SandboxError(`sandbox host ${host.name} is CentOS-like but the sandbox has no CentOS-like base`);
  return state.centosBase;
}

// Runs on the controller's filesystem inside the host's fresh namespaces, then becomes the host.
// On a sandbox with a LAN, the last three arguments plug it in: the bridge's pid, its port's name
// there, its address (all empty without one).
const HOST_START = `set -e
base=$1 dir=$2 fqdn=$3 smarthost_sock=$4 smarthost_addr=$5 smarthost_port=$6
lan_bridge=$7 lan_port=$8 lan_addr=$9
${LAN_PLUG}
root=$dir/root
mount -t overlay overlay -o "lowerdir=$base,upperdir=$dir/upper,workdir=$dir/work" "$root"
mount -t proc proc "$root/proc"
mount -t sysfs -o ro sysfs "$root/sys" 2>/dev/null || true
mount -t tmpfs -o mode=755,size=16m tmpfs "$root/dev"
for d in null zero full random urandom tty; do touch "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"; done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"; ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=755 tmpfs "$root/run"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
hostname "$fqdn"
ip link set lo up
[ -z "$lan_bridge" ] || lan_plug "$lan_bridge" "$lan_port" "$lan_addr"
# SSH in: a unix socket (visible to the controller) bridged to sshd on the host's own loopback.
# Every TCP leg of a relay sets nodelay: a relay writes what it read in pieces, and Nagle would hold
# each second piece until the delayed ACK (40 ms), on every SSH round trip.
socat "UNIX-LISTEN:$dir/ssh.sock,fork,unlink-early,mode=600" TCP:127.0.0.1:22,nodelay &
# The smart host out: the stand-in's unix socket, offered on a loopback address of the host.
socat "TCP-LISTEN:$smarthost_port,bind=$smarthost_addr,fork,reuseaddr,nodelay" "UNIX-CONNECT:$smarthost_sock" &
exec chroot "$root" /usr/bin/tini -- /bin/sh /usr/local/sbin/mailprov-sandbox-init
`;

/** A base's files, read once for all its hosts. */
const baseFiles = new Map<string, string>();
const readOnce = (path: string) => baseFiles.get(path) ?? baseFiles.set(path, readFileSync(path, 'utf8')).get(path)!;

export function prepareUpper(state: SandboxState, host: SandboxHost, pubKey: string, caPem: string): void {
  const upper = join(host.dir, 'upper');
  const base = hostBase(state, host);
  const centos = hostKind(host) === 'centos';
  for (const d of ['etc/ssh', 'root/.ssh', 'etc/ssl/certs']) mkdirSync(join(upper, d), { recursive: true });
  mkdirSync(join(host.dir, 'work'), { recursive: true });
  mkdirSync(join(host.dir, 'root'), { recursive: true });
  const short = host.fqdn.split('.')[0];
  writeFileSync(join(upper, 'etc/hostname'), `${host.fqdn}\n`);
  // RHEL names localhost.localdomain too (its stock sendmail.mc has LOCAL_DOMAIN(localhost.localdomain))
  const localhost = centos ? 'localhost localhost.localdomain localhost4 localhost4.localdomain4' : 'localhost';
  const localhost6 = centos ? 'localhost localhost.localdomain localhost6 localhost6.localdomain6' : 'localhost ip6-localhost ip6-loopback';
  // on a LAN the other hosts are known by name, a private host only to the hosts it is reached
  // through (its bastions: so relay4, listed for relay2 only, is two jumps away, not one)
  const peerLines =
    state.hosts
      .filter((p) => p !== host && p.lanAddress && (!p.reachableFrom || p.reachableFrom.includes(host.name)))
      .map((p) => `${p.lanAddress}\t${p.fqdn} ${p.name}\n`)
      .join('') + (state.lan ? lanClientHostLines(state.lan) : '');
  writeFileSync(
    join(upper, 'etc/hosts'),
    `127.0.0.1\t${localhost}\n127.0.1.1\t${host.fqdn} ${short}\n${SMART_HOST_ADDR}\t${state.smartHost.name}\n${peerLines}::1\t${localhost6}\n`,
  );
  writeFileSync(join(upper, 'etc/resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  chmodSync(join(upper, 'root/.ssh'), 0o700);
  writeFileSync(join(upper, 'root/.ssh/authorized_keys'), pubKey, { mode: 0o600 });
  const key = join(upper, 'etc/ssh/ssh_host_ed25519_key');
  const pair = ed25519KeyPair(host.fqdn);
  writeFileSync(key, pair.privateKey, { mode: 0o600 });
  writeFileSync(`${key}.pub`, pair.publicKey, { mode: 0o644 });
  // The hosts trust the sandbox CA, as a production host trusts Gmail's: through the system bundle.
  // (CentOS-like hosts: also RHEL's bundle, which RHEL's sendmail.mc names, and its anchor folder;
  // the Debian bundle stays what the Debian-built OpenSSL reads by default.)
  const bundle = readOnce(join(base, 'etc/ssl/certs/ca-certificates.crt'));
  writeFileSync(join(upper, 'etc/ssl/certs/ca-certificates.crt'), bundle + caPem);
  const anchor = centos ? 'etc/pki/ca-trust/source/anchors' : 'usr/local/share/ca-certificates';
  mkdirSync(join(upper, anchor), { recursive: true });
  writeFileSync(join(upper, anchor, 'mailprov-sandbox-ca.crt'), caPem);
  if (centos) {
    mkdirSync(join(upper, 'etc/pki/tls/certs'), { recursive: true });
    writeFileSync(join(upper, 'etc/pki/tls/certs/ca-bundle.crt'), readOnce(join(base, 'etc/pki/tls/certs/ca-bundle.crt')) + caPem);
  }
}

/**
 * How many hosts start at once, and how long one may take from its start to its sshd answering.
 * All at once, 1,000 hosts' unshare, mounts and sshd would share 2 cores and each wait its turn.
 */
export const START_AT_ONCE = 32;
const START_TIMEOUT_MS = 30_000;

export async function startHost(state: SandboxState, host: SandboxHost): Promise<void> {
  const flags = ['--net', '--pid', '--fork', '--mount', '--uts', '--ipc', '--kill-child'];
  const args = [
    '-c',
    HOST_START,
    'mailprov-sandbox-host',
    hostBase(state, host),
    host.dir,
    host.fqdn,
    state.smartHost.socket,
    SMART_HOST_ADDR,
    String(SMART_HOST_PORT),
    ...(state.lan && host.lanAddress
      ? [String(state.lan.bridge.pid), lanPortName(state.hosts.indexOf(host)), host.lanAddress]
      : ['', '', '']),
  ];
  // --kill-child: killing this unshare kills the host's PID 1, and with it the host's namespaces
  await daemon(state, `${host.name} host`, flags, 'sh', args, join(host.dir, 'host.log'));
  const sock = join(host.dir, 'ssh.sock');
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(sock)) {
    if (Date.now() > deadline)
      throw new SandboxError(`sandbox host ${host.name} did not start:\n${readFileSync(join(host.dir, 'host.log'), 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  // through the forwarder's port (already listening); a private host has none, only its socket
  await waitForSsh(sshEndpoint(host), Math.max(1000, deadline - Date.now()));
}

/** Where a host's sshd answers from the controller: its port, or a private host's unix socket. */
export const sshEndpoint = (h: SandboxHost): number | string => (h.reachableFrom ? join(h.dir, 'ssh.sock') : h.port);

/**
 * Resolves once something on 127.0.0.1:port answers with an SSH banner; or, given a path, the host's
 * own unix socket (the controller's side of its sshd: what a private host has instead of a port).
 */
export async function waitForSsh(where: number | string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const s = typeof where === 'number' ? netConnect(where, '127.0.0.1') : netConnect(where);
      const done = (v: boolean) => {
        clearTimeout(timer);
        s.destroy();
        res(v);
      };
      const timer = setTimeout(() => done(false), 1000);
      s.once('data', (d) => done(d.toString().startsWith('SSH-')));
      s.once('error', () => done(false));
      // the forwarder accepts and then closes while sshd is not listening yet: try again
      s.once('close', () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new SandboxError(`sandbox host on ${where} did not answer SSH within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
