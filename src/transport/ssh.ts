// The SSH connector: connect (verifying the host key), run a command with optional stdin, close.
// One connection per host for the whole run; every command is a channel on it. A host behind jump
// hosts is reached through a channel of the last one (direct-tcpip, as `ssh -J` does), each hop's
// key verified like the host's; one connection per jump host serves every host behind it.
import { readFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { homedir } from 'node:os';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type { AnyAuthMethod, ClientChannel, ServerHostKeyAlgorithm } from 'ssh2';
import { ConnectError, ConnectionLostError, KeyError } from '../errors.ts';
import { redact, registerSecret } from '../secrets/index.ts';
import {
  appendKnownHost,
  checkHostKey,
  fingerprint,
  formatKnownHostsLine,
  hostKeyAlgorithms,
  type KnownHostEntry,
  parseKnownHosts,
  recordedKeyTypes,
} from './known-hosts.ts';
import { withHandshakeSlot } from './handshakes.ts';
import { encryptedHint, openKey, passphraseSource } from './keys.ts';
import { type Lease, SharedConnections } from './pool.ts';
import { shellQuote } from './quote.ts';
import { announceStart, SudoStderr, sudoRefusal, sudoWords, type SudoWords } from './sudo.ts';

export type HostKeyPolicy = 'strict' | 'accept-new';

export interface SshTarget {
  /** Inventory name, used in messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** A key file; with SSH_AUTH_SOCK set, the ssh-agent is tried after it (or alone, without one). */
  privateKey?: string;
  /** Further keys, tried after privateKey (ssh_config's IdentityFile lines after the first). */
  identityFiles?: string[];
  /** Only the key files, never the agent's keys (ssh_config's IdentitiesOnly). */
  identitiesOnly?: boolean;
  /** Decrypts an encrypted privateKey (from privateKeyPassphraseEnv or --ask-key-pass). */
  privateKeyPassphrase?: string;
  /** The environment variable the passphrase comes from, for messages. */
  privateKeyPassphraseEnv?: string;
  knownHosts: string;
  hostKeyPolicy: HostKeyPolicy;
  /** Run commands through sudo (for non-root users). */
  sudo: boolean;
  sudoPassword?: string;
  connectTimeoutMs: number;
  /**
   * Jump hosts, first to last: the first is reached directly, each next one through the one before,
   * this host through the last. Their own `jump` is not read (a chain is resolved whole).
   */
  jump?: SshTarget[];
}

export interface ExecResult {
  command: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Connection {
  readonly target: SshTarget;
  /** Runs a shell command (interpreted by /bin/sh on the host); stdin is sent then closed. */
  exec(command: string, stdin?: string): Promise<ExecResult>;
  /** Starts a long-running command and hands back its channel (e.g. to hold a lock while open). */
  openChannel(command: string): Promise<ClientChannel>;
  /** False once the connection has dropped (or was closed): nothing more runs over it. */
  isOpen?(): boolean;
  close(): void;
}

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? homedir() + path.slice(1) : path;
}

/**
 * Wraps a command so it runs under /bin/sh, through sudo when asked. Through sudo, the shell first
 * announces that it started (see sudo.ts), so that stdin is only sent once it is the command's.
 */
export function wrapCommand(command: string, target: Pick<SshTarget, 'sudo' | 'sudoPassword'>, words?: SudoWords): string {
  // A fixed PATH: non-login SSH sessions of some users lack the sbin directories.
  const body = `PATH=${SAFE_PATH}; export PATH\n${command}`;
  if (!target.sudo) return `/bin/sh -c ${shellQuote(body)}`;
  if (!words) throw new Error('wrapCommand: a sudo command needs its prompt and marker');
  const inner = `/bin/sh -c ${shellQuote(`${announceStart(words)}\n${body}`)}`;
  // -S reads the password from stdin, but only when sudo asks, with our prompt on stderr
  return target.sudoPassword !== undefined ? `sudo -S -p ${shellQuote(words.prompt)} -- ${inner}` : `sudo -n -- ${inner}`;
}

/** Connections to jump hosts, shared by every host behind them in this process (see pool.ts). */
const jumpPool = new SharedConnections<NodeSSH>();

/** The jump host connections, for tests and the benchmark (how many were opened, how many are open). */
export function jumpConnections(): SharedConnections<NodeSSH> {
  return jumpPool;
}

export async function connect(target: SshTarget): Promise<Connection> {
  for (const t of [target, ...(target.jump ?? [])]) if (t.privateKeyPassphrase !== undefined) registerSecret(t.privateKeyPassphrase);
  if (target.sudoPassword !== undefined) {
    // whoever set it (inventory, -K, a test), it must be masked in every message
    registerSecret(target.sudoPassword);
    // sudo reads one line: the rest of a password with a line break would become input
    if (/[\r\n]/.test(target.sudoPassword))
      throw new ConnectError(target.name, 'the sudo password contains a line break; sudo reads a single line');
  }
  // known_hosts and keys first: a host that cannot be checked is refused before anything connects
  const checks = await prepareHandshake(target);
  const route = target.jump?.length ? await openRoute(target, target.jump) : undefined;
  let ssh: NodeSSH;
  try {
    // the route (its own hops' handshakes) is open before this one takes a slot: slots never nest
    ssh = await withHandshakeSlot(async () =>
      handshake(target, checks, route ? await forwardThrough(route.value, target, target.jump!.at(-1)!) : await openTcp(target)),
    );
  } catch (err) {
    route?.release();
    throw err;
  }
  // A connection that drops later must fail the command in flight, not crash the process.
  ssh.connection?.on('error', () => {});
  // ssh2 says 'end'/'close' before it closes the channels in flight, so a command cut off sees it
  let open = true;
  ssh.connection?.once('end', () => (open = false));
  ssh.connection?.once('close', () => (open = false));
  const lost = (why: string, cause?: unknown) =>
    new ConnectionLostError(target.name, `connection lost while running a command: ${why}`, cause ? { cause } : undefined);

  const sudoRun = (): SudoRun | undefined =>
    target.sudo
      ? {
          words: sudoWords(),
          password: target.sudoPassword,
          user: target.user,
          host: `${target.address}:${target.port}`,
          name: target.name,
        }
      : undefined;

  return {
    target,
    async exec(command, stdin) {
      const sudo = sudoRun();
      if (!open) throw lost('the connection was already closed');
      let result: Omit<ExecResult, 'command'>;
      try {
        result = await execRaw(ssh, wrapCommand(command, target, sudo?.words), stdin, sudo);
      } catch (err) {
        if (err instanceof ConnectError && open) throw err;
        throw lost((err as Error).message, err);
      }
      // a channel closed with no exit status on a connection that dropped: cut off, not finished
      if (result.code === null && !open) throw lost('no exit status (the connection dropped)');
      return { command, ...result };
    },
    isOpen: () => open,
    openChannel(command) {
      return new Promise((resolve, reject) => {
        const conn = ssh.connection;
        if (!conn) return reject(new ConnectError(target.name, 'not connected'));
        const sudo = sudoRun();
        conn.exec(wrapCommand(command, target, sudo?.words), (err: Error | undefined, channel: ClientChannel) => {
          if (err) return reject(err);
          if (!sudo) return resolve(channel);
          // handed over once the command runs; its stderr is not read, as without sudo
          startThroughSudo(channel, sudo, () => {}).then(() => resolve(channel), reject);
        });
      });
    },
    close() {
      ssh.dispose();
      route?.release();
    },
  };
}

// Every host of a run reads the same known_hosts: it is parsed once per distinct content (entries are
// never changed after parsing), not once per host; a few contents are kept (tests use several files).
const parsedTexts = new Map<string, KnownHostEntry[]>();
function parsedKnownHosts(text: string): KnownHostEntry[] {
  let entries = parsedTexts.get(text);
  if (!entries) {
    entries = parseKnownHosts(text);
    if (parsedTexts.size >= 8) parsedTexts.delete(parsedTexts.keys().next().value!);
    parsedTexts.set(text, entries);
  }
  return entries;
}

/** What a handshake checks against, read before any connection: known_hosts and the keys. */
interface HandshakeChecks {
  knownHostsPath: string;
  /** known_hosts is /dev/null: keys accepted are remembered for this run only (see runOnlyKnownHosts). */
  runOnly: boolean;
  entries: KnownHostEntry[];
  recordedTypes: string[];
  serverHostKey?: ServerHostKeyAlgorithm[];
  auth: { methods: AnyAuthMethod[]; tried: string[] };
}

async function prepareHandshake(target: SshTarget): Promise<HandshakeChecks> {
  const knownHostsPath = expandHome(target.knownHosts);
  // /dev/null keeps nothing: keys accepted there are remembered for this run only (see runOnlyKnownHosts)
  const runOnly = knownHostsPath === '/dev/null';
  const knownText = runOnly ? runOnlyKnownHosts.join('\n') : await readKnownHosts(target, knownHostsPath);
  const entries = parsedKnownHosts(knownText);
  const recordedTypes = recordedKeyTypes(entries, target.address, target.port);
  const serverHostKey = recordedAlgorithms(recordedTypes, target, knownHostsPath);
  return { knownHostsPath, runOnly, entries, recordedTypes, serverHostKey, auth: authMethods(target) };
}

/**
 * The SSH handshake over an open stream: host key checked against the target's known_hosts under its
 * policy (an unknown key recorded with accept-new), then authentication.
 */
async function handshake(target: SshTarget, checks: HandshakeChecks, sock: Duplex): Promise<NodeSSH> {
  const { knownHostsPath, runOnly, entries, recordedTypes, serverHostKey, auth } = checks;
  let refusal: string | undefined;
  let newKeyLine: string | undefined;

  const hostVerifier = (key: Buffer): boolean => {
    const result = checkHostKey(entries, target.address, target.port, key);
    switch (result.status) {
      case 'match':
        return true;
      case 'unknown':
        if (target.hostKeyPolicy === 'accept-new') {
          newKeyLine = formatKnownHostsLine(target.address, target.port, key);
          return true;
        }
        refusal = `host key ${fingerprint(key)} is not in ${knownHostsPath} (strict host key checking)`;
        return false;
      case 'mismatch':
        refusal =
          `HOST KEY CHANGED for ${target.address}:${target.port}: it offered ${fingerprint(key)}, ` +
          `${knownHostsPath} has ${result.expected.join(', ')}. Refusing to connect: this may be a man-in-the-middle; ` +
          `if the host was rebuilt, remove its old line from ${knownHostsPath}`;
        return false;
      case 'revoked':
        refusal = `host key ${fingerprint(key)} is marked @revoked in ${knownHostsPath}`;
        return false;
    }
  };

  const ssh = new NodeSSH();
  try {
    await ssh.connect({
      sock,
      host: target.address,
      port: target.port,
      username: target.user,
      authHandler: auth.methods,
      hostVerifier,
      algorithms: serverHostKey && { serverHostKey },
      readyTimeout: target.connectTimeoutMs,
      keepaliveInterval: 15_000,
    });
  } catch (err) {
    ssh.dispose();
    sock.destroy();
    if (refusal) throw new ConnectError(target.name, refusal);
    const msg = (err as Error).message ?? String(err);
    if (serverHostKey && /no matching host key format/i.test(msg)) {
      throw new ConnectError(
        target.name,
        `HOST KEY CHANGED for ${target.address}:${target.port}: it offers no host key of the type ${knownHostsPath} has for it ` +
          `(${recordedTypes.join(', ')}), only keys of other types. Refusing to connect: this may be a man-in-the-middle; ` +
          `if the host was rebuilt, remove its old line from ${knownHostsPath}`,
      );
    }
    if (/authentication methods failed/i.test(msg)) {
      throw new ConnectError(target.name, `authentication refused for user ${target.user} (tried ${auth.tried.join(', ')})`);
    }
    throw new ConnectError(target.name, `cannot connect to ${target.address}:${target.port}: ${redact(msg)}`, { cause: err });
  }
  if (newKeyLine && runOnly) runOnlyKnownHosts.push(newKeyLine);
  else if (newKeyLine) await appendKnownHost(knownHostsPath, newKeyLine);
  return ssh;
}

const keyFiles = (target: SshTarget): string[] =>
  [target.privateKey, ...(target.identityFiles ?? [])].filter((k): k is string => Boolean(k)).map(expandHome);

/** A lease on the connection to the last jump host, opening the chain up to it as needed. */
async function openRoute(target: SshTarget, chain: SshTarget[]): Promise<Lease<NodeSSH>> {
  try {
    return await openHop(chain, chain.length - 1);
  } catch (err) {
    if (err instanceof ConnectError) throw new ConnectError(target.name, `jump host ${err.host}: ${err.detail}`, { cause: err });
    throw err;
  }
}

/** Who a hop is and how it is checked, with everything before it: connections are shared only when all of it is equal. */
function hopKey(chain: SshTarget[], i: number): string {
  return JSON.stringify(
    chain
      .slice(0, i + 1)
      .map((h) => [h.user, h.address, h.port, keyFiles(h), h.identitiesOnly ?? false, expandHome(h.knownHosts), h.hostKeyPolicy]),
  );
}

function openHop(chain: SshTarget[], i: number): Promise<Lease<NodeSSH>> {
  const hop = chain[i];
  const key = hopKey(chain, i);
  return jumpPool.acquire(key, async () => {
    const via = i > 0 ? await openHop(chain, i - 1) : undefined;
    try {
      const checks = await prepareHandshake(hop);
      const ssh = await withHandshakeSlot(async () =>
        handshake(hop, checks, via ? await forwardThrough(via.value, hop, chain[i - 1]) : await openTcp(hop)),
      );
      const conn = ssh.connection!;
      // a jump host that drops is not handed out again; its users' commands fail as on a reset
      conn.on('error', () => {});
      conn.once('close', () => jumpPool.evict(key, ssh));
      return {
        value: ssh,
        close: () => {
          ssh.dispose();
          via?.release();
        },
      };
    } catch (err) {
      via?.release();
      throw err;
    }
  });
}

/** A stream to `to`, opened by the jump host `via` (its sshd connects, as for `ssh -W`). */
function forwardThrough(jump: NodeSSH, to: SshTarget, via: SshTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const conn = jump.connection;
    const where = `${to.address}:${to.port} through jump host ${via.name}`;
    if (!conn) return reject(new ConnectError(to.name, `cannot connect to ${where}: the jump host's connection is closed`));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new ConnectError(to.name, `cannot connect to ${where}: no answer within ${to.connectTimeoutMs} ms`));
    }, to.connectTimeoutMs);
    try {
      conn.forwardOut('127.0.0.1', 0, to.address, to.port, (err, stream) => {
        clearTimeout(timer);
        if (timedOut) return stream?.close();
        if (err) return reject(new ConnectError(to.name, `cannot connect to ${where}: ${redact(err.message)}`));
        // a later error (the jump host gone) fails the command in flight through ssh2, never the process
        stream.on('error', () => {});
        resolve(stream);
      });
    } catch (err) {
      clearTimeout(timer);
      reject(new ConnectError(to.name, `cannot connect to ${where}: ${(err as Error).message}`));
    }
  });
}

