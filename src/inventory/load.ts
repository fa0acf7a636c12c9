// Loads an inventory (a .ts module whose default export is defineInventory({...}), or an
// Ansible-style .ini host list) and resolves it into hosts with their connection settings and
// the playbooks bound to them. Every mistake is an InventoryError naming file, field and expectation.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { z } from 'zod';
import { InventoryError } from '../errors.ts';
import { DEFAULT_KEEP_GENERATIONS } from '../journal/retention.ts';
import { registerSecret } from '../secrets/index.ts';
import type { PlaybookParts, PlaybookUse } from '../playbook/index.ts';
import { loadSshConfig, nodeSshConfigFs, type SshConfigFile } from '../transport/ssh-config.ts';
import { expandHome, type SshTarget } from '../transport/ssh.ts';
import { parseIniInventory } from './ini.ts';
import { inventorySchema, type HostInput, type InventoryInput } from './schema.ts';
import { formatWarning, resolveTargets, type ConnectionSettings } from './targets.ts';

export interface BoundPlaybook {
  name: string;
  parts: PlaybookParts;
}

export interface ResolvedHost {
  name: string;
  groups: string[];
  vars: Record<string, unknown>;
  target: SshTarget;
  playbooks: BoundPlaybook[];
  /** How many generations the host's journal keeps (older ones are pruned after a successful run). */
  keepGenerations: number;
}

export interface Inventory {
  file: string;
  hosts: ResolvedHost[];
  /** Said once for the whole run (each names the hosts it concerns): ssh_config lines mailprov reads its own way. */
  warnings: string[];
}

/** Marks an inventory for the loader; returns it unchanged (typed for editors). */
export function defineInventory(inventory: InventoryInput): InventoryInput {
  return inventory;
}

/** Reads an Ansible-style INI host list into the `hosts` of a TS inventory. */
export function hostsFromIni(path: string | URL): Record<string, HostInput> {
  const file = path instanceof URL ? path.pathname : path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new InventoryError(file, '(file)', 'a readable INI inventory', 'cannot read it');
  }
  const ini = parseIniInventory(text, file);
  const hosts: Record<string, HostInput> = {};
  for (const [name, h] of Object.entries(ini.hosts)) {
    hosts[name] = {
      address: h.address ?? name,
      ...(h.port !== undefined ? { port: h.port } : {}),
      ...(h.user !== undefined ? { user: h.user } : {}),
      ...(h.privateKey !== undefined ? { privateKey: h.privateKey } : {}),
      ...(h.keepGenerations !== undefined ? { keepGenerations: h.keepGenerations } : {}),
      groups: h.groups,
      vars: h.vars,
    };
  }
  return hosts;
}

function zodPath(prefix: string, path: PropertyKey[]): string {
  return [prefix, ...path.map(String)].filter(Boolean).join('.');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `no such field (known fields only; got ${issue.keys.join(', ')})`;
  return issue.message;
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
 * of every class, and no loader hooks on the start-up path.
 */
async function importBundled(file: string, dist: string): Promise<{ default?: unknown }> {
  const { build } = await import('esbuild');
  const target = (spec: string) => {
    const rest = spec.slice('mailprov'.length);
    if (rest === '') return join(dist, 'index.mjs');
    if (rest === '/sandbox') return join(dist, 'sandbox.mjs');
    if (rest.startsWith('/playbooks/')) return join(dist, `${rest.slice(1).replace(/\.ts$/, '')}.mjs`);
    return undefined;
  };
  const out = await build({
    entryPoints: [file],
    bundle: true,
    write: false,
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
    ],
  });
  const tmp = join(tmpdir(), `mailprov-inventory-${process.pid}-${Date.now()}.mjs`);
  writeFileSync(tmp, out.outputFiles[0].text, { mode: 0o600 });
  try {
    return await import(pathToFileURL(tmp).href);
  } finally {
    rmSync(tmp, { force: true });
  }
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
  if (!existsSync(file)) throw new InventoryError(file, '(file)', 'an existing inventory file (.ts or .ini)', 'not found');
  let raw: unknown;
  if (file.endsWith('.ini') || file.endsWith('.cfg') || !/\.[cm]?[tj]s$/.test(file)) {
    raw = { hosts: hostsFromIni(file), playbooks: opts.withPlaybooks ? await loadInventoryModule(resolve(opts.withPlaybooks)) : [] };
  } else {
    raw = await loadInventoryModule(file);
  }
  if (raw === undefined)
    throw new InventoryError(file, 'default export', 'defineInventory({...}) as the default export', 'the module exports no default');
  return resolveInventory(raw, file, { sshConfig: readSshConfigOption(opts.sshConfig) });
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
  const groups = new Set(names.flatMap((n) => inv.hosts[n].groups ?? []));

  // Validate and build each binding once; resources are pure, so hosts can share them.
  const bindings = inv.playbooks.map((b, i) => {
    const use = b.use as PlaybookUse;
    const targets = Array.isArray(b.on) ? b.on : [b.on];
    for (const t of targets) {
      if (t !== 'all' && !groups.has(t) && !names.includes(t)) {
        throw new InventoryError(file, `playbooks.${i}.on`, '"all", a group or a host of this inventory', `"${t}" is neither`);
      }
    }
    const settings = use.playbook.settings.safeParse(use.settings);
    if (!settings.success) {
      const issue = settings.error.issues[0];
      throw new InventoryError(file, zodPath(`playbooks.${i}.use(${use.playbook.name}).settings`, issue.path), describeIssue(issue));
    }
    let parts: PlaybookParts;
    try {
      parts = use.playbook.build(settings.data);
    } catch (err) {
      throw new InventoryError(file, `playbooks.${i}.use(${use.playbook.name})`, 'settings the playbook can build', (err as Error).message);
    }
    return { targets, bound: { name: use.playbook.name, parts } };
  });

  const settings = (fields: typeof defaults): ConnectionSettings => {
    const sudoPassword = fields.sudoPasswordEnv ? process.env[fields.sudoPasswordEnv] : undefined;
    if (sudoPassword) registerSecret(sudoPassword);
    return {
      port: fields.port,
      user: fields.user,
      privateKey: rel(fields.privateKey),
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
    const playbooks = bindings
      .filter((b) => b.targets.some((t) => t === 'all' || t === name || hostGroups.includes(t)))
      .map((b) => b.bound);
    const keepGenerations = h.keepGenerations ?? defaults.keepGenerations ?? DEFAULT_KEEP_GENERATIONS;
    return { name, groups: hostGroups, vars: h.vars ?? {}, target: targets.get(name)!, playbooks, keepGenerations };
  });
  return { file, hosts, warnings: warnings.map(formatWarning) };
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
