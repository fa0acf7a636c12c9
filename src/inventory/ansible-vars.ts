// The one mapping of a host's Ansible variables (ansible_host, ansible_ssh_common_args, ansible_become,
// ...) onto mailprov's host fields, for INI and YAML inventories alike; and what it ignores or reads
// differently, said once per inventory rather than once per host.
import { InventoryError } from '../errors.ts';
import { registerSecret } from '../secrets/index.ts';
import { type HostInput, KEEP_GENERATIONS_EXPECTED, PORT_EXPECTED } from './schema.ts';
import type { InventoryWarning } from './warning.ts';
import { jumpFromProxyCommand as proxyCommandJump } from '../transport/jump.ts';
import { splitWords } from './words.ts';

/** mailprov's host fields as a host's variables set them; address is the host's name when unset. */
export type AnsibleHostFields = Omit<HostInput, 'address' | 'groups' | 'vars'> & { address?: string };

/** Something about one host that is said once for the inventory (see summarize). */
export type HostNote =
  | { kind: 'ignored-var'; host: string; name: string }
  | { kind: 'ignored-ssh-option'; host: string; name: string }
  | { kind: 'no-host-key-checking'; host: string; how: string }
  | { kind: 'left-out'; host: string; connection: string };

/** The mailprov settings an Ansible inventory can carry, and their host fields. */
const MAILPROV_VARS = {
  mailprov_keep_generations: 'keepGenerations',
  mailprov_sudo_password_env: 'sudoPasswordEnv',
  mailprov_private_key_passphrase_env: 'privateKeyPassphraseEnv',
} as const;

/** ansible_* variables mailprov reads (aliases as the ssh connection plugin has them). */
const READ_VARS = new Set([
  'ansible_host',
  'ansible_ssh_host',
  'ansible_port',
  'ansible_ssh_port',
  'ansible_user',
  'ansible_ssh_user',
  'ansible_ssh_private_key_file',
  'ansible_private_key_file',
  'ansible_ssh_args',
  'ansible_ssh_common_args',
  'ansible_ssh_extra_args',
  'ansible_host_key_checking',
  'ansible_ssh_host_key_checking',
  'ansible_ssh_timeout',
  'ansible_become',
  'ansible_become_user',
  'ansible_become_method',
  'ansible_connection',
]);

/** Passwords written in the inventory: never used, and masked like any secret. */
const PASSWORD_VARS = ['ansible_password', 'ansible_ssh_pass', 'ansible_become_password', 'ansible_become_pass', 'ansible_sudo_pass'];

/** What ansible_ssh_*_args options mailprov reads (lower case, as ssh matches them). */
const SSH_OPTIONS = [
  'stricthostkeychecking',
  'userknownhostsfile',
  'proxyjump',
  'proxycommand',
  'identityfile',
  'port',
  'user',
  'connecttimeout',
];

const SSH_CONNECTIONS = ['ssh', 'smart', 'paramiko', 'paramiko_ssh', 'ansible.builtin.ssh', 'ansible.builtin.paramiko_ssh'];

export interface MappedHost {
  fields: AnsibleHostFields;
  notes: HostNote[];
  /** ansible_connection is not SSH (local, docker, winrm...): mailprov cannot manage the host. */
  leftOut: boolean;
}

/**
 * The one mapping from a host's effective Ansible variables to mailprov's host fields, for INI and
 * YAML inventories alike. A dedicated variable (ansible_port) wins over the same ssh option in the
 * ssh arguments (-o Port=); among those, the first occurrence wins, as ssh takes it, in the order
 * ansible_ssh_args, ansible_ssh_common_args, ansible_ssh_extra_args.
 */
