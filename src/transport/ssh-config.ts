// ~/.ssh/config, read as OpenSSH reads it (ssh_config(5)), for the keywords that decide how mailprov
// connects. The `ssh-config` package parses the text (quoting, `=`, comments); which lines apply is
// decided here, because its own compute() runs `Match exec` commands and matches `?` loosely.
// Rules: the first value obtained for a keyword wins (IdentityFile accumulates), and ProxyJump and
// ProxyCommand share one slot (whichever comes first wins, `none` included); a `Host` line applies
// when one of its patterns matches the alias and no negated one does; `Match` supports all, host,
// originalhost, user and localuser (others make the block ignored, with a warning); `Include` reads
// files in place (relative paths under ~/.ssh, globs allowed), applying only where it stands.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import SSHConfig, { LineType, type Line } from 'ssh-config';
import { SshConfigError } from '../errors.ts';
import { jumpFromProxyCommand } from './jump.ts';
import type { HostKeyPolicy } from './target.ts';

export interface SshConfigEntry {
  /** Lowercase, as OpenSSH compares keywords. */
  keyword: string;
  args: string[];
  file: string;
  line: number;
  /** For `include`: the files it names, read when the config was loaded. */
  included?: SshConfigFile[];
}

export interface SshConfigFile {
  path: string;
  entries: SshConfigEntry[];
}

export interface SshConfigWarning {
  file: string;
  line: number;
  message: string;
}

/** Where a value came from, for messages. */
export const where = (w: { file: string; line: number }) => `${w.file} line ${w.line}`;

// Keywords whose value is a list of words; every other keyword's value is one string.
const LIST_KEYWORDS = new Set(['host', 'match', 'include', 'userknownhostsfile']);

/** Parses the text of one file into its entries, in order, each with its line number. */
export function parseSshConfig(text: string, path: string): SshConfigFile {
  let parsed: SSHConfig;
  try {
    parsed = SSHConfig.parse(text);
  } catch (err) {
    throw new SshConfigError(path, undefined, `cannot parse it: ${(err as Error).message}`);
  }
  const entries: SshConfigEntry[] = [];
  const sourceLines = text.split('\n');
  let line = 1;
  const newlines = (s: string | undefined) => (s ? s.split('\n').length - 1 : 0);
  const walk = (lines: Line[]) => {
    for (const node of lines) {
      line += newlines(node.before);
      if (node.type === LineType.DIRECTIVE) {
        const keyword = node.param.toLowerCase();
        const raw = node.value;
        const words = typeof raw === 'string' ? [raw] : raw.map((v) => v.val);
        // a list keyword's words stay apart; a single-valued keyword keeps its spaces as written
        let args = LIST_KEYWORDS.has(keyword) || typeof raw === 'string' ? words : [words.join(' ')];
        // ssh runs a ProxyCommand as the rest of its line, verbatim (quotes, =): the parser's words would lose both
        const verbatim = keyword === 'proxycommand' ? /^\s*proxycommand(?:\s*=\s*|\s+)(.*?)\s*$/i.exec(sourceLines[line - 1] ?? '') : null;
        if (verbatim) args = [verbatim[1]];
        entries.push({ keyword, args, file: path, line });
      }
      line += newlines(node.after);
      if ('config' in node && node.config) walk(node.config);
    }
  };
  walk(parsed);
  return { path, entries };
}

/** What loading needs from the machine; a test hands in its own. */
export interface SshConfigFs {
  home: string;
  readFile(path: string): string;
  /** Existing paths matching a pattern with * and ? (in any segment), sorted. */
  glob(pattern: string): string[];
}

export const nodeSshConfigFs = (home: string): SshConfigFs => ({
  home,
  readFile: (path) => readFileSync(path, 'utf8'),
  glob: globPaths,
});

const MAX_INCLUDE_DEPTH = 16; // OpenSSH's READCONF_MAX_DEPTH