async function readKnownHosts(target: SshTarget, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConnectError(target.name, `cannot read known_hosts ${path}: ${err}`);
    if (target.hostKeyPolicy === 'strict') {
      throw new ConnectError(
        target.name,
        `known_hosts file ${path} does not exist (use hostKeyPolicy: 'accept-new' to record keys on first contact)`,
      );
    }
    return '';
  }
}

/**
 * Host keys accepted this run for targets whose known_hosts is /dev/null (Ansible's
 * `UserKnownHostsFile=/dev/null`): written nowhere, but a host whose key changes within the run (a
 * second connection, such as the firewall confirmation) is still refused.
 */
const runOnlyKnownHosts: string[] = [];

/**
 * How to authenticate, as ssh2 methods with the keys already decrypted (see keys.ts): the key file
 * (privateKey, with its passphrase), then ssh_config's further IdentityFile lines, then the ssh-agent
 * (SSH_AUTH_SOCK) unless IdentitiesOnly says key files only. An encrypted key with no passphrase is
 * left to the agent; without one it is a KeyError, unless another key file can be tried.
 */
function authMethods(target: SshTarget): { methods: AnyAuthMethod[]; tried: string[] } {
  const agent = target.identitiesOnly ? undefined : process.env.SSH_AUTH_SOCK || undefined;
  const methods: AnyAuthMethod[] = [];
  const tried: string[] = [];
  const encrypted: string[] = [];
  for (const [i, file] of keyFiles(target).entries()) {
    // the passphrase is privateKey's; a further IdentityFile that is encrypted is skipped, as ssh without a terminal does
    const key = i === 0 && target.privateKey ? openKey(file, target.privateKeyPassphrase, passphraseSource(target)) : openKey(file);
    if (key === 'encrypted') {
      encrypted.push(file);
      continue;
    }
    methods.push({ type: 'publickey', username: target.user, key });
    tried.push(`key ${file}`);
  }
  if (agent) {
    methods.push({ type: 'agent', username: target.user, agent });
    tried.push(`the keys of ssh-agent at ${agent}`);
  }
  if (methods.length === 0 && encrypted.length) throw new KeyError(encrypted[0], encryptedHint());
  if (methods.length === 0) {
    throw new ConnectError(
      target.name,
      target.identitiesOnly
        ? 'nothing to authenticate with: IdentitiesOnly (ssh_config) leaves out the ssh-agent, and no key file is given for this host'
        : 'nothing to authenticate with: no privateKey for this host (ansible_ssh_private_key_file in an Ansible inventory) and no ssh-agent (SSH_AUTH_SOCK is not set)',
    );
  }
  return { methods, tried };
}

