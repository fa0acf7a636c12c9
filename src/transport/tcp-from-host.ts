// A TCP connection made by the host itself, carried back to the controller over the SSH connection
// we already have: what a check of "can this host reach X" needs, since the egress path (routes,
// firewall, DNS, a provider's block on port 587) is part of what it proves.
//
// It runs a byte relay on the host (bash's /dev/tcp, present on Debian and RHEL alike) rather than
// asking sshd to forward a port: hardened hosts often set AllowTcpForwarding no, and the relay
// needs nothing else installed. The controller speaks the protocol over the channel, so secrets it
// sends (a password inside TLS) are never in a command line or a file on the host.
import type { Duplex } from 'node:stream';
import type { Connection } from './ssh.ts';
import { sh } from './quote.ts';

/** Why the host could not open the connection, read from what bash said. */
export type TcpFailureKind = 'refused' | 'dns' | 'unreachable' | 'timed-out' | 'other';

export class TcpFromHostError extends Error {
  constructor(
    readonly kind: TcpFailureKind,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const CONNECTED = 'mailprov-tcp-connected';

/**
 * The relay: wait for the controller's go (a line on stdin: through sudo, the channel's stderr is
 * only ours once sudo has started the command, and the word "connected" must not come before),
 * connect fd 3, say so on stderr, then copy both ways until the peer closes. `timeout` caps the whole
 * session on the host, so a relay the controller abandoned cannot linger.
 */
export function relayCommand(host: string, port: number, sessionSeconds: number): string {
  const script = `IFS= read -r go || exit 112\nexec 3<>"/dev/tcp/$1/$2" || exit 111\necho ${CONNECTED} >&2\ncat <&3 & cat >&3\nwait`;
  return sh`timeout ${String(sessionSeconds)} bash -c ${script} mailprov-tcp ${host} ${String(port)}`;
}

/** Reads bash's complaint ("bash: connect: Connection refused") into a kind of failure. */
export function classifyConnectFailure(stderr: string): TcpFailureKind {
  if (/Connection refused/i.test(stderr)) return 'refused';
  if (/Name or service not known|Temporary failure in name resolution|No address associated|not known/i.test(stderr)) return 'dns';
  if (/Network is unreachable|No route to host/i.test(stderr)) return 'unreachable';
  if (/Connection timed out/i.test(stderr)) return 'timed-out';
  return 'other';
}

export interface TcpFromHostOptions {
  /** How long the host may take to connect (SYN retries against a black hole take minutes). */
  connectTimeoutMs?: number;
  /** The longest the whole session may last on the host. */
  sessionSeconds?: number;
}

/**
 * Opens host:port from the host; resolves with a duplex stream once connected, rejects with a
 * TcpFromHostError saying why not. The caller ends the stream (or destroys it) when done.
 */
export async function tcpFromHost(conn: Connection, host: string, port: number, opts: TcpFromHostOptions = {}): Promise<Duplex> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const channel = await conn.openChannel(relayCommand(host, port, opts.sessionSeconds ?? 60));
  return new Promise((resolve, reject) => {
    let said = '';
    let settled = false;
    const finish = (err?: TcpFromHostError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      channel.stderr.off('data', onStderr);
      // what the relay says later is of no use, but must be read or it would hold the channel up
      channel.stderr.resume();
      if (err) {
        channel.destroy();
        reject(err);
      } else {
        resolve(channel);
      }
    };
    const onStderr = (d: Buffer) => {
      said += d.toString('utf8');
      if (said.includes(CONNECTED)) finish();
    };
    const timer = setTimeout(
      () => finish(new TcpFromHostError('timed-out', `no connection to ${host}:${port} within ${connectTimeoutMs / 1000} s`)),
      connectTimeoutMs,
    );
    channel.stderr.on('data', onStderr);
    channel.write('\n');
    // stderr's end, not the channel's close: that waits for stdout to be read
    channel.stderr.once('end', () => {
      const detail = said.trim().split('\n').at(-1) ?? '';
      finish(new TcpFromHostError(classifyConnectFailure(said), detail || `the host could not connect to ${host}:${port}`));
    });
  });
}
