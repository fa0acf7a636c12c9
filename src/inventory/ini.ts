// Ansible-style INI inventories.
//
// The `ini` package cannot read the host lines: `relay1 ansible_host=10.0.0.5 ansible_port=2222` comes
// back as the key "relay1 ansible_host" with the value "10.0.0.5 ansible_port=2222", it splits section
// names on dots, and it turns repeated keys into arrays. So the section structure and host lines are
// read here by a small line tokenizer (host lines are shell-like words, as Ansible reads them with
// shlex), and `ini` parses only the key=value lines of [group:vars] sections, one line at a time, which
// it does well (quotes, inline ; and # comments, escapes) while we keep line numbers for errors.
//
// Variable precedence, lowest first, as Ansible: [all:vars], then the other groups from the shallowest
// to the deepest (a child group beats its parent; siblings at one depth go by name, later wins), then
// the host's own line. Host ranges (relay[01:03], db[a:c], x[0:10:2]) expand as in Ansible.
import { parse as parseIniLine, unsafe } from 'ini';
import { InventoryError } from '../errors.ts';
import { KEEP_GENERATIONS_EXPECTED } from './schema.ts';

export interface IniHost {
  address?: string;
  port?: number;
  user?: string;
  privateKey?: string;
  /** From mailprov_keep_generations: how many generations the host's journal keeps. */
  keepGenerations?: number;
  /** Every group the host belongs to, directly or through [x:children], sorted; never 'all'. */
  groups: string[];
  /** Effective variables: group vars merged under the host line's own (all ansible_* ones included). */
  vars: Record<string, string>;
}

export interface IniGroup {
  /** The group's own vars from [group:vars], not inherited ones. */
  vars: Record<string, string>;
  /** Child groups as listed in [group:children]. */
  children: string[];
}

export interface IniInventory {
  hosts: Record<string, IniHost>;
  groups: Record<string, IniGroup>;
}

interface GroupState {
  vars: Map<string, string>;
  children: string[];
  hosts: string[];
}

interface ParseState {
  file: string;
  groups: Map<string, GroupState>;
  /** Variables from host lines, in file order; a later line for the same host wins. */
  hostVars: Map<string, Map<string, string>>;
  /** Whether a [ungrouped...] header appeared, so that the group is kept even if empty. */
  namedUngrouped: boolean;
}

type SectionKind = 'hosts' | 'vars' | 'children';

const GROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const HOST_NAME = /^[A-Za-z0-9_:][A-Za-z0-9_.:%-]*$/;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_RANGE_HOSTS = 10_000; // a typo like [0:99999999] should fail, not eat the memory

const PORT_EXPECTED = 'an integer port from 1 to 65535';
/** The one mailprov setting an INI inventory carries (its TS twin is keepGenerations). */
const KEEP_VAR = 'mailprov_keep_generations';

export function parseIniInventory(text: string, file: string): IniInventory {
  const state: ParseState = { file, groups: new Map(), hostVars: new Map(), namedUngrouped: false };
  let section: { kind: SectionKind; group: string } = { kind: 'hosts', group: 'ungrouped' };

  text.split(/\r?\n/).forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    if (line.startsWith('[')) {
      section = parseHeader(line, lineNo, file);
      if (section.group === 'ungrouped') state.namedUngrouped = true;
      groupState(state, section.group);
      return;
    }
    if (section.kind === 'hosts') parseHostLine(state, section.group, line, lineNo);
    else if (section.kind === 'vars') parseVarLine(state, section.group, line, lineNo);
    else parseChildLine(state, section.group, line, lineNo);
  });

  return resolve(state);
}

function at(got: string, lineNo: number): string {
  return `got ${JSON.stringify(got)} at line ${lineNo}`;
}

function groupState(state: ParseState, name: string): GroupState {
  let group = state.groups.get(name);
  if (!group) {
    group = { vars: new Map(), children: [], hosts: [] };
    state.groups.set(name, group);
  }
  return group;
}

