// The SSH connector: connect (verifying the host key), run a command with optional stdin, close.
// One connection per host for the whole run; every command is a channel on it. Its parts beside it:
// who a host is (target.ts), the handshake and how many run at once (handshakes.ts), known_hosts
// (known-hosts.ts), keys and auth methods (keys.ts), the route through jump hosts (jump.ts), and
// sudo's start (sudo.ts).
import type { NodeSSH } from 'node-ssh';
import type { ClientChannel } from 'ssh2';
import { ConnectError, ConnectionLostError } from '../errors.ts';
import { registerSecret } from '../secrets/index.ts';
import { handshake, openTcp, prepareHandshake, withHandshakeSlot } from './handshakes.ts';
import { forwardThrough, openRoute } from './jump.ts';
import { shellQuote } from './quote.ts';
import { announceStart, startThroughSudo, type SudoRun, sudoWords, type SudoWords } from './sudo.ts';
import type { SshTarget } from './target.ts';
import { traced } from '../trace.ts';

// what callers of the connector name with it
export type { HostKeyPolicy, SshTarget } from './target.ts';
export { jumpConnections } from './jump.ts';

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
    // traced: the TCP connection and the handshake, with any wait for a handshake slot
    ssh = await traced('handshake', () =>
      withHandshakeSlot(async () =>
        handshake(target, checks, route ? await forwardThrough(route.value, target, target.jump!.at(-1)!) : await openTcp(target)),
      ),
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