export function hostFields(host: string, vars: Map<string, unknown>, file: string): MappedHost {
  const read = new VarReader(host, vars, file);
  const notes: HostNote[] = [];
  const fields: AnsibleHostFields = {};

  const connection = read.text('ansible_connection');
  if (connection !== undefined && !SSH_CONNECTIONS.includes(connection)) {
    return { fields, notes: [{ kind: 'left-out', host, connection }], leftOut: true };
  }

  const ssh = sshOptions(read);
  for (const name of ssh.ignored) notes.push({ kind: 'ignored-ssh-option', host, name });
  const option = (name: string) => ssh.options.get(name);

  const address = read.text('ansible_host') ?? read.text('ansible_ssh_host');
  if (address !== undefined) fields.address = address;
  const port = read.port('ansible_port') ?? read.port('ansible_ssh_port') ?? optionPort(option('port'), read);
  if (port !== undefined) fields.port = port;
  const user = read.text('ansible_user') ?? read.text('ansible_ssh_user') ?? option('user')?.value;
  if (user !== undefined) fields.user = user;
  const key = read.text('ansible_ssh_private_key_file') ?? read.text('ansible_private_key_file') ?? option('identityfile')?.value;
  if (key !== undefined) fields.privateKey = key;
  const timeout = read.seconds('ansible_ssh_timeout') ?? optionSeconds(option('connecttimeout'), read);
  if (timeout !== undefined) fields.connectTimeoutMs = timeout * 1000;

  const knownHosts = option('userknownhostsfile');
  if (knownHosts !== undefined) {
    // several files may follow; the first is where ssh records keys
    const first = knownHosts.value.split(/\s+/)[0];
    fields.knownHosts = first === 'none' ? '/dev/null' : first;
  }
  const checking = hostKeyChecking(read, option('stricthostkeychecking'));
  if (checking) {
    fields.hostKeyPolicy = checking.policy;
    // with /dev/null nothing is recorded at all: load.ts warns about that, louder
    if (checking.unchecked && fields.knownHosts !== '/dev/null')
      notes.push({ kind: 'no-host-key-checking', host, how: checking.unchecked });
  }
  const jump = jumpOf(option('proxyjump'), option('proxycommand'), read);
  if (jump !== undefined) fields.jump = jump;

  const sudo = become(read);
  if (sudo !== undefined) fields.sudo = sudo;

  for (const [name, field] of Object.entries(MAILPROV_VARS)) {
    const value = name === 'mailprov_keep_generations' ? read.keep(name) : read.text(name);
    if (value !== undefined) Object.assign(fields, { [field]: value });
  }
  for (const [name, value] of vars) {
    if (name.startsWith('mailprov_') && !(name in MAILPROV_VARS)) {
      throw new InventoryError(file, `hosts.${host}.${name}`, `a known mailprov variable (${Object.keys(MAILPROV_VARS).join(', ')})`);
    }
    if (!name.startsWith('ansible_') || READ_VARS.has(name)) continue;
    notes.push({ kind: 'ignored-var', host, name });
    // a password in the inventory is not used, but it must not show up anywhere either
    if (PASSWORD_VARS.includes(name) && typeof value === 'string') registerSecret(value);
  }
  return { fields, notes, leftOut: false };
}

/** Reads one host's variables, each error naming the host and the variable. */
class VarReader {
  constructor(
    readonly host: string,
    readonly vars: Map<string, unknown>,
    readonly file: string,
  ) {}

  fail(name: string, expected: string, got: unknown): InventoryError {
    return new InventoryError(this.file, `hosts.${this.host}.${name}`, expected, `got ${JSON.stringify(got)}`);
  }

  /** A scalar as text; unset or null is undefined. A Jinja template cannot be evaluated here. */
  text(name: string): string | undefined {
    const value = this.vars.get(name);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'object') throw this.fail(name, 'a single value', value);
    const text = String(value);
    if (text.includes('{{')) throw this.fail(name, 'a plain value (mailprov does not evaluate Jinja templates)', text);
    return text;
  }

  port(name: string): number | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    const port = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(port >= 1 && port <= 65535)) throw this.fail(name, PORT_EXPECTED, text);
    return port;
  }

  seconds(name: string): number | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    if (!/^[1-9]\d{0,5}$/.test(text)) throw this.fail(name, 'a whole number of seconds, at least 1', text);
    return Number(text);
  }

  keep(name: string): number | undefined {
    const text = this.text(name);
    if (text === undefined) return undefined;
    if (!/^[1-9][0-9]*$/.test(text) || !Number.isSafeInteger(Number(text))) throw this.fail(name, KEEP_GENERATIONS_EXPECTED, text);
    return Number(text);
  }

  /** Ansible's boolean(): yes/no, true/false, on/off, 1/0, y/n, t/f, in any case. */
  bool(name: string): boolean | undefined {
    const text = this.text(name)?.toLowerCase();
    if (text === undefined) return undefined;
    if (['yes', 'true', 'on', '1', 'y', 't'].includes(text)) return true;
    if (['no', 'false', 'off', '0', 'n', 'f'].includes(text)) return false;
    throw this.fail(name, 'a boolean (true/false, yes/no)', text);
  }
}

