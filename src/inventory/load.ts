// Loads an inventory (a .ts module whose default export is defineInventory({...}), or an Ansible
// host list, INI or YAML) and resolves it into hosts with their connection settings and the playbooks
// bound to them. Every mistake is an InventoryError naming file, field and expectation; what is only
// doubtful is a warning, said once for the inventory.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { InventoryError } from '../errors.ts';
import { DEFAULT_KEEP_GENERATIONS } from '../journal/retention.ts';
import { registerSecret } from '../secrets/index.ts';
import { loadSshConfig, nodeSshConfigFs, type SshConfigFile } from '../transport/ssh-config.ts';
import { expandHome, type SshTarget } from '../transport/target.ts';
import type { AnsibleInventory, InventoryWarning } from './ansible.ts';
import { playbookFor, prepareBinding, type BoundPlaybook, type BuildCache } from './bindings.ts';
import { parseIniInventory } from './ini.ts';
import { describeIssue, inventorySchema, zodPath, type HostInput, type InventoryInput } from './schema.ts';
import { resolveTargets, targetWarning, type ConnectionSettings } from './targets.ts';
import { parseYamlInventory } from './yaml.ts';
import { traced, tracedSync } from '../trace.ts';
import { cachedInventory, cacheKey, digestOf, inventoryCacheDir, sha256, storeInventory } from './compile-cache.ts';

export type { InventoryWarning } from './ansible.ts';

export type { BoundPlaybook } from './bindings.ts';

export interface ResolvedHost {
  name: string;
  groups: string[];
  /** defaults.vars < group vars (groups by name, later wins) < the host's own; an INI host's are merged already. */
  vars: Record<string, unknown>;
  target: SshTarget;
  playbooks: BoundPlaybook[];
  /** How many generations the host's journal keeps (older ones are pruned after a successful run). */
  keepGenerations: number;
}

export interface Inventory {
  file: string;
  hosts: ResolvedHost[];
  /**
   * Said once for the inventory (the CLI prints them before the run), each naming the hosts it concerns:
   * ignored Ansible variables, unverified host keys, ssh_config lines mailprov reads its own way.
   */
  warnings: InventoryWarning[];
}

/** Marks an inventory for the loader; returns it unchanged (typed for editors). */
export function defineInventory(inventory: InventoryInput): InventoryInput {
  return inventory;
}

/** Reads an Ansible INI host list into the `hosts` of a TS inventory; its warnings are said with the inventory's. */
export function hostsFromIni(path: string | URL): Record<string, HostInput> {
  return collect(readAnsibleHosts(path, 'ini'));
}

/** Reads an Ansible YAML inventory (all: / children: / hosts: / vars:) into the `hosts` of a TS inventory. */
export function hostsFromYaml(path: string | URL): Record<string, HostInput> {
  return collect(readAnsibleHosts(path, 'yaml'));
}

/** Which Ansible format a file is in: as Ansible's plugins decide, YAML by its extension, INI otherwise. */
export function ansibleFormat(file: string): 'ini' | 'yaml' {
  return /\.(ya?ml|json)$/i.test(file) ? 'yaml' : 'ini';
}

interface AnsibleHosts {
  hosts: Record<string, HostInput>;
  warnings: InventoryWarning[];
}

export function readAnsibleHosts(path: string | URL, format: 'ini' | 'yaml'): AnsibleHosts {
  const file = path instanceof URL ? path.pathname : path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InventoryError(file, '(file)', `a readable ${format === 'ini' ? 'INI' : 'YAML'} inventory`, 'cannot read it');
  }
  const parsed: AnsibleInventory = format === 'ini' ? parseIniInventory(text, file) : parseYamlInventory(text, file);
  const unread = ['group_vars', 'host_vars'].filter((d) => existsSync(join(dirname(file), d)));
  if (unread.length) {
    parsed.warnings.push({
      file,
      message: `${unread.map((d) => `${d}/`).join(' and ')} beside the inventory ${unread.length === 1 ? 'is' : 'are'} not read: mailprov reads the variables in the inventory file only`,
    });
  }
  const hosts: Record<string, HostInput> = {};
  for (const [name, { groups, vars, ...fields }] of Object.entries(parsed.hosts)) {
    hosts[name] = { ...fields, address: fields.address ?? name, groups, vars };
  }
  return { hosts, warnings: parsed.warnings };
}

// Warnings of host lists read by a TS inventory (hostsFromIni inside its module) have no return
// value to travel in: they are kept here while loadInventory imports the module, and said with its own.
let collected: InventoryWarning[] = [];

