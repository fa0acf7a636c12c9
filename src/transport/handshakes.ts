// The SSH handshake (TCP connect, host key checked against known_hosts, authentication), and how many
// run at once in this process.
//
// How many SSH handshakes (TCP connect, key exchange, authentication) run at once in this process,
// over every host and jump hop of a run. A connect timeout is for a host that does not answer, not
// for a controller busy with a thousand key exchanges: with `--forks 1000` every handshake started
// at once on a 2-core machine and 704 of 1,000 sandbox hosts passed the 10 s timeout waiting for CPU.
// A handshake waits here for a slot, and its timeout starts when it does. Commands on open
// connections are not limited: only the handshake's CPU burst is.
import { connect as tcpConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { NodeSSH } from 'node-ssh';
import type { AnyAuthMethod } from 'ssh2';
import pLimit from 'p-limit';
import { ConnectError } from '../errors.ts';
import { redact } from '../secrets/index.ts';
import { authMethods } from './keys.ts';
import { judgeHostKey, type KnownHostsCheck, knownHostsFor, rememberHostKey } from './known-hosts.ts';
import type { SshTarget } from './target.ts';
import { traced, tracedSync } from '../trace.ts';

/** MAILPROV_MAX_HANDSHAKES, else 64: enough to keep a controller busy, few enough that each finishes in time. */
export const DEFAULT_MAX_HANDSHAKES = 64;

function fromEnv(): number {
  const n = Number(process.env.MAILPROV_MAX_HANDSHAKES);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_HANDSHAKES;
}

let limit = pLimit(fromEnv());

/** Runs `handshake` when a slot is free. Never nest: a hop's handshake takes its own slot, after its route is open. */
export function withHandshakeSlot<T>(handshake: () => Promise<T>): Promise<T> {
  return limit(handshake);
}

/** For tests and embedders: a new limit (handshakes already waiting keep the old one). */
export function setMaxHandshakes(n: number): void {
  limit = pLimit(n);
}

export const handshakesInFlight = () => ({ active: limit.activeCount, waiting: limit.pendingCount });

/** What a handshake checks against, read before any connection: known_hosts and the keys. */
export interface HandshakeChecks {
  known: KnownHostsCheck;
  auth: { methods: AnyAuthMethod[]; tried: string[] };
}

/** known_hosts and keys first: a host that cannot be checked is refused before anything connects. */
export async function prepareHandshake(target: SshTarget): Promise<HandshakeChecks> {
  const known = await traced('ssh_config and known_hosts', () => knownHostsFor(target));
  return { known, auth: tracedSync('key decryption', () => authMethods(target)) };
}

/**
 * The SSH handshake over an open stream: host key checked against the target's known_hosts under its
 * policy (an unknown key recorded with accept-new), then authentication.
 */
export async function handshake(target: SshTarget, checks: HandshakeChecks, sock: Duplex): Promise<NodeSSH> {
  const { known, auth } = checks;
  let refusal: string | undefined;
  let newKeyLine: string | undefined;

  const hostVerifier = (key: Buffer): boolean => {
    const verdict = judgeHostKey(target, known, key);
    if (verdict.accept) newKeyLine = verdict.record;
    else refusal = verdict.refusal;
    return verdict.accept;
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
      algorithms: known.serverHostKey && { serverHostKey: known.serverHostKey },
      readyTimeout: target.connectTimeoutMs,
      keepaliveInterval: 15_000,
    });
  } catch (err) {
    ssh.dispose();
    sock.destroy();
    if (refusal) throw new ConnectError(target.name, refusal);
    const msg = (err as Error).message ?? String(err);
    if (known.serverHostKey && /no matching host key format/i.test(msg)) {
      throw new ConnectError(
        target.name,
        `HOST KEY CHANGED for ${target.address}:${target.port}: it offers no host key of the type ${known.path} has for it ` +
          `(${known.recordedTypes.join(', ')}), only keys of other types. Refusing to connect: this may be a man-in-the-middle; ` +
          `if the host was rebuilt, remove its old line from ${known.path}`,
      );
    }
    if (/authentication methods failed/i.test(msg)) {
      throw new ConnectError(target.name, `authentication refused for user ${target.user} (tried ${auth.tried.join(', ')})`);
    }
    throw new ConnectError(target.name, `cannot connect to ${target.address}:${target.port}: ${redact(msg)}`, { cause: err });
  }
  if (newKeyLine) await rememberHostKey(known, newKeyLine);
  return ssh;
}

/**
 * The TCP connection, opened before the SSH handshake so that its errors are ours to report, with
 * TCP_NODELAY: ssh2 never sets it and writes a packet in pieces, so with Nagle every round trip
 * (each auth step, each channel opened for a command) would wait ~40 ms for the peer's delayed ACK.
 */
export function openTcp(target: SshTarget): Promise<Duplex> {
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