interface SshOption {
  value: string;
  /** The variable it came from, for messages. */
  from: string;
}

/** FLAGS of ssh(1) that take an argument. */
const SSH_FLAGS_WITH_ARGUMENT = 'BbcDEeFIiJLlmOoPpQRSWw';

/**
 * The options in ansible_ssh_args, ansible_ssh_common_args and ansible_ssh_extra_args (in that order;
 * the first value of an option wins, as in ssh): `-o Name=value` (or `-oName=value`, `-o "Name value"`),
 * and the short forms -J (ProxyJump), -i (IdentityFile), -p (Port), -l (User). Anything else is ignored.
 */
function sshOptions(read: VarReader): { options: Map<string, SshOption>; ignored: string[] } {
  const options = new Map<string, SshOption>();
  const ignored: string[] = [];
  const set = (name: string, value: string, from: string) => {
    const key = name.toLowerCase();
    if (!SSH_OPTIONS.includes(key)) ignored.push(name);
    // as in ssh: ProxyJump and ProxyCommand share one slot, the first of the two wins
    else if ((key === 'proxyjump' || key === 'proxycommand') && (options.has('proxyjump') || options.has('proxycommand'))) return;
    else if (!options.has(key)) options.set(key, { value, from });
  };
  for (const from of ['ansible_ssh_args', 'ansible_ssh_common_args', 'ansible_ssh_extra_args']) {
    const text = read.text(from);
    if (text === undefined) continue;
    const words = splitWords(text);
    if (!words) throw read.fail(from, 'ssh arguments with balanced quotes', text);
    for (let i = 0; i < words.length; i++) {
      const word = words[i];
      const flag = word.startsWith('-') ? word[1] : undefined;
      if (!flag || !SSH_FLAGS_WITH_ARGUMENT.includes(flag)) {
        ignored.push(word); // -C, -q, -tt, a stray word
        continue;
      }
      const arg = word.length > 2 ? word.slice(2) : words[++i];
      if (arg === undefined) throw read.fail(from, `a value after ${word}`, text);
      if (flag === 'o') {
        const m = /^\s*([A-Za-z]+)\s*(?:=|\s)\s*(.*?)\s*$/.exec(arg);
        if (!m) throw read.fail(from, 'ssh options like -o Name=value', arg);
        set(m[1], m[2], from);
      } else if (flag === 'J') set('ProxyJump', arg, from);
      else if (flag === 'i') set('IdentityFile', arg, from);
      else if (flag === 'p') set('Port', arg, from);
      else if (flag === 'l') set('User', arg, from);
      else ignored.push(`-${flag}`);
    }
  }
  return { options, ignored };
}

function optionPort(option: SshOption | undefined, read: VarReader): number | undefined {
  if (!option) return undefined;
  const port = /^\d+$/.test(option.value) ? Number(option.value) : NaN;
  if (!(port >= 1 && port <= 65535)) throw read.fail(option.from, `Port: ${PORT_EXPECTED}`, option.value);
  return port;
}

function optionSeconds(option: SshOption | undefined, read: VarReader): number | undefined {
  if (!option) return undefined;
  if (!/^[1-9]\d{0,5}$/.test(option.value))
    throw read.fail(option.from, 'ConnectTimeout: a whole number of seconds, at least 1', option.value);
  return Number(option.value);
}

/**
 * StrictHostKeyChecking (or ansible_host_key_checking) as a hostKeyPolicy. `no` becomes accept-new:
 * an unknown key is recorded, but mailprov never connects to a host whose key changed.
 */
function hostKeyChecking(
  read: VarReader,
  option: SshOption | undefined,
): { policy: 'strict' | 'accept-new'; unchecked?: string } | undefined {
  const checking = read.bool('ansible_host_key_checking') ?? read.bool('ansible_ssh_host_key_checking');
  if (checking === false) return { policy: 'accept-new', unchecked: 'ansible_host_key_checking=false' };
  if (checking === true) return { policy: 'strict' };
  if (!option) return undefined;
  const value = option.value.toLowerCase();
  if (value === 'yes' || value === 'ask') return { policy: 'strict' };
  if (value === 'accept-new') return { policy: 'accept-new' };
  if (value === 'no' || value === 'off') return { policy: 'accept-new', unchecked: `StrictHostKeyChecking=${option.value}` };
  throw read.fail(option.from, 'StrictHostKeyChecking: yes, ask, accept-new or no', option.value);
}

