// `mailprov sandbox up|status|down`: hosts in their own network, PID, mount, UTS and IPC namespaces,
// each on a copy-on-write overlay of the cached base, reached over SSH through a port on 127.0.0.1.
//
// Everything a host mounts lives in its own mount namespace, so it disappears with the host's
// processes; `down` therefore only has to kill processes and delete the folder. It acts only on a
// folder of root's alone (ownership.ts: 0700, its state files 0600, checked before every use) whose
// state file `up` wrote, and kills only the processes `up` recorded there (pid, start time and the
// namespaces made for it, written before the process runs its command, so a crashed `up` leaves
// them known too), and only while they are still in those namespaces: a folder or a process that
// merely shares a name with the sandbox, or one a record names outside its namespaces, is never touched.
// spawn for daemon() only: a host or daemon outlives this process (detached, in new namespaces), its
// output appended to a log file and its pid recorded at once; zx runs a command to its end.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as pause } from 'node:timers/promises';
import { packageRoot } from '../paths.ts';
import { SandboxError } from '../errors.ts';
import { DEFAULT_RELEASE, type DebianRelease, ensureBase } from './base.ts';
import { ensureCa, issueServerCert } from './ca.ts';
import { smartHostEventsFile, smartHostModeFile } from './smarthost-modes.ts';
import { ensureCentosBase } from './centos/base.ts';
import {
  BRIDGE_START,
  CLIENT_START,
  LAN_CLIENTS,
  LAN_NETWORK,
  LAN_OFFICE_NETWORK,
  LAN_MAX_HOSTS,
  LAN_PLUG,
  lanClientHostLines,
  lanHostAddress,
  lanPortName,
  type LanClientName,
  type SandboxLan,
} from './lan.ts';
import { checkPorts, type ForwarderConfig } from './forwarder.ts';
import { ed25519KeyPair } from './hostkey.ts';
import { eachLimit } from './limit.ts';
import { preflight } from './preflight.ts';
import { tsxLoaderUrl, waitForFile } from './wait.ts';
import { appendProcessLog, mergeProcesses, readProcessLog, resetProcessLog } from './process-log.ts';
import { checkSandboxFolder } from './ownership.ts';
import {
  describeProcess,
  isRunning,
  killRecorded,
  madeNamespaces,
  type NamespaceKind,
  recordProcess,
  type RecordedProcess,
} from './processes.ts';
import { local } from './local.ts';

export const SANDBOX_DOMAIN = 'sandbox.test';
export const SMART_HOST_NAME = `smtp.${SANDBOX_DOMAIN}`;
/** Inside each host the smart host's name resolves to this loopback address (its /etc/hosts). */
export const SMART_HOST_ADDR = '127.0.0.2';
export const SMART_HOST_PORT = 587;
export const SMART_HOST_USER = `relay@${SANDBOX_DOMAIN}`;
/** A second real account with a password of its own: for inventories that give hosts different credentials. */
export const SMART_HOST_SECOND_USER = `relay2@${SANDBOX_DOMAIN}`;
/** A second account, which always answers AUTH with Gmail's 534 5.7.9 "Application-specific password required". */
export const SMART_HOST_APP_PASSWORD_USER = `app-password@${SANDBOX_DOMAIN}`;
/** The name on the certificate of the wrong-name-cert mode (signed by the sandbox CA). */
export const SMART_HOST_WRONG_NAME = `other.${SANDBOX_DOMAIN}`;
/** A CA the hosts do not trust, which signs the certificate of the untrusted-cert mode. */
const ROGUE_CA_SUBJECT = '/CN=mailprov sandbox rogue CA';

/** 'debian': Debian (13 trixie unless the host's release says 12 bookworm). 'centos': the CentOS-like stand-in (rpm, dnf, RHEL layout; see centos/base.ts). */
export type SandboxHostKind = 'debian' | 'centos';

