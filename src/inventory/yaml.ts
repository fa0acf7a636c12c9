// Ansible's YAML inventories: top-level groups (usually only `all`), each with `hosts:` (a host
// pattern -> its variables), `vars:` and `children:` (group name -> the same structure, nested as deep
// as wanted). A group may be described in several places; its parts add up. Parsed with the `yaml`
// package into the model INI inventories share (ansible.ts): the same group precedence, host ranges
// and ansible_* mapping.
import { createRequire } from 'node:module';
import type { YAMLError } from 'yaml';
import { InventoryError } from '../errors.ts';
import {
  type AnsibleInventory,
  type AnsibleSource,
  addChild,
  addHost,
  expandHostPattern,
  GROUP_NAME,
  groupState,
  newSource,
  resolveAnsible,
  VAR_NAME,
} from './ansible.ts';

const GROUP_KEYS = ['hosts', 'vars', 'children'];

// loaded on first use: the yaml package is a tenth of a second of every start otherwise, and only
// YAML inventories need it
let yaml: typeof import('yaml') | undefined;
const loadYaml = () => (yaml ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));

export function parseYamlInventory(text: string, file: string): AnsibleInventory {
  let doc: unknown;
  try {
    // Ansible's vaulted values (!vault) and other tags stay text: mailprov reads none of them
    doc = loadYaml().parse(text, { logLevel: 'error', uniqueKeys: true });
  } catch (err) {
    // the first line says what and where ("... at line 4, column 1:"); an excerpt follows
    const what = (err as YAMLError).message.split('\n')[0].replace(/:$/, '');
    throw new InventoryError(file, '(file)', 'a YAML inventory', what);
  }
  const source = newSource(file);
  if (doc === null || doc === undefined) return resolveAnsible(source);
  const top = mapping(doc, file, '(top level)', 'groups, such as all:');
  for (const [name, body] of top) readGroup(source, name, body, name);
  return resolveAnsible(source);
}

/** The entries of a YAML mapping, or an error naming where the mapping was expected. */
function mapping(value: unknown, file: string, field: string, expected: string): [string, unknown][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InventoryError(file, field, `a mapping of ${expected}`, `got ${describe(value)}`);
  }
  return Object.entries(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  return value === null ? 'nothing' : JSON.stringify(value);
}

/** One group's description at `path` (all, all.children.relays, ...); null is an empty group. */
function readGroup(source: AnsibleSource, name: string, body: unknown, path: string): void {
  const { file } = source;
  if (!GROUP_NAME.test(name))
    throw new InventoryError(file, path, 'a group name of letters, digits, "_", "-" or "."', `got ${JSON.stringify(name)}`);
  if (name === 'ungrouped') source.namedUngrouped = true;
  groupState(source, name);
  if (body === null || body === undefined) return;
  for (const [key, value] of mapping(body, file, path, 'hosts:, vars: and children:')) {
    if (!GROUP_KEYS.includes(key)) {
      throw new InventoryError(file, `${path}.${key}`, 'hosts:, vars: or children: (Ansible skips anything else)');
    }
    if (value === null || value === undefined) continue;
    if (key === 'hosts') readHosts(source, name, value, `${path}.hosts`);
    else if (key === 'vars') readVars(source, value, `${path}.vars`, groupState(source, name).vars);
    else readChildren(source, name, value, `${path}.children`);
  }
}

function readHosts(source: AnsibleSource, group: string, value: unknown, path: string): void {
  for (const [pattern, vars] of mapping(value, source.file, path, 'host names to their variables')) {
    const { names, port } = expandHostPattern(pattern, source.file, group, `in ${path}`);
    const own = new Map<string, unknown>();
    if (port !== undefined) own.set('ansible_port', port);
    if (vars !== null && vars !== undefined) readVars(source, vars, `${path}.${pattern}`, own);
    for (const name of names) addHost(source, group, name, own);
  }
}

function readVars(source: AnsibleSource, value: unknown, path: string, into: Map<string, unknown>): void {
  for (const [key, v] of mapping(value, source.file, path, 'variable names to values')) {
    if (!VAR_NAME.test(key) || key === '__proto__')
      throw new InventoryError(source.file, `${path}.${key}`, 'a variable name (letters, digits, "_")');
    into.set(key, v);
  }
}

function readChildren(source: AnsibleSource, parent: string, value: unknown, path: string): void {
  for (const [child, body] of mapping(value, source.file, path, 'group names to their groups')) {
    if (child === 'all') throw new InventoryError(source.file, `${path}.all`, 'a group other than all');
    readGroup(source, child, body, `${path}.${child}`);
    const cycle = addChild(source, parent, child);
    if (cycle) throw new InventoryError(source.file, `${path}.${child}`, 'groups that do not contain themselves', cycle.join(' -> '));
  }
}