/**
 * With keys recorded for the host, only their types may be negotiated (see hostKeyAlgorithms), so
 * that a key of another type is never taken for an unknown one.
 */
function recordedAlgorithms(types: string[], target: SshTarget, knownHostsPath: string): ServerHostKeyAlgorithm[] | undefined {
  if (types.length === 0) return undefined;
  const algorithms = hostKeyAlgorithms(types);
  if (algorithms.length === 0) {
    throw new ConnectError(
      target.name,
      `${knownHostsPath} records for ${target.address}:${target.port} only host key types mailprov cannot check (${types.join(', ')})`,
    );
  }
  return algorithms as ServerHostKeyAlgorithm[];
}

/**
 * The TCP connection, opened before the SSH handshake so that its errors are ours to report, with
 * TCP_NODELAY: ssh2 never sets it and writes a packet in pieces, so with Nagle every round trip
 * (each auth step, each channel opened for a command) would wait ~40 ms for the peer's delayed ACK.
 */
function openTcp(target: SshTarget): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const sock = tcpConnect({ host: target.address, port: target.port, noDelay: true });
    const fail = (why: string) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new ConnectError(target.name, `cannot connect to ${target.address}:${target.port}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${target.connectTimeoutMs} ms`), target.connectTimeoutMs);
    sock.once('error', (err) => fail(err.message));
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      // a later error (reset, broken pipe) fails the command in flight through ssh2, never the process
      sock.on('error', () => {});
      resolve(sock);
    });
  });
}

