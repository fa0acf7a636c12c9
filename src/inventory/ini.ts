// Ansible-style INI inventories.
//
// The `ini` package cannot read the host lines: `relay1 ansible_host=10.0.0.5 ansible_port=2222` comes
// back as the key "relay1 ansible_host" with the value "10.0.0.5 ansible_port=2222", it splits section
// names on dots, and it turns repeated keys into arrays. So the section structure and host lines are
// read here by a small line tokenizer (host lines are shell-like words, as Ansible reads them with
// shlex), and `ini` parses only the key=value lines of [group:vars] sections, one line at a time, which
// it does well (quotes, inline ; and # comments, escapes) while we keep line numbers for errors.
//
// What the file says becomes the model both Ansible formats share (ansible.ts): group variables by
// depth as Ansible, host ranges (relay[01:03], db[a:c], x[0:10:2]) and the ansible_* variable mapping.
import { parse as parseIniLine, unsafe } from 'ini';
import { InventoryError } from '../errors.ts';
import {
  type AnsibleGroup,
  type AnsibleHost,
  type AnsibleInventory,
  type AnsibleSource,
  addChild,
  addHost,
  expandHostPattern,
  GROUP_NAME,
  got,
  groupState,
  newSource,
  resolveAnsible,
  VAR_NAME,
} from './ansible.ts';
import { KEEP_GENERATIONS_EXPECTED, PORT_EXPECTED } from './schema.ts';
import { splitWords } from './words.ts';

export { splitWords } from './words.ts';
export type IniHost = AnsibleHost;
export type IniGroup = AnsibleGroup;
export type IniInventory = AnsibleInventory;

type SectionKind = 'hosts' | 'vars' | 'children';

/** The mailprov setting checked where it is read, for its line number (its TS twin is keepGenerations). */
const KEEP_VAR = 'mailprov_keep_generations';

export function parseIniInventory(text: string, file: string): IniInventory {
  const state = newSource(file);
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

  return resolveAnsible(state);
}

function at(value: string, lineNo: number): string {
  return got(value, `at line ${lineNo}`);
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

function parseHostLine(state: AnsibleSource, group: string, line: string, lineNo: number): void {
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
  const { names, port } = expandHostPattern(pattern, file, group, `at line ${lineNo}`);
  const vars = new Map<string, unknown>();
  if (port !== undefined) vars.set('ansible_port', port);
  for (const word of assignments) {
    const eq = word.indexOf('=');
    const key = eq > 0 ? word.slice(0, eq) : '';
    if (!VAR_NAME.test(key) || key === '__proto__') {
      throw new InventoryError(file, `hosts.${names[0]}`, 'key=value variables after the host name', at(word, lineNo));
    }
    vars.set(key, word.slice(eq + 1));
  }
  const ansiblePort = vars.get('ansible_port') as string | undefined;
  if (ansiblePort !== undefined) checkPort(ansiblePort, file, `hosts.${names[0]}.ansible_port`, lineNo);
  const keep = vars.get(KEEP_VAR) as string | undefined;
  if (keep !== undefined) checkKeep(keep, file, `hosts.${names[0]}.${KEEP_VAR}`, lineNo);
  for (const name of names) addHost(state, group, name, vars);
}

function checkPort(value: string, file: string, field: string, lineNo: number): void {
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new InventoryError(file, field, PORT_EXPECTED, at(value, lineNo));
}

function checkKeep(value: string, file: string, field: string, lineNo: number): void {
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InventoryError(file, field, KEEP_GENERATIONS_EXPECTED, at(value, lineNo));
}

// ---- [group:vars] and [group:children] -----------------------------------------------------------

function parseVarLine(state: AnsibleSource, group: string, line: string, lineNo: number): void {
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

function parseChildLine(state: AnsibleSource, group: string, line: string, lineNo: number): void {
  const words = splitWords(line);
  if (words?.length === 0) return;
  if (words?.length !== 1 || !GROUP_NAME.test(words[0])) {
    throw new InventoryError(state.file, `groups.${group}.children`, 'one group name per line', at(line, lineNo));
  }
  const child = words[0];
  if (child === 'all') throw new InventoryError(state.file, `groups.${group}.children`, 'a group other than all', at(line, lineNo));
  const cycle = addChild(state, group, child);
  if (cycle) {
    throw new InventoryError(
      state.file,
      `groups.${group}.children`,
      'groups that do not contain themselves',
      `${cycle.join(' -> ')} at line ${lineNo}`,
    );
  }
}
