// One SSH client connection: ssh2's Client, connected, with what mailprov used of node-ssh's
// NodeSSH (connect, the connection while it is up, dispose). node-ssh itself is not loaded: its
// other features (SFTP helpers, make-dir and semver under them) cost a tenth of the start of a
// one-host plan to load, and the CLI never used them.
import ssh2, { type Client, type ConnectConfig } from 'ssh2';

/** Said when the server closes the connection before it is ready (as node-ssh said it). */
export class NoResponseError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor() {
    super('No response from server');
    this.name = 'SSHError';
  }
}

export class SshClient {
  /** The connection while it is open; null once it ended, closed or was disposed. */
  connection: Client | null = null;

  /** Connects; resolves once authenticated, rejects on an error or a close before that. */
  async connect(config: ConnectConfig): Promise<this> {
    const connection = new ssh2.Client();
    this.connection = connection;
    await new Promise<void>((resolve, reject) => {
      connection.on('error', reject);
      connection.on('ready', () => {
        connection.removeListener('error', reject);
        resolve();
      });
      connection.on('end', () => {
        if (this.connection === connection) this.connection = null;
      });
      connection.on('close', () => {
        if (this.connection === connection) this.connection = null;
        reject(new NoResponseError());
      });
      connection.connect(config);
    });
    return this;
  }

  isConnected(): boolean {
    return this.connection != null;
  }

  /** Ends the connection (no error if it is already gone). */
  dispose(): void {
    if (this.connection) {
      this.connection.end();
      this.connection = null;
    }
  }
}