function parseHeader(line: string, lineNo: number, file: string): { kind: SectionKind; group: string } {
  const match = /^\[([^\]\s:]+)(?::([A-Za-z]+))?\]\s*(?:[#;].*)?$/.exec(line);
  const kind = match?.[2] ?? 'hosts';
  if (!match || !GROUP_NAME.test(match[1]) || !['hosts', 'vars', 'children'].includes(kind)) {
    throw new InventoryError(file, 'sections', 'a section header like [group], [group:vars] or [group:children]', at(line, lineNo));
  }
  return { kind: kind as SectionKind, group: match[1] };
}

// ---- host lines -------------------------------------------------------------------------------

function parseHostLine(state: ParseState, group: string, line: string, lineNo: number): void {
  const { file } = state;
  const words = splitWords(line);
  if (words === undefined) {
    throw new InventoryError(file, `groups.${group}`, 'a host line with balanced quotes', at(line, lineNo));
  }
  if (words.length === 0) return; // only a comment after all
  const [pattern, ...assignments] = words;
  if (pattern.includes('=')) {
    throw new InventoryError(file, `groups.${group}`, 'a host name, optionally followed by key=value variables', at(line, lineNo));
  }
  const { names, port } = expandHostPattern(pattern, file, group, lineNo);
  const vars = new Map<string, string>();
  if (port !== undefined) vars.set('ansible_port', port);
  for (const word of assignments) {
    const eq = word.indexOf('=');
    const key = eq > 0 ? word.slice(0, eq) : '';
    if (!VAR_NAME.test(key) || key === '__proto__') {
      throw new InventoryError(file, `hosts.${names[0]}`, 'key=value variables after the host name', at(word, lineNo));
    }
    vars.set(key, word.slice(eq + 1));
  }
  const ansiblePort = vars.get('ansible_port');
  if (ansiblePort !== undefined) checkPort(ansiblePort, file, `hosts.${names[0]}.ansible_port`, lineNo);
  const keep = vars.get(KEEP_VAR);
  if (keep !== undefined) checkKeep(keep, file, `hosts.${names[0]}.${KEEP_VAR}`, lineNo);

  const members = groupState(state, group).hosts;
  for (const name of names) {
    if (!members.includes(name)) members.push(name);
    const known = state.hostVars.get(name) ?? new Map<string, string>();
    for (const [k, v] of vars) known.set(k, v);
    state.hostVars.set(name, known);
  }
}

/**
 * Splits a host line into words the way Python's shlex (posix, with comments) does for Ansible:
 * whitespace separates, '...' is literal, "..." allows \" \\ \$ \`, a backslash escapes one
 * character, and # outside quotes ends the line. Returns undefined for an unterminated quote.
 */
export function splitWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '#') break;
    if (c === ' ' || c === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && '"\\$`'.includes(line[j + 1] ?? '')) j++;
        word += line[j];
      }
      if (j >= line.length) return undefined;
      i = j;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
    } else {
      word += c;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function checkPort(value: string, file: string, field: string, lineNo: number): void {
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InventoryError(file, field, PORT_EXPECTED, at(value, lineNo));
}

function checkKeep(value: string, file: string, field: string, lineNo: number): void {
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InventoryError(file, field, KEEP_GENERATIONS_EXPECTED, at(value, lineNo));
}

/** Splits an optional :port suffix off a host pattern and expands its ranges. */
function expandHostPattern(pattern: string, file: string, group: string, lineNo: number): { names: string[]; port?: string } {
  let hostPart = pattern;
  let port: string | undefined;
  // colons inside [a:b] belong to ranges; one colon outside them is host:port; several mean an IPv6 address
  const outside = [...pattern.matchAll(/:/g)].map((m) => m.index).filter((i) => !insideBrackets(pattern, i));
  if (outside.length === 1) {
    hostPart = pattern.slice(0, outside[0]);
    port = pattern.slice(outside[0] + 1);
    checkPort(port, file, `hosts.${hostPart}.ansible_port`, lineNo);
  }
  const names = expandRanges(hostPart, file, group, lineNo);
  for (const name of names) {
    if (!HOST_NAME.test(name)) {
      throw new InventoryError(file, `groups.${group}`, 'a host name of letters, digits, "_", "-", "." or ":"', at(pattern, lineNo));
    }
  }
  return { names, port };
}

function insideBrackets(text: string, index: number): boolean {
  const open = text.lastIndexOf('[', index);
  return open >= 0 && text.lastIndexOf(']', index) < open;
}

/** relay[01:03] -> relay01 relay02 relay03; letters and a :stride too; several ranges multiply. */
function expandRanges(pattern: string, file: string, group: string, lineNo: number): string[] {
  const match = /^([^[\]]*)\[([^\]]*)\](.*)$/.exec(pattern);
  if (!match) {
    if (/[[\]]/.test(pattern)) throw rangeError(pattern, file, group, lineNo);
    return [pattern];
  }
  const [, head, range, tail] = match;
  const values = rangeValues(range);
  if (!values) throw rangeError(pattern, file, group, lineNo);
  const tails = values === 'too-large' ? [] : expandRanges(tail, file, group, lineNo);
  if (values === 'too-large' || values.length * tails.length > MAX_RANGE_HOSTS) {
    throw new InventoryError(file, `groups.${group}`, `a host range of at most ${MAX_RANGE_HOSTS} hosts`, at(pattern, lineNo));
  }
  return values.flatMap((v) => tails.map((t) => head + v + t));
}

