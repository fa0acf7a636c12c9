// What Ansible's two inventory formats (INI: ini.ts, YAML: yaml.ts) share: groups with their
// variables, children and hosts; host patterns (relay[01:03], host:port); and the resolution into hosts
// with effective variables, each mapped onto mailprov's fields by the one mapping in ansible-vars.ts.
//
// Variable precedence, lowest first, as Ansible: all's vars, then the other groups from the shallowest
// to the deepest (a child group beats its parent; siblings at one depth go by name, later wins), then
// the host's own variables.
import { InventoryError } from '../errors.ts';
import { type AnsibleHostFields, type HostNote, hostFields, summarize } from './ansible-vars.ts';
import { PORT_EXPECTED } from './schema.ts';
import type { InventoryWarning } from './warning.ts';

export type { AnsibleHostFields, InventoryWarning };

export interface AnsibleGroupState {
  vars: Map<string, unknown>;
  children: string[];
  hosts: string[];
}

/** An inventory as its file describes it, before resolution. */
export interface AnsibleSource {
  file: string;
  groups: Map<string, AnsibleGroupState>;
  /** Each host's own variables, in file order; a later definition of the same variable wins. */
  hostVars: Map<string, Map<string, unknown>>;
  /** Whether the file names the ungrouped group itself, so that it is kept even if empty. */
  namedUngrouped: boolean;
}

export interface AnsibleHost extends AnsibleHostFields {
  /** Every group the host belongs to, directly or through children, sorted; never 'all'. */
  groups: string[];
  /** Effective variables: group vars merged under the host's own (all ansible_* ones included). */
  vars: Record<string, unknown>;
}

export interface AnsibleGroup {
  /** The group's own vars, not inherited ones. */
  vars: Record<string, unknown>;
  /** Child groups as listed. */
  children: string[];
}

export interface AnsibleInventory {
  hosts: Record<string, AnsibleHost>;
  groups: Record<string, AnsibleGroup>;
  warnings: InventoryWarning[];
}

export const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
export const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST_NAME = /^[A-Za-z0-9_:][A-Za-z0-9_.:%-]*$/;
const MAX_RANGE_HOSTS = 10_000; // a typo like [0:99999999] should fail, not eat the memory

/** The detail of an error: what was found, and where (`at line 3`, `in all.children.relays.hosts`). */
export function got(value: string, where: string): string {
  return `got ${JSON.stringify(value)} ${where}`;
}

export function newSource(file: string): AnsibleSource {
  return { file, groups: new Map(), hostVars: new Map(), namedUngrouped: false };
}

export function groupState(source: AnsibleSource, name: string): AnsibleGroupState {
  let group = source.groups.get(name);
  if (!group) {
    group = { vars: new Map(), children: [], hosts: [] };
    source.groups.set(name, group);
  }
  return group;
}

/** Adds a host to a group, with variables of its own (merged over any it already has). */
export function addHost(source: AnsibleSource, group: string, name: string, vars: Map<string, unknown>): void {
  const members = groupState(source, group).hosts;
  if (!members.includes(name)) members.push(name);
  const known = source.hostVars.get(name) ?? new Map<string, unknown>();
  for (const [k, v] of vars) known.set(k, v);
  source.hostVars.set(name, known);
}

/** Makes `child` a child group of `parent`; returns the cycle (parent -> ... -> parent) this would make, if any. */
export function addChild(source: AnsibleSource, parent: string, child: string): string[] | undefined {
  const children = groupState(source, parent).children;
  groupState(source, child);
  if (!children.includes(child)) children.push(child);
  const cycle = findCycle(source, child, parent);
  return cycle && [parent, ...cycle];
}

/** A path of children from `from` to `to`, if there is one. */
function findCycle(source: AnsibleSource, from: string, to: string, seen = new Set<string>()): string[] | undefined {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  for (const child of source.groups.get(from)?.children ?? []) {
    const path = findCycle(source, child, to, seen);
    if (path) return [from, ...path];
  }
  return undefined;
}