function collect({ hosts, warnings }: AnsibleHosts): Record<string, HostInput> {
  collected.push(...warnings);
  return hosts;
}

async function collecting<T>(load: () => Promise<T>): Promise<[T, InventoryWarning[]]> {
  collected = [];
  try {
    const value = await load();
    return [value, collected];
  } finally {
    collected = [];
  }
}

export async function loadInventoryModule(file: string): Promise<unknown> {
  try {
    const mod = process.env.MAILPROV_BUNDLE
      ? await importBundled(file, process.env.MAILPROV_BUNDLE)
      : await import(pathToFileURL(file).href);
    return mod.default;
  } catch (err) {
    if (err instanceof InventoryError) throw err;
    const e = err as Error & { errors?: { text: string; location?: { line: number } }[] };
    const detail = e.errors?.length
      ? `${e.errors[0].text}${e.errors[0].location ? ` at line ${e.errors[0].location.line}` : ''}`
      : e.message.split('\n')[0];
    throw new InventoryError(file, '(module)', 'a TypeScript module that loads and default-exports defineInventory({...})', detail);
  }
}

/**
 * With the CLI running from its bundle, an inventory (and the TypeScript files it imports) is
 * bundled by esbuild into one module whose `mailprov` imports point at the running bundle: one copy
 * of every class, and no loader hooks on the start-up path. The module is cached by content
 * (compile-cache.ts): an unchanged inventory starts no esbuild at all.
 */
async function importBundled(file: string, dist: string): Promise<{ default?: unknown }> {
  const cacheDir = inventoryCacheDir();
  const key = cacheDir ? cacheKey(file, compilerId(dist)) : undefined;
  const cached = cacheDir && key ? cachedInventory(cacheDir, key) : undefined;
  // a query of its own per load: the module is evaluated again, as a fresh file would be (its
  // hostsFromIni() warnings are collected again, its files read again)
  if (cached) return import(`${pathToFileURL(cached).href}?load=${++loads}`);
  const { code, inputs } = await compileInventory(file, dist);
  if (cacheDir && key) storeInventory(cacheDir, key, code, inputs);
  const tmp = join(tmpdir(), `mailprov-inventory-${process.pid}-${Date.now()}.mjs`);
  writeFileSync(tmp, code, { mode: 0o600 });
  try {
    return await import(pathToFileURL(tmp).href);
  } finally {
    rmSync(tmp, { force: true });
  }
}

let loads = 0;

/** What compiles an inventory: the running bundle (its folder, when it was built) and esbuild's version. */
function compilerId(dist: string): string {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  const esbuild = (() => {
    try {
      return read(createRequire(join(dist, 'cli.mjs')).resolve('esbuild/package.json'));
    } catch {
      return '';
    }
  })();
  return `${dist}\0${read(join(dist, '.built'))}\0${(/"version":\s*"([^"]+)"/.exec(esbuild) ?? [])[1] ?? ''}`;
}

/**
 * The bundled module, and a digest of each file it was compiled from: of the very content esbuild
 * was given for the inventory's own files (read here, below), of what is on disk now for the others
 * (packages under node_modules, which esbuild reads itself).
 */
async function compileInventory(file: string, dist: string): Promise<{ code: string; inputs: Record<string, string> }> {
  const { build } = await import('esbuild');
  const target = (spec: string) => {
    const rest = spec.slice('mailprov'.length);
    if (rest === '') return join(dist, 'index.mjs');
    if (rest === '/sandbox') return join(dist, 'sandbox.mjs');
    if (rest.startsWith('/playbooks/')) return join(dist, `${rest.slice(1).replace(/\.ts$/, '')}.mjs`);
    return undefined;
  };
  const inputs: Record<string, string> = {};
  const out = await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
    nodePaths: [join(dist, '..', 'node_modules')],
    plugins: [
      {
        name: 'mailprov-self',
        setup(b) {
          b.onResolve({ filter: /^mailprov(\/.*)?$/ }, (args) => {
            const path = target(args.path);
            return path ? { path: pathToFileURL(path).href, external: true } : { errors: [{ text: `no module ${args.path} in mailprov` }] };
          });
        },
      },
      {
        // the bundle runs from a temporary file: each file's import.meta.url is its own, as without
        // a bundle, so that hostsFromIni(new URL('./hosts.ini', import.meta.url)) finds the file
        name: 'mailprov-meta-url',
        setup(b) {
          b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
            if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
            const source = readFileSync(args.path);
            inputs[args.path] = sha256(source);
            const text = source.toString('utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
            return { contents: text, loader: /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js' };
          });
        },
      },
    ],
  });
  for (const rel of Object.keys(out.metafile.inputs)) {
    const path = resolve(rel);
    inputs[path] ??= digestOf(path) ?? '';
  }
  return { code: out.outputFiles[0].text, inputs };
}