interface SudoRun {
  words: SudoWords;
  password?: string;
  user: string;
  /** address:port, for messages */
  host: string;
  /** inventory name */
  name: string;
}

/** A guard only: sudo starts in milliseconds, unless it waits on a prompt we did not recognise. */
const SUDO_START_TIMEOUT_MS = 30_000;

/**
 * Sees a channel through sudo's start: answers its prompt once with the password, fails on a second
 * prompt (a refused password) or when the command never starts, and passes the command's own stderr
 * to onStderr. Resolves when the command runs; nothing else has been written to its stdin by then.
 */
function startThroughSudo(channel: ClientChannel, run: SudoRun, onStderr: (data: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const parser = new SudoStderr(run.words);
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      channel.close(); // sends nothing more: no second password, no stdin
      reject(new ConnectError(run.name, redact(why)));
    };
    const timer = setTimeout(
      () =>
        fail(
          `sudo did not start the command within ${SUDO_START_TIMEOUT_MS / 1000} s for user ${run.user} on host ${run.host} (a prompt mailprov does not recognise?)`,
        ),
      SUDO_START_TIMEOUT_MS,
    );
    channel.stderr.on('data', (data: Buffer) => {
      for (const event of parser.feed(data)) {
        if (settled && event.kind !== 'stderr') return;
        switch (event.kind) {
          case 'prompt':
            if (run.password === undefined) return fail(sudoRefusal('a password is required', false, run));
            channel.write(`${run.password}\n`);
            break;
          case 'prompt-again':
            return fail(sudoRefusal(parser.sudoSaid, true, run));
          case 'started':
            settled = true;
            clearTimeout(timer);
            resolve();
            break;
          case 'stderr':
            onStderr(event.data);
        }
      }
    });
    // stderr's end, not the channel's close: that waits for stdout to be read, which the holder of
    // an openChannel does only later
    channel.stderr.once('end', () => {
      if (!parser.started) fail(sudoRefusal(parser.sudoSaid, parser.prompts > 0, run));
    });
  });
}

/**
 * One channel on the connection; output is kept byte for byte (node-ssh's execCommand trims it).
 * Through sudo, stdin is sent only once the command started, and stderr is the command's alone.
 */
function execRaw(ssh: NodeSSH, command: string, stdin: string | undefined, sudo?: SudoRun): Promise<Omit<ExecResult, 'command'>> {
  return new Promise((resolve, reject) => {
    const conn = ssh.connection;
    if (!conn) return reject(new Error('not connected'));
    conn.exec(command, (err: Error | undefined, channel: ClientChannel) => {
      if (err) return reject(err);
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      let code: number | null = null;
      channel.on('data', (d: Buffer) => out.push(d));
      const started = sudo ? startThroughSudo(channel, sudo, (d) => errOut.push(d)) : Promise.resolve();
      if (!sudo) channel.stderr.on('data', (d: Buffer) => errOut.push(d));
      channel.on('exit', (c: number | null) => (code = c));
      // through the promise, so that a sudo failure rejects before a close could resolve
      channel.on('close', () =>
        started.then(
          () => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') }),
          () => {},
        ),
      );
      channel.on('error', reject);
      started.then(() => (stdin !== undefined ? channel.end(stdin) : channel.end()), reject);
    });
  });
}