/** ProxyJump, or a ProxyCommand of the bastion form `ssh -W %h:%p [-p port] [-l user] [user@]bastion`. */
function jumpOf(proxyJump: SshOption | undefined, proxyCommand: SshOption | undefined, read: VarReader): string | undefined {
  if (proxyJump) return proxyJump.value.toLowerCase() === 'none' ? undefined : proxyJump.value;
  if (!proxyCommand || proxyCommand.value.toLowerCase() === 'none') return undefined;
  const jump = jumpFromProxyCommand(proxyCommand.value);
  if (jump === undefined) {
    throw read.fail(
      proxyCommand.from,
      'a ProxyCommand of the form ssh -W %h:%p [-p port] [-l user] [user@]bastion (read as a jump host), or -o ProxyJump=',
      proxyCommand.value,
    );
  }
  return jump;
}

/** The one reading of a bastion ProxyCommand (transport/jump.ts), as ssh_config's: undefined when it is not one. */
export function jumpFromProxyCommand(command: string): string | undefined {
  const read = proxyCommandJump(command);
  return 'jump' in read ? read.jump : undefined;
}

/** ansible_become as sudo. mailprov becomes root, with sudo: another user or method cannot manage the host. */
function become(read: VarReader): boolean | undefined {
  const on = read.bool('ansible_become');
  if (!on) return on;
  const method = read.text('ansible_become_method');
  if (method !== undefined && method !== 'sudo' && method !== 'ansible.builtin.sudo') {
    throw read.fail('ansible_become_method', 'sudo (mailprov becomes root with sudo only)', method);
  }
  const user = read.text('ansible_become_user');
  if (user !== undefined && user !== 'root') {
    throw read.fail('ansible_become_user', 'root (mailprov changes system files and services as root)', user);
  }
  return true;
}

// ---- once per inventory ---------------------------------------------------------------------------

function hostsOf(notes: HostNote[]): string[] {
  return [...new Set(notes.map((n) => n.host))];
}

/** The notes of every host, as warnings said once for the inventory. */
export function summarize(notes: HostNote[], file: string): InventoryWarning[] {
  const warnings: InventoryWarning[] = [];
  const of = <K extends HostNote['kind']>(kind: K) => notes.filter((n): n is Extract<HostNote, { kind: K }> => n.kind === kind);

  const ignoredVars = of('ignored-var');
  if (ignoredVars.length) {
    const names = [...new Set(ignoredVars.map((n) => n.name))].sort();
    const passwords = names.filter((n) => PASSWORD_VARS.includes(n));
    const hint = passwords.length
      ? `; ${passwords.join(', ')} ${passwords.length === 1 ? 'is' : 'are'} not used: mailprov reads a sudo password from the environment variable named by mailprov_sudo_password_env, or asks once with -K`
      : '';
    warnings.push({
      file,
      message: `Ansible variables mailprov does not read, ignored: ${names.join(', ')}${hint}`,
      hosts: hostsOf(ignoredVars),
    });
  }
  const ignoredOptions = of('ignored-ssh-option');
  if (ignoredOptions.length) {
    const names = [...new Set(ignoredOptions.map((n) => n.name))];
    warnings.push({
      file,
      message: `ssh arguments mailprov does not read (in ansible_ssh_*_args), ignored: ${names.join(', ')}`,
      hosts: hostsOf(ignoredOptions),
    });
  }
  const unchecked = of('no-host-key-checking');
  for (const how of new Set(unchecked.map((n) => n.how))) {
    warnings.push({
      file,
      message:
        `${how} is read as hostKeyPolicy 'accept-new': an unknown host key is recorded on first contact, ` +
        'and a host whose key changed is refused all the same (mailprov never connects to one)',
      hosts: hostsOf(unchecked.filter((n) => n.how === how)),
    });
  }
  const leftOut = of('left-out');
  for (const connection of new Set(leftOut.map((n) => n.connection))) {
    warnings.push({
      file,
      message: `hosts with ansible_connection=${connection} are left out: mailprov manages hosts over SSH only`,
      hosts: hostsOf(leftOut.filter((n) => n.connection === connection)),
    });
  }
  return warnings;
}