export interface SandboxHost {
  name: string;
  fqdn: string;
  /** On this machine's 127.0.0.1; for a private host, 22 on its private address (see below). */
  port: number;
  dir: string;
  /** State written before this field existed holds Debian hosts only: read it with hostKind(). */
  kind: SandboxHostKind;
  /** A Debian host's release; state written before this field existed holds Debian 12 hosts only (hostRelease()). */
  release?: DebianRelease;
  /**
   * A private host (UpOptions.private): no port on this machine. It sits on the sandbox LAN, where
   * these hosts reach it as `fqdn:22` (only their /etc/hosts name its LAN address).
   */
  reachableFrom?: string[];
  /** On a sandbox with a LAN: the host's address there (lan.ts). */
  lanAddress?: string;
}

/** In every state file `up` writes: what `down` checks before it deletes a folder. */
export const SANDBOX_OWNER = 'mailprov sandbox';

export interface SandboxState {
  owner: typeof SANDBOX_OWNER;
  dir: string;
  /** false until every host answers and known_hosts is written: a crashed `up` is never taken for a sandbox */
  ready: boolean;
  /**
   * every daemon `up` started: what `down` may kill. Recorded as each starts in processes.jsonl
   * (process-log.ts), and here too once `up` is done; readState and inspectFolder merge both.
   */
  processes: RecordedProcess[];
  /** The Debian base of the default release's hosts, or of the first Debian host's (not built when every host is CentOS-like). */
  base: string;
  /** Each Debian release's base, by release; state written before this field existed has `base` (Debian 12) only. */
  bases?: Partial<Record<DebianRelease, string>>;
  /** The CentOS-like base, when the sandbox has CentOS-like hosts. */
  centosBase?: string;
  privateKey: string;
  knownHosts: string;
  smartHost: {
    name: string;
    user: string;
    passwordFile: string;
    /** The second account (relay2@...) and its password file. */
    second: { user: string; passwordFile: string };
    socket: string;
    storeDir: string;
    caCert: string;
  };
  hosts: SandboxHost[];
  /** The sandbox LAN (UpOptions.lan), with its two clients. */
  lan?: SandboxLan;
}

export function defaultStateDir(): string {
  return resolve(process.env.MAILPROV_SANDBOX_DIR ?? join(process.cwd(), '.sandbox'));
}

const stateFile = (dir: string) => join(dir, 'state.json');

export const hostKind = (h: SandboxHost): SandboxHostKind => h.kind ?? 'debian';

/** A Debian host's release (a host of a state from before releases: 12); undefined for a CentOS-like host. */
export const hostRelease = (h: SandboxHost): DebianRelease | undefined => (hostKind(h) === 'debian' ? (h.release ?? 12) : undefined);

/** What `sandbox up` and `status` print as a host's kind: "debian 13", "centos". */
export const hostLabel = (h: SandboxHost): string => (hostKind(h) === 'debian' ? `debian ${hostRelease(h)}` : hostKind(h));

function hostBase(state: SandboxState, host: SandboxHost): string {
  if (hostKind(host) === 'debian') {
    const base = state.bases?.[hostRelease(host)!] ?? (state.bases ? undefined : state.base);
    if (!base) throw new SandboxError(`sandbox host ${host.name} is Debian ${hostRelease(host)} but the sandbox has no base for it`);
    return base;
  }
  if (!state.centosBase) throw new SandboxError(`sandbox host ${host.name} is CentOS-like but the sandbox has no CentOS-like base`);
  return state.centosBase;
}

/** The state of the sandbox in `dir`, or undefined when there is none; a folder or file not root's alone throws (ownership.ts). */
export function readState(dir = defaultStateDir()): SandboxState | undefined {
  if (checkSandboxFolder(resolve(dir)) === 'absent') return undefined;
  try {
    const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as SandboxState;
    if (Array.isArray(state.processes)) state.processes = mergeProcesses(state.processes, readProcessLog(dir));
    return state;
  } catch {
    return undefined;
  }
}

// Written whole to a temporary file and renamed: a crash mid-write leaves the previous state, never half.
function writeState(state: SandboxState): void {
  const tmp = `${stateFile(state.dir)}.tmp`;
  rmSync(tmp, { force: true }); // a new file, so that its mode is the one given
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, stateFile(state.dir));
}

type Folder = { kind: 'absent' } | { kind: 'ours'; state: SandboxState } | { kind: 'foreign'; reason: string; empty: boolean };

