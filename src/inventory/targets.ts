// From an inventory's hosts to SSH targets: what the inventory says (host, then defaults) wins, then
// what ssh_config says for the host's address (looked up as `ssh <address>` would), then mailprov's
// defaults. Jump chains are resolved here, whole: `jump` (an inventory host, or [user@]host[:port],
// comma separated) or ssh_config's ProxyJump; the first hop's own jump comes before it, as with ssh -J.
import { existsSync } from 'node:fs';
import { hostname, homedir, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { InventoryError, MailprovError } from '../errors.ts';
import { parseJumpSpec, type JumpHop } from '../transport/jump.ts';
import { resolveSshConfig, where, type SshConfigEnv, type SshConfigFile, type SshConfigWarning } from '../transport/ssh-config.ts';
import { expandHome, type HostKeyPolicy, type SshTarget } from '../transport/ssh.ts';
import type { InventoryWarning } from './ansible.ts';

/** The connection fields of a host, defaults applied; paths already resolved against the inventory. */
export interface ConnectionSettings {
  port?: number;
  user?: string;
  privateKey?: string;
  /** Decrypts an encrypted key (from privateKeyPassphraseEnv). */
  privateKeyPassphrase?: string;
  /** The environment variable the passphrase comes from, for messages. */
  privateKeyPassphraseEnv?: string;
  knownHosts?: string;
  hostKeyPolicy?: HostKeyPolicy;
  sudo?: boolean;
  sudoPassword?: string;
  connectTimeoutMs?: number;
  jump?: string;
}

export interface TargetsInput {
  /** For messages: the inventory file. */
  file: string;
  /** Per inventory host: its address and its settings (defaults applied). */
  hosts: Record<string, { address: string; settings: ConnectionSettings }>;
  /** The inventory's defaults: what a jump host that is no inventory host gets. */
  defaults: ConnectionSettings;
  sshConfig?: SshConfigFile;
  env?: SshConfigEnv;
  /** Whether a key file exists (ssh skips IdentityFile lines naming none). */
  exists?: (path: string) => boolean;
}

/** A warning, and every host it concerns: printed once. */
export interface TargetWarning {
  message: string;
  hosts: string[];
  /** Jump hosts that are no inventory host, named as written. */
  jumpHosts: string[];
}

export function defaultSshConfigEnv(): SshConfigEnv {
  let localUser = process.env.USER ?? 'root';
  try {
    localUser = userInfo().username;
  } catch {
    /* no passwd entry: keep $USER */
  }
  return { home: homedir(), localUser, localHost: hostname(), uid: process.getuid?.() ?? 0, env: process.env, defaultUser: 'root' };
}

const DEFAULT_PORT = 22;
const DEFAULT_USER = 'root';
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_HOPS = 10;

interface Endpoint {
  target: SshTarget;
  /** The jump this endpoint's own settings name, and where that was said. */
  jump?: { spec: string; from: string; inventory: boolean };
}

export function resolveTargets(input: TargetsInput): { targets: Map<string, SshTarget>; warnings: TargetWarning[] } {
  const env = input.env ?? defaultSshConfigEnv();
  const exists = input.exists ?? existsSync;
  const warnings = new Map<string, { hosts: Set<string>; jumpHosts: Set<string> }>();
  const warn = (message: string, host: string, jumpHost: boolean) => {
    if (!warnings.has(message)) warnings.set(message, { hosts: new Set(), jumpHosts: new Set() });
    warnings.get(message)![jumpHost ? 'jumpHosts' : 'hosts'].add(host);
  };

  /** One endpoint: the settings given, then ssh_config for the address, then the defaults. */
  /** `fieldOfJump` is where its jump would be set in the inventory; undefined for a jump host that is no inventory host. */
  const endpoint = (name: string, address: string, given: ConnectionSettings, fieldOfJump?: string): Endpoint => {
    const file = input.sshConfig ? resolveSshConfig(input.sshConfig, address, given, env) : undefined;
    const adHoc = fieldOfJump === undefined;
    for (const w of file?.warnings ?? []) warn(sshWarning(w), name, adHoc);
    const fromFile = (file?.identityFiles ?? []).filter((path) => {
      if (exists(path)) return true;
      warn(`ssh_config: IdentityFile ${path} does not exist: skipped`, name, adHoc);
      return false;
    });
    const target: SshTarget = {
      name,
      address: file?.hostName ?? address,
      port: given.port ?? file?.port ?? DEFAULT_PORT,
      user: given.user ?? file?.user ?? DEFAULT_USER,
      privateKey: given.privateKey ?? (fromFile[0] !== undefined ? resolve(fromFile[0]) : undefined),
      privateKeyPassphrase: given.privateKeyPassphrase,
      privateKeyPassphraseEnv: given.privateKeyPassphraseEnv,
      ...(given.privateKey === undefined && fromFile.length > 1 ? { identityFiles: fromFile.slice(1).map((p) => resolve(p)) } : {}),
      ...(file?.identitiesOnly !== undefined ? { identitiesOnly: file.identitiesOnly } : {}),
      knownHosts: given.knownHosts ?? (file?.knownHosts !== undefined ? resolve(file.knownHosts) : expandHome('~/.ssh/known_hosts')),
      hostKeyPolicy: given.hostKeyPolicy ?? file?.hostKeyPolicy ?? 'strict',
      sudo: given.sudo ?? false,
      sudoPassword: given.sudoPassword,
      connectTimeoutMs: given.connectTimeoutMs ?? file?.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    if (!adHoc && given.jump !== undefined) return { target, jump: { spec: given.jump, from: fieldOfJump, inventory: true } };
    if (file?.proxyJump)
      return {
        target,
        jump: { spec: file.proxyJump.value, from: `${file.proxyJump.keyword} at ${where(file.proxyJump)}`, inventory: false },
      };
    return { target };
  };

  const base = new Map<string, Endpoint>();
  for (const [name, h] of Object.entries(input.hosts)) base.set(name, endpoint(name, h.address, h.settings, `hosts.${name}.jump`));

  // A jump host that is not an inventory host is set up as one would be: the defaults, then ssh_config.
  // Its own jump comes from ssh_config only: `jump` in the defaults means "the hosts", not their jump hosts.
  const hopDefaults: ConnectionSettings = { ...input.defaults, jump: undefined, sudo: undefined, sudoPassword: undefined };
  const hopEndpoint = (hop: JumpHop, inventoryNames: boolean): Endpoint => {
    if (inventoryNames && hop.user === undefined && hop.port === undefined && base.has(hop.host)) {
      const named = base.get(hop.host)!;
      return { ...named, target: { ...named.target, sudo: false, sudoPassword: undefined } };
    }
    const given = {
      ...hopDefaults,
      ...(hop.user !== undefined ? { user: hop.user } : {}),
      ...(hop.port !== undefined ? { port: hop.port } : {}),
    };
    return endpoint(hop.spec, hop.host, given);
  };

  const identity = (t: SshTarget) => `${t.user}@${t.address}:${t.port}`;

  /** The whole chain for an endpoint's jump, first hop first. `seen`: who asked, to catch a loop. */
  const chainOf = (owner: Endpoint, seen: string[]): SshTarget[] => {
    if (!owner.jump) return [];
    const { spec, from, inventory } = owner.jump;
    let hops: JumpHop[];
    try {
      hops = parseJumpSpec(spec);
    } catch (err) {
      throw new MailprovError(`${from}: ${(err as Error).message}`);
    }
    if (hops.length === 0) return [];
    const ends = hops.map((h) => hopEndpoint(h, inventory));
    for (const e of ends) {
      if (seen.includes(identity(e.target)))
        throw new MailprovError(
          `${from}: the jump chain comes back to ${e.target.name} (${[...seen, identity(e.target)].join(' -> ')}); ` +
            "a jump host that `defaults` or a `Host *` would send through itself needs jump: 'none' (ProxyJump none)",
        );
    }
    if (seen.length + hops.length > MAX_HOPS) throw new MailprovError(`${from}: more than ${MAX_HOPS} jump hosts`);
    // only the first hop's own jump applies: the later ones are reached through the hops before them
    const before = chainOf(ends[0], [...seen, identity(ends[0].target)]);
    return [...before, ...ends.map((e) => e.target)];
  };

  const targets = new Map<string, SshTarget>();
  for (const [name, end] of base) {
    let chain: SshTarget[];
    try {
      chain = chainOf(end, [identity(end.target)]);
    } catch (err) {
      const why = (err as Error).message;
      throw new InventoryError(
        input.file,
        end.jump?.inventory ? `hosts.${name}.jump` : `hosts.${name}`,
        "jump hosts as an inventory host's name or [user@]host[:port], comma separated, that do not loop",
        why,
      );
    }
    targets.set(name, chain.length ? { ...end.target, jump: chain } : end.target);
  }
  return {
    targets,
    warnings: [...warnings].map(([message, w]) => ({ message, hosts: [...w.hosts], jumpHosts: [...w.jumpHosts] })),
  };
}

function sshWarning(w: SshConfigWarning): string {
  return `ssh_config ${where(w)}: ${w.message}`;
}

/** A warning as one line: the hosts named once, at the end. */
export function formatWarning(w: TargetWarning): string {
  const list = (one: string, names: string[]) => (names.length ? [`${names.length === 1 ? one : `${one}s`} ${names.join(', ')}`] : []);
  return `${w.message} (${[...list('host', w.hosts), ...list('jump host', w.jumpHosts)].join('; ')})`;
}

/** A warning as the inventory's warnings are said: once, with its inventory hosts and its other jump hosts. */
export function targetWarning(file: string, w: TargetWarning): InventoryWarning {
  return { file, message: w.message, hosts: w.hosts, ...(w.jumpHosts.length ? { jumpHosts: w.jumpHosts } : {}) };
}
