// A host's connection for a whole run, brought back when it drops: the most common fault a remote
// tool meets (a VPN that flaps, a laptop that sleeps, an sshd restarted). Reconnecting goes through
// connect() again, so the host key is checked again exactly as the first time; attempts are bounded,
// with a backoff. What was in flight is not retried here: a detached step's wait resumes (see
// detached.ts); any other command's loss is an error its caller sees.
import type { ClientChannel } from 'ssh2';
import { ConnectError, ConnectionLostError, describeError } from '../errors.ts';
import { connect, type Connection, type ExecResult } from './ssh.ts';
import type { SshTarget } from './target.ts';
import type { Reconnectable } from './detached.ts';

export interface ReconnectPolicy {
  /** Attempts after a loss before giving up. */
  attempts: number;
  /** The wait before the first attempt; doubled after each failure, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
}

/** About half a minute of trying: long enough for a flapping link, short enough to be told. */
export const DEFAULT_RECONNECT: ReconnectPolicy = { attempts: 6, firstDelayMs: 500, maxDelayMs: 8000 };

export interface ReconnectHooks {
  log(line: string): void;
  /** Runs on the new connection (the raw one) before anything else: the engine takes the host's lock again. */
  onReconnect?(conn: Connection): Promise<void>;
  /** For tests: how to open a connection (default: connect). */
  open?(target: SshTarget): Promise<Connection>;
}

export class ReconnectingConnection implements Reconnectable {
  private pending?: Promise<void>;
  private closed = false;
  /** How many times the connection came back. */
  reconnects = 0;

  constructor(
    private current: Connection,
    private readonly policy: ReconnectPolicy,
    private readonly hooks: ReconnectHooks,
  ) {}

  get target(): SshTarget {
    return this.current.target;
  }

  isOpen(): boolean {
    return !this.closed && (this.current.isOpen?.() ?? true);
  }

  /** A command after a loss first brings the connection back (the automatic rollback, the journal's record). */
  async exec(command: string, stdin?: string): Promise<ExecResult> {
    if (!this.isOpen()) await this.reconnect('the connection was lost');
    return this.current.exec(command, stdin);
  }

  async openChannel(command: string): Promise<ClientChannel> {
    if (!this.isOpen()) await this.reconnect('the connection was lost');
    return this.current.openChannel(command);
  }

  /** Brings the connection back; callers at once share one attempt. */
  reconnect(why: string): Promise<void> {
    if (this.closed) return Promise.reject(new ConnectionLostError(this.target.name, `${why}, and the run closed the connection`));
    this.pending ??= this.tryReconnect(why).finally(() => (this.pending = undefined));
    return this.pending;
  }

  private async tryReconnect(why: string): Promise<void> {
    const { attempts, firstDelayMs, maxDelayMs } = this.policy;
    const open = this.hooks.open ?? connect;
    const started = Date.now();
    let delay = firstDelayMs;
    let last = '';
    try {
      this.current.close();
    } catch {
      /* already gone */
    }
    for (let i = 1; i <= attempts; i++) {
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, maxDelayMs);
      try {
        const conn = await open(this.current.target);
        this.current = conn;
        this.reconnects++;
        this.hooks.log(`reconnected (attempt ${i} of ${attempts}, ${Math.round((Date.now() - started) / 100) / 10} s after: ${why})`);
        await this.hooks.onReconnect?.(conn);
        return;
      } catch (err) {
        last = describeError(err);
        this.hooks.log(`reconnect attempt ${i} of ${attempts} failed: ${last}`);
        // a refused host key, a refused login, a lock another run took: trying again changes nothing
        const retriable = err instanceof ConnectionLostError || (err instanceof ConnectError && /^cannot connect/.test(err.detail));
        if (!retriable) throw err;
      }
    }
    throw new ConnectionLostError(
      this.target.name,
      `${why}, and it could not be brought back (${attempts} attempts over ${Math.round((Date.now() - started) / 1000)} s; last: ${last})`,
    );
  }

  close(): void {
    this.closed = true;
    this.current.close();
  }
}