/** Whether `dir` holds a sandbox of ours: a state file `up` wrote (with the owner mark) for this very folder. */
export function inspectFolder(dir: string): Folder {
  // before anything in it is read: the folder and its state files are root's alone, or refused
  if (checkSandboxFolder(dir) === 'absent') return { kind: 'absent' };
  const empty = readdirSync(dir).length === 0;
  const file = stateFile(dir);
  if (!existsSync(file)) return { kind: 'foreign', reason: `${dir} does not hold a mailprov sandbox (no state.json)`, empty };
  let state: Partial<SandboxState>;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as Partial<SandboxState>;
  } catch (err) {
    return { kind: 'foreign', reason: `${file} is not a mailprov sandbox's state (${(err as Error).message})`, empty };
  }
  if (state.owner !== SANDBOX_OWNER || !Array.isArray(state.processes)) {
    // also a sandbox of a mailprov from before the mark: it recorded no processes, so none can be told apart
    return {
      kind: 'foreign',
      reason: `${file} was not written by this mailprov's \`sandbox up\` (no "owner": "${SANDBOX_OWNER}"; a sandbox of an older mailprov must be stopped and deleted by hand)`,
      empty,
    };
  }
  if (typeof state.dir !== 'string' || resolve(state.dir) !== dir) {
    return { kind: 'foreign', reason: `${file} is the state of a sandbox in ${String(state.dir)}, not in ${dir}`, empty };
  }
  // and what a crashed `up` recorded only in its process log
  return { kind: 'ours', state: { ...(state as SandboxState), processes: mergeProcesses(state.processes, readProcessLog(dir)) } };
}

/** The recorded processes of a sandbox that still run (same pid, same start time). */
export function sandboxProcesses(state: SandboxState): RecordedProcess[] {
  return state.processes.filter((p) => isRunning(p));
}

/**
 * Resolves once something on 127.0.0.1:port answers with an SSH banner; or, given a path, the host's
 * own unix socket (the controller's side of its sshd: what a private host has instead of a port).
 */