export interface LoadOptions {
  /** For .ini inventories: a .ts file whose default export is the `playbooks` bindings array. */
  withPlaybooks?: string;
  /** An ssh_config file to read (--ssh-config), false for none (--no-ssh-config); default ~/.ssh/config if it exists. */
  sshConfig?: string | false;
}

/** The ssh_config a run reads: the one named (which must exist), or ~/.ssh/config when there is one. */
export function readSshConfigOption(option: string | false | undefined): SshConfigFile | undefined {
  if (option === false) return undefined;
  const home = homedir();
  const path = option === undefined ? join(home, '.ssh', 'config') : resolve(expandHome(option));
  if (option === undefined && !existsSync(path)) return undefined;
  return loadSshConfig(path, nodeSshConfigFs(home));
}

export async function loadInventory(fileArg: string, opts: LoadOptions = {}): Promise<Inventory> {
  const file = resolve(fileArg);
  if (!existsSync(file)) throw new InventoryError(file, '(file)', 'an existing inventory file (.ts, or Ansible INI or YAML)', 'not found');
  const [raw, warnings] = await collecting(async () => {
    if (/\.[cm]?[tj]s$/.test(file)) return traced('inventory compile', () => loadInventoryModule(file));
    const hosts = collect(readAnsibleHosts(file, ansibleFormat(file)));
    return { hosts, playbooks: opts.withPlaybooks ? await loadInventoryModule(resolve(opts.withPlaybooks)) : [] };
  });
  if (raw === undefined)
    throw new InventoryError(file, 'default export', 'defineInventory({...}) as the default export', 'the module exports no default');
  const sshConfig = tracedSync('ssh_config and known_hosts', () => readSshConfigOption(opts.sshConfig));
  const inventory = resolveInventory(raw, file, { sshConfig });
  return { ...inventory, warnings: [...warnings, ...inventory.warnings] };
}

export interface ResolveOptions {
  /** Parsed ssh_config: its values apply where the inventory says nothing. */
  sshConfig?: SshConfigFile;
}

export function resolveInventory(raw: unknown, file: string, opts: ResolveOptions = {}): Inventory {
  const parsed = inventorySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InventoryError(file, zodPath('', issue.path), describeIssue(issue));
  }
  const inv = parsed.data;
  const base = dirname(file);
  const rel = (p: string | undefined) => (p === undefined ? undefined : isAbsolute(expandHome(p)) ? expandHome(p) : resolve(base, p));
  const defaults = inv.defaults ?? {};
  const names = Object.keys(inv.hosts);
  const hostNames = new Set(names);
  const groups = new Set(names.flatMap((n) => inv.hosts[n].groups ?? []));
  const groupVars = inv.groups ?? {};
  for (const g of Object.keys(groupVars)) {
    if (g === 'all') throw new InventoryError(file, 'groups.all', 'a group of some hosts', 'vars for every host go in defaults.vars');
    if (!groups.has(g))
      throw new InventoryError(file, `groups.${g}`, 'a group some host is in (hosts.<name>.groups)', `no host is in "${g}"`);
  }

  // Validate each binding once; hosts with the same settings share one build (bindings.ts).
  const bindings = inv.playbooks.map((b, i) => {
    const targets = Array.isArray(b.on) ? b.on : [b.on];
    for (const t of targets) {
      if (t !== 'all' && !groups.has(t) && !hostNames.has(t)) {
        throw new InventoryError(file, `playbooks.${i}.on`, '"all", a group or a host of this inventory', `"${t}" is neither`);
      }
    }
    return prepareBinding(file, i, targets, b.use);
  });
  const cache: BuildCache = new Map();

  const settings = (fields: typeof defaults): ConnectionSettings => {
    const sudoPassword = fields.sudoPasswordEnv ? process.env[fields.sudoPasswordEnv] : undefined;
    if (sudoPassword) registerSecret(sudoPassword);
    const passphraseEnv = fields.privateKeyPassphraseEnv;
    // empty counts as unset: no key is encrypted with an empty passphrase
    const passphrase = passphraseEnv ? process.env[passphraseEnv] || undefined : undefined;
    if (passphrase) registerSecret(passphrase);
    return {
      port: fields.port,
      user: fields.user,
      privateKey: rel(fields.privateKey),
      privateKeyPassphrase: passphrase,
      privateKeyPassphraseEnv: passphraseEnv,
      knownHosts: rel(fields.knownHosts),
      hostKeyPolicy: fields.hostKeyPolicy,
      sudo: fields.sudo,
      sudoPassword,
      connectTimeoutMs: fields.connectTimeoutMs,
      jump: fields.jump,
    };
  };
  const { targets, warnings } = resolveTargets({
    file,
    hosts: Object.fromEntries(
      names.map((n) => [n, { address: inv.hosts[n].address, settings: settings({ ...defaults, ...stripUndefined(inv.hosts[n]) }) }]),
    ),
    defaults: settings(defaults),
    sshConfig: opts.sshConfig,
  });

  // Two names for one machine (the same address and port, reached the same way) would apply twice to it, concurrently.
  const seen = new Map<string, string>();
  for (const name of names) {
    const t = targets.get(name)!;
    const via = (t.jump ?? []).map((j) => `${j.address}:${j.port} -> `).join('');
    const key = `${via}${t.address}:${t.port}`;
    if (seen.has(key))
      throw new InventoryError(file, `hosts.${name}`, 'a host listed once', `same address and port as hosts.${seen.get(key)} (${key})`);
    seen.set(key, name);
  }

  const hosts: ResolvedHost[] = names.map((name) => {
    const h = inv.hosts[name];
    const hostGroups = h.groups ?? [];
    const merged = { ...defaults, ...stripUndefined(h) };
    const vars = mergeVars(defaults.vars, hostGroups, groupVars, h.vars);
    const view = { name, groups: hostGroups, vars };
    const playbooks = bindings
      .filter((b) => b.targets.some((t) => t === 'all' || t === name || hostGroups.includes(t)))
      .map((b) => playbookFor(file, b, view, cache));
    const keepGenerations = merged.keepGenerations ?? DEFAULT_KEEP_GENERATIONS;
    return { name, groups: hostGroups, vars, target: targets.get(name)!, playbooks, keepGenerations };
  });
  return { file, hosts, warnings: [...warnings.map((w) => targetWarning(file, w)), ...unverifiedKeys(hosts, file)] };
}