// ---- host patterns ------------------------------------------------------------------------------

/** Splits an optional :port suffix off a host pattern and expands its ranges. */
export function expandHostPattern(pattern: string, file: string, group: string, where: string): { names: string[]; port?: string } {
  let hostPart = pattern;
  let port: string | undefined;
  // colons inside [a:b] belong to ranges; one colon outside them is host:port; several mean an IPv6 address
  const outside = [...pattern.matchAll(/:/g)].map((m) => m.index).filter((i) => !insideBrackets(pattern, i));
  if (outside.length === 1) {
    hostPart = pattern.slice(0, outside[0]);
    port = pattern.slice(outside[0] + 1);
    const n = /^\d+$/.test(port) ? Number(port) : NaN;
    if (!(n >= 1 && n <= 65535)) throw new InventoryError(file, `hosts.${hostPart}.ansible_port`, PORT_EXPECTED, got(port, where));
  }
  const names = expandRanges(hostPart, file, group, where);
  for (const name of names) {
    if (!HOST_NAME.test(name)) {
      throw new InventoryError(file, `groups.${group}`, 'a host name of letters, digits, "_", "-", "." or ":"', got(pattern, where));
    }
  }
  return { names, port };
}

function insideBrackets(text: string, index: number): boolean {
  const open = text.lastIndexOf('[', index);
  return open >= 0 && text.lastIndexOf(']', index) < open;
}

/** relay[01:03] -> relay01 relay02 relay03; letters and a :stride too; several ranges multiply. */
function expandRanges(pattern: string, file: string, group: string, where: string): string[] {
  const match = /^([^[\]]*)\[([^\]]*)\](.*)$/.exec(pattern);
  if (!match) {
    if (/[[\]]/.test(pattern)) throw rangeError(pattern, file, group, where);
    return [pattern];
  }
  const [, head, range, tail] = match;
  const values = rangeValues(range);
  if (!values) throw rangeError(pattern, file, group, where);
  const tails = values === 'too-large' ? [] : expandRanges(tail, file, group, where);
  if (values === 'too-large' || values.length * tails.length > MAX_RANGE_HOSTS) {
    throw new InventoryError(file, `groups.${group}`, `a host range of at most ${MAX_RANGE_HOSTS} hosts`, got(pattern, where));
  }
  return values.flatMap((v) => tails.map((t) => head + v + t));
}

function rangeError(pattern: string, file: string, group: string, where: string): InventoryError {
  return new InventoryError(file, `groups.${group}`, 'a host range like relay[01:03] or relay[a:c] (start <= end)', got(pattern, where));
}

/** The values of one range body ("01:03", "a:c", "0:10:2"); undefined when malformed. */
function rangeValues(range: string): string[] | 'too-large' | undefined {
  const parts = range.split(':');
  if (parts.length < 2 || parts.length > 3) return undefined;
  const [start, end] = parts;
  const step = parts.length === 3 ? Number(parts[2]) : 1;
  if (!/^\d*$/.test(parts[2] ?? '1') || !Number.isInteger(step) || step < 1) return undefined;
  let from: number;
  let to: number;
  let format: (n: number) => string;
  if (/^\d*$/.test(start) && /^\d+$/.test(end)) {
    // a leading zero means fixed width, as Ansible: [01:10] -> 01..10, and both ends must agree on it
    const width = start.length > 1 && start.startsWith('0') ? start.length : 0;
    if (width && end.length !== width) return undefined;
    from = Number(start || '0');
    to = Number(end);
    format = (n) => String(n).padStart(width, '0');
  } else if ((/^[a-z]$/.test(start) && /^[a-z]$/.test(end)) || (/^[A-Z]$/.test(start) && /^[A-Z]$/.test(end))) {
    from = start.charCodeAt(0);
    to = end.charCodeAt(0);
    format = (n) => String.fromCharCode(n);
  } else {
    return undefined;
  }
  if (from > to) return undefined;
  if (Math.floor((to - from) / step) + 1 > MAX_RANGE_HOSTS) return 'too-large';
  const out: string[] = [];
  for (let n = from; n <= to; n += step) out.push(format(n));
  return out;
}