/** Reads a config file and every file its Include lines name (a missing Include target is skipped, as ssh does). */
export function loadSshConfig(path: string, fs: SshConfigFs, depth = 0): SshConfigFile {
  let text: string;
  try {
    text = fs.readFile(path);
  } catch (err) {
    throw new SshConfigError(path, undefined, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const file = parseSshConfig(text, path);
  for (const entry of file.entries) {
    if (entry.keyword !== 'include') continue;
    if (depth >= MAX_INCLUDE_DEPTH) throw new SshConfigError(path, entry.line, `Include nested more than ${MAX_INCLUDE_DEPTH} deep`);
    entry.included = entry.args.flatMap((arg) => {
      const expanded = expandTilde(arg, fs.home);
      // ssh_config(5): a relative Include of a user config is taken under ~/.ssh
      const pattern = isAbsolute(expanded) ? expanded : join(fs.home, '.ssh', expanded);
      return fs.glob(pattern).map((p) => loadSshConfig(p, fs, depth + 1));
    });
  }
  return file;
}

export function expandTilde(path: string, home: string): string {
  return path === '~' || path.startsWith('~/') ? home + path.slice(1) : path;
}

/** Files matching a glob of * and ? (no brackets), as glob(3) with dotfiles hidden from wildcards. */
export function globPaths(pattern: string): string[] {
  const isFile = (p: string) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  let found = [pattern.startsWith('/') ? '/' : '.'];
  for (const part of pattern.split('/').filter((p) => p !== '')) {
    if (!/[*?]/.test(part)) {
      found = found.map((dir) => join(dir, part));
      continue;
    }
    const re = patternRegExp(part);
    found = found.flatMap((dir) => {
      try {
        return readdirSync(dir)
          .filter((name) => re.test(name) && (!name.startsWith('.') || part.startsWith('.')))
          .sort()
          .map((name) => join(dir, name));
      } catch {
        return [];
      }
    });
  }
  return found.filter(isFile);
}

function patternRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/** OpenSSH's match_pattern: * any run, ? exactly one character; host names compare in lowercase. */
export function matchPattern(text: string, pattern: string): boolean {
  return patternRegExp(pattern.toLowerCase()).test(text.toLowerCase());
}

/**
 * OpenSSH's match_pattern_list for `Match` criteria: comma-separated patterns, any may be negated;
 * a negated pattern that matches makes the whole list fail, else any positive match succeeds.
 */
export function matchPatternList(text: string, list: string): boolean {
  let matched = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (!matchPattern(text, pattern)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** A `Host` line: its words are patterns (commas are literal here); a matching negated one vetoes the line. */
export function hostLineMatches(alias: string, patterns: string[]): boolean {
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    if (!matchPattern(alias, negated ? raw.slice(1) : raw)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

const SUPPORTED_MATCH = new Set(['all', 'host', 'originalhost', 'user', 'localuser']);

interface MatchState {
  alias: string;
  hostName?: string;
  user: string;
  localUser: string;
}

/** Whether a `Match` line applies; undefined when it uses a criterion mailprov does not evaluate. */
function matchLineApplies(args: string[], state: MatchState): boolean | { unsupported: string } {
  let applies = true;
  for (let i = 0; i < args.length; i++) {
    const word = args[i];
    const negated = word.startsWith('!');
    const criterion = (negated ? word.slice(1) : word).toLowerCase();
    if (!SUPPORTED_MATCH.has(criterion)) return { unsupported: criterion };
    if (criterion === 'all') continue;
    const list = args[++i];
    if (list === undefined) return { unsupported: `${criterion} without a pattern` };
    const subject =
      criterion === 'host'
        ? (state.hostName ?? state.alias)
        : criterion === 'originalhost'
          ? state.alias
          : criterion === 'user'
            ? state.user
            : state.localUser;
    if (matchPatternList(subject, list) === negated) applies = false;
  }
  return applies;
}

/** The values one host gets from the file: the first of each keyword, from the lines that apply. */
export interface SshConfigValues {
  hostName?: Sourced<string>;
  user?: Sourced<string>;
  port?: Sourced<string>;
  identityFiles: Sourced<string>[];
  identitiesOnly?: Sourced<string>;
  proxyJump?: Sourced<string>;
  proxyCommand?: Sourced<string>;
  userKnownHostsFile?: Sourced<string[]>;
  strictHostKeyChecking?: Sourced<string>;
  connectTimeout?: Sourced<string>;
}

export interface Sourced<T> {
  value: T;
  file: string;
  line: number;
}

const FIRST_WINS: Record<string, Exclude<keyof SshConfigValues, 'identityFiles' | 'userKnownHostsFile'>> = {
  hostname: 'hostName',
  user: 'user',
  port: 'port',
  identitiesonly: 'identitiesOnly',
  proxyjump: 'proxyJump',
  proxycommand: 'proxyCommand',
  stricthostkeychecking: 'strictHostKeyChecking',
  connecttimeout: 'connectTimeout',
};

/**
 * Walks the file as ssh does for `alias`: returns the raw values that apply, and warnings about
 * lines that could not be evaluated. `user` is the user known before reading (the inventory's),
 * which `Match user` sees until a `User` line sets one.
 */
export function collectSshConfig(
  config: SshConfigFile,
  alias: string,
  ctx: { user?: string; defaultUser: string; localUser: string },
): { values: SshConfigValues; warnings: SshConfigWarning[] } {
  const values: SshConfigValues = { identityFiles: [] };
  const warnings: SshConfigWarning[] = [];
  const state: MatchState = { alias, user: ctx.user ?? ctx.defaultUser, localUser: ctx.localUser };
  const apply = (e: SshConfigEntry) => {
    const sourced = <T>(value: T): Sourced<T> => ({ value, file: e.file, line: e.line });
    if (e.keyword === 'identityfile') {
      values.identityFiles.push(sourced(e.args[0]));
    } else if (e.keyword === 'userknownhostsfile') {
      values.userKnownHostsFile ??= sourced(e.args);
    } else if (e.keyword in FIRST_WINS) {
      const key = FIRST_WINS[e.keyword];
      if (values[key] !== undefined) return;
      // OpenSSH's readconf: a ProxyJump is ignored once a ProxyCommand is set, and the other way round
      if ((key === 'proxyJump' || key === 'proxyCommand') && (values.proxyJump ?? values.proxyCommand) !== undefined) return;
      values[key] = sourced(e.args[0]);
      // Match host sees HostName, and Match user sees User, as soon as they are set
      if (key === 'hostName') state.hostName = e.args[0].replace(/%h/g, alias).replace(/%%/g, '%');
      if (key === 'user' && ctx.user === undefined) state.user = e.args[0];
    }
  };
  const walk = (file: SshConfigFile) => {
    let active = true;
    for (const e of file.entries) {
      if (e.keyword === 'host') {
        active = hostLineMatches(alias, e.args);
      } else if (e.keyword === 'match') {
        const result = matchLineApplies(e.args, state);
        if (typeof result === 'object') {
          warnings.push({
            file: e.file,
            line: e.line,
            message: `Match ${result.unsupported} is not supported by mailprov: this Match block is ignored`,
          });
          active = false;
        } else {
          active = result;
        }
      } else if (e.keyword === 'include') {
        // an included file starts applying, whatever its own Host lines then say; nothing after it changes
        if (active) for (const inc of e.included ?? []) walk(inc);
      } else if (active) {
        apply(e);
      }
    }
  };
  walk(config);
  return { values, warnings };
}

/** What the inventory already says for a host: those values win, and the file's are not even checked. */
export interface GivenSettings {
  /** The inventory's jump: ProxyJump and ProxyCommand are then not read at all. */
  jump?: string;
  user?: string;
  port?: number;
  privateKey?: string;
  knownHosts?: string;
  hostKeyPolicy?: HostKeyPolicy;
  connectTimeoutMs?: number;
}

/** The file's contribution to one host, with tokens and ~ expanded. */
export interface SshConfigResult {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  identitiesOnly?: boolean;
  /**
   * The jump the file gives (`none` for none): a ProxyJump as written, or a ProxyCommand
   * `ssh -W %h:%p bastion` read as the jump it is; `keyword` says which line it came from.
   */
  proxyJump?: Sourced<string> & { keyword: 'ProxyJump' | 'ProxyCommand' };
  knownHosts?: string;
  hostKeyPolicy?: HostKeyPolicy;
  connectTimeoutMs?: number;
  warnings: SshConfigWarning[];
}

export interface SshConfigEnv {
  home: string;
  localUser: string;
  /** This machine's host name (%l; %L is its first label). */
  localHost: string;
  uid: number;
  env: Record<string, string | undefined>;
  /** The user when neither the inventory nor the file names one. */
  defaultUser: string;
}

/** Resolves `alias` against the file: the file's values for what the inventory does not say. */
export function resolveSshConfig(config: SshConfigFile, alias: string, given: GivenSettings, env: SshConfigEnv): SshConfigResult {
  const { values, warnings } = collectSshConfig(config, alias, {
    user: given.user,
    defaultUser: env.defaultUser,
    localUser: env.localUser,
  });
  const result: SshConfigResult = { identityFiles: [], warnings };
  const hostName = values.hostName ? expandHostName(values.hostName, alias) : undefined;
  if (hostName !== undefined) result.hostName = hostName;
  if (given.user === undefined && values.user) result.user = values.user.value;
  if (given.port === undefined && values.port) result.port = parsePort(values.port);
  const tokens = {
    alias,
    hostName: hostName ?? alias,
    user: given.user ?? result.user ?? env.defaultUser,
    port: given.port ?? result.port ?? 22,
  };
  if (given.privateKey === undefined) result.identityFiles = values.identityFiles.map((f) => expandPath(f, tokens, env));
  if (values.identitiesOnly) result.identitiesOnly = parseYesNo(values.identitiesOnly);
  if (given.jump === undefined) {
    const proxy = proxyJumpOf(values, alias);
    if (proxy) result.proxyJump = proxy;
  }
  if (given.knownHosts === undefined && values.userKnownHostsFile) {
    const files = values.userKnownHostsFile;
    // `none`: no known_hosts file at all, which is what /dev/null is to mailprov (never a file ./none)
    const none = files.value[0].toLowerCase() === 'none';
    result.knownHosts = none ? '/dev/null' : expandPath({ ...files, value: files.value[0] }, tokens, env);
    if (none)
      warnings.push({
        ...files,
        message:
          'UserKnownHostsFile none is read as /dev/null: NO HOST KEY IS KEPT from one run to the next, so a host key is never ' +
          'checked against an earlier one (with StrictHostKeyChecking yes, every host is refused as unknown)',
      });
    if (files.value.length > 1)
      warnings.push({
        ...files,
        message: `UserKnownHostsFile names ${files.value.length} files: mailprov reads and records only the first`,
      });
  }
  if (given.hostKeyPolicy === undefined && values.strictHostKeyChecking) {
    const { policy, warning } = hostKeyPolicyOf(values.strictHostKeyChecking);
    result.hostKeyPolicy = policy;
    if (warning) warnings.push({ ...values.strictHostKeyChecking, message: warning });
  }
  if (given.connectTimeoutMs === undefined && values.connectTimeout) {
    const s = values.connectTimeout;
    if (!/^\d+$/.test(s.value) || Number(s.value) < 1)
      throw new SshConfigError(s.file, s.line, `ConnectTimeout ${s.value}: expected whole seconds`);
    result.connectTimeoutMs = Number(s.value) * 1000;
  }
  return result;
}

/**
 * The jump the file's first ProxyJump or ProxyCommand gives: a ProxyJump as written, a ProxyCommand
 * `none` as no jump, a bastion ProxyCommand as its jump; any other ProxyCommand is refused, since
 * mailprov would connect otherwise than ssh does (it runs no local command).
 */
function proxyJumpOf(values: SshConfigValues, alias: string): SshConfigResult['proxyJump'] {
  if (values.proxyJump) return { ...values.proxyJump, keyword: 'ProxyJump' };
  const command = values.proxyCommand;
  if (!command) return undefined;
  if (command.value.toLowerCase() === 'none') return { ...command, value: 'none', keyword: 'ProxyCommand' };
  const read = jumpFromProxyCommand(command.value);
  if ('jump' in read) return { ...command, value: read.jump, keyword: 'ProxyCommand' };
  throw new SshConfigError(
    command.file,
    command.line,
    `ProxyCommand ${command.value}: ${read.refused}. mailprov connects only directly or through jump hosts: ` +
      'write the jump as ProxyJump [user@]host[:port], or ProxyCommand ssh -W %h:%p [user@]host',
    alias,
  );
}

function expandHostName(s: Sourced<string>, alias: string): string {
  return s.value.replace(/%(.)/g, (_, c: string) => {
    if (c === 'h') return alias;
    if (c === '%') return '%';
    throw new SshConfigError(s.file, s.line, `HostName ${s.value}: only %h and %% may be used there`);
  });
}

function parsePort(s: Sourced<string>): number {
  const n = Number(s.value);
  if (!/^\d+$/.test(s.value) || n < 1 || n > 65535) throw new SshConfigError(s.file, s.line, `Port ${s.value}: expected a port number`);
  return n;
}

function parseYesNo(s: Sourced<string>): boolean {
  const v = s.value.toLowerCase();
  if (v === 'yes' || v === 'true') return true;
  if (v === 'no' || v === 'false') return false;
  throw new SshConfigError(s.file, s.line, `${s.value}: expected yes or no`);
}

/**
 * StrictHostKeyChecking as mailprov's policy. `ask` cannot ask here, so it is strict, as ssh is in
 * batch mode; `no` would connect to a host whose key changed, which mailprov never does.
 */
export function hostKeyPolicyOf(s: Sourced<string>): { policy: HostKeyPolicy; warning?: string } {
  const v = s.value.toLowerCase();
  if (v === 'yes' || v === 'true' || v === 'ask') return { policy: 'strict' };
  if (v === 'accept-new') return { policy: 'accept-new' };
  if (v === 'no' || v === 'off' || v === 'false')
    return {
      policy: 'accept-new',
      warning: `StrictHostKeyChecking ${s.value} is taken as accept-new: mailprov records unknown host keys but never connects to a host whose key changed`,
    };
  throw new SshConfigError(s.file, s.line, `StrictHostKeyChecking ${s.value}: expected yes, accept-new, no, off or ask`);
}

/** ~ and the tokens of ssh_config(5) that IdentityFile and UserKnownHostsFile accept. */
export function expandPath(
  s: Sourced<string>,
  t: { alias: string; hostName: string; user: string; port: number },
  env: Pick<SshConfigEnv, 'home' | 'localUser' | 'localHost' | 'uid' | 'env'>,
): string {
  const withEnv = s.value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = env.env[name];
    if (value === undefined) throw new SshConfigError(s.file, s.line, `${s.value}: the environment variable ${name} is not set`);
    return value;
  });
  const expanded = withEnv.replace(/%(.)/g, (_, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'd':
        return env.home;
      case 'h':
        return t.hostName;
      case 'n':
        return t.alias;
      case 'p':
        return String(t.port);
      case 'r':
        return t.user;
      case 'u':
        return env.localUser;
      case 'l':
        return env.localHost;
      case 'L':
        return env.localHost.split('.')[0];
      case 'i':
        return String(env.uid);
      default:
        throw new SshConfigError(s.file, s.line, `${s.value}: the token %${c} is not supported by mailprov`);
    }
  });
  return expandTilde(expanded, env.home);
}
