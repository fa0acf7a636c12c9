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
// The parts it runs: the state store (state.ts), the daemons it records (daemon.ts), each host's boot
// (boot.ts), how hosts are reached (network.ts), the stand-in smart host's identity (identity.ts).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SandboxError } from '../errors.ts';
import { DEFAULT_RELEASE, type DebianRelease, ensureBase } from './base.ts';
import { prepareUpper, START_AT_ONCE, sshEndpoint, startHost, waitForSsh } from './boot.ts';
import { ensureCa } from './ca.ts';
import { ensureCentosBase } from './centos/base.ts';
import {
  ensurePasswordFile,
  SANDBOX_DOMAIN,
  SMART_HOST_NAME,
  SMART_HOST_SECOND_USER,
  SMART_HOST_USER,
  startSmartHost,
} from './identity.ts';
import { LAN_MAX_HOSTS, lanHostAddress } from './lan.ts';
import { eachLimit } from './limit.ts';
import { local } from './local.ts';
import { privateLayout, startForwarder, startLan } from './network.ts';
import { checkSandboxFolder } from './ownership.ts';
import { preflight } from './preflight.ts';
import { resetProcessLog } from './process-log.ts';
import { describeProcess, killRecorded } from './processes.ts';
import {
  defaultStateDir,
  hostKind,
  hostRelease,
  inspectFolder,
  readState,
  SANDBOX_OWNER,
  type SandboxHost,
  type SandboxHostKind,
  type SandboxState,
  sandboxProcesses,
  writeState,
} from './state.ts';

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
    opts.private,
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
