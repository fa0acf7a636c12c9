// From an inventory's hosts to SSH targets: what the inventory says (host, then defaults) wins, then
// what ssh_config says for the host's address (looked up as `ssh <address>` would), then mailprov's
// defaults. Jump chains are resolved here, whole: `jump` (an inventory host, or [user@]host[:port],
// comma separated) or ssh_config's ProxyJump; the first hop's own jump comes before it, as with ssh -J.
import { existsSync } from 'node:fs';
import { hostname, homedir, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { InventoryError, MailprovError } from '../errors.ts';
import { parseJumpSpec, type JumpHop } from '../transport/jump.ts';
import {
  resolveSshConfig,
  where,
  type SshConfigEnv,
  type SshConfigFile,
  type SshConfigResult,
  type SshConfigWarning,
} from '../transport/ssh-config.ts';
import { expandHome, type HostKeyPolicy, type SshTarget } from '../transport/target.ts';
import type { InventoryWarning } from './warning.ts';

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

/** Warnings said once each, with every host (or jump host) they concern. */
class Warnings {
  private readonly byMessage = new Map<string, { hosts: Set<string>; jumpHosts: Set<string> }>();

  add(message: string, host: string, jumpHost: boolean): void {
    if (!this.byMessage.has(message)) this.byMessage.set(message, { hosts: new Set(), jumpHosts: new Set() });
    this.byMessage.get(message)![jumpHost ? 'jumpHosts' : 'hosts'].add(host);
  }

  list(): TargetWarning[] {
    return [...this.byMessage].map(([message, w]) => ({ message, hosts: [...w.hosts], jumpHosts: [...w.jumpHosts] }));
  }
}

/** What every step of the resolution reads: the input, ssh's environment, and where warnings go. */
interface Resolution {
  input: TargetsInput;
  env: SshConfigEnv;
  exists: (path: string) => boolean;
  warnings: Warnings;
  /** The inventory's hosts as endpoints, their jumps not yet resolved. */
  base: Map<string, Endpoint>;
}

export function resolveTargets(input: TargetsInput): { targets: Map<string, SshTarget>; warnings: TargetWarning[] } {
  const r: Resolution = {
    input,
    env: input.env ?? defaultSshConfigEnv(),
    exists: input.exists ?? existsSync,
    warnings: new Warnings(),
    base: new Map(),
  };
  for (const [name, h] of Object.entries(input.hosts)) r.base.set(name, endpoint(r, name, h.address, h.settings, `hosts.${name}.jump`));
  const targets = new Map<string, SshTarget>();
  for (const [name, end] of r.base) targets.set(name, withJumpChain(r, name, end));
  return { targets, warnings: r.warnings.list() };
}

/**
 * One endpoint: the settings given, then ssh_config for the address, then the defaults.
 * `fieldOfJump` is where its jump would be set in the inventory; undefined for a jump host that is
 * no inventory host.
 */
function endpoint(r: Resolution, name: string, address: string, given: ConnectionSettings, fieldOfJump?: string): Endpoint {
  const file = r.input.sshConfig ? resolveSshConfig(r.input.sshConfig, address, given, r.env) : undefined;
  const adHoc = fieldOfJump === undefined;
  for (const w of file?.warnings ?? []) r.warnings.add(sshWarning(w), name, adHoc);
  const fromFile = existingIdentityFiles(r, file?.identityFiles ?? [], name, adHoc);
  const target = mergeTarget(name, address, given, file, fromFile);
  const jump = jumpOf(given, file, fieldOfJump);
  return jump ? { target, jump } : { target };
}

/** ssh_config's IdentityFile lines naming a file that exists (ssh skips the others, and so do we, saying so). */
function existingIdentityFiles(r: Resolution, paths: string[], name: string, adHoc: boolean): string[] {
  return paths.filter((path) => {
    if (r.exists(path)) return true;
    r.warnings.add(`ssh_config: IdentityFile ${path} does not exist: skipped`, name, adHoc);
    return false;
  });
}

/** Each field: the inventory's value, else ssh_config's, else mailprov's default. */
function mergeTarget(
  name: string,
  address: string,
  given: ConnectionSettings,
  file: SshConfigResult | undefined,
  fromFile: string[],
): SshTarget {
  return {
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
}

/** The endpoint's own jump: the inventory's `jump` (inventory hosts only), else ssh_config's ProxyJump. */
function jumpOf(given: ConnectionSettings, file: SshConfigResult | undefined, fieldOfJump?: string): Endpoint['jump'] {
  if (fieldOfJump !== undefined && given.jump !== undefined) return { spec: given.jump, from: fieldOfJump, inventory: true };
  if (file?.proxyJump)
    return { spec: file.proxyJump.value, from: `${file.proxyJump.keyword} at ${where(file.proxyJump)}`, inventory: false };
  return undefined;
}

/**
 * A hop of a jump chain as an endpoint. A jump host that is not an inventory host is set up as one
 * would be: the defaults, then ssh_config. Its own jump comes from ssh_config only: `jump` in the
 * defaults means "the hosts", not their jump hosts.
 */
function hopEndpoint(r: Resolution, hop: JumpHop, inventoryNames: boolean): Endpoint {
  const named = r.base.get(hop.host);
  if (inventoryNames && hop.user === undefined && hop.port === undefined && named) {
    return { ...named, target: { ...named.target, sudo: false, sudoPassword: undefined } };
  }
  const given: ConnectionSettings = {
    ...r.input.defaults,
    jump: undefined,
    sudo: undefined,
    sudoPassword: undefined,
    ...(hop.user !== undefined ? { user: hop.user } : {}),
    ...(hop.port !== undefined ? { port: hop.port } : {}),
  };
  return endpoint(r, hop.spec, hop.host, given);
}

const identity = (t: SshTarget) => `${t.user}@${t.address}:${t.port}`;

/** The whole chain for an endpoint's jump, first hop first. `seen`: who asked, to catch a loop. */
function jumpChain(r: Resolution, owner: Endpoint, seen: string[]): SshTarget[] {
  if (!owner.jump) return [];
  const { spec, from, inventory } = owner.jump;
  let hops: JumpHop[];
  try {
    hops = parseJumpSpec(spec);
  } catch (err) {
    throw new MailprovError(`${from}: ${(err as Error).message}`);
  }
  if (hops.length === 0) return [];
  const ends = hops.map((h) => hopEndpoint(r, h, inventory));
  for (const e of ends) {
    if (seen.includes(identity(e.target)))
      throw new MailprovError(
        `${from}: the jump chain comes back to ${e.target.name} (${[...seen, identity(e.target)].join(' -> ')}); ` +
          "a jump host that `defaults` or a `Host *` would send through itself needs jump: 'none' (ProxyJump none)",
      );
  }
  if (seen.length + hops.length > MAX_HOPS) throw new MailprovError(`${from}: more than ${MAX_HOPS} jump hosts`);
  // only the first hop's own jump applies: the later ones are reached through the hops before them
  const before = jumpChain(r, ends[0], [...seen, identity(ends[0].target)]);
  return [...before, ...ends.map((e) => e.target)];
}

/** An inventory host's target with its jump chain, or an InventoryError naming the field at fault. */
function withJumpChain(r: Resolution, name: string, end: Endpoint): SshTarget {
  let chain: SshTarget[];
  try {
    chain = jumpChain(r, end, [identity(end.target)]);
  } catch (err) {
    throw new InventoryError(
      r.input.file,
      end.jump?.inventory ? `hosts.${name}.jump` : `hosts.${name}`,
      "jump hosts as an inventory host's name or [user@]host[:port], comma separated, that do not loop",
      (err as Error).message,
    );
  }
  return chain.length ? { ...end.target, jump: chain } : end.target;
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