function rangeError(pattern: string, file: string, group: string, lineNo: number): InventoryError {
  return new InventoryError(file, `groups.${group}`, 'a host range like relay[01:03] or relay[a:c] (start <= end)', at(pattern, lineNo));
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

// ---- [group:vars] and [group:children] -----------------------------------------------------------

function parseVarLine(state: ParseState, group: string, line: string, lineNo: number): void {
  const field = `groups.${group}.vars`;
  const eq = line.indexOf('=');
  const key = eq > 0 ? line.slice(0, eq).trim() : '';
  if (!VAR_NAME.test(key) || key === '__proto__') throw new InventoryError(state.file, field, 'key=value lines', at(line, lineNo));
  const parsed: Record<string, unknown> = parseIniLine(line, { bracketedArray: false });
  // ini turns true/false/null into JSON values; inventory values are strings
  let value = String(parsed[key] ?? '');
  // ini only unquotes a value that is quoted to the end of the line: for `x = "a b" ; note` it strips
  // the comment but leaves the quotes, so unquote what is left
  if (isQuoted(value) && !isQuoted(line.slice(eq + 1).trim())) value = unsafe(value);
  if (key === 'ansible_port') checkPort(value, state.file, `${field}.ansible_port`, lineNo);
  if (key === KEEP_VAR) checkKeep(value, state.file, `${field}.${KEEP_VAR}`, lineNo);
  groupState(state, group).vars.set(key, value);
}

function isQuoted(value: string): boolean {
  return value.length > 1 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]);
}

function parseChildLine(state: ParseState, group: string, line: string, lineNo: number): void {
  const words = splitWords(line);
  if (words?.length === 0) return;
  if (words?.length !== 1 || !GROUP_NAME.test(words[0])) {
    throw new InventoryError(state.file, `groups.${group}.children`, 'one group name per line', at(line, lineNo));
  }
  const child = words[0];
  if (child === 'all') throw new InventoryError(state.file, `groups.${group}.children`, 'a group other than all', at(line, lineNo));
  const parent = groupState(state, group);
  groupState(state, child);
  if (!parent.children.includes(child)) parent.children.push(child);
  const cycle = findCycle(state, child, group);
  if (cycle) {
    throw new InventoryError(
      state.file,
      `groups.${group}.children`,
      'groups that do not contain themselves',
      `${[group, ...cycle].join(' -> ')} at line ${lineNo}`,
    );
  }
}

/** A path of children from `from` to `to`, if there is one. */
function findCycle(state: ParseState, from: string, to: string, seen = new Set<string>()): string[] | undefined {
  if (from === to) return [to];
  if (seen.has(from)) return undefined;
  seen.add(from);
  for (const child of state.groups.get(from)?.children ?? []) {
    const path = findCycle(state, child, to, seen);
    if (path) return [from, ...path];
  }
  return undefined;
}

// ---- resolution ---------------------------------------------------------------------------------

function parentsOf(state: ParseState): Map<string, string[]> {
  const parents = new Map<string, string[]>();
  for (const [name, group] of state.groups) {
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

function resolve(state: ParseState): IniInventory {
  const parents = parentsOf(state);
  const depth = new Map<string, number>();
  const memberOf = new Map<string, Set<string>>();
  for (const [name, group] of state.groups) {
    for (const host of group.hosts) {
      const set = memberOf.get(host) ?? new Set<string>();
      set.add(name);
      ancestorsOf(name, parents, set);
      memberOf.set(host, set);
    }
  }

  // built with fromEntries so that a name like __proto__ stays an ordinary own key
  const hostEntries: [string, IniHost][] = [];
  for (const [name, own] of state.hostVars) {
    const direct = memberOf.get(name) ?? new Set<string>();
    // 'ungrouped' means in no real group, so a host also listed under a group leaves it
    const groups = [...direct].filter((g) => g !== 'all' && g !== 'ungrouped');
    if (groups.length === 0) groups.push('ungrouped');
    groups.sort();

    const ordered = ['all', ...groups]
      .filter((g) => state.groups.has(g))
      .sort((a, b) => depthOf(a, parents, depth) - depthOf(b, parents, depth) || (a < b ? -1 : a > b ? 1 : 0));
    const vars = new Map<string, string>();
    for (const g of ordered) for (const [k, v] of state.groups.get(g)!.vars) vars.set(k, v);
    for (const [k, v] of own) vars.set(k, v);
    hostEntries.push([name, toHost(vars, groups)]);
  }

  // 'ungrouped' is listed exactly when some host ended up in it (or the file names it in a header)
  const someUngrouped = hostEntries.some(([, h]) => h.groups.includes('ungrouped'));
  if (someUngrouped) groupState(state, 'ungrouped');
  else if (!state.namedUngrouped) state.groups.delete('ungrouped');
  const groupEntries = [...state.groups].map(([name, g]): [string, IniGroup] => [
    name,
    { vars: Object.fromEntries(g.vars), children: [...g.children] },
  ]);
  return { hosts: Object.fromEntries(hostEntries), groups: Object.fromEntries(groupEntries) };
}

function toHost(vars: Map<string, string>, groups: string[]): IniHost {
  const host: IniHost = { groups, vars: Object.fromEntries(vars) };
  const address = vars.get('ansible_host');
  const port = vars.get('ansible_port');
  const user = vars.get('ansible_user');
  const privateKey = vars.get('ansible_ssh_private_key_file');
  const keep = vars.get(KEEP_VAR);
  if (address !== undefined) host.address = address;
  if (port !== undefined) host.port = Number(port); // validated where it was read
  if (user !== undefined) host.user = user;
  if (privateKey !== undefined) host.privateKey = privateKey;
  if (keep !== undefined) host.keepGenerations = Number(keep); // validated where it was read
  return host;
}