// ---- resolution ---------------------------------------------------------------------------------

function parentsOf(source: AnsibleSource): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  for (const [name, group] of source.groups) {
    for (const child of group.children) parents.set(child, [...(parents.get(child) ?? []), name]);
  }
  return parents;
}

/** Depth as Ansible counts it: all is 0, a top-level group 1, a child one more than its deepest parent. */
function depthOf(name: string, parents: Map<string, string[]>, memo: Map<string, number>): number {
  if (name === 'all') return 0;
  const known = memo.get(name);
  if (known !== undefined) return known;
  const ups = (parents.get(name) ?? []).filter((p) => p !== 'all');
  const depth = ups.length === 0 ? 1 : 1 + Math.max(...ups.map((p) => depthOf(p, parents, memo)));
  memo.set(name, depth);
  return depth;
}

function ancestorsOf(name: string, parents: Map<string, string[]>, into: Set<string>): void {
  for (const parent of parents.get(name) ?? []) {
    if (!into.has(parent)) {
      into.add(parent);
      ancestorsOf(parent, parents, into);
    }
  }
}

/** Hosts with their groups and effective variables, mapped onto mailprov's fields; warnings said once. */
export function resolveAnsible(source: AnsibleSource): AnsibleInventory {
  const parents = parentsOf(source);
  const depth = new Map<string, number>();
  const memberOf = new Map<string, Set<string>>();
  for (const [name, group] of source.groups) {
    for (const host of group.hosts) {
      const set = memberOf.get(host) ?? new Set<string>();
      set.add(name);
      ancestorsOf(name, parents, set);
      memberOf.set(host, set);
    }
  }

  // built with fromEntries so that a name like __proto__ stays an ordinary own key
  const hostEntries: [string, AnsibleHost][] = [];
  const notes: HostNote[] = [];
  for (const [name, own] of source.hostVars) {
    const direct = memberOf.get(name) ?? new Set<string>();
    // 'ungrouped' means in no real group, so a host also listed under a group leaves it
    const groups = [...direct].filter((g) => g !== 'all' && g !== 'ungrouped');
    if (groups.length === 0) groups.push('ungrouped');
    groups.sort();

    const ordered = ['all', ...groups]
      .filter((g) => source.groups.has(g))
      .sort((a, b) => depthOf(a, parents, depth) - depthOf(b, parents, depth) || (a < b ? -1 : a > b ? 1 : 0));
    const vars = new Map<string, unknown>();
    for (const g of ordered) for (const [k, v] of source.groups.get(g)!.vars) vars.set(k, v);
    for (const [k, v] of own) vars.set(k, v);
    const mapped = hostFields(name, vars, source.file);
    notes.push(...mapped.notes);
    if (mapped.leftOut) continue;
    hostEntries.push([name, { ...mapped.fields, groups, vars: Object.fromEntries(vars) }]);
  }

  // 'ungrouped' is listed exactly when some host ended up in it (or the file names it itself)
  const someUngrouped = hostEntries.some(([, h]) => h.groups.includes('ungrouped'));
  if (someUngrouped) groupState(source, 'ungrouped');
  else if (!source.namedUngrouped) source.groups.delete('ungrouped');
  const groupEntries = [...source.groups].map(([name, g]): [string, AnsibleGroup] => [
    name,
    { vars: Object.fromEntries(g.vars), children: [...g.children] },
  ]);
  return { hosts: Object.fromEntries(hostEntries), groups: Object.fromEntries(groupEntries), warnings: summarize(notes, source.file) };
}