/**
 * known_hosts /dev/null (Ansible's `-o UserKnownHostsFile=/dev/null`) with accept-new: any key is
 * accepted on first contact and none is kept, so a host's key is never checked against an earlier one.
 * mailprov does what the inventory says, remembering keys for the run only, and says so loudly.
 */
function unverifiedKeys(hosts: ResolvedHost[], file: string): InventoryWarning[] {
  const unverified = hosts.filter((h) => h.target.knownHosts === '/dev/null' && h.target.hostKeyPolicy === 'accept-new');
  if (!unverified.length) return [];
  return [
    {
      file,
      message:
        'HOST KEYS NOT VERIFIED: known_hosts is /dev/null with accept-new (UserKnownHostsFile=/dev/null, StrictHostKeyChecking=no), ' +
        'so any host key is accepted and none is kept: a man-in-the-middle would go unnoticed. Keys are remembered for this run only ' +
        '(a key that changes during the run is refused). Name a real known_hosts file to have keys checked from one run to the next',
      hosts: unverified.map((h) => h.name),
    },
  ];
}

/**
 * A host's vars, key by key, lowest first: defaults, its groups by name (later wins, as Ansible orders
 * groups of one depth and the INI reader does), its own. A value that is an object is replaced whole.
 */
function mergeVars(
  defaults: Record<string, unknown> | undefined,
  hostGroups: string[],
  groupVars: Record<string, { vars?: Record<string, unknown> }>,
  own: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const byName = [...hostGroups].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const layers = [defaults, ...byName.map((g) => (Object.hasOwn(groupVars, g) ? groupVars[g].vars : undefined)), own];
  // fromEntries, not Object.assign: a key named __proto__ stays an ordinary var
  return Object.fromEntries(layers.flatMap((l) => Object.entries(l ?? {})));
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** --limit: host names or group names, comma separated. Unknown names are an error, not a silent no-op. */
export function limitHosts(inv: Inventory, limit: string | undefined): ResolvedHost[] {
  if (!limit) return inv.hosts;
  const wanted = limit
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const w of wanted) {
    if (!inv.hosts.some((h) => h.name === w || h.groups.includes(w))) {
      throw new InventoryError(inv.file, '--limit', 'host or group names of this inventory', `"${w}" matches nothing`);
    }
  }
  return inv.hosts.filter((h) => wanted.some((w) => h.name === w || h.groups.includes(w)));
}