async function waitForSsh(where: number | string, timeoutMs: number): Promise<void> {
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

// What each daemon runs first, in the namespaces unshare made for it: it waits for `go` on stdin,
// which `up` writes once it has recorded the process with those namespaces. An `up` that dies before
// closes the pipe, and the process exits instead of running unrecorded.
const GATE = 'IFS= read -r go && [ "$go" = go ] || exit 1; exec "$@" </dev/null';

/** The namespaces of its own a process started by `unshare <flags>` is in (--pid is its children's). */
const UNSHARE_KINDS: Record<string, NamespaceKind> = { '--net': 'net', '--mount': 'mnt', '--uts': 'uts', '--ipc': 'ipc' };

/**
 * Starts a long-lived process detached from us, in namespaces of its own (`unshare` with `flags`), its
 * output appended to a log file, and records it (pid, start time, the namespaces made for it) in the
 * process log before it runs its command (and in `state`, written later), so that `down` knows it even
 * if `up` dies, and can tell it from any process outside those namespaces.
 */
async function daemon(
  state: SandboxState,
  what: string,
  flags: string[],
  cmd: string,
  args: string[],
  logFile: string,
): Promise<RecordedProcess | undefined> {
  const fd = openSync(logFile, 'a');
  const child = spawn('unshare', [...flags, 'sh', '-c', GATE, 'mailprov-gate', cmd, ...args], {
    detached: true,
    stdio: ['pipe', fd, fd],
  });
  closeSync(fd);
  child.unref();
  child.stdin!.on('error', () => {}); // it exited meanwhile: nothing to tell it
  if (!child.pid) throw new SandboxError(`could not start ${cmd}`);
  const kinds = flags.flatMap((f) => UNSHARE_KINDS[f] ?? []);
  const deadline = Date.now() + 10_000;
  // unshare makes them right after it starts: wait for every one (a condition, polled, with a deadline)
  for (;;) {
    const made = madeNamespaces(child.pid);
    const recorded = recordProcess(child.pid, what);
    // not readable (or a zombie) means it has already exited: nothing to record, nothing to kill later
    if (!recorded || !isRunning(recorded)) return undefined;
    if (kinds.every((k) => made[k] !== undefined)) {
      const p: RecordedProcess = { ...recorded, ns: made };
      state.processes.push(p);
      appendProcessLog(state.dir, p);
      child.stdin!.end('go\n');
      return p;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new SandboxError(
        `${what} did not enter its namespaces (unshare ${flags.join(' ')}) within 10 s:\n${readFileSync(logFile, 'utf8').slice(-2000)}`,
      );
    }
    await pause(5);
  }
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

function prepareUpper(state: SandboxState, host: SandboxHost, pubKey: string, caPem: string): void {
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

/** The smart host's certificate, and those of its bad-certificate modes. */
async function smartHostCerts(state: SandboxState) {
  const caDir = join(state.dir, 'ca');
  const paths = ({ cert, key }: { cert: string; key: string }) => ({ certPath: cert, keyPath: key });
  const rogueDir = join(caDir, 'rogue');
  // made first, with its own subject: issueServerCert would make a CA named like the trusted one
  await ensureCa(rogueDir, ROGUE_CA_SUBJECT);
  return {
    trusted: paths(await issueServerCert(caDir, state.smartHost.name)),
    'untrusted-cert': paths(await issueServerCert(rogueDir, state.smartHost.name)),
    'wrong-name-cert': paths(await issueServerCert(caDir, SMART_HOST_WRONG_NAME)),
  };
}

/** The LAN's bridge and its two clients, each a namespace recorded like any process of the sandbox. */
async function startLan(state: SandboxState): Promise<void> {
  const dir = join(state.dir, 'lan');
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'lan.log');
  const started = async (what: string, args: string[], ready: string): Promise<RecordedProcess> => {
    const p = await daemon(state, what, ['--net'], 'sh', ['-c', ...args], logFile);
    await waitForFile(ready, what, logFile);
    if (!p || !isRunning(p)) throw new SandboxError(`${what} exited at once:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    return p;
  };
  const bridge = await started('LAN bridge', [BRIDGE_START, 'mailprov-sandbox-lan', join(dir, 'bridge.ready')], join(dir, 'bridge.ready'));
  const client = async (name: LanClientName) => {
    const ready = join(dir, `${name}.ready`);
    const args = [CLIENT_START, `mailprov-sandbox-${name}`, String(bridge.pid), `c-${name}`, LAN_CLIENTS[name], ready];
    return { address: LAN_CLIENTS[name], process: await started(`LAN client ${name}`, args, ready) };
  };
  state.lan = {
    network: LAN_NETWORK,
    office: LAN_OFFICE_NETWORK,
    bridge,
    clients: { office: await client('office'), guest: await client('guest') },
  };
  writeState(state);
}

/**
 * A daemon of ours (src/sandbox/<file>), run by this Node with tsx, as the stand-in smart host is. It
 * serves this machine's loopback and files, so its namespace of its own is an IPC one, which it does
 * not use: what lets `down` tell it from a process of this machine's.
 */
async function nodeDaemon(state: SandboxState, what: string, file: string, configPath: string, logFile: string): Promise<void> {
  const entry = join(packageRoot(), 'src/sandbox', file);
  await daemon(state, what, ['--ipc'], process.execPath, ['--import', tsxLoaderUrl(), entry, configPath], logFile);
}

/**
 * The one forwarder of the sandbox (forwarder.ts): a port on 127.0.0.1 for each host with a port,
 * piped to its ssh.sock. It binds port 0 for each and reports the ports back, which become the hosts'.
 */
async function startForwarder(state: SandboxState): Promise<void> {
  const hosts = state.hosts.filter((h) => !h.reachableFrom);
  if (!hosts.length) return;
  const config: ForwarderConfig = {
    hosts: hosts.map((h) => ({ name: h.name, socket: join(h.dir, 'ssh.sock') })),
    portsFile: join(state.dir, 'forwarder-ports.json'),
    pidFile: join(state.dir, 'forwarder.pid'),
  };
  const configPath = join(state.dir, 'forwarder.json');
  writeFileSync(configPath, JSON.stringify(config));
  const logFile = join(state.dir, 'forwarder.log');
  await nodeDaemon(state, 'forwarder', 'forwarder-daemon.ts', configPath, logFile);
  await waitForFile(config.pidFile, 'the forwarder', logFile);
  const ports = checkPorts(
    hosts.map((h) => h.name),
    JSON.parse(readFileSync(config.portsFile, 'utf8')),
  );
  for (const h of hosts) h.port = ports[h.name];
}

async function startSmartHost(state: SandboxState): Promise<void> {
  const { trusted, ...badCerts } = await smartHostCerts(state);
  const { user, passwordFile, second } = state.smartHost;
  const config = {
    socketPath: state.smartHost.socket,
    ...trusted,
    badCerts,
    users: { [user]: readPassword(passwordFile), [second.user]: readPassword(second.passwordFile) },
    appPasswordUsers: [SMART_HOST_APP_PASSWORD_USER],
    modeFile: smartHostModeFile(state.dir),
    eventsFile: smartHostEventsFile(state.dir),
    storeDir: state.smartHost.storeDir,
    pidFile: join(state.dir, 'smarthost.pid'),
  };
  const configPath = join(state.dir, 'smarthost.json');
  writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
  const logFile = join(state.dir, 'smarthost.log');
  await nodeDaemon(state, 'smart host', 'smarthost-daemon.ts', configPath, logFile);
  await waitForFile(config.pidFile, 'the stand-in smart host', logFile);
}

function ensurePasswordFile(path: string): void {
  if (!existsSync(path)) writeFileSync(path, randomBytes(12).toString('base64url') + '\n', { mode: 0o600 });
}

const readPassword = (path: string) => readFileSync(path, 'utf8').trim();

/**
 * How many hosts start at once, and how long one may take from its start to its sshd answering.
 * All at once, 1,000 hosts' unshare, mounts and sshd would share 2 cores and each wait its turn.
 */
const START_AT_ONCE = 32;
const START_TIMEOUT_MS = 30_000;

async function startHost(state: SandboxState, host: SandboxHost): Promise<void> {
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
const sshEndpoint = (h: SandboxHost): number | string => (h.reachableFrom ? join(h.dir, 'ssh.sock') : h.port);

/** Checks UpOptions.private against the hosts wanted; returns each private host's reachers. */
function privateLayout(opts: UpOptions, names: string[]): Map<string, string[]> {
  const layout = new Map(Object.entries(opts.private ?? {}));
  for (const [name, from] of layout) {
    if (!names.includes(name)) throw new SandboxError(`private: ${name} is not one of the sandbox's hosts (${names.join(', ')})`);
    if (!from.length) throw new SandboxError(`private: ${name} must be reachable from at least one host`);
    for (const r of from)
      if (!names.includes(r) || r === name)
        throw new SandboxError(`private: ${name} cannot be reached from ${r} (another host of the sandbox)`);
  }
  if (layout.size > 250) throw new SandboxError('private: at most 250 private hosts');
  const depth = jumpDepths(names.map((name) => ({ name, reachableFrom: layout.get(name) })));
  const cut = names.filter((n) => depth.get(n) === undefined);
  if (cut.length) throw new SandboxError(`private: ${cut.join(', ')} cannot be reached from any host with a port here`);
  return layout;
}

/** How many jumps away each host is (0: a port here); a host no chain reaches has none. */
function jumpDepths(hosts: Pick<SandboxHost, 'name' | 'reachableFrom'>[]): Map<string, number> {
  const depth = new Map(hosts.filter((h) => !h.reachableFrom).map((h) => [h.name, 0]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const h of hosts) {
      const via = (h.reachableFrom ?? []).map((r) => depth.get(r)).filter((d) => d !== undefined);
      if (!h.reachableFrom || !via.length) continue;
      const d = Math.min(...via) + 1;
      if (d < (depth.get(h.name) ?? Number.POSITIVE_INFINITY)) {
        depth.set(h.name, d);
        changed = true;
      }
    }
  }
  return depth;
}

/**
 * The jump chain to a sandbox host, as `mailprov`'s `jump` (and ssh -J) take it: empty for a host
 * with a port here; for a private host, through a host that reaches it (one with a port first).
 */
export function sandboxJump(state: SandboxState, host: SandboxHost): string[] {
  if (!host.reachableFrom) return [];
  const depth = jumpDepths(state.hosts);
  const byName = new Map(state.hosts.map((h) => [h.name, h]));
  // the nearest host that reaches it: the shortest chain
  const via = host.reachableFrom
    .map((n) => byName.get(n)!)
    .reduce((a, b) => ((depth.get(b.name) ?? Number.POSITIVE_INFINITY) < (depth.get(a.name) ?? Number.POSITIVE_INFINITY) ? b : a));
  return [...sandboxJump(state, via), via.reachableFrom ? `root@${via.fqdn}` : `root@127.0.0.1:${via.port}`];
}

/** How an inventory names a sandbox host: address, port, and the jump hosts before it (if any). */
export function sandboxAddress(state: SandboxState, host: SandboxHost): { address: string; port: number; jump?: string } {
  if (!host.reachableFrom) return { address: '127.0.0.1', port: host.port };
  return { address: host.fqdn, port: host.port, jump: sandboxJump(state, host).join(',') };
}

export interface UpOptions {
  dir?: string;
  /** Debian hosts: relay1, relay2, ... */
  count: number;
  /** The Debian hosts' release: 13 (trixie, the default) or 12 (bookworm). */
  release?: DebianRelease;
  /** Debian hosts of another release than `release`, by name: `{ relay2: 12 }` makes a mixed fleet. */
  releases?: Record<string, DebianRelease>;
  /**
   * CentOS-like hosts, after the Debian ones: centos1, centos2, ... (default 0). A count rather than
   * a kind per host, so that `relayN` keeps naming the same Debian host whatever is added.
   */
  centos?: number;
  cacheDir?: string;
  log?: (line: string) => void;
  /**
   * Private hosts, for jump host tests: name -> the sandbox hosts to reach it through. A private host
   * gets no port on this machine, only an address on the sandbox LAN (which `private` brings up),
   * where the other hosts reach it as `<name>.sandbox.test:22`; e.g. `{ relay2: ['relay1'],
   * relay3: ['relay1', 'relay2'] }`. Its known_hosts line is under that name.
   */
  private?: Record<string, string[]>;
  /** The sandbox LAN (lan.ts): every host and two clients on one bridge of their own. */
  lan?: boolean;
}

export async function sandboxUp(opts: UpOptions): Promise<SandboxState> {
  const log = opts.log ?? (() => {});
  const dir = resolve(opts.dir ?? defaultStateDir());
  const centosCount = opts.centos ?? 0;
  const wanted: [string, SandboxHostKind][] = [
    ...Array.from({ length: opts.count }, (_, i) => [`relay${i + 1}`, 'debian'] as [string, SandboxHostKind]),
    ...Array.from({ length: centosCount }, (_, i) => [`centos${i + 1}`, 'centos'] as [string, SandboxHostKind]),
  ];
  const release = opts.release ?? DEFAULT_RELEASE;
  for (const name of Object.keys(opts.releases ?? {}))
    if (!wanted.some(([n, k]) => n === name && k === 'debian'))
      throw new SandboxError(`releases: ${name} is not one of the sandbox's Debian hosts (relay1 to relay${opts.count})`);
  const releaseOf = (name: string): DebianRelease => opts.releases?.[name] ?? release;
  // a layout that cannot work is refused before anything starts
  const layout = privateLayout(
    opts,
    wanted.map(([n]) => n),
  );
  // private hosts live on the LAN: it is how their bastion reaches them
  const lan = opts.lan === true || layout.size > 0;
  if (lan && wanted.length > LAN_MAX_HOSTS)
    throw new SandboxError(`a sandbox LAN holds at most ${LAN_MAX_HOSTS} hosts (asked for ${wanted.length})`);
  preflight(log);
  const folder = inspectFolder(dir);
  // an empty folder (mkdtemp) is fine; anything else is someone's files, which `down` would delete
  if (folder.kind === 'foreign' && !folder.empty) throw new SandboxError(`${folder.reason}: refusing to use it for a sandbox`);
  const existing = folder.kind === 'ours' ? folder.state : undefined;
  const kindCount = (s: SandboxState, k: SandboxHostKind) => s.hosts.filter((h) => hostKind(h) === k).length;
  const sorted = (entries: [string, string[]][]) => JSON.stringify(entries.sort(([a], [b]) => a.localeCompare(b)));
  const layoutOf = (hosts: SandboxHost[]) => sorted(hosts.filter((h) => h.reachableFrom).map((h) => [h.name, h.reachableFrom!]));
  const wantedLayout = sorted(Object.entries(opts.private ?? {}));
  const sameReleases = (s: SandboxState) => s.hosts.every((h) => hostKind(h) !== 'debian' || hostRelease(h) === releaseOf(h.name));
  if (
    existing &&
    kindCount(existing, 'debian') === opts.count &&
    sameReleases(existing) &&
    kindCount(existing, 'centos') === centosCount &&
    layoutOf(existing.hosts) === wantedLayout &&
    !!existing.lan === lan &&
    (await isHealthy(existing))
  ) {
    log(`sandbox in ${dir} is already up with ${existing.hosts.length} host(s)`);
    return existing;
  }
  // also what a crashed `up` left: its state file lists the processes it had started
  if (existing) await sandboxDown({ dir, log });
  // Only the bases this sandbox uses are built (each is cached after its first build).
  const bases: Partial<Record<DebianRelease, string>> = {};
  for (const [name, kind] of wanted) {
    const r = releaseOf(name);
    if (kind === 'debian' && !bases[r]) bases[r] = await ensureBase(opts.cacheDir, log, r);
  }
  const base = bases[release] ?? Object.values(bases)[0] ?? '';
  const centosBase = centosCount > 0 ? await ensureCentosBase(opts.cacheDir, log) : undefined;
  const t0 = Date.now();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // again, now that it exists: one made by someone else meanwhile (in /tmp, say) is refused
  checkSandboxFolder(dir);
  const privateKey = join(dir, 'id_ed25519');
  const passwordFile = join(dir, 'smarthost-password');
  // The state file comes first, before any file or process of the sandbox: `down` needs it to act.
  const state: SandboxState = {
    owner: SANDBOX_OWNER,
    dir,
    ready: false,
    processes: [],
    base,
    bases,
    ...(centosBase ? { centosBase } : {}),
    privateKey,
    knownHosts: join(dir, 'known_hosts'),
    smartHost: {
      name: SMART_HOST_NAME,
      user: SMART_HOST_USER,
      passwordFile,
      second: { user: SMART_HOST_SECOND_USER, passwordFile: join(dir, 'smarthost-password-2') },
      socket: join(dir, 'smarthost.sock'),
      storeDir: join(dir, 'messages'),
      caCert: join(dir, 'ca', 'ca.crt'),
    },
    hosts: [],
  };
  writeState(state);
  resetProcessLog(dir);
  if (!existsSync(privateKey)) await local()`ssh-keygen -q -t ed25519 -N ${''} -C mailprov-sandbox -f ${privateKey}`;
  const pubKey = readFileSync(`${privateKey}.pub`, 'utf8');
  const ca = await ensureCa(join(dir, 'ca'));
  state.smartHost.caCert = ca.caCert;
  ensurePasswordFile(passwordFile);
  ensurePasswordFile(state.smartHost.second.passwordFile);
  mkdirSync(state.smartHost.storeDir, { recursive: true });
  await startSmartHost(state);
  if (lan) await startLan(state);
  const caPem = readFileSync(ca.caCert, 'utf8');
  for (const [index, [name, kind]] of wanted.entries()) {
    const host: SandboxHost = { name, fqdn: `${name}.${SANDBOX_DOMAIN}`, port: 22, dir: join(dir, 'hosts', name), kind };
    if (kind === 'debian') host.release = releaseOf(name);
    if (lan) host.lanAddress = lanHostAddress(index);
    const from = layout.get(name);
    // a host with a port gets it from the forwarder, below
    if (from) host.reachableFrom = from;
    state.hosts.push(host);
  }
  // every host's files once all are known: a host's /etc/hosts names the private hosts it reaches
  for (const host of state.hosts) {
    rmSync(host.dir, { recursive: true, force: true });
    prepareUpper(state, host, pubKey, caPem);
  }
  log(`${state.hosts.length} host(s) prepared in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // The forwarder first: its ports are the hosts' (recorded before any host starts).
  await startForwarder(state);
  writeState(state);
  // Hosts start in parallel, a few dozen at a time; each is ready when its sshd answers through the forwarder.
  await eachLimit(state.hosts, START_AT_ONCE, (h) => startHost(state, h));
  const known = state.hosts.map((h) => {
    const pub = readFileSync(join(h.dir, 'upper/etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ');
    // a private host under the name its jump hosts reach it by, as ssh records it
    return `${h.reachableFrom ? h.fqdn : `[127.0.0.1]:${h.port}`} ${pub[0]} ${pub[1]}`;
  });
  writeFileSync(state.knownHosts, known.join('\n') + '\n', { mode: 0o600 });
  state.ready = true;
  writeState(state);
  log(`sandbox up: ${state.hosts.length} host(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s (state in ${dir})`);
  return state;
}

async function isHealthy(state: SandboxState): Promise<boolean> {
  // a sandbox from before the second account: started again, so that its stand-in knows the account
  if (!state.ready || state.smartHost.second === undefined) return false;
  try {
    await Promise.all(state.hosts.map((h) => waitForSsh(sshEndpoint(h), 1500)));
    return existsSync(state.smartHost.socket);
  } catch {
    return false;
  }
}

export interface HostStatus {
  name: string;
  port: number;
  /** For a private host: the hosts that reach it (it has no port here). */
  reachableFrom?: string[];
  up: boolean;
}

export async function sandboxStatus(
  dir = defaultStateDir(),
): Promise<{ state?: SandboxState; hosts: HostStatus[]; processes: number; messages: number }> {
  const state = readState(dir);
  const hosts: HostStatus[] = [];
  for (const h of state?.hosts ?? []) {
    hosts.push({
      name: h.name,
      port: h.port,
      ...(h.reachableFrom ? { reachableFrom: h.reachableFrom } : {}),
      up: await waitForSsh(sshEndpoint(h), 1000).then(
        () => true,
        () => false,
      ),
    });
  }
  const messages =
    state && existsSync(state.smartHost.storeDir) ? readdirSync(state.smartHost.storeDir).filter((f) => f.endsWith('.json')).length : 0;
  const folder = inspectFolder(resolve(dir));
  return { state, hosts, processes: folder.kind === 'ours' ? sandboxProcesses(folder.state).length : 0, messages };
}

export async function sandboxDown(opts: { dir?: string; log?: (line: string) => void } = {}): Promise<void> {
  const dir = resolve(opts.dir ?? defaultStateDir());
  const log = opts.log ?? (() => {});
  const folder = inspectFolder(dir);
  if (folder.kind === 'absent') {
    log(`no sandbox in ${dir}`);
    return;
  }
  if (folder.kind === 'foreign') throw new SandboxError(`${folder.reason}: refusing to delete it`);
  // returns once every recorded process and every descendant of theirs has exited
  const { left, refused } = await killRecorded(folder.state.processes);
  if (refused.length)
    throw new SandboxError(
      `refusing to stop ${refused.length} process(es) the state of ${dir} names, which are not in the sandbox's namespaces: ` +
        `${refused
          .slice(0, 20)
          .map((r) => `${describeProcess(r.process)}: ${r.why}`)
          .join(
            '; ',
          )}${refused.length > 20 ? '; ...' : ''}; ${dir} is left as it is (stop the sandbox's own processes and delete it by hand, once checked)`,
    );
  if (left.length)
    throw new SandboxError(
      `could not stop ${left.length} sandbox process(es), still running after SIGKILL: ${left.slice(0, 20).map(describeProcess).join(', ')}${left.length > 20 ? ', ...' : ''}; ${dir} is left as it is`,
    );
  // none expected (a host mounts inside its own mount namespace), but never delete through a mount
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes(` ${dir}/`));
  for (const m of mounts.reverse()) await local()`umount -l ${m.split(' ')[1]}`;
  rmSync(dir, { recursive: true, force: true });
  log(`sandbox in ${dir} is down`);
}
