// Jump hosts as OpenSSH writes them (ProxyJump, ssh -J): `[user@]host[:port]` or
// `ssh://[user@]host[:port]`, comma separated, first hop first; `none` for no jump. An IPv6 address
// with a port is written in brackets: `[fd00::5]:2222`.
//
// And the route through them: a host behind jump hosts is reached through a channel of the last one
// (direct-tcpip, as `ssh -J` does), each hop's key verified like the host's; one connection per jump
// host serves every host behind it (pool.ts).
import { basename } from 'node:path';
import type { Duplex } from 'node:stream';
import type { NodeSSH } from 'node-ssh';
import { ConnectError, MailprovError } from '../errors.ts';
import { splitWords } from '../inventory/words.ts';
import { redact } from '../secrets/index.ts';
import { handshake, openTcp, prepareHandshake, withHandshakeSlot } from './handshakes.ts';
import { type Lease, SharedConnections } from './pool.ts';
import { expandHome, keyFiles, type SshTarget } from './target.ts';

export interface JumpHop {
  /** As written, for messages. */
  spec: string;
  user?: string;
  host: string;
  port?: number;
}

/** Parses a jump specification; throws a MailprovError saying what is wrong with it. */
export function parseJumpSpec(spec: string): JumpHop[] {
  const text = spec.trim();
  if (text.toLowerCase() === 'none') return [];
  return text.split(',').map((raw) => parseHop(raw.trim(), spec));
}

function parseHop(raw: string, spec: string): JumpHop {
  const bad = (why: string) => new MailprovError(`jump host "${raw}" in "${spec}": ${why}`);
  if (raw === '') throw bad('empty (two commas, or one at an end)');
  let rest = raw.startsWith('ssh://') ? raw.slice('ssh://'.length).replace(/\/$/, '') : raw;
  let user: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at !== -1) {
    user = rest.slice(0, at);
    rest = rest.slice(at + 1);
    if (user === '') throw bad('no user before @');
  }
  let host = rest;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(rest);
  if (bracketed) {
    [, host, portText] = bracketed;
  } else if ((rest.match(/:/g) ?? []).length === 1) {
    [host, portText] = rest.split(':');
  }
  if (host === '' || /[\s/@]/.test(host)) throw bad('expected [user@]host[:port]');
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw bad(`"${portText}" is not a port number`);
  }
  return { spec: raw, host, ...(user !== undefined ? { user } : {}), ...(port !== undefined ? { port } : {}) };
}

/**
 * A ProxyCommand that only forwards through a bastion, `ssh -W %h:%p [options] [user@]bastion`, as the
 * jump it is: mailprov runs no local command, so the command is read, never run. Options a jump can say
 * are taken (-p port, -l user, -J jumps before the bastion; -q, -T, -N change nothing for a jump); any
 * other command or option is refused with the reason, for the caller to name where it was written.
 */
export function jumpFromProxyCommand(command: string): { jump: string } | { refused: string } {
  const refused = (why: string) => ({ refused: why });
  const words = splitWords(command);
  if (!words) return refused('unterminated quote');
  if (words[0] === 'exec') words.shift();
  if (!words.length || basename(words[0]) !== 'ssh')
    return refused(`it runs ${words[0] ?? 'nothing'}, not ssh -W %h:%p: mailprov runs no local command to connect`);
  let forwards = false;
  let host: string | undefined;
  let port: string | undefined;
  let user: string | undefined;
  let before: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const word = words[i];
    // an option's value may follow it (-p 22) or be glued to it (-p22)
    const value = (flag: string) => (word.length > flag.length ? word.slice(flag.length) : words[++i]);
    if (word === '-q' || word === '-T' || word === '-N') continue;
    if (word.startsWith('-W')) {
      const target = value('-W');
      if (target !== '%h:%p' && target !== '[%h]:%p')
        return refused(`-W ${target ?? ''}: only -W %h:%p (or [%h]:%p) forwards to the host being connected to`);
      forwards = true;
    } else if (word.startsWith('-p')) {
      port = value('-p');
      if (!port || !/^\d+$/.test(port)) return refused(`-p ${port ?? ''}: expected a port number`);
    } else if (word.startsWith('-l')) {
      user = value('-l');
      if (!user) return refused('-l without a user');
    } else if (word.startsWith('-J')) {
      before = value('-J');
      if (!before) return refused('-J without jump hosts');
    } else if (word.startsWith('-')) {
      const hint =
        word.startsWith('-i') || word.startsWith('-o')
          ? `: a jump names only [user@]host[:port]; give the bastion its ${word.startsWith('-i') ? 'key (IdentityFile)' : 'options'} in a Host block of its own`
          : '';
      return refused(`the ssh option ${word} cannot be said as a jump${hint}`);
    } else if (host !== undefined) {
      return refused(`"${word}" after the bastion ${host}: a remote command, not a plain forward`);
    } else host = word;
  }
  if (!forwards) return refused('no -W %h:%p: it does not forward to the host being connected to');
  if (!host) return refused('no bastion host');
  if (host.includes(',')) return refused(`"${host}" is not one host`);
  let hop: JumpHop;
  try {
    [hop] = parseJumpSpec(host);
  } catch (err) {
    return refused((err as Error).message);
  }
  if (user !== undefined && hop.user !== undefined && user !== hop.user)
    return refused(`the user is named twice: -l ${user} and ${hop.user}@`);
  if (port !== undefined && hop.port !== undefined && Number(port) !== hop.port)
    return refused(`the port is named twice: -p ${port} and :${hop.port}`);
  const u = hop.user ?? user;
  const p = hop.port ?? (port === undefined ? undefined : Number(port));
  const h = p !== undefined && hop.host.includes(':') ? `[${hop.host}]` : hop.host;
  const spec = `${u !== undefined ? `${u}@` : ''}${h}${p !== undefined ? `:${p}` : ''}`;
  return { jump: before ? `${before},${spec}` : spec };
}

/** Connections to jump hosts, shared by every host behind them in this process (see pool.ts). */
const jumpPool = new SharedConnections<NodeSSH>();

/** The jump host connections, for tests and the benchmark (how many were opened, how many are open). */
export function jumpConnections(): SharedConnections<NodeSSH> {
  return jumpPool;
}

/** A lease on the connection to the last jump host, opening the chain up to it as needed. */
export async function openRoute(target: SshTarget, chain: SshTarget[]): Promise<Lease<NodeSSH>> {
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
export function forwardThrough(jump: NodeSSH, to: SshTarget, via: SshTarget): Promise<Duplex> {
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
